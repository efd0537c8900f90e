import itertools
from datetime import date, time, timedelta

import pytest
from django.core.management import call_command

from inventory import payment_methods
from inventory.exceptions import (
    BookingError,
    CancelError,
    ClosedError,
    InvalidLengthError,
    NoSuchSlotError,
    NotBookableError,
    OutOfHoursError,
    PaymentMethodError,
    SlotFullError,
    SoldOutError,
    StatusError,
    TooEarlyError,
    TooLateError,
)
from inventory.models import AcceptanceOverride, Reservation, ReservationSettings, Slot
from inventory.services import (
    release_unpaid_reservations,
    reservation_cancel,
    reservation_complete,
    reservation_confirm,
    reservation_create,
    reservation_mark_no_show,
)
from inventory.tests.factories import (
    AcceptanceOverrideFactory,
    IrregularEventFactory,
    ItemFactory,
    RepeatingEventFactory,
    ReservationSettingsFactory,
    SeasonFactory,
    jst,
)
from members.tests.factories import MemberFactory

pytestmark = pytest.mark.django_db

MONDAY = date(2027, 6, 7)  # no national holiday in June 2027
NOW = jst(date(2027, 6, 1), "09:00")


@pytest.fixture
def general_settings():
    return ReservationSettingsFactory(min_minutes=30, time_step_minutes=30, cancel_deadline_minutes=24 * 60)


@pytest.fixture
def member():
    return MemberFactory()


def book(item, member, start: str, end: str, *, day=MONDAY, quantity=1, method="free", now=NOW, end_day=None):
    return reservation_create(
        member=member,
        by=member,
        item=item,
        starts_at=jst(day, start),
        ends_at=jst(end_day or day, end),
        quantity=quantity,
        payment_method=method,
        now=now,
    )


class HoldForPayment(payment_methods.PaymentMethod):
    """A payment method that leaves the booking tentative, as card payment will."""

    key = "test-hold"
    label = "hold"

    def is_available(self, *, item, member, price_yen):
        return True

    confirms_at_once = False

    def authorise(self, *, reservation, now, option="", by=None):
        """Takes nothing: the booking waits, tentative, for a payment."""

    def release(self, *, reservation, now, by=None, refund=None, system=""):
        self.released.append(reservation.pk)

    def no_show(self, *, reservation, now):
        """This test method keeps nothing and gives nothing back."""

    released: list


@pytest.fixture
def hold_method():
    method = HoldForPayment()
    method.released = []
    payment_methods.register(method)
    yield method
    payment_methods._registry.pop(method.key)


# --- pricing through the booking -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "end", "price"), [("10:00", "12:00", 2000), ("10:00", "14:00", 3000), ("10:00", "16:00", 4000)]
)
def test_seed_unit_price_examples_are_charged(general_settings, member, start, end, price):
    # given seed 003's units {1h: 1,000, 3h: 2,000}
    ReservationSettingsFactory(hours=dict.fromkeys(range(8), ("09:00", "20:00")))
    item = ItemFactory(units=[(60, 1000), (180, 2000)], stock=2)
    # when
    reservation = book(item, member, start, end, method="counter")
    # then
    assert reservation.price_yen == price
    assert reservation.price_breakdown["total_yen"] == price
    assert reservation.status == Reservation.Status.CONFIRMED


def test_quantity_multiplies_the_price(general_settings, member):
    item = ItemFactory(units=[(60, 1000)], stock=3)
    reservation = book(item, member, "10:00", "11:00", quantity=3, method="counter")
    assert reservation.price_yen == 3000


def test_multi_day_weekday_pricing_sums_each_day(member):
    # given a room open all day, weekday 2,000, weekend and holidays 2,500, high season 3,000
    ReservationSettingsFactory(
        hours=dict.fromkeys(range(8), ("00:00", "23:59")), time_step_minutes=60, min_minutes=60
    )
    high = SeasonFactory(start_date=date(2027, 7, 1), end_date=date(2027, 8, 31))
    item = ItemFactory(
        rules=[
            {"weekdays": list(range(8)), "label": "ハイシーズン", "price_yen": 3000, "season": high},
            {"weekdays": [0, 1, 2, 3, 4], "label": "平日", "price_yen": 2000},
            {"weekdays": [5, 6, 7], "label": "土日祝", "price_yen": 2500},
        ]
    )
    # when booking Fri 2027-06-25 10:00 → Thu 2027-07-01 10:00 (Fri, Sat, Sun, Mon–Wed, then Thu in season)
    reservation = book(
        item, member, "10:00", "10:00", day=date(2027, 6, 25), end_day=date(2027, 7, 1), method="counter"
    )
    # then Fri 2,000 + Sat 2,500 + Sun 2,500 + Mon–Wed 3 × 2,000 + Thu (season) 3,000
    assert reservation.price_yen == 2000 + 2500 + 2500 + 3 * 2000 + 3000


