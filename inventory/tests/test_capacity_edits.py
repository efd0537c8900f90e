"""Stock and capacity edits reach every future occurrence (SPEC §4): raising sells the new places,
lowering below what is already booked is refused with the occurrences listed, and nobody is cancelled."""

from __future__ import annotations

from datetime import date, time, timedelta

import pytest
from django.db import transaction
from django.utils import timezone, translation

from core.models import AuditEntry
from inventory import services
from inventory.exceptions import CapacityChangeError, SlotFullError, SoldOutError
from inventory.models import Item, Reservation, Slot
from inventory.tests.factories import (
    IrregularEventFactory,
    ItemFactory,
    RepeatingEventFactory,
    ReservationSettingsFactory,
    jst,
)
from inventory.tests.test_admin import change, form_data
from members.tests.factories import MemberFactory
from tests.parallel import run_together


def next_monday(after_days: int = 7) -> date:
    d = timezone.localdate() + timedelta(days=after_days)
    return d + timedelta(days=(7 - d.weekday()) % 7)


MONDAY = next_monday()
LAST_MONDAY = next_monday() - timedelta(days=14)  # a past occurrence (at least a week ago)


@pytest.fixture(autouse=True)
def english():
    with translation.override("en"):
        yield


@pytest.fixture
def general_settings(db):
    return ReservationSettingsFactory(hours=dict.fromkeys(range(8), ("09:00", "20:00")))


def book(item, *, day=MONDAY, start="10:00", end="11:00", quantity=1, now=None):
    member = MemberFactory()
    return services.reservation_create(
        member=member,
        by=member,
        item=item,
        starts_at=jst(day, start),
        ends_at=jst(day, end),
        quantity=quantity,
        payment_method="free",
        now=now or timezone.now(),
    )


def slot_of(item, day=MONDAY, start="10:00") -> Slot:
    return Slot.objects.get(item=item, starts_at=jst(day, start))


@pytest.fixture
def lesson(general_settings):
    """A weekly Monday 10:00–11:00 class of capacity 3 with next week's class full (3 booked)."""
    item = ItemFactory(fixed=True, stock=10)
    event = RepeatingEventFactory(item=item, weekday=0, starts_at=time(10), ends_at=time(11), capacity=3)
    book(item, quantity=2)
    book(item)
    return item, event


def set_capacity(event, capacity):
    event.capacity = capacity
    event.save(update_fields=["capacity"])


def staff():
    return MemberFactory(is_staff=True)


# --- repeating events ------------------------------------------------------------------------------


def test_raising_a_class_capacity_sells_the_new_places(lesson):
    item, event = lesson
    with pytest.raises(SlotFullError):
        book(item)

    set_capacity(event, 5)
    services.item_capacity_apply(item=item, by=staff())

    book(item)
    book(item)
    with pytest.raises(SlotFullError):
        book(item)
    assert (slot_of(item).capacity, slot_of(item).booked) == (5, 5)


def test_lowering_below_what_is_booked_is_refused_listing_the_occurrence(lesson):
    item, event = lesson
    entries = AuditEntry.objects.count()

    def lower_to_two():
        with transaction.atomic():  # rolled back by the refusal, as the admin's view is
            set_capacity(event, 2)
            services.item_capacity_apply(item=item, by=staff())

    with pytest.raises(CapacityChangeError) as refusal:
        lower_to_two()

    assert f"{MONDAY:%Y-%m-%d} 10:00–11:00: 3 booked" in str(refusal.value)
    assert refusal.value.conflicts == [(jst(MONDAY, "10:00"), jst(MONDAY, "11:00"), 3, 2)]
    event.refresh_from_db()
    assert event.capacity == 3
    assert (slot_of(item).capacity, slot_of(item).booked) == (3, 3)
    assert Reservation.objects.filter(item=item, status=Reservation.Status.CONFIRMED).count() == 2
    assert AuditEntry.objects.count() == entries


