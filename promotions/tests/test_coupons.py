"""Coupons (SPEC §9, issue 15 "Coupons", seed 002): one code however it is typed; the window checked at the
moment of the order, its end exclusive; usage and per-member limits; percent (floor, 100 % free, 0 % a
marker) and yen (never below 0) on the lines in scope; each refusal says which; the redemption recorded per
order; the use given back on cancel only when the coupon says so.

The clock of the bookings: Tuesday 2027-06-01 09:00 JST; 06-07 is a Monday."""

from __future__ import annotations

from datetime import date

import pytest
from django.core.exceptions import ValidationError
from django.utils import translation

from core.audit import AuditEntry
from inventory.exceptions import BookingError
from inventory.models import Reservation
from inventory.services import reservation_cancel, reservation_create
from inventory.tests.factories import CategoryFactory, ItemFactory, ReservationSettingsFactory, jst
from members.tests.factories import MemberFactory
from payments import registry
from payments.models import Order, OrderLine, Payment, Product
from payments.pricing import charge_shown, price_draft
from payments.reservations import order_for_reservation
from payments.services import LineDraft, order_cancel, order_create
from promotions.codes import clean_code, normalise_code
from promotions.exceptions import CouponError, CouponMemberLimitError, CouponUsedUpError
from promotions.models import Coupon, CouponRedemption
from promotions.tests.factories import CouponFactory

pytestmark = pytest.mark.django_db

NOW = jst(date(2027, 6, 1), "09:00")
MONDAY = date(2027, 6, 7)


@pytest.fixture(autouse=True)
def _english():
    with translation.override("en"):
        yield


def product(price: int = 2000) -> Product:
    return Product.objects.get_or_create(sku=f"PACK{price}", defaults={"name": "PACK", "price_yen": price})[0]


def buy(member, code, *, price=2000, method=Order.Method.CARD, now=NOW, lines=None) -> Order:
    lines = lines or [
        LineDraft(
            kind=OrderLine.Kind.PRODUCT, description="PACK", unit_price_yen=price, product=product(price)
        )
    ]
    return order_create(
        member=member, lines=lines, payment_method=method, by=member, options={"coupon": code}, now=now
    )


def refused(member, code, **kwargs) -> CouponError:
    with pytest.raises(CouponError) as caught:
        buy(member, code, **kwargs)
    assert caught.value.field == "coupon"
    return caught.value


@pytest.fixture
def item():
    ReservationSettingsFactory()
    return ItemFactory(name="会議室A", units=[(60, 1000)], stock=5)  # two hours: 2,000 yen


def book(item, member, code, *, method="card", start="10:00", end="12:00", now=NOW, points=None):
    return reservation_create(
        member=member,
        by=member,
        item=item,
        starts_at=jst(MONDAY, start),
        ends_at=jst(MONDAY, end),
        payment_method=method,
        extras={"coupon": code, "points": points},
        now=now,
    )


# --- the code -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "typed", ["summer10", "SUMMER10", "ＳＵＭＭＥＲ１０", " Summer10 ", "ｓｕｍｍｅｒ10"]
)
def test_every_spelling_of_a_code_is_one_code(typed):
    assert normalise_code(typed) == "SUMMER10"
    assert clean_code(typed) == "SUMMER10"


def test_every_spelling_finds_the_one_coupon():
    # given
    CouponFactory(code="SUMMER10", discount_value=10)
    member = MemberFactory()
    # when the member types it three ways, then each finds it
    for typed in ("summer10", "SUMMER10", "ＳＵＭＭＥＲ１０"):
        assert buy(member, typed).coupon_discount_yen == 200
    assert CouponRedemption.objects.filter(coupon__code="SUMMER10").count() == 3


@pytest.mark.parametrize("typed", ["SUMMER-10", "SUMMER 10", "サマー10", "ＳＵＭＭＥＲ－１０", "SUMMER10!"])
def test_a_code_with_anything_but_letters_and_digits_is_a_clear_error(typed):
    with pytest.raises(ValidationError) as caught:
        clean_code(typed)
    assert "only letters A–Z and digits 0–9" in caught.value.messages[0]


def test_a_coupon_cannot_be_stored_with_an_unnormalised_or_invalid_code():
    coupon = Coupon(code="summer-10", discount_value=10)
    with pytest.raises(ValidationError) as caught:
        coupon.full_clean()
    assert "code" in caught.value.message_dict