def test_free_method_is_refused_for_a_priced_booking_and_nothing_is_saved(general_settings, member):
    item = ItemFactory(units=[(60, 1000)])
    with pytest.raises(BookingError) as refused:
        book(item, member, "10:00", "11:00", method="free")
    assert refused.value.field == "payment_method"
    assert not Reservation.objects.exists()


def test_unknown_payment_method_is_refused(general_settings, member):
    with pytest.raises(PaymentMethodError):
        book(ItemFactory(), member, "10:00", "11:00", method="bitcoin")


# --- acceptance rules --------------------------------------------------------------------------


def test_closed_day_is_refused(general_settings, member):
    item = ItemFactory()
    AcceptanceOverrideFactory(store=item.store, start_date=MONDAY, end_date=MONDAY)
    with pytest.raises(ClosedError, match="2027-06-07"):
        book(item, member, "10:00", "11:00")
    assert not Reservation.objects.exists()


def test_a_closed_week_for_one_item_does_not_close_another(general_settings, member):
    item, other = ItemFactory(), ItemFactory()
    AcceptanceOverrideFactory(item=item, start_date=MONDAY, end_date=MONDAY + timedelta(days=6))
    with pytest.raises(ClosedError):
        book(item, member, "10:00", "11:00", day=MONDAY + timedelta(days=6))
    assert book(other, member, "10:00", "11:00").status == Reservation.Status.CONFIRMED


def test_irregular_schedule_accepts_only_days_staff_opened(member):
    ReservationSettingsFactory(schedule=ReservationSettings.Schedule.IRREGULAR)
    item = ItemFactory()
    with pytest.raises(ClosedError):
        book(item, member, "10:00", "11:00")
    AcceptanceOverrideFactory(
        item=item, kind=AcceptanceOverride.Kind.OPEN, start_date=MONDAY, end_date=MONDAY
    )
    assert book(item, member, "10:00", "11:00").pk


@pytest.mark.parametrize(("start", "end"), [("09:30", "10:30"), ("17:30", "18:30"), ("08:00", "09:00")])
def test_out_of_hours_is_refused(general_settings, member, start, end):
    with pytest.raises(OutOfHoursError, match="10:00"):
        book(ItemFactory(), member, start, end)


def test_a_day_without_acceptance_hours_is_closed(member):
    ReservationSettingsFactory(hours={1: ("10:00", "18:00")})  # Tuesdays only
    with pytest.raises(ClosedError):
        book(ItemFactory(), member, "10:00", "11:00")


def test_holiday_hours_replace_the_weekday_hours(member):
    # given Mondays 10–18, holidays 12–16; 2027-07-19 is 海の日 (a Monday)
    ReservationSettingsFactory(hours={0: ("10:00", "18:00"), 7: ("12:00", "16:00")})
    item = ItemFactory(stock=2)
    holiday = date(2027, 7, 19)
    with pytest.raises(OutOfHoursError):
        book(item, member, "10:00", "11:00", day=holiday)
    assert book(item, member, "12:00", "13:00", day=holiday).pk


@pytest.mark.parametrize(("start", "end"), [("10:15", "11:15"), ("10:00", "10:45")])
def test_times_must_follow_the_step(general_settings, member, start, end):
    with pytest.raises(InvalidLengthError, match="30"):
        book(ItemFactory(), member, start, end)


def test_minimum_and_maximum_length(member):
    ReservationSettingsFactory(min_minutes=60, max_minutes=120)
    item = ItemFactory(stock=3)
    with pytest.raises(InvalidLengthError, match="60"):
        book(item, member, "10:00", "10:30")
    with pytest.raises(InvalidLengthError, match="120"):
        book(item, member, "10:00", "12:30")
    assert book(item, member, "10:00", "12:00").pk
    assert book(item, member, "10:00", "11:00").pk