def test_lowering_to_what_is_booked_is_allowed_and_the_class_is_then_full(general_settings):
    item = ItemFactory(fixed=True, stock=10)
    event = RepeatingEventFactory(item=item, weekday=0, starts_at=time(10), ends_at=time(11), capacity=5)
    book(item, quantity=3)
    book(item, day=MONDAY + timedelta(days=7))

    set_capacity(event, 3)
    by = staff()
    services.item_capacity_apply(item=item, by=by, edited=["repeating_events"])

    assert (slot_of(item).capacity, slot_of(item).booked) == (3, 3)
    assert slot_of(item, MONDAY + timedelta(days=7)).capacity == 3
    with pytest.raises(SlotFullError):
        book(item)
    entry = AuditEntry.objects.get(action="item.capacity_changed")
    assert entry.actor == by
    assert [row["capacity"] for row in entry.payload["slots"]] == [[5, 3], [5, 3]]


def test_an_empty_capacity_follows_the_stock(general_settings):
    item = ItemFactory(fixed=True, stock=3)
    RepeatingEventFactory(item=item, weekday=0, starts_at=time(10), ends_at=time(11), capacity=None)
    book(item, quantity=3)

    item.stock = 2
    item.save(update_fields=["stock"])
    with pytest.raises(CapacityChangeError, match="3 booked"):
        services.item_capacity_apply(item=item, by=staff())
    assert slot_of(item).capacity == 3

    item.stock = 5
    item.save(update_fields=["stock"])
    services.item_capacity_apply(item=item, by=staff())
    book(item, quantity=2)
    assert (slot_of(item).capacity, slot_of(item).booked) == (5, 5)


def test_an_irregular_event_capacity_likewise(general_settings):
    item = ItemFactory(fixed=True, stock=10)
    day = MONDAY + timedelta(days=2)
    event = IrregularEventFactory(item=item, date=day, starts_at=time(14), ends_at=time(16), capacity=2)
    book(item, day=day, start="14:00", end="16:00", quantity=2)

    set_capacity(event, 1)
    with pytest.raises(CapacityChangeError, match=f"{day:%Y-%m-%d} 14:00–16:00: 2 booked"):
        services.item_capacity_apply(item=item, by=staff())

    set_capacity(event, 4)
    services.item_capacity_apply(item=item, by=staff())
    book(item, day=day, start="14:00", end="16:00", quantity=2)
    assert (slot_of(item, day, "14:00").capacity, slot_of(item, day, "14:00").booked) == (4, 4)


def test_past_occurrences_are_not_touched(general_settings):
    item = ItemFactory(fixed=True, stock=10)
    event = RepeatingEventFactory(item=item, weekday=0, starts_at=time(10), ends_at=time(11), capacity=3)
    book(item, day=LAST_MONDAY, quantity=3, now=jst(LAST_MONDAY, "08:00"))

    set_capacity(event, 1)  # below the past class's 3: that class is over, so this is no conflict
    services.item_capacity_apply(item=item, by=staff())

    assert (slot_of(item, LAST_MONDAY).capacity, slot_of(item, LAST_MONDAY).booked) == (3, 3)


# --- free-type items ---------------------------------------------------------------------------------


def test_free_item_stock_cannot_go_below_the_peak_booked_at_any_future_instant(general_settings):
    item = ItemFactory(stock=3)
    book(item, start="10:00", end="12:00")
    book(item, start="11:00", end="13:00")
    book(item, start="11:30", end="12:00")  # 3 out from 11:30 to 12:00
    book(item, day=LAST_MONDAY, quantity=3, now=jst(LAST_MONDAY, "08:00"))  # past: does not count

    item.stock = 2
    item.save(update_fields=["stock"])
    with pytest.raises(CapacityChangeError) as refusal:
        services.item_capacity_apply(item=item, by=staff())
    assert f"{MONDAY:%Y-%m-%d} 11:30–12:00: 3 booked" in str(refusal.value)
    assert len(refusal.value.conflicts) == 1

    book(item, day=LAST_MONDAY + timedelta(days=21), start="15:00", end="16:00")  # another day: fine
    Reservation.objects.filter(item=item, starts_at=jst(MONDAY, "11:30")).update(
        status=Reservation.Status.CANCELLED
    )
    services.item_capacity_apply(item=item, by=staff())  # peak is 2 now: allowed
    with pytest.raises(SoldOutError):
        book(item, start="11:00", end="11:30")


# --- admin ---------------------------------------------------------------------------------------------


