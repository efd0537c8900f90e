"""Paying a booking with the plan's monthly allowance (SPEC §7 "Monthly allowance"; issue 13): which band a
start time falls in, the first band with some left in the plan's order, one total, the booked day's month
in JST, the contract live on the booked day, the plan's items and stores, the two concurrency limits, one
place only, cancelling gives it back once, a no-show keeps it, the ledger, and bookings that really run in
parallel (with control runs that show the races the locks prevent).

Dates: June 2027 has no national holiday; 2027-07-19 (Monday) is 海の日; 2028 is a leap year."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, timedelta
from functools import partial
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import IntegrityError, transaction
from django.utils import translation

from core.models import AuditEntry
from inventory.booking_choices import payment_offers
from inventory.models import Reservation
from inventory.quotes import quote_booking
from inventory.services import reservation_cancel, reservation_create, reservation_mark_no_show
from inventory.tests.factories import ItemFactory, ReservationSettingsFactory, StoreFactory, jst
from members.tests.factories import MemberFactory
from plans import allowance
from plans.exceptions import AllowanceError, AllowanceLimitError, AllowanceUsedUpError
from plans.models import AllowanceEntry, AllowanceUsage, PlanContract
from plans.plugins import PlanPayment
from plans.tests.factories import (
    PlanBandAllowanceFactory,
    PlanContractFactory,
    PlanFactory,
    TimeBandFactory,
)
from tests.parallel import run_together

TUESDAY = date(2027, 6, 8)
HOLIDAY = date(2027, 7, 19)  # 海の日, a Monday
ALL_DAY = [("00:00", "23:30")]


# --- helpers --------------------------------------------------------------------------------------------


def open_all_day():
    return ReservationSettingsFactory(
        min_minutes=30,
        time_step_minutes=30,
        cancel_deadline_minutes=60,
        book_ahead_days=0,
        hours=dict.fromkeys(range(8), ("00:00", "23:30")),
    )


def band(name: str, windows=ALL_DAY, weekdays=tuple(range(8))):
    return TimeBandFactory(name=name, windows=list(windows), weekdays=list(weekdays))


def plan_with(*bands_and_allowances, items=(), stores=(), **fields):
    """A per-band plan with (band, allowance) rows in that order (or a `total` plan), for `items`."""
    plan = PlanFactory(items=list(items), stores=list(stores), **fields)
    for position, (time_band, count) in enumerate(bands_and_allowances, start=1):
        PlanBandAllowanceFactory(plan=plan, band=time_band, allowance=count, position=position)
    return plan


def contract_for(plan, member=None, **fields) -> PlanContract:
    fields.setdefault("contracted_on", date(2027, 5, 1))
    return PlanContractFactory(plan=plan, member=member or MemberFactory(), **fields)


def book(contract, item, *, day=TUESDAY, start="10:00", end="10:30", now=None, quantity=1, option=None):
    """Book one place of `item` for the contract's member, paid with the plan (`option`: the contract)."""
    starts_at = jst(day, start)
    return reservation_create(
        member=contract.member,
        by=contract.member,
        item=item,
        starts_at=starts_at,
        ends_at=jst(day, end),
        quantity=quantity,
        payment_method="plan",
        payment_option=str(contract.pk) if option is None else option,
        now=now or starts_at - timedelta(days=3),
    )


def used(contract, month: date, time_band=None) -> int:
    row = AllowanceUsage.objects.filter(contract=contract, month=month, band=time_band).first()
    return row.used if row else 0


def left(contract, month: date) -> dict[str, int]:
    return {line.name: line.left for line in allowance.allowance_left(contract, month)}


@pytest.fixture(autouse=True)
def english():
    """The refusals are read in English here (a member's page shows them in the member's language)."""
    with translation.override("en"):
        yield


@pytest.fixture
def setting(db):
    return open_all_day()


@pytest.fixture
def item(setting):
    return ItemFactory(stock=100)


# --- which band ------------------------------------------------------------------------------------------


