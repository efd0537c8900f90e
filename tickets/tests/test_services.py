"""Ticket rules (SPEC §6, seed 000): ticket type validation, the wallet ledger, paying bookings with a
ticket, the two concurrency limits, expiry and reconciliation."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import translation

from inventory.models import Reservation
from inventory.services import reservation_cancel, reservation_mark_no_show
from inventory.tests.factories import StoreFactory, jst
from members.tests.factories import MemberFactory
from payments.models import Product
from tickets import services
from tickets.exceptions import TicketError, TicketLimitError, TicketUnusableError
from tickets.models import MemberTicket, TicketEntry, TicketType
from tickets.tests.helpers import MONDAY, NOW, book, give, lesson, open_every_day, product, ticket_type

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def settings_open_every_day():
    return open_every_day()


@pytest.fixture(autouse=True)
def english():
    """The messages are asserted in their English source text (the shop's UI shows them in Japanese)."""
    with translation.override("en"):
        yield


@pytest.fixture
def member():
    return MemberFactory()


@pytest.fixture
def item():
    return lesson(name="ヨガ 60分")


def ledger_sum(ticket: MemberTicket) -> int:
    return sum(ticket.entries.values_list("delta", flat=True))


# --- ticket type validation ---------------------------------------------------------------------------------


def field_errors(**fields) -> dict:
    with pytest.raises(ValidationError) as caught:
        ticket_type(**fields)
    return caught.value.message_dict


def test_a_free_trial_needs_a_product_that_costs_0_yen():
    # given a 1,000-yen product / when a free trial uses it / then the product field is refused
    errors = field_errors(kind=TicketType.Kind.FREE_TRIAL, product=product(price_yen=1000))
    assert errors["product"] == ["A free trial ticket needs a product that costs 0 yen."]
    assert not TicketType.objects.exists()
    # and a 0-yen product is accepted
    assert ticket_type(kind=TicketType.Kind.FREE_TRIAL, product=product(price_yen=0)).pk


def test_a_paid_trial_needs_a_product_that_costs_something():
    errors = field_errors(kind=TicketType.Kind.PAID_TRIAL, product=product(price_yen=0))
    assert "more than 0 yen" in errors["product"][0]


def test_only_one_time_products_can_be_ticket_products():
    errors = field_errors(product=product(kind=Product.Kind.MONTHLY))
    assert "one-time product" in errors["product"][0]


def test_the_product_cannot_be_changed_once_set():
    # given a ticket type with a product
    kind = ticket_type()
    first = kind.product_id
    # when staff try another product
    kind.product = product()
    with pytest.raises(ValidationError) as caught:
        services.ticket_type_save(ticket_type=kind, by=None, system="test")
    # then it is refused and the stored product is unchanged
    assert caught.value.message_dict["product"] == ["The ticket product cannot be changed once it is set."]
    assert TicketType.objects.get(pk=kind.pk).product_id == first


def test_a_product_can_be_set_later_on_a_type_that_had_none():
    kind = ticket_type(product=None)
    kind.product = product()
    services.ticket_type_save(ticket_type=kind, by=None, system="test")
    assert TicketType.objects.get(pk=kind.pk).product_id == kind.product.pk


def test_one_product_sells_one_ticket_type_only():
    shared = product()
    ticket_type(product=shared)
    errors = field_errors(product=shared)
    assert errors["product"] == ["This product is already the product of another ticket."]


@pytest.mark.parametrize("display_order", [0])
def test_display_order_must_be_1_or_more(display_order):
    errors = field_errors(display_order=display_order)
    assert errors["display_order"] == ["The display order must be 1 or more."]


@pytest.mark.parametrize(
    "field", ["max_concurrent", "max_concurrent_per_day", "max_purchases_per_member", "validity_days"]
)
def test_limits_cannot_be_negative(field):
    errors = field_errors(**{field: -1})
    assert field in errors


def test_a_ticket_needs_at_least_one_use():
    errors = field_errors(uses=0)
    assert errors["uses"] == ["A ticket needs at least 1 use."]


def test_limits_of_0_are_saved_and_mean_no_limit():
    kind = ticket_type(
        max_concurrent=0, max_concurrent_per_day=0, max_purchases_per_member=0, validity_days=0
    )
    assert kind.has_usage_limit is False


def test_validation_message_names_the_field():
    with pytest.raises(ValidationError) as caught:
        ticket_type(display_order=0)
    assert services.validation_message(caught.value) == "display order: The display order must be 1 or more."


# --- issuing ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("issued", "days", "through"),
    [
        (date(2027, 1, 5), 31, date(2027, 2, 4)),  # SPEC §7's example: the issue day is day 1
        (date(2027, 1, 5), 1, date(2027, 1, 5)),
        (date(2028, 2, 1), 29, date(2028, 2, 29)),  # leap year
        (date(2027, 2, 1), 29, date(2027, 3, 1)),
        (date(2027, 12, 31), 2, date(2028, 1, 1)),
    ],
)
def test_valid_through_counts_the_purchase_day_as_day_1(member, issued, days, through):
    ticket = give(member, ticket_type(validity_days=days), on=issued)
    assert ticket.valid_through == through