# --- the window -----------------------------------------------------------------------------------------


def test_a_coupon_until_10_works_at_09_59_59_and_not_at_10_00_00():
    # given a happy-hour coupon valid until 10:00
    CouponFactory(code="HAPPY", valid_from=jst(MONDAY, "08:00"), valid_until=jst(MONDAY, "10:00"))
    member = MemberFactory()
    # then it works at 09:59:59
    assert buy(member, "HAPPY", now=jst(MONDAY, "09:59:59")).coupon_discount_yen == 200
    # and not at 10:00:00
    error = refused(member, "HAPPY", now=jst(MONDAY, "10:00:00"))
    assert str(error) == "This coupon has expired (it could be used until 2027-06-07 10:00)."


def test_a_coupon_is_not_valid_before_its_start():
    CouponFactory(code="LATER", valid_from=jst(MONDAY, "08:00"))
    member = MemberFactory()
    error = refused(member, "LATER", now=jst(MONDAY, "07:59:59"))
    assert str(error) == "This coupon is not valid yet: it can be used from 2027-06-07 08:00."
    assert buy(member, "LATER", now=jst(MONDAY, "08:00")).coupon_discount_yen == 200


def test_the_window_of_a_booking_is_checked_at_the_time_of_booking_not_the_booked_time(item):
    # given a coupon that ends before the booked day (discounts by the booked time are price rules' job)
    CouponFactory(code="EARLY", valid_until=jst(date(2027, 6, 2), "00:00"))
    # when a member books Monday's slot on Tuesday the 1st
    reservation = book(item, MemberFactory(), "EARLY")
    # then the coupon applies
    assert order_for_reservation(reservation).coupon_discount_yen == 200


def test_an_inactive_coupon_is_refused():
    CouponFactory(code="OFF", is_active=False)
    assert str(refused(MemberFactory(), "OFF")) == "This coupon can no longer be used."


def test_an_unknown_code_is_refused():
    error = refused(MemberFactory(), "NOSUCH")
    assert str(error) == "There is no coupon with this code. Check the code and try again."


# --- limits ---------------------------------------------------------------------------------------------


def test_a_once_only_coupon_is_used_up_after_one_use():
    coupon = CouponFactory(code="ONCE", usage_limit=1)
    buy(MemberFactory(), "ONCE")
    error = refused(MemberFactory(), "ONCE")
    assert isinstance(error, CouponUsedUpError)
    assert str(error) == "This coupon has been used up."
    coupon.refresh_from_db()
    assert coupon.used_count == 1


def test_a_coupon_limited_to_n_takes_n_uses():
    coupon = CouponFactory(code="THREE", usage_limit=3)
    for _ in range(3):
        buy(MemberFactory(), "THREE")
    assert str(refused(MemberFactory(), "THREE")) == "This coupon has been used up."
    coupon.refresh_from_db()
    assert (coupon.used_count, coupon.redemptions.count()) == (3, 3)


@pytest.mark.parametrize("limit", [None, 0])
def test_a_coupon_without_a_limit_can_be_used_again_and_again(limit):
    coupon = CouponFactory(code="ALWAYS", usage_limit=limit)
    member = MemberFactory()
    for _ in range(5):
        buy(member, "ALWAYS")
    coupon.refresh_from_db()
    assert coupon.used_count == 5


def test_the_per_member_limit_stops_the_member_and_not_the_others():
    CouponFactory(code="WELCOME", per_member_limit=1)
    member = MemberFactory()
    buy(member, "WELCOME")
    error = refused(member, "WELCOME")
    assert isinstance(error, CouponMemberLimitError)
    assert str(error) == "You have already used this coupon."
    assert buy(MemberFactory(), "WELCOME").coupon_discount_yen == 200


def test_a_per_member_limit_of_two_says_how_many_times():
    CouponFactory(code="TWICE", per_member_limit=2)
    member = MemberFactory()
    buy(member, "TWICE")
    buy(member, "TWICE")
    assert (
        str(refused(member, "TWICE")) == "You have already used this coupon 2 times, as often as it allows."
    )


def test_the_limit_is_held_by_the_database_too():
    coupon = CouponFactory(code="DB", usage_limit=1, used_count=1)
    from django.db import IntegrityError, transaction

    with pytest.raises(IntegrityError), transaction.atomic():
        Coupon.objects.filter(pk=coupon.pk).update(used_count=2)