def test_a_window_holds_its_start_and_not_its_end(db):
    # given a band with the window [10:00, 12:00)
    morning = band("午前", windows=[("10:00", "12:00")])
    # then a booking starting at 10:00 or 11:30 is in it, one at 9:30 or exactly at 12:00 is not
    assert allowance.band_holds(morning, jst(TUESDAY, "10:00"))
    assert allowance.band_holds(morning, jst(TUESDAY, "11:30"))
    assert not allowance.band_holds(morning, jst(TUESDAY, "09:30"))
    assert not allowance.band_holds(morning, jst(TUESDAY, "12:00"))


def test_a_band_with_two_windows_holds_either(db):
    split = band("昼夜", windows=[("10:00", "12:00"), ("18:00", "21:00")])
    assert allowance.band_holds(split, jst(TUESDAY, "19:00"))
    assert not allowance.band_holds(split, jst(TUESDAY, "15:00"))


def test_the_start_time_is_read_in_jst(db):
    # given a band from midnight to 1:00 (JST)
    night = band("深夜", windows=[("00:00", "01:00")])
    # then 2027-06-08 00:30 JST (2027-06-07 15:30 UTC) is in it
    starts_at = jst(TUESDAY, "00:30")
    assert starts_at.astimezone(UTC).date() == date(2027, 6, 7)
    assert allowance.band_holds(night, starts_at)


def test_a_national_holiday_is_held_by_the_holiday_weekday_not_by_its_own(db):
    # given a weekday band (Mon–Fri) and a 土日祝 band
    weekdays = band("平日", weekdays=range(5))
    weekends = band("土日祝", weekdays=(5, 6, 7))
    # then Monday 2027-07-19 (海の日) is in 土日祝 only, and the Tuesday after in 平日 only
    assert not allowance.band_holds(weekdays, jst(HOLIDAY, "10:00"))
    assert allowance.band_holds(weekends, jst(HOLIDAY, "10:00"))
    assert allowance.band_holds(weekdays, jst(HOLIDAY + timedelta(days=1), "10:00"))
    assert not allowance.band_holds(weekends, jst(HOLIDAY + timedelta(days=1), "10:00"))


def test_a_holiday_booking_takes_from_the_holiday_band(item):
    # given a plan with 平日 (first) and 土日祝 bands
    weekdays = band("平日", weekdays=range(5))
    weekends = band("土日祝", weekdays=(5, 6, 7))
    contract = contract_for(plan_with((weekdays, 4), (weekends, 1), items=[item]))
    # when the member books on 海の日 (a Monday)
    book(contract, item, day=HOLIDAY)
    # then the 土日祝 band's one is used, and a second holiday booking is refused
    assert used(contract, date(2027, 7, 1), weekends) == 1
    assert used(contract, date(2027, 7, 1), weekdays) == 0
    with pytest.raises(AllowanceUsedUpError, match="土日祝"):
        book(contract, item, day=HOLIDAY, start="11:00", end="11:30")


# --- which band pays --------------------------------------------------------------------------------------


def test_the_first_band_with_some_left_pays_then_the_next(item):
    # given a plan with モーニング (6:00–10:00, 1 a month) before フルタイム (all day, 2 a month)
    morning = band("モーニング", windows=[("06:00", "10:00")])
    full = band("フルタイム")
    contract = contract_for(plan_with((morning, 1), (full, 2), items=[item]))
    june = date(2027, 6, 1)
    assert allowance.allowance_left_total(contract, june) == 3
    # when the member books at 8:00 twice
    book(contract, item, start="08:00", end="08:30")
    assert (used(contract, june, morning), used(contract, june, full)) == (1, 0)
    book(contract, item, start="08:30", end="09:00")
    # then the first took モーニング's one, the second フルタイム (モーニング had none left)
    assert (used(contract, june, morning), used(contract, june, full)) == (1, 1)
    # and a booking at 12:00 (outside モーニング) takes フルタイム's last
    book(contract, item, start="12:00", end="12:30")
    assert left(contract, june) == {"モーニング": 0, "フルタイム": 0}
    assert allowance.allowance_left_total(contract, june) == 0
    # when a fourth morning booking is tried, then it is refused, naming the bands and the month
    with pytest.raises(AllowanceUsedUpError) as refused:
        book(contract, item, start="07:00", end="07:30")
    assert "モーニング" in refused.value.message
    assert "フルタイム" in refused.value.message
    assert "2027" in refused.value.message
    assert AllowanceEntry.objects.filter(usage__contract=contract).count() == 3