def test_no_validity_means_no_expiry(member):
    ticket = give(member, ticket_type(validity_days=0))
    assert ticket.valid_through is None


def test_issuing_writes_the_ledger_and_keeps_the_type_stores(member):
    store = StoreFactory()
    ticket = give(member, ticket_type(uses=10, stores=[store]))
    assert (ticket.uses_total, ticket.uses_left) == (10, 10)
    assert list(ticket.stores.all()) == [store]
    assert list(ticket.entries.values_list("kind", "delta", "uses_left_after")) == [("issued", 10, 10)]


def test_staff_hand_out_needs_a_reason(member):
    staff = MemberFactory(is_staff=True)
    with pytest.raises(TicketError) as caught:
        services.ticket_hand_out(member=member, ticket_type=ticket_type(), by=staff, reason="  ")
    assert caught.value.field == "reason"
    assert not MemberTicket.objects.exists()
    ticket = services.ticket_hand_out(member=member, ticket_type=ticket_type(), by=staff, reason="お詫び")
    entry = ticket.entries.get()
    assert (ticket.source, entry.created_by, entry.reason) == ("manual", staff, "お詫び")


def test_staff_adjust_uses_with_a_reason(member):
    staff = MemberFactory(is_staff=True)
    ticket = give(member, ticket_type(uses=3))
    services.ticket_adjust(ticket=ticket, delta=2, by=staff, reason="補填")
    ticket.refresh_from_db()
    assert (ticket.uses_total, ticket.uses_left) == (5, 5)
    with pytest.raises(TicketError) as caught:
        services.ticket_adjust(ticket=ticket, delta=-6, by=staff, reason="訂正")
    assert caught.value.field == "delta"
    ticket.refresh_from_db()
    assert ticket.uses_left == 5 == ledger_sum(ticket)


# --- paying a booking ----------------------------------------------------------------------------------


def test_booking_with_a_ticket_takes_one_use_and_confirms(member, item):
    ticket = give(member, ticket_type(items=[item], uses=5))
    reservation = book(member, item)
    ticket.refresh_from_db()
    assert reservation.status == Reservation.Status.CONFIRMED
    assert reservation.payment_method == "ticket"
    assert ticket.uses_left == 4 == ledger_sum(ticket)
    used = ticket.entries.get(kind=TicketEntry.Kind.USED)
    assert (used.reservation, used.uses_left_after) == (reservation, 4)


def test_cancelling_gives_the_use_back(member, item):
    ticket = give(member, ticket_type(items=[item], uses=5))
    reservation = book(member, item)
    reservation_cancel(reservation=reservation, by=member, now=NOW)
    ticket.refresh_from_db()
    assert ticket.uses_left == 5 == ledger_sum(ticket)
    assert list(ticket.entries.values_list("kind", flat=True)) == ["issued", "used", "restored"]


def test_restoring_twice_gives_back_once(member, item):
    ticket = give(member, ticket_type(items=[item], uses=5))
    reservation = book(member, item)
    reservation_cancel(reservation=reservation, by=member, now=NOW)
    assert services.ticket_restore(reservation=reservation, by=member, now=NOW) is None
    ticket.refresh_from_db()
    assert ticket.uses_left == 5


def test_a_no_show_keeps_the_use(member, item):
    staff = MemberFactory(is_staff=True)
    ticket = give(member, ticket_type(items=[item], uses=5))
    reservation = book(member, item)
    reservation_mark_no_show(reservation=reservation, by=staff, now=jst(MONDAY, "10:30"))
    ticket.refresh_from_db()
    assert ticket.uses_left == 4 == ledger_sum(ticket)
    assert not ticket.entries.filter(kind=TicketEntry.Kind.RESTORED).exists()


