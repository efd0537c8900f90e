"""Bookings spending the same balance at once (issue 14 "Spending"): the price step reads the balance without
a lock, so every booking passes it; spending under the account's row lock lets exactly one through and rolls
the others back whole (booking, order and all). A control run without the lock shows the race it prevents.

Each booking is of its own item and hour (a member's bookings may not overlap), so nothing but the points
serialises them. Both runs hold on a moment after
reading the account (a slow request), so the bookings' spends overlap whatever the machine's speed."""

from __future__ import annotations

import time
from collections import Counter
from datetime import date

import pytest
from django.db import IntegrityError
from django.utils import translation

from inventory.models import Reservation
from inventory.services import reservation_create
from inventory.tests.factories import ItemFactory, ReservationSettingsFactory, jst
from members.tests.factories import MemberFactory
from payments.models import Order, PaymentSettings
from points import locks, selectors, services
from points.exceptions import NotEnoughPointsError, PointsError
from points.models import PointAccount, PointEntry, PointLot, PointSettings
from points.services import points_grant
from tests.parallel import run_together

NOW = jst(date(2027, 6, 1), "09:00")
MONDAY = date(2027, 6, 7)
ATTEMPTS = 8


@pytest.fixture(autouse=True)
def _english():
    with translation.override("en"):
        yield


def _set_up():
    settings = PointSettings.current()
    settings.base_rate_percent = 0
    settings.save()
    ReservationSettingsFactory()
    PaymentSettings.current()  # made now: the first booking's get_or_create would otherwise queue the rest
    member = MemberFactory()
    points_grant(member=member, amount=1000, kind=PointEntry.Kind.PURCHASE, by=None, system="test", now=NOW)
    items = [ItemFactory(units=[(60, 1000)], stock=1) for _ in range(ATTEMPTS)]
    return member, items


def _slow(read):
    """`read` (how the account is read for a change), then a pause before the change is written."""

    def account(member_id):
        found = read(member_id)
        time.sleep(0.3)
        return found

    return account


def _race(member, items, *, expected) -> Counter:
    def booking(item, hour):
        return lambda: reservation_create(
            member=member,
            by=member,
            item=item,
            starts_at=jst(MONDAY, f"{hour}:00"),
            ends_at=jst(MONDAY, f"{hour + 1}:00"),
            payment_method="counter",
            extras={"points": 800},
            now=NOW,
        )

    return run_together([booking(item, 10 + n) for n, item in enumerate(items)], expected=expected)


@pytest.mark.django_db(transaction=True)
def test_parallel_bookings_spending_the_same_points_let_exactly_one_through(monkeypatch):
    # given 1,000 points and 8 bookings of 1,000 yen, each paying 800 with points
    member, items = _set_up()
    monkeypatch.setattr(locks, "account_for_update", _slow(locks.account_for_update))
    # when they are booked at the same instant
    outcomes = _race(member, items, expected=(NotEnoughPointsError,))
    # then exactly one is booked; the others roll back whole with the balance's message
    assert outcomes == Counter({"booked": 1, "NotEnoughPointsError": ATTEMPTS - 1})
    assert selectors.balance_of(member) == 200
    assert Reservation.objects.filter(member=member).count() == 1
    assert Order.objects.filter(member=member).count() == 1
    assert PointEntry.objects.filter(kind=PointEntry.Kind.USE).count() == 1
    assert selectors.ledger_report() == []


@pytest.mark.django_db(transaction=True)
def test_control_without_the_account_lock_the_bookings_race(monkeypatch):
    # given the account read without its row lock (nor its lots')
    def unlocked(member_id):
        return PointAccount.objects.get(member_id=member_id)

    member, items = _set_up()
    monkeypatch.setattr(locks, "account_for_update", _slow(unlocked))
    monkeypatch.setattr(services.PointLot.objects, "select_for_update", lambda: PointLot.objects.all())
    # when the same bookings race, then more than one passes the balance check on a stale balance (only the
    # later guards, the lots' consistency check or their CHECK constraint, stop some of them)
    outcomes = _race(member, items, expected=(NotEnoughPointsError, PointsError, IntegrityError))
    assert outcomes != Counter({"booked": 1, "NotEnoughPointsError": ATTEMPTS - 1}), outcomes
    assert outcomes["NotEnoughPointsError"] < ATTEMPTS - 1, outcomes