def test_the_plans_order_decides_not_the_bands_own(item):
    # given フルタイム placed before モーニング in the plan
    morning = band("モーニング", windows=[("06:00", "10:00")])
    full = band("フルタイム")
    contract = contract_for(plan_with((full, 2), (morning, 1), items=[item]))
    # when the member books at 8:00, then フルタイム pays
    book(contract, item, start="08:00", end="08:30")
    assert used(contract, date(2027, 6, 1), full) == 1
    assert used(contract, date(2027, 6, 1), morning) == 0


def test_a_start_time_outside_every_band_is_refused(item):
    morning = band("モーニング", windows=[("06:00", "10:00")])
    contract = contract_for(plan_with((morning, 4), items=[item]))
    with pytest.raises(AllowanceError, match="outside its time bands"):
        book(contract, item, start="10:00", end="10:30")  # 10:00 is the window's end: outside
    assert not Reservation.objects.exists()


def test_a_total_plan_counts_one_total_across_its_bands(item):
    # given a plan with one total of 2 a month over モーニング and イブニング
    morning = band("モーニング", windows=[("06:00", "10:00")])
    evening = band("イブニング", windows=[("18:00", "22:00")])
    plan = plan_with((morning, 0), (evening, 0), items=[item], total=True, total_allowance=2)
    contract = contract_for(plan)
    june = date(2027, 6, 1)
    # when the member books one morning and one evening
    book(contract, item, start="08:00", end="08:30")
    book(contract, item, start="19:00", end="19:30")
    # then the total is used up (the bands' own figures do not count)
    assert used(contract, june) == 2
    assert left(contract, june) == {"Monthly total": 0}
    with pytest.raises(AllowanceUsedUpError, match="all 2"):
        book(contract, item, start="20:00", end="20:30")
    # and a time outside its bands is refused for that reason
    with pytest.raises(AllowanceError, match="outside its time bands"):
        book(contract, item, day=TUESDAY + timedelta(days=30), start="12:00", end="12:30")


def test_a_total_plan_without_bands_books_at_any_time(item):
    contract = contract_for(plan_with(items=[item], total=True, total_allowance=1))
    book(contract, item, start="14:00", end="14:30")
    assert used(contract, date(2027, 6, 1)) == 1


# --- the month --------------------------------------------------------------------------------------------


def test_the_31st_and_the_1st_count_in_different_months(item):
    # given 1 a month
    contract = contract_for(plan_with((band("フルタイム"), 1), items=[item]))
    # when the member books 2027-07-31 and 2027-08-01
    book(contract, item, day=date(2027, 7, 31))
    book(contract, item, day=date(2027, 8, 1))
    # then each month has its one used, and another July booking is refused
    assert used(contract, date(2027, 7, 1), contract.plan.band_allowances.get().band) == 1
    assert used(contract, date(2027, 8, 1), contract.plan.band_allowances.get().band) == 1
    with pytest.raises(AllowanceUsedUpError, match="2027"):
        book(contract, item, day=date(2027, 7, 1))


def test_the_month_is_the_booked_days_month_in_jst_not_the_booking_day_nor_utc(item):
    # given 1 a month, booked on 2027-06-20 for 2027-07-01 00:00 JST (2027-06-30 15:00 UTC)
    full = band("フルタイム")
    contract = contract_for(plan_with((full, 1), items=[item]))
    book(
        contract, item, day=date(2027, 7, 1), start="00:00", end="00:30", now=jst(date(2027, 6, 20), "09:00")
    )
    # then July's is used, June's is untouched
    assert used(contract, date(2027, 7, 1), full) == 1
    assert used(contract, date(2027, 6, 1), full) == 0
    book(
        contract, item, day=date(2027, 6, 30), start="23:00", end="23:30", now=jst(date(2027, 6, 20), "09:00")
    )
    assert used(contract, date(2027, 6, 1), full) == 1