# --- the discount ---------------------------------------------------------------------------------------


def test_a_percentage_is_floored():
    CouponFactory(code="P15", discount_value=15)
    order = buy(MemberFactory(), "P15", price=1999)  # 299.85
    assert (order.coupon_discount_yen, order.total_yen) == (299, 1700)


def test_the_percentage_applies_after_the_member_discount():
    # given a member with a 10 % member discount and a 10 % coupon on 2,000 yen by card
    CouponFactory(code="P10", discount_value=10)
    member = MemberFactory(member_discount_pct=10)
    order = buy(member, "P10")
    # then the coupon takes 10 % of 1,800
    assert (order.member_discount_yen, order.coupon_discount_yen, order.total_yen) == (200, 180, 1620)


def test_a_100_percent_coupon_makes_a_card_booking_free_and_confirmed_without_a_card(item):
    CouponFactory(code="FREE", discount_value=100)
    reservation = book(item, MemberFactory(), "free")
    order = order_for_reservation(reservation)
    assert reservation.status == Reservation.Status.CONFIRMED
    assert (order.status, order.payment_method, order.coupon_discount_yen, order.total_yen) == (
        Order.Status.PAID,
        Order.Method.CARD,
        2000,
        0,
    )
    assert not Payment.objects.filter(order=order).exists()


def test_a_0_percent_coupon_is_recorded_as_a_give_away_with_0_yen(item):
    coupon = CouponFactory(code="GIFT", discount_value=0)
    reservation = book(item, MemberFactory(), "GIFT", method="counter")
    order = order_for_reservation(reservation)
    assert (order.coupon_discount_yen, order.total_yen) == (0, 2000)
    redemption = CouponRedemption.objects.get(order=order)
    assert (redemption.coupon, redemption.discount_yen) == (coupon, 0)


def test_a_yen_coupon_larger_than_the_price_brings_it_to_0_and_no_lower():
    CouponFactory(code="Y5000", discount_kind=Coupon.DiscountKind.YEN, discount_value=5000)
    order = buy(MemberFactory(), "Y5000", price=2000)
    assert (order.coupon_discount_yen, order.total_yen) == (2000, 0)
    assert CouponRedemption.objects.get(order=order).discount_yen == 2000


def test_a_yen_coupon_takes_its_amount():
    CouponFactory(code="Y500", discount_kind=Coupon.DiscountKind.YEN, discount_value=500)
    assert buy(MemberFactory(), "Y500").total_yen == 1500


# --- scope ----------------------------------------------------------------------------------------------


def test_a_coupon_scoped_to_an_item_applies_to_its_bookings_only(item):
    other = ItemFactory(name="会議室B", units=[(60, 1000)], stock=5)
    CouponFactory(code="ROOMA", items=[item])
    member = MemberFactory()
    assert order_for_reservation(book(item, member, "ROOMA")).coupon_discount_yen == 200
    with pytest.raises(CouponError) as caught:
        book(other, member, "ROOMA", start="13:00", end="15:00")
    assert str(caught.value) == "This coupon does not apply to this booking."
    assert not Reservation.objects.filter(item=other).exists()


def test_a_coupon_scoped_to_a_category_applies_to_its_items(item):
    category = CategoryFactory()
    item.category = category
    item.save()
    CouponFactory(code="CAT", categories=[category])
    assert order_for_reservation(book(item, MemberFactory(), "CAT")).coupon_discount_yen == 200


def test_a_scoped_coupon_discounts_only_the_lines_in_scope():
    # given an order of a booking line in scope (2,000) and a product (1,000)
    member = MemberFactory()
    room = ItemFactory(units=[(60, 1000)])
    CouponFactory(code="HALF", discount_value=50, items=[room])
    lines = [
        LineDraft(kind=OrderLine.Kind.RESERVATION, description="room", unit_price_yen=2000, item=room),
        LineDraft(
            kind=OrderLine.Kind.PRODUCT, description="PACK", unit_price_yen=1000, product=product(1000)
        ),
    ]
    draft = price_draft(member=member, lines=lines, payment_method="card", options={"coupon": "HALF"})
    # then half of the 2,000 only
    assert (draft.coupon_discount_yen, draft.total_yen) == (1000, 2000)


