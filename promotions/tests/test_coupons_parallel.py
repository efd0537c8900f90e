"""Coupon limits under concurrency (issue 15 "Limits hold under concurrency", SPEC §9): the price step reads
the counts without a lock, so every order passes it; the redemption in the order's transaction takes the
use with one conditional UPDATE (and checks the member's uses under an advisory lock), so exactly as many
orders as the coupon has uses go through and the rest roll back whole. Control runs with the guard swapped
for a read-check-write in Python (or the lock taken away) show the race each guard prevents.

Every call runs on its own connection (tests.parallel.run_together): the 100-thread run needs the test
stack's raised max_connections (scripts/stack.py MAX_CONNECTIONS)."""

from __future__ import annotations

import time
from collections import Counter
from datetime import date

import pytest
from django.utils import translation

from inventory.models import Reservation
from inventory.services import reservation_create
from inventory.tests.factories import ItemFactory, ReservationSettingsFactory, jst
from members.tests.factories import MemberFactory
from payments.models import Order, OrderLine, PaymentSettings, Product
from payments.services import LineDraft, order_create
from promotions import redemption, selectors
from promotions.exceptions import CouponMemberLimitError, CouponUsedUpError
from promotions.models import Coupon, CouponRedemption
from promotions.tests.factories import CouponFactory
from tests.parallel import run_together

NOW = jst(date(2027, 6, 1), "09:00")
MONDAY = date(2027, 6, 7)


@pytest.fixture(autouse=True)
def _english():
    with translation.override("en"):
        yield


def _racy_take_use(*, coupon_id: int, now) -> bool:
    """The guard disabled: read the count, check it in Python, pause (a slow request), write what was read
    plus one."""
    coupon = Coupon.objects.get(pk=coupon_id)
    if coupon.usage_limit and coupon.used_count >= coupon.usage_limit:
        return False
    time.sleep(0.3)
    Coupon.objects.filter(pk=coupon_id).update(used_count=coupon.used_count + 1)
    return True


def _orders(members, code: str) -> list:
    PaymentSettings.current()  # made now: the first order's get_or_create would otherwise queue the rest
    product = Product.objects.create(sku="PACK", name="PACK", price_yen=2000)

    def order(member):
        return lambda: order_create(
            member=member,
            lines=[
                LineDraft(
                    kind=OrderLine.Kind.PRODUCT, description="PACK", unit_price_yen=2000, product=product
                )
            ],
            payment_method=Order.Method.CARD,
            by=member,
            options={"coupon": code},
            now=NOW,
        )

    return [order(member) for member in members]


def _bookings(members, code: str) -> list:
    ReservationSettingsFactory()
    PaymentSettings.current()
    items = [ItemFactory(units=[(60, 1000)], stock=1) for _ in members]

    def booking(member, item):
        return lambda: reservation_create(
            member=member,
            by=member,
            item=item,
            starts_at=jst(MONDAY, "10:00"),
            ends_at=jst(MONDAY, "11:00"),
            payment_method="counter",
            extras={"coupon": code},
            now=NOW,
        )

    return [booking(member, item) for member, item in zip(members, items, strict=True)]


@pytest.mark.django_db(transaction=True)
def test_100_parallel_redemptions_of_a_coupon_limited_to_3_let_exactly_3_through():
    # given a coupon limited to 3 and 100 members
    coupon = CouponFactory(code="THREE", usage_limit=3)
    calls = _orders([MemberFactory() for _ in range(100)], "three")
    # when they all order with it at the same instant
    outcomes = run_together(calls, expected=(CouponUsedUpError,))
    # then exactly 3 orders go through; the others roll back with the used-up message
    assert outcomes == Counter({"booked": 3, "CouponUsedUpError": 97})
    coupon.refresh_from_db()
    assert coupon.used_count == 3
    assert CouponRedemption.objects.filter(coupon=coupon).count() == 3
    assert Order.objects.count() == 3


@pytest.mark.django_db(transaction=True)
def test_50_members_redeeming_the_last_use_at_the_same_instant_exactly_one_books():
    # given a coupon with one use left, and 50 members each booking their own item with it
    coupon = CouponFactory(code="LAST", usage_limit=10, used_count=9)
    calls = _bookings([MemberFactory() for _ in range(50)], "LAST")
    # when they book at the same instant
    outcomes = run_together(calls, expected=(CouponUsedUpError,))
    # then exactly one is booked; the other 49 bookings roll back whole (reservation, order and all)
    assert outcomes == Counter({"booked": 1, "CouponUsedUpError": 49})
    coupon.refresh_from_db()
    assert coupon.used_count == 10
    assert Reservation.objects.count() == 1
    assert Order.objects.count() == 1
    assert CouponRedemption.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_control_without_the_conditional_update_more_than_the_limit_go_through(monkeypatch):
    # given the use taken by a read-check-write in Python instead of the conditional UPDATE
    monkeypatch.setattr(redemption, "take_use", _racy_take_use)
    coupon = CouponFactory(code="THREE", usage_limit=3)
    calls = _orders([MemberFactory() for _ in range(20)], "THREE")
    # when 20 members race for its 3 uses
    outcomes = run_together(calls, expected=(CouponUsedUpError,))
    # then more than 3 orders go through on a stale count
    assert outcomes["booked"] > 3, outcomes
    assert CouponRedemption.objects.filter(coupon=coupon).count() > 3


@pytest.mark.django_db(transaction=True)
def test_control_the_last_use_raced_without_the_guard_books_more_than_one(monkeypatch):
    monkeypatch.setattr(redemption, "take_use", _racy_take_use)
    CouponFactory(code="LAST", usage_limit=10, used_count=9)
    calls = _bookings([MemberFactory() for _ in range(10)], "LAST")
    outcomes = run_together(calls, expected=(CouponUsedUpError,))
    assert outcomes["booked"] > 1, outcomes
    assert Reservation.objects.count() > 1


def _slow_member_uses(monkeypatch):
    read = selectors.member_uses

    def slow(**kwargs):
        found = read(**kwargs)
        time.sleep(0.3)
        return found

    monkeypatch.setattr(selectors, "member_uses", slow)


@pytest.mark.django_db(transaction=True)
def test_one_member_redeeming_a_once_per_member_coupon_in_parallel_gets_it_once(monkeypatch):
    # given a coupon once per member (no overall limit), the member's count slow to read
    _slow_member_uses(monkeypatch)
    coupon = CouponFactory(code="WELCOME", per_member_limit=1)
    member = MemberFactory()
    # when the member orders with it 8 times at once
    outcomes = run_together(_orders([member] * 8, "WELCOME"), expected=(CouponMemberLimitError,))
    # then one order goes through
    assert outcomes == Counter({"booked": 1, "CouponMemberLimitError": 7})
    coupon.refresh_from_db()
    assert coupon.used_count == 1


@pytest.mark.django_db(transaction=True)
def test_control_without_the_member_lock_the_member_gets_it_more_than_once(monkeypatch):
    _slow_member_uses(monkeypatch)
    monkeypatch.setattr(redemption, "advisory_xact_lock", lambda key: None)
    CouponFactory(code="WELCOME", per_member_limit=1)
    member = MemberFactory()
    outcomes = run_together(_orders([member] * 8, "WELCOME"), expected=(CouponMemberLimitError,))
    assert outcomes["booked"] > 1, outcomes