def test_a_leap_day_counts_in_february(item):
    full = band("フルタイム")
    contract = contract_for(plan_with((full, 1), items=[item]))
    book(contract, item, day=date(2028, 2, 29))
    assert used(contract, date(2028, 2, 1), full) == 1
    with pytest.raises(AllowanceUsedUpError):
        book(contract, item, day=date(2028, 2, 28))
    book(contract, item, day=date(2028, 3, 1))
    assert used(contract, date(2028, 3, 1), full) == 1


def test_the_contracts_first_month_has_the_full_allowance(item):
    # given a contract from 2027-06-25 with 3 a month
    full = band("フルタイム")
    contract = contract_for(
        plan_with((full, 3), items=[item]), contracted_on=date(2027, 6, 25), starts_on=date(2027, 6, 25)
    )
    assert left(contract, date(2027, 6, 1)) == {"フルタイム": 3}
    # when the member books 3 times in its last days of June, then all 3 go through
    for day in (25, 28, 30):
        book(contract, item, day=date(2027, 6, day))
    assert used(contract, date(2027, 6, 1), full) == 3


# --- the contract, item and store -------------------------------------------------------------------------


def test_the_contract_is_live_from_its_start_day_to_its_end_day_inclusive(item):
    contract = contract_for(
        plan_with((band("フルタイム"), 10), items=[item]),
        contracted_on=date(2027, 6, 1),
        starts_on=date(2027, 6, 10),
        ends_on=date(2027, 6, 30),
    )
    with pytest.raises(AllowanceError, match="starts on"):
        book(contract, item, day=date(2027, 6, 9))
    book(contract, item, day=date(2027, 6, 10))
    book(contract, item, day=date(2027, 6, 30))
    with pytest.raises(AllowanceError, match="ends on"):
        book(contract, item, day=date(2027, 7, 1))
    assert Reservation.objects.count() == 2


@pytest.mark.parametrize(
    ("status", "message"),
    [
        (PlanContract.Status.PAST_DUE, "update your payment details"),
        (PlanContract.Status.PENDING, "first payment"),
        (PlanContract.Status.ENDED, "has ended"),
    ],
)
def test_a_contract_not_active_cannot_pay(item, status, message):
    contract = contract_for(plan_with((band("フルタイム"), 10), items=[item]), status=status)
    with pytest.raises(AllowanceError, match=message):
        book(contract, item)
    assert not Reservation.objects.exists()
    assert not AllowanceUsage.objects.exists()


def test_without_choosing_a_past_due_member_is_told_to_update_the_payment(item):
    contract = contract_for(
        plan_with((band("フルタイム"), 10), items=[item]), status=PlanContract.Status.PAST_DUE
    )
    with pytest.raises(AllowanceError, match="update your payment details"):
        book(contract, item, option="")


def test_only_the_plans_items_and_stores(setting):
    # given a plan for item A at store 1 only
    store_1, store_2 = StoreFactory(), StoreFactory()
    item_a = ItemFactory(stock=10, store=store_1, name="ヨガ")
    item_b = ItemFactory(stock=10, store=store_1, name="ピラティス")
    item_c = ItemFactory(stock=10, store=store_2, name="ヨガ（新宿）")
    contract = contract_for(plan_with((band("フルタイム"), 10), items=[item_a, item_c], stores=[store_1]))
    # then item A books, item B (not the plan's) and item C (another store) are refused
    book(contract, item_a)
    with pytest.raises(AllowanceError, match="ピラティス"):
        book(contract, item_b)
    with pytest.raises(AllowanceError, match=store_2.name):
        book(contract, item_c)