def test_a_scope_that_matches_no_line_is_refused():
    CouponFactory(code="ROOMONLY", items=[ItemFactory()])
    assert str(refused(MemberFactory(), "ROOMONLY")) == "This coupon does not apply to this order."


# --- methods --------------------------------------------------------------------------------------------


def test_a_ticket_booking_takes_no_coupon_and_nothing_is_booked(item):
    CouponFactory(code="SUMMER10")
    with pytest.raises(BookingError) as caught:
        book(item, MemberFactory(), "SUMMER10", method="free")
    assert caught.value.field == "coupon"
    assert not Reservation.objects.exists()


def test_a_free_order_takes_no_coupon():
    CouponFactory(code="SUMMER10")
    error = refused(MemberFactory(), "SUMMER10", method=Order.Method.FREE, price=0)
    assert str(error) == "Coupons can be used only when paying by card or at the counter."


# --- the breakdown --------------------------------------------------------------------------------------


def test_the_breakdown_shows_the_coupon_line_with_its_code():
    CouponFactory(code="SUMMER10")
    lines = [
        LineDraft(kind=OrderLine.Kind.PRODUCT, description="PACK", unit_price_yen=2000, product=product())
    ]
    draft = price_draft(
        member=MemberFactory(), lines=lines, payment_method="card", options={"coupon": "summer10"}
    )
    charge = charge_shown(draft=draft, label="PACK", show_member_discount=True)
    assert [(line.label, line.amount_yen) for line in charge.lines] == [
        ("PACK", 2000),
        ("Coupon SUMMER10", -200),
    ]
    assert charge.total_yen == 1800


# --- redemption and giving back -------------------------------------------------------------------------


def test_the_redemption_is_recorded_per_order_with_its_discount_and_an_audit_entry():
    coupon = CouponFactory(code="SUMMER10")
    member = MemberFactory()
    order = buy(member, "SUMMER10")
    redemption = CouponRedemption.objects.get()
    assert (redemption.coupon, redemption.order, redemption.member, redemption.discount_yen) == (
        coupon,
        order,
        member,
        200,
    )
    assert (redemption.redeemed_at, redemption.released_at) == (NOW, None)
    assert AuditEntry.objects.filter(action="coupon.redeemed").count() == 1


def test_a_refused_coupon_books_nothing(item):
    CouponFactory(code="ONCE", usage_limit=1, used_count=1)
    with pytest.raises(CouponUsedUpError):
        book(item, MemberFactory(), "ONCE")
    assert not Reservation.objects.exists()
    assert not Order.objects.exists()


@pytest.mark.parametrize("gives_back", [True, False])
def test_cancelling_gives_the_use_back_only_when_the_coupon_says_so(item, gives_back):
    # given a once-only coupon used by a counter booking
    coupon = CouponFactory(code="ONCE", usage_limit=1, per_member_limit=1, gives_back_on_cancel=gives_back)
    member = MemberFactory()
    reservation = book(item, member, "ONCE", method="counter")
    order = order_for_reservation(reservation)
    # then the cancel page says what happens to it
    expected = (
        "The coupon ONCE can be used again." if gives_back else "The coupon ONCE's use is not given back."
    )
    assert [effect.text for effect in registry.undo_effects(order=order, now=NOW)] == [expected]
    # when the booking is cancelled
    reservation_cancel(reservation=reservation, by=member, now=NOW)
    # then the use comes back (or not), and the redemption stays as history
    coupon.refresh_from_db()
    redemption = CouponRedemption.objects.get(order=order)
    assert coupon.used_count == (0 if gives_back else 1)
    assert (redemption.released_at is not None) == gives_back
    if gives_back:
        assert book(item, member, "ONCE", method="counter", start="13:00", end="15:00")
    else:
        with pytest.raises(CouponUsedUpError):
            book(item, member, "ONCE", method="counter", start="13:00", end="15:00")


def test_a_use_is_given_back_once():
    coupon = CouponFactory(code="BACK", usage_limit=2, gives_back_on_cancel=True)
    member = MemberFactory()
    order = buy(member, "BACK")
    buy(member, "BACK")
    order_cancel(order=order, by=member, now=NOW)
    from promotions.redemption import coupon_release

    coupon_release(order=order, by=member, now=NOW)  # a second undo gives nothing more back
    coupon.refresh_from_db()
    assert coupon.used_count == 1
    assert AuditEntry.objects.filter(action="coupon.released").count() == 1