def test_max_length_zero_means_no_limit(member):
    ReservationSettingsFactory(max_minutes=0)
    assert book(ItemFactory(), member, "10:00", "18:00").pk


def test_booking_deadline(member):
    ReservationSettingsFactory(booking_deadline_minutes=120)
    item = ItemFactory(stock=2)
    with pytest.raises(TooLateError):
        book(item, member, "10:00", "11:00", now=jst(MONDAY, "08:01"))
    assert book(item, member, "10:00", "11:00", now=jst(MONDAY, "08:00")).pk


def test_past_times_are_refused(general_settings, member):
    with pytest.raises(TooLateError):
        book(ItemFactory(), member, "10:00", "11:00", now=jst(MONDAY, "10:30"))


def test_bookings_open_only_so_far_ahead(member):
    ReservationSettingsFactory(book_ahead_days=6)
    item = ItemFactory(stock=2)
    with pytest.raises(TooEarlyError):
        book(item, member, "10:00", "11:00", now=jst(MONDAY - timedelta(days=7), "23:59"))
    assert book(item, member, "10:00", "11:00", now=jst(MONDAY - timedelta(days=6), "00:00")).pk


def test_item_own_settings_win_over_the_general_ones(general_settings, member):
    item = ItemFactory()
    ReservationSettingsFactory(item=item, hours={0: ("06:00", "08:00")})
    assert book(item, member, "06:00", "07:00").pk
    with pytest.raises(OutOfHoursError):
        book(ItemFactory(), member, "06:00", "07:00")


def test_private_items_cannot_be_booked_on_the_member_site(general_settings, member):
    with pytest.raises(NotBookableError):
        book(ItemFactory(private=True), member, "10:00", "11:00")


# --- stock and capacity (single process; the parallel proofs are in test_concurrency.py) ---------------


def test_stock_counts_units_out_at_the_same_instant(general_settings, member):
    # given stock 2 and bookings 10–12 and 11–13
    item = ItemFactory(stock=2)
    book(item, member, "10:00", "12:00")
    book(item, member, "11:00", "13:00")
    # then 11:30–12:00 is full, but 12:00–13:00 has one unit (the first booking has ended)
    with pytest.raises(SoldOutError):
        book(item, member, "11:30", "12:00")
    assert book(item, member, "12:00", "13:00").pk
    with pytest.raises(SoldOutError):
        book(item, member, "10:00", "11:00", quantity=2)


def test_cancelled_reservations_free_their_units(general_settings, member):
    item = ItemFactory(stock=1)
    first = book(item, member, "10:00", "12:00")
    reservation_cancel(reservation=first, by=member, now=NOW)
    assert book(item, member, "10:00", "12:00").pk


def test_fixed_slot_capacity_defaults_to_the_stock_and_can_be_set(general_settings, member):
    item = ItemFactory(fixed=True, stock=2)
    RepeatingEventFactory(item=item, weekday=0, starts_at=time(10), ends_at=time(11))
    RepeatingEventFactory(item=item, weekday=0, starts_at=time(18), ends_at=time(19), capacity=1)
    book(item, member, "10:00", "11:00")
    book(item, member, "10:00", "11:00")
    with pytest.raises(SlotFullError):
        book(item, member, "10:00", "11:00")
    book(item, member, "18:00", "19:00")
    with pytest.raises(SlotFullError):
        book(item, member, "18:00", "19:00")
    assert Slot.objects.get(item=item, starts_at=jst(MONDAY, "10:00")).booked == 2


def test_fixed_type_needs_an_existing_slot(general_settings, member):
    item = ItemFactory(fixed=True)
    RepeatingEventFactory(item=item, weekday=0, valid_until=MONDAY - timedelta(days=1))
    IrregularEventFactory(item=item, date=MONDAY + timedelta(days=2), starts_at=time(14), ends_at=time(15))
    with pytest.raises(NoSuchSlotError):
        book(item, member, "10:00", "11:00")  # the repeating event ended the day before
    with pytest.raises(NoSuchSlotError):
        book(item, member, "10:00", "10:30", day=MONDAY + timedelta(days=2))
    assert book(item, member, "14:00", "15:00", day=MONDAY + timedelta(days=2)).pk