def test_a_plan_without_bookable_stores_books_at_every_store(setting):
    item = ItemFactory(stock=10)
    contract = contract_for(plan_with((band("フルタイム"), 10), items=[item]))
    book(contract, item)
    assert Reservation.objects.get().payment_method == "plan"


def test_the_plan_pays_for_one_place_only(item):
    contract = contract_for(plan_with((band("フルタイム"), 10), items=[item]))
    with pytest.raises(AllowanceError, match="one place per booking"):
        book(contract, item, quantity=2)
    assert not Reservation.objects.exists()
    # and the booking form does not offer it for 2 places
    starts_at = jst(TUESDAY, "10:00")
    assert PlanPayment().choices(item=item, member=contract.member, starts_at=starts_at, quantity=2) == []


def test_another_members_contract_cannot_pay(item):
    contract = contract_for(plan_with((band("フルタイム"), 10), items=[item]))
    other = contract_for(contract.plan)
    with pytest.raises(AllowanceError, match="plan you chose"):
        book(other, item, option=str(contract.pk))


# --- cancelling and no-shows ------------------------------------------------------------------------------


def test_cancelling_gives_it_back_once(item):
    # given a booking with the plan's only one this month
    full = band("フルタイム")
    contract = contract_for(plan_with((full, 1), items=[item]))
    reservation = book(contract, item)
    june = date(2027, 6, 1)
    assert used(contract, june, full) == 1
    # when the member cancels
    reservation_cancel(reservation=reservation, by=contract.member, now=jst(TUESDAY, "08:00"))
    # then it is back, with a restored entry
    assert used(contract, june, full) == 0
    assert list(AllowanceEntry.objects.order_by("id").values_list("kind", "delta")) == [
        ("used", -1),
        ("restored", 1),
    ]
    # when it is given back again (a retried job), then nothing more comes back
    assert allowance.allowance_restore(reservation=reservation, by=None, system="test") is None
    assert used(contract, june, full) == 0
    # and the database refuses a second give-back entry whatever writes it
    with pytest.raises(IntegrityError), transaction.atomic():
        AllowanceEntry.objects.create(
            usage=AllowanceUsage.objects.get(),
            kind=AllowanceEntry.Kind.RESTORED,
            delta=1,
            reservation=reservation,
            created_at=jst(TUESDAY, "08:00"),
        )
    # and the member can book again this month
    book(contract, item, start="15:00", end="15:30")
    assert used(contract, june, full) == 1


def test_a_no_show_keeps_it_used(item):
    full = band("フルタイム")
    contract = contract_for(plan_with((full, 1), items=[item]))
    reservation = book(contract, item)
    staff = MemberFactory(is_staff=True)
    reservation_mark_no_show(reservation=reservation, by=staff, now=jst(TUESDAY, "11:00"))
    assert used(contract, date(2027, 6, 1), full) == 1
    assert not AllowanceEntry.objects.filter(kind=AllowanceEntry.Kind.RESTORED).exists()


def test_uses_and_give_backs_are_audited(item):
    contract = contract_for(plan_with((band("フルタイム"), 2), items=[item]))
    reservation = book(contract, item)
    reservation_cancel(
        reservation=reservation, by=None, system="release_job", as_staff=True, now=jst(TUESDAY, "08:00")
    )
    used_entry = AuditEntry.objects.get(action="plan_allowance.used")
    assert used_entry.actor == contract.member
    assert used_entry.object_id == str(contract.pk)
    assert used_entry.payload["changes"] == {"used": [0, 1]}
    restored = AuditEntry.objects.get(action="plan_allowance.restored")
    assert (restored.actor, restored.system) == (None, "release_job")
    assert restored.payload["changes"] == {"used": [1, 0]}


# --- the concurrency limits -------------------------------------------------------------------------------