def test_the_ticket_that_expires_first_pays(member, item):
    kind = ticket_type(items=[item])
    later = give(member, kind, valid_through=date(2027, 12, 31))
    never = give(member, ticket_type(items=[item], name="無期限"))
    sooner = give(member, kind, valid_through=date(2027, 7, 31))
    book(member, item)
    left = dict(MemberTicket.objects.values_list("pk", "uses_left"))
    assert (left[sooner.pk], left[later.pk], left[never.pk]) == (4, 5, 5)


def test_the_member_can_pick_the_ticket(member, item):
    kind = ticket_type(items=[item])
    give(member, kind, valid_through=date(2027, 7, 31))
    chosen = give(member, kind, valid_through=date(2027, 12, 31))
    book(member, item, option=str(chosen.pk))
    chosen.refresh_from_db()
    assert chosen.uses_left == 4


def test_another_members_ticket_cannot_be_picked(member, item):
    other = give(MemberFactory(), ticket_type(items=[item]))
    give(member, ticket_type(items=[item]))
    with pytest.raises(TicketUnusableError):
        book(member, item, option=str(other.pk))
    assert not Reservation.objects.exists()


def test_only_usable_items(member, item):
    give(member, ticket_type(items=[lesson(name="別のレッスン")]))
    with pytest.raises(TicketUnusableError) as caught:
        book(member, item)
    assert str(caught.value) == "None of your tickets can pay for this booking."
    assert not Reservation.objects.exists()


def test_only_usable_stores(member):
    here, there = StoreFactory(), StoreFactory()
    item_here = lesson(store=here)
    item_there = lesson(store=there)
    ticket = give(member, ticket_type(items=[item_here, item_there], stores=[here]))
    with pytest.raises(TicketUnusableError):
        book(member, item_there)
    book(member, item_here)
    ticket.refresh_from_db()
    assert ticket.uses_left == 4


def test_a_ticket_without_stores_is_usable_at_every_store(member):
    item_there = lesson(store=StoreFactory())
    give(member, ticket_type(items=[item_there]))
    assert book(member, item_there).status == Reservation.Status.CONFIRMED


def test_a_used_up_ticket_cannot_pay(member, item):
    ticket = give(member, ticket_type(items=[item], uses=1))
    book(member, item, start="10:00", end="11:00")
    with pytest.raises(TicketUnusableError):
        book(member, item, start="12:00", end="13:00")
    ticket.refresh_from_db()
    assert ticket.uses_left == 0
    assert Reservation.objects.count() == 1


class TestExpiryBoundaries:
    """Valid through D means until D 23:59:59.999999 JST (SPEC §2), both when booking and for the day of
    the booking."""

    def test_booking_on_the_last_valid_day_late_in_the_evening_jst(self, member, item):
        ticket = give(member, ticket_type(items=[item]), valid_through=MONDAY)
        reservation = book(member, item, now=jst(MONDAY - timedelta(days=1), "23:59:59"))
        assert reservation.status == Reservation.Status.CONFIRMED
        ticket.refresh_from_db()
        assert ticket.uses_left == 4

    def test_refused_from_midnight_jst_after_the_last_day(self, member, item):
        give(member, ticket_type(items=[item]), valid_through=MONDAY - timedelta(days=1))
        # 2027-06-07 00:00 JST is still 2027-06-06 in UTC: the JST date decides
        with pytest.raises(TicketUnusableError):
            book(member, item, start="10:00", now=jst(MONDAY, "00:00"))

    def test_a_booking_after_the_last_valid_day_is_refused(self, member, item):
        give(member, ticket_type(items=[item]), valid_through=MONDAY - timedelta(days=1))
        with pytest.raises(TicketUnusableError):
            book(member, item, now=NOW)

    def test_a_ticket_not_valid_yet_cannot_pay(self, member, item):
        give(member, ticket_type(items=[item]), on=MONDAY)
        with pytest.raises(TicketUnusableError):
            book(member, item, now=NOW)