def test_a_closed_day_removes_fixed_slots(general_settings, member):
    item = ItemFactory(fixed=True)
    RepeatingEventFactory(item=item, weekday=0)
    AcceptanceOverrideFactory(item=item, start_date=MONDAY, end_date=MONDAY)
    with pytest.raises(ClosedError):
        book(item, member, "10:00", "11:00")


# --- cancel, no-show, complete ---------------------------------------------------------------------


def test_member_cancels_before_the_deadline_and_the_slot_is_freed(general_settings, member):
    item = ItemFactory(fixed=True)
    RepeatingEventFactory(item=item, weekday=0)
    reservation = book(item, member, "10:00", "11:00")
    # the deadline is 24 hours before the start: Sunday 10:00
    cancelled = reservation_cancel(
        reservation=reservation, by=member, reason="体調不良", now=jst(MONDAY - timedelta(days=1), "10:00")
    )
    assert cancelled.status == Reservation.Status.CANCELLED
    assert cancelled.cancel_reason == "体調不良"
    assert Slot.objects.get(item=item).booked == 0


def test_member_cannot_cancel_after_the_deadline(general_settings, member):
    reservation = book(ItemFactory(), member, "10:00", "11:00")
    with pytest.raises(CancelError, match="2027-06-06 10:00"):
        reservation_cancel(reservation=reservation, by=member, now=jst(MONDAY - timedelta(days=1), "10:01"))
    reservation.refresh_from_db()
    assert reservation.status == Reservation.Status.CONFIRMED


def test_member_cannot_cancel_someone_elses_reservation(general_settings, member):
    reservation = book(ItemFactory(), member, "10:00", "11:00")
    with pytest.raises(CancelError):
        reservation_cancel(reservation=reservation, by=MemberFactory(), now=NOW)


def test_staff_cancel_any_time_with_a_reason(general_settings, member):
    staff = MemberFactory(is_staff=True)
    reservation = book(ItemFactory(), member, "10:00", "11:00")
    cancelled = reservation_cancel(
        reservation=reservation, by=staff, reason="設備故障", as_staff=True, now=jst(MONDAY, "09:59")
    )
    assert cancelled.cancelled_by == staff
    with pytest.raises(CancelError):
        reservation_cancel(reservation=reservation, by=staff, as_staff=True, now=NOW)


def test_no_show_only_after_the_start_and_keeps_the_payment(general_settings, member):
    staff = MemberFactory(is_staff=True)
    item = ItemFactory(fixed=True)
    RepeatingEventFactory(item=item, weekday=0)
    reservation = book(item, member, "10:00", "11:00")
    with pytest.raises(StatusError):
        reservation_mark_no_show(reservation=reservation, by=staff, now=jst(MONDAY, "09:59"))
    marked = reservation_mark_no_show(reservation=reservation, by=staff, now=jst(MONDAY, "10:10"))
    assert marked.status == Reservation.Status.NO_SHOW
    assert marked.no_show_at == jst(MONDAY, "10:10")
    assert marked.cancelled_by == staff
    with pytest.raises(StatusError):
        reservation_complete(reservation=reservation, by=None, system="test", now=jst(MONDAY, "12:00"))


def test_complete_after_the_start(general_settings, member):
    reservation = book(ItemFactory(), member, "10:00", "11:00")
    with pytest.raises(StatusError):
        reservation_complete(reservation=reservation, by=None, system="test", now=NOW)
    assert (
        reservation_complete(reservation=reservation, by=None, system="test", now=jst(MONDAY, "11:00")).status
        == "completed"
    )


# --- tentative holds ----------------------------------------------------------------------------------