def test_the_at_once_limit_counts_bookings_not_yet_over(item):
    # given a plan allowing 2 bookings at once
    contract = contract_for(plan_with((band("フルタイム"), 10), items=[item], max_concurrent=2))
    now = jst(TUESDAY, "08:00")
    first = book(contract, item, start="10:00", end="10:30", now=now)
    book(contract, item, day=TUESDAY + timedelta(days=1), now=now)
    # when a third is tried, then it is refused
    with pytest.raises(AllowanceLimitError, match="at most 2"):
        book(contract, item, day=TUESDAY + timedelta(days=2), now=now)
    # when the first is over (not yet marked completed), then a third goes through
    book(contract, item, day=TUESDAY + timedelta(days=2), now=jst(TUESDAY, "10:30"))
    # and a cancelled booking does not count either
    reservation_cancel(reservation=first, by=None, system="test", as_staff=True, now=now)
    with pytest.raises(AllowanceLimitError):
        book(contract, item, day=TUESDAY + timedelta(days=3), now=now)


def test_the_per_day_limit_counts_that_days_bookings(item):
    contract = contract_for(plan_with((band("フルタイム"), 10), items=[item], max_concurrent_per_day=1))
    book(contract, item)
    with pytest.raises(AllowanceLimitError, match="on one day"):
        book(contract, item, start="15:00", end="15:30")
    book(contract, item, day=TUESDAY + timedelta(days=1))
    assert Reservation.objects.count() == 2


def test_no_limit_when_0(item):
    contract = contract_for(plan_with((band("フルタイム"), 10), items=[item]))
    for hour in range(10, 16):
        book(contract, item, start=f"{hour}:00", end=f"{hour}:30")
    assert Reservation.objects.count() == 6


# --- the booking form -------------------------------------------------------------------------------------


def test_the_booking_form_offers_the_plan_with_what_is_left(item):
    # given a contract with 2 a month, 1 used
    contract = contract_for(plan_with((band("フルタイム"), 2), items=[item]))
    book(contract, item)
    starts_at = jst(TUESDAY, "15:00")
    quote = quote_booking(item, starts_at, jst(TUESDAY, "15:30"), 1)
    # then the form offers "plan:<contract>" at 0 yen, with 1 left
    offers = {offer.value: offer for offer in payment_offers(item, contract.member, quote, starts_at)}
    offer = offers[f"plan:{contract.pk}"]
    assert "1 left" in offer.label
    assert offer.price.charge.total_yen == 0
    # when the last one is used, then it is no longer offered
    book(contract, item, start="16:00", end="16:30")
    assert not [
        v for v in (o.value for o in payment_offers(item, contract.member, quote, starts_at)) if "plan" in v
    ]


def test_the_booking_form_offers_no_plan_when_past_due_or_not_covering(item):
    contract = contract_for(
        plan_with((band("フルタイム"), 2), items=[item]), status=PlanContract.Status.PAST_DUE
    )
    starts_at = jst(TUESDAY, "15:00")
    method = PlanPayment()
    assert method.choices(item=item, member=contract.member, starts_at=starts_at) == []
    other = ItemFactory(stock=1)
    live = contract_for(contract.plan, status=PlanContract.Status.ACTIVE)
    assert method.choices(item=other, member=live.member, starts_at=starts_at) == []
    assert len(method.choices(item=item, member=live.member, starts_at=starts_at)) == 1


def test_booking_without_choosing_a_contract_takes_the_usable_one(item):
    contract = contract_for(plan_with((band("フルタイム"), 2), items=[item]))
    reservation = book(contract, item, option="")
    assert reservation.status == Reservation.Status.CONFIRMED
    assert reservation.allowance_entries.get().usage.contract == contract


# --- the ledger -------------------------------------------------------------------------------------------