class TestConcurrencyLimits:
    def test_max_concurrent_counts_live_reservations_of_the_type(self, member):
        items = [lesson() for _ in range(3)]
        kind = ticket_type(items=items, max_concurrent=2, uses=10)
        give(member, kind)
        book(member, items[0])
        book(member, items[1], day=MONDAY + timedelta(days=1))
        with pytest.raises(TicketLimitError) as caught:
            book(member, items[2], day=MONDAY + timedelta(days=2))
        assert "at most 2 places at once" in str(caught.value)
        assert Reservation.objects.count() == 2

    def test_cancelling_one_frees_a_place(self, member):
        item = lesson()
        kind = ticket_type(items=[item], max_concurrent=1, uses=10)
        give(member, kind)
        first = book(member, item)
        reservation_cancel(reservation=first, by=member, now=NOW)
        assert book(member, item, start="12:00", end="13:00").status == Reservation.Status.CONFIRMED

    def test_completed_and_no_show_reservations_do_not_count(self, member):
        item = lesson()
        staff = MemberFactory(is_staff=True)
        give(member, ticket_type(items=[item], max_concurrent=1, uses=10))
        first = book(member, item)
        reservation_mark_no_show(reservation=first, by=staff, now=jst(MONDAY, "10:30"))
        assert book(member, item, day=MONDAY + timedelta(days=1), now=jst(MONDAY, "10:30")).pk

    def test_reservations_paid_otherwise_do_not_count(self, member):
        item = lesson()
        give(member, ticket_type(items=[item], max_concurrent=1, uses=10))
        from inventory.services import reservation_create

        reservation_create(
            member=member,
            by=member,
            item=item,
            starts_at=jst(MONDAY, "08:00") + timedelta(hours=2),
            ends_at=jst(MONDAY, "11:00"),
            payment_method="free",
            now=NOW,
        )
        assert book(member, item, start="12:00", end="13:00").pk

    def test_other_types_and_other_members_do_not_count(self, member):
        item = lesson()
        give(member, ticket_type(items=[item], max_concurrent=1, uses=10))
        other_kind = ticket_type(items=[item], max_concurrent=1, uses=10, name="別の回数券")
        give(member, other_kind)
        other_member = MemberFactory()
        give(other_member, other_kind)
        book(member, item, start="10:00", end="11:00")
        book(member, item, start="12:00", end="13:00")  # the other type pays
        book(other_member, item, start="10:00", end="11:00")
        with pytest.raises(TicketLimitError):
            book(member, item, start="14:00", end="15:00")

    def test_per_day_limit_counts_the_same_jst_day_only(self, member):
        item = lesson()
        give(member, ticket_type(items=[item], max_concurrent_per_day=1, uses=10))
        book(member, item, start="10:00", end="11:00")
        with pytest.raises(TicketLimitError) as caught:
            book(member, item, start="17:00", end="18:00")
        assert "on one day" in str(caught.value)
        assert book(member, item, day=MONDAY + timedelta(days=1), start="10:00", end="11:00").pk

    def test_limits_of_0_mean_none(self, member):
        item = lesson()
        give(member, ticket_type(items=[item], uses=10))
        for hour in range(10, 16):
            book(member, item, start=f"{hour}:00", end=f"{hour}:30")
        assert Reservation.objects.count() == 6


# --- expiry ------------------------------------------------------------------------------------------------


def test_expiry_runs_the_day_after_the_last_valid_day(member, item):
    ticket = give(member, ticket_type(items=[item]), valid_through=date(2027, 6, 30))
    # on the last valid day nothing expires
    assert services.tickets_expire(today=date(2027, 6, 30)).tickets == 0
    ticket.refresh_from_db()
    assert ticket.status == MemberTicket.Status.ACTIVE
    # the day after, the uses left expire with a ledger entry
    result = services.tickets_expire(today=date(2027, 7, 1), now=jst(date(2027, 7, 1), "00:10"))
    ticket.refresh_from_db()
    assert (result.tickets, result.uses) == (1, 5)
    assert (ticket.status, ticket.uses_left, ledger_sum(ticket)) == ("expired", 0, 0)
    assert ticket.entries.last().kind == TicketEntry.Kind.EXPIRED
    # and running again changes nothing
    assert services.tickets_expire(today=date(2027, 7, 2)).tickets == 0


def test_expiry_dry_run_changes_nothing(member):
    ticket = give(member, ticket_type(), valid_through=date(2027, 6, 30))
    result = services.tickets_expire(today=date(2027, 7, 5), dry_run=True)
    ticket.refresh_from_db()
    assert (result.tickets, result.uses) == (1, 5)
    assert ticket.status == MemberTicket.Status.ACTIVE
    assert ticket.entries.count() == 1