def test_unpaid_tentative_reservations_are_released_after_the_hold(hold_method, member):
    ReservationSettingsFactory(tentative_hold_minutes=15)
    item = ItemFactory(stock=1, fixed=True)
    RepeatingEventFactory(item=item, weekday=0)
    reservation = book(item, member, "10:00", "11:00", method=hold_method.key)
    assert reservation.status == Reservation.Status.TENTATIVE
    assert reservation.hold_until == NOW + timedelta(minutes=15)
    # a tentative booking holds the place
    with pytest.raises(SlotFullError):
        book(item, MemberFactory(), "10:00", "11:00", method=hold_method.key)
    # not yet due
    assert release_unpaid_reservations(now=NOW + timedelta(minutes=15)) == []
    # a dry run changes nothing
    due = release_unpaid_reservations(now=NOW + timedelta(minutes=16), dry_run=True)
    assert [r.pk for r in due] == [reservation.pk]
    reservation.refresh_from_db()
    assert reservation.status == Reservation.Status.TENTATIVE
    # released
    released = release_unpaid_reservations(now=NOW + timedelta(minutes=16))
    assert [r.pk for r in released] == [reservation.pk]
    reservation.refresh_from_db()
    assert reservation.status == Reservation.Status.CANCELLED
    assert hold_method.released == [reservation.pk]
    assert Slot.objects.get(item=item).booked == 0


def test_a_confirmed_reservation_is_not_released(hold_method, member):
    ReservationSettingsFactory(tentative_hold_minutes=15)
    reservation = book(ItemFactory(), member, "10:00", "11:00", method=hold_method.key)
    reservation_confirm(reservation=reservation, by=None, system="test", now=NOW + timedelta(minutes=5))
    assert release_unpaid_reservations(now=NOW + timedelta(hours=1)) == []
    reservation.refresh_from_db()
    assert reservation.status == Reservation.Status.CONFIRMED


def test_release_command_dry_run_and_real_run(hold_method, member, capsys):
    ReservationSettingsFactory(tentative_hold_minutes=15)
    reservation = book(ItemFactory(), member, "10:00", "11:00", method=hold_method.key)
    call_command("release_unpaid_reservations", "--dry-run", "--at", "2027-06-01T09:30")
    assert "Would release 1" in capsys.readouterr().out
    reservation.refresh_from_db()
    assert reservation.status == Reservation.Status.TENTATIVE
    call_command("release_unpaid_reservations", "--at", "2027-06-01T09:30")
    assert "Released 1" in capsys.readouterr().out
    reservation.refresh_from_db()
    assert reservation.status == Reservation.Status.CANCELLED


def test_release_command_rejects_a_bad_time():
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="not an ISO 8601"):
        call_command("release_unpaid_reservations", "--at", "yesterday")


def test_segment_peaks_agree_with_the_per_segment_peak():
    # given random bookings, the one-sweep answer equals the simple per-segment computation
    import random

    from inventory.availability import peak_quantity, segment_peaks

    rng = random.Random(7)  # noqa: S311 - test data
    base = jst(MONDAY, "09:00")
    live = []
    for _ in range(300):
        start = base + timedelta(minutes=rng.randrange(0, 720, 15))
        live.append((start, start + timedelta(minutes=rng.choice([15, 30, 45, 60, 120])), rng.choice([1, 2])))
    boundaries = [base + timedelta(minutes=30 * i) for i in range(25)]
    expected = [peak_quantity(live, a, b) for a, b in itertools.pairwise(boundaries)]
    assert segment_peaks(live, boundaries) == expected
    assert max(expected) > 0


def test_items_of_a_private_store_cannot_be_booked_on_the_member_site(general_settings, member):
    item = ItemFactory()
    item.store.is_public = False
    item.store.save()
    with pytest.raises(NotBookableError):
        book(item, member, "10:00", "11:00")


def test_booking_preview_makes_the_same_checks_without_writing(general_settings, member):
    from inventory.services import booking_preview

    item = ItemFactory(units=[(60, 1000), (180, 2000)], stock=1)
    quote = booking_preview(item=item, starts_at=jst(MONDAY, "10:00"), ends_at=jst(MONDAY, "14:00"), now=NOW)
    assert quote.total_yen == 3000
    assert not Reservation.objects.exists()
    book(item, member, "10:00", "12:00", method="counter")
    with pytest.raises(SoldOutError):
        booking_preview(item=item, starts_at=jst(MONDAY, "11:00"), ends_at=jst(MONDAY, "12:00"), now=NOW)
    AcceptanceOverrideFactory(item=item, start_date=MONDAY, end_date=MONDAY)
    with pytest.raises(ClosedError):
        booking_preview(item=item, starts_at=jst(MONDAY, "16:00"), ends_at=jst(MONDAY, "17:00"), now=NOW)