def test_check_ledgers_is_clean_after_uses_and_give_backs_and_reports_a_difference(item):
    contract = contract_for(plan_with((band("フルタイム"), 5), items=[item]))
    kept = book(contract, item)
    cancelled = book(contract, item, start="12:00", end="12:30")
    reservation_cancel(reservation=cancelled, by=contract.member, now=jst(TUESDAY, "08:00"))
    assert kept.allowance_entries.count() == 1
    out = StringIO()
    call_command("check_ledgers", "--only", "plans", stdout=out)
    assert "plans: OK" in out.getvalue()
    # when the cache is changed behind the ledger's back, then it is reported
    AllowanceUsage.objects.update(used=3)
    assert len(allowance.ledger_report()) == 1
    assert "used 3 but ledger says 1" in allowance.ledger_report()[0]


# --- bookings in parallel ---------------------------------------------------------------------------------


def _race_setup(*, allowance_count: int, already: int, attempts: int, **plan_fields):
    """A contract whose plan has `allowance_count` a month, `already` used, and `attempts` items to book."""
    open_all_day()
    items = [ItemFactory(stock=10) for _ in range(attempts + already)]
    contract = contract_for(plan_with((band("フルタイム"), allowance_count), items=items, **plan_fields))
    for n in range(already):
        book(contract, items[attempts + n], start="08:00", end="08:30")
    return contract, items[:attempts]


def _race(contract, items, *, days: int = 1) -> Counter:
    now = jst(TUESDAY - timedelta(days=3), "09:00")
    calls = [
        lambda item=item, n=n: book(contract, item, day=TUESDAY + timedelta(days=n % days), now=now)
        for n, item in enumerate(items)
    ]
    return run_together(calls, expected=(AllowanceUsedUpError, AllowanceLimitError))


@pytest.mark.django_db(transaction=True)
def test_parallel_bookings_for_the_last_one_book_exactly_one():
    # given 5 a month, 4 used
    contract, items = _race_setup(allowance_count=5, already=4, attempts=12)
    # when 12 bookings run at once, then exactly one gets the last
    assert _race(contract, items) == Counter({"booked": 1, "AllowanceUsedUpError": 11})
    band_ = contract.plan.band_allowances.get().band
    assert used(contract, date(2027, 6, 1), band_) == 5
    assert allowance.ledger_report() == []


@pytest.mark.django_db(transaction=True)
def test_parallel_first_bookings_of_the_month_book_exactly_the_allowance():
    # given 3 a month and no booking yet (the month's row is made by the first booking)
    contract, items = _race_setup(allowance_count=3, already=0, attempts=12)
    assert _race(contract, items) == Counter({"booked": 3, "AllowanceUsedUpError": 9})
    assert allowance.ledger_report() == []


@pytest.mark.django_db(transaction=True)
def test_control_without_the_row_lock_the_last_one_is_taken_twice(monkeypatch):
    # given the usage row read without its lock
    monkeypatch.setattr(allowance, "usage_for_update", partial(allowance.usage_row, lock=False))
    contract, items = _race_setup(allowance_count=5, already=4, attempts=12)
    # when 12 bookings race for the last one, then more than one gets through (the race the lock prevents)
    outcomes = _race(contract, items)
    assert outcomes["booked"] > 1, outcomes


@pytest.mark.django_db(transaction=True)
def test_parallel_bookings_never_break_the_at_once_limit():
    contract, items = _race_setup(allowance_count=50, already=0, attempts=10, max_concurrent=3)
    assert _race(contract, items, days=10) == Counter({"booked": 3, "AllowanceLimitError": 7})


@pytest.mark.django_db(transaction=True)
def test_parallel_bookings_never_break_the_per_day_limit():
    contract, items = _race_setup(allowance_count=50, already=0, attempts=12, max_concurrent_per_day=2)
    assert _race(contract, items, days=3) == Counter({"booked": 6, "AllowanceLimitError": 6})


@pytest.mark.django_db(transaction=True)
def test_control_without_the_limits_lock_the_at_once_limit_is_overrun(monkeypatch):
    monkeypatch.setattr(allowance, "limits_lock", lambda **kwargs: None)
    contract, items = _race_setup(allowance_count=50, already=0, attempts=10, max_concurrent=3)
    outcomes = _race(contract, items, days=10)
    assert outcomes["booked"] > 3, outcomes