def test_expiry_catches_up_on_missed_days(member):
    old = give(member, ticket_type(), on=date(2027, 4, 1), valid_through=date(2027, 5, 1))
    newer = give(member, ticket_type(), valid_through=date(2027, 6, 20))
    services.tickets_expire(today=date(2027, 7, 1))
    assert set(MemberTicket.objects.values_list("pk", "status")) == {
        (old.pk, "expired"),
        (newer.pk, "expired"),
    }


def test_an_expired_ticket_cannot_pay(member, item):
    give(member, ticket_type(items=[item]), valid_through=date(2027, 6, 30))
    services.tickets_expire(today=date(2027, 7, 1))
    with pytest.raises(TicketUnusableError):
        book(member, item, day=date(2027, 6, 28), now=NOW)


def test_cancelling_after_expiry_restores_then_expires_the_use(member, item):
    ticket = give(member, ticket_type(items=[item]), valid_through=MONDAY)
    reservation = book(member, item)
    services.tickets_expire(today=MONDAY + timedelta(days=1))
    reservation_cancel(
        reservation=reservation,
        by=MemberFactory(is_staff=True),
        as_staff=True,
        now=jst(MONDAY, "12:00") + timedelta(days=1),
    )
    ticket.refresh_from_db()
    assert (ticket.uses_left, ledger_sum(ticket), ticket.status) == (0, 0, "expired")
    assert list(ticket.entries.values_list("kind", flat=True)) == [
        "issued",
        "used",
        "expired",
        "restored",
        "expired",
    ]


def test_expire_tickets_command(member, capsys):
    give(member, ticket_type(), valid_through=date(2027, 6, 30))
    call_command("expire_tickets", "--date", "2027-07-01", "--dry-run")
    assert "would expire 1 ticket(s) (5 uses)" in capsys.readouterr().out
    assert MemberTicket.objects.get().status == "active"
    call_command("expire_tickets", "--date", "2027-07-01")
    assert "expired 1 ticket(s) (5 uses)" in capsys.readouterr().out
    assert MemberTicket.objects.get().status == "expired"


def test_expire_tickets_command_rejects_a_bad_date():
    with pytest.raises(CommandError, match="YYYY-MM-DD"):
        call_command("expire_tickets", "--date", "2027/07/01")


# --- taking back and reconciliation -------------------------------------------------------------------------


def test_revoking_takes_the_uses_left_and_keeps_past_uses(member, item):
    ticket = give(member, ticket_type(items=[item]))
    reservation = book(member, item)
    services.ticket_revoke(ticket=ticket, by=None, system="test", reason="返金")
    services.ticket_revoke(ticket=ticket, by=None, system="test", reason="返金")  # twice changes nothing
    ticket.refresh_from_db()
    assert (ticket.status, ticket.uses_left, ledger_sum(ticket)) == ("revoked", 0, 0)
    # a booking made before stays; cancelling it later gives nothing back to a taken-back ticket
    reservation_cancel(reservation=reservation, by=member, now=NOW)
    ticket.refresh_from_db()
    assert ticket.uses_left == 0 == ledger_sum(ticket)


def test_check_ledgers_is_quiet_when_balances_match(member, item, capsys):
    give(member, ticket_type(items=[item]))
    book(member, item)
    call_command("check_ledgers")
    assert "tickets: OK" in capsys.readouterr().out


def test_check_ledgers_reports_a_difference_and_exits_1(member, capsys):
    ticket = give(member, ticket_type())
    MemberTicket.objects.filter(pk=ticket.pk).update(uses_left=3)  # someone wrote behind the ledger's back
    with pytest.raises(CommandError) as caught:
        call_command("check_ledgers")
    assert caught.value.returncode == 1
    out = capsys.readouterr().out
    assert f"member ticket #{ticket.pk}" in out
    assert "uses_left 3 but ledger says 5" in out


@pytest.mark.django_db(transaction=True)
def test_the_daily_beat_task_expires_by_the_tokyo_date(member, time_machine):
    # given a ticket valid through 2027-06-30 and the task running at 00:15 JST on 07-01 (still 06-30 in UTC)
    from tickets.tasks import expire_tickets

    ticket = give(member, ticket_type(), valid_through=date(2027, 6, 30))
    time_machine.move_to(jst(date(2027, 7, 1), "00:15"), tick=False)
    # when the beat task runs
    assert expire_tickets.apply().get() == {"tickets": 1, "uses": 5}
    # then the ticket expired
    ticket.refresh_from_db()
    assert ticket.status == MemberTicket.Status.EXPIRED