def test_admin_refuses_lowering_a_class_below_its_bookings_as_a_form_error(admin_client, lesson):
    item, event = lesson
    data = form_data(admin_client.get(change("item", item.pk)))
    data["repeating_events-0-capacity"] = "2"
    data["name"] = "名前も変えた"

    response = admin_client.post(change("item", item.pk), data)

    assert response.status_code == 200
    errors = response.context["adminform"].form.non_field_errors()
    # the admin speaks the shop's language
    assert any(f"{MONDAY:%Y-%m-%d} 10:00–11:00：予約済み 3（変更後の上限 2）" in error for error in errors)
    event.refresh_from_db()
    item.refresh_from_db()
    assert event.capacity == 3
    assert item.name != "名前も変えた"
    assert slot_of(item).capacity == 3
    assert not AuditEntry.objects.filter(action="item.capacity_changed").exists()


def test_admin_capacity_edit_reaches_booked_occurrences(admin_client, lesson):
    item, _event = lesson
    data = form_data(admin_client.get(change("item", item.pk)))
    data["repeating_events-0-capacity"] = "5"

    response = admin_client.post(change("item", item.pk), data)

    assert response.status_code == 302
    assert slot_of(item).capacity == 5
    entry = AuditEntry.objects.get(action="item.capacity_changed")
    assert entry.payload["edited"] == ["repeating_events"]
    assert entry.actor is not None
    book(item, quantity=2)


def test_admin_stock_edit_of_a_free_item_is_refused_below_the_bookings(admin_client, general_settings):
    item = ItemFactory(stock=2)
    book(item, quantity=2)
    data = form_data(admin_client.get(change("item", item.pk)))
    data["stock"] = "1"

    response = admin_client.post(change("item", item.pk), data)

    assert response.status_code == 200
    assert f"{MONDAY:%Y-%m-%d} 10:00–11:00：予約済み 2（変更後の上限 1）" in " ".join(
        response.context["adminform"].form.non_field_errors()
    )
    item.refresh_from_db()
    assert item.stock == 2

    data["stock"] = "3"
    data["staff_memo"] = "在庫を1台追加"
    assert admin_client.post(change("item", item.pk), data).status_code == 302
    entry = AuditEntry.objects.get(action="item.capacity_changed")
    assert entry.payload["changes"] == {"stock": [2, 3]}
    assert entry.payload["edited"] == ["staff_memo"]


def test_the_refusal_reads_in_japanese(lesson):
    item, event = lesson
    set_capacity(event, 2)
    with translation.override("ja"), pytest.raises(CapacityChangeError) as refusal:
        services.item_capacity_apply(item=item, by=staff())
    assert f"{MONDAY:%Y-%m-%d} 10:00–11:00：予約済み 3（変更後の上限 2）" in str(refusal.value)


# --- concurrency -------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("slot_exists", [True, False])
def test_a_capacity_edit_racing_with_bookings_never_overfills(slot_exists):
    ReservationSettingsFactory(hours=dict.fromkeys(range(8), ("09:00", "20:00")))
    item = ItemFactory(fixed=True, stock=10)
    event = RepeatingEventFactory(item=item, weekday=0, starts_at=time(10), ends_at=time(11), capacity=5)
    if slot_exists:
        book(item, quantity=2)
    by = staff()

    def lower_to_three():
        with transaction.atomic():
            Item.objects.get(pk=item.pk).repeating_events.filter(pk=event.pk).update(capacity=3)
            services.item_capacity_apply(item=item, by=by)

    outcomes = run_together(
        [lower_to_three] + [book_one(item) for _ in range(4)],
        expected=(CapacityChangeError, SlotFullError),
    )

    event.refresh_from_db()
    slot = slot_of(item)
    live = sum(
        Reservation.objects.filter(item=item, status__in=Reservation.LIVE_STATUSES).values_list(
            "quantity", flat=True
        )
    )
    assert not [outcome for outcome in outcomes if outcome.startswith("unexpected")], outcomes
    assert slot.booked == live
    assert slot.booked <= slot.capacity
    assert slot.capacity == event.capacity  # the slot follows its event, whoever went first
    if event.capacity == 3:
        assert outcomes["CapacityChangeError"] == 0
    else:
        assert outcomes["CapacityChangeError"] == 1
        assert slot.booked > 3


def book_one(item):
    return lambda: book(item)
