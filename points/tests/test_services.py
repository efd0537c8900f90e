"""The points ledger (SPEC §8, seed 004, issue 14): grants, uses, giving a use back, taking a grant back,
manual entries and expiry, with the seed's worked examples, month ends, the 12 → 3 months period change,
idempotent expiry, a balance that never goes negative, and the reconciliation check_ledgers runs.

Expiry dates are inclusive: points valid through D are spent on D and expire on D + 1."""

from __future__ import annotations

from datetime import date
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import IntegrityError, transaction
from django.utils import translation

from core.models import AuditEntry
from inventory.tests.factories import jst
from members.tests.factories import MemberFactory
from payments.models import Order
from points import selectors
from points.exceptions import NotEnoughPointsError, PointsError
from points.models import PointAccount, PointAllocation, PointEntry, PointLot, PointSettings
from points.services import (
    points_adjust,
    points_expire,
    points_grant,
    points_reverse_grant,
    points_reverse_use,
    points_use,
)

Kind = PointEntry.Kind
pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _english():
    # the messages are asserted in their English source words
    with translation.override("en"):
        yield


def settings_(*, months: int = 12, method: str = PointSettings.ExpiryMethod.PER_RECORD) -> PointSettings:
    row = PointSettings.current()
    row.period_months = months
    row.expiry_method = method
    row.save()
    return row


def whole_balance(months: int = 12) -> PointSettings:
    return settings_(months=months, method=PointSettings.ExpiryMethod.WHOLE_BALANCE)


def order_for(member) -> Order:
    return Order.objects.create(member=member, payment_method="card", subtotal_yen=1000, total_yen=1000)


def grant(member, amount, day, *, kind=Kind.PURCHASE, order=None):
    return points_grant(
        member=member, amount=amount, kind=kind, by=None, system="test", order=order, now=jst(day, "10:00")
    )


def use(member, amount, day, *, order=None):
    return points_use(member=member, amount=amount, by=member, order=order, now=jst(day, "12:00"))


def balance(member) -> int:
    return selectors.balance_of(member)


def lots(member) -> list[tuple[int, int, date | None]]:
    return list(
        PointLot.objects.filter(member=member).order_by("pk").values_list("amount", "remaining", "expires_on")
    )


def account(member) -> PointAccount:
    return PointAccount.objects.get(member=member)


# --- per record: granting -----------------------------------------------------------------------------------


def test_each_grant_expires_the_same_day_n_months_later_seed_example():
    # given 12 months per record (seed 004 (1))
    settings_(months=12)
    member = MemberFactory()
    # when 100 points are granted on 2018-01-01 and 200 on 2018-07-01
    first = grant(member, 100, date(2018, 1, 1))
    second = grant(member, 200, date(2018, 7, 1))
    # then they expire on 2019-01-01 and 2019-07-01, and the balance is 300
    assert (first.expires_on, second.expires_on) == (date(2019, 1, 1), date(2019, 7, 1))
    assert lots(member) == [(100, 100, date(2019, 1, 1)), (200, 200, date(2019, 7, 1))]
    assert balance(member) == 300
    assert (first.balance_after, second.balance_after) == (100, 300)
    assert selectors.ledger_report() == []


@pytest.mark.parametrize(
    ("granted", "months", "expires"),
    [
        (date(2027, 1, 31), 1, date(2027, 2, 28)),
        (date(2028, 1, 31), 1, date(2028, 2, 29)),  # leap year
        (date(2028, 2, 29), 12, date(2029, 2, 28)),
        (date(2027, 3, 31), 1, date(2027, 4, 30)),
        (date(2027, 5, 31), 1, date(2027, 6, 30)),
        (date(2027, 8, 31), 1, date(2027, 9, 30)),
        (date(2027, 10, 31), 1, date(2027, 11, 30)),
        (date(2027, 12, 31), 2, date(2028, 2, 29)),
        (date(2027, 1, 15), 1, date(2027, 2, 15)),
    ],
)
def test_a_day_the_expiry_month_lacks_is_clamped_to_its_last_day(granted, months, expires):
    settings_(months=months)
    member = MemberFactory()
    assert grant(member, 10, granted).expires_on == expires


def test_the_grant_day_is_the_tokyo_date():
    # given a grant at 2027-01-31 00:30 JST (still 1/30 in UTC)
    settings_(months=1)
    member = MemberFactory()
    entry = points_grant(
        member=member, amount=5, kind=Kind.SIGNUP, by=member, now=jst(date(2027, 1, 31), "00:30")
    )
    assert entry.expires_on == date(2027, 2, 28)


def test_a_grant_writes_its_entry_lot_and_audit_entry():
    settings_()
    member = MemberFactory()
    order = order_for(member)
    entry = grant(member, 80, date(2027, 6, 1), order=order)
    assert (entry.kind, entry.delta, entry.order, entry.system) == (Kind.PURCHASE, 80, order, "test")
    assert entry.lot.remaining == 80
    audit = AuditEntry.objects.get(action="points.granted")
    assert (audit.system, audit.payload["points"]) == ("test", 80)
    assert audit.payload["changes"] == {"balance": [0, 80]}


def test_purchase_points_are_granted_once_per_order_and_sign_up_points_once_per_member():
    settings_()
    member = MemberFactory()
    order = order_for(member)
    grant(member, 10, date(2027, 6, 1), order=order)
    with pytest.raises(IntegrityError), transaction.atomic():
        grant(member, 10, date(2027, 6, 1), order=order)
    grant(member, 5, date(2027, 6, 1), kind=Kind.SIGNUP)
    with pytest.raises(IntegrityError), transaction.atomic():
        grant(member, 5, date(2027, 6, 2), kind=Kind.SIGNUP)
    assert balance(member) == 15


@pytest.mark.parametrize("amount", [0, -5])
def test_a_grant_needs_a_positive_number(amount):
    member = MemberFactory()
    with pytest.raises(PointsError, match="1 or more"):
        grant(member, amount, date(2027, 6, 1))
    assert not PointEntry.objects.exists()


# --- per record: using --------------------------------------------------------------------------------------


def test_a_use_draws_from_the_lot_that_expires_first():
    # given a lot expiring later granted first (period 12) and one expiring sooner granted after (period 3)
    settings_(months=12)
    member = MemberFactory()
    grant(member, 100, date(2027, 1, 10))  # → 2028-01-10
    settings_(months=3)
    grant(member, 50, date(2027, 2, 10))  # → 2027-05-10
    # when 70 are used
    entry = use(member, 70, date(2027, 3, 1))
    # then the sooner lot is emptied first, then the rest comes from the later one
    assert lots(member) == [(100, 80, date(2028, 1, 10)), (50, 0, date(2027, 5, 10))]
    assert sorted(entry.allocations.values_list("amount", flat=True)) == [20, 50]
    assert (entry.delta, entry.balance_after) == (-70, 80)
    assert AuditEntry.objects.get(action="points.used").actor == member
    assert selectors.ledger_report() == []


def test_more_than_the_balance_is_refused_saying_how_many_are_available():
    settings_()
    member = MemberFactory()
    grant(member, 30, date(2027, 6, 1))
    with pytest.raises(NotEnoughPointsError, match="You have 30 points available; 31 points cannot be used"):
        use(member, 31, date(2027, 6, 2))
    assert balance(member) == 30
    assert PointEntry.objects.count() == 1
    # a member with no account at all has 0 available
    with pytest.raises(NotEnoughPointsError, match="You have 0 points available"):
        use(MemberFactory(), 1, date(2027, 6, 2))


def test_the_whole_balance_can_be_used_down_to_zero():
    settings_()
    member = MemberFactory()
    grant(member, 30, date(2027, 6, 1))
    use(member, 30, date(2027, 6, 2))
    assert balance(member) == 0
    assert selectors.ledger_report() == []


def test_the_database_refuses_a_negative_balance_as_the_last_line():
    settings_()
    member = MemberFactory()
    grant(member, 10, date(2027, 6, 1))
    with pytest.raises(IntegrityError), transaction.atomic():
        PointAccount.objects.filter(member=member).update(balance=-1)
    with pytest.raises(IntegrityError), transaction.atomic():
        PointLot.objects.filter(member=member).update(remaining=11)
    with pytest.raises(IntegrityError), transaction.atomic():
        PointLot.objects.filter(member=member).update(remaining=-1)


# --- per record: giving a use back --------------------------------------------------------------------------


def test_a_cancelled_use_comes_back_as_a_new_lot_valid_n_months_after_the_cancellation_seed_example():
    # given 12 months; 200 points granted 2018-06-01 (valid through 2019-06-01), used on 2019-06-01
    settings_(months=12)
    member = MemberFactory()
    grant(member, 200, date(2018, 6, 1))
    order = order_for(member)
    use(member, 200, date(2019, 6, 1), order=order)
    # when the order is cancelled on 2019-06-03
    [back] = points_reverse_use(order=order, by=member, now=jst(date(2019, 6, 3), "09:00"))
    # then the 200 points are back, valid through 2020-06-03
    assert (back.kind, back.delta, back.expires_on, back.reverses.kind) == (
        Kind.USE_REVERSAL,
        200,
        date(2020, 6, 3),
        Kind.USE,
    )
    assert balance(member) == 200
    assert lots(member) == [(200, 0, date(2019, 6, 1)), (200, 200, date(2020, 6, 3))]
    # and the 2019-06-04 expiry run takes nothing (the old lot was spent)
    assert points_expire(on=date(2019, 6, 4)).entries == 0
    assert AuditEntry.objects.filter(action="points.use_reversed").count() == 1
    assert selectors.ledger_report() == []


def test_a_use_is_given_back_once():
    settings_()
    member = MemberFactory()
    grant(member, 50, date(2027, 6, 1))
    spent = use(member, 20, date(2027, 6, 2))
    assert len(points_reverse_use(entry=spent, by=member, now=jst(date(2027, 6, 3), "09:00"))) == 1
    assert points_reverse_use(entry=spent, by=member, now=jst(date(2027, 6, 3), "09:05")) == []
    assert balance(member) == 50
    with pytest.raises(IntegrityError), transaction.atomic():
        PointEntry.objects.create(
            member=member,
            kind=Kind.USE_REVERSAL,
            delta=20,
            balance_after=70,
            reverses=spent,
            created_at=spent.created_at,
        )


def test_an_order_without_points_used_gives_nothing_back():
    member = MemberFactory()
    assert points_reverse_use(order=order_for(member), by=member) == []


# --- taking a grant back ------------------------------------------------------------------------------------


def test_taking_back_a_purchase_grant_draws_from_its_own_lot_first():
    settings_(months=12)
    member = MemberFactory()
    grant(member, 40, date(2027, 1, 1))
    order = order_for(member)
    grant(member, 100, date(2027, 2, 1), order=order)
    [back] = points_reverse_grant(
        order=order, by=None, system="order_cancelled", now=jst(date(2027, 2, 5), "10:00")
    )
    assert (back.kind, back.delta, back.balance_after) == (Kind.GRANT_REVERSAL, -100, 40)
    assert lots(member) == [(40, 40, date(2028, 1, 1)), (100, 0, date(2028, 2, 1))]
    # twice takes back once
    assert points_reverse_grant(order=order, by=None, system="order_cancelled") == []
    assert balance(member) == 40
    assert selectors.ledger_report() == []


def test_taking_back_spent_points_is_refused_with_how_many_are_missing_seed_example():
    # given 100 purchase points granted for order A, then spent on order B (balance 0)
    settings_()
    member = MemberFactory()
    order_a = order_for(member)
    grant(member, 100, date(2027, 6, 1), order=order_a)
    use(member, 70, date(2027, 6, 2), order=order_for(member))
    # when order A is cancelled, then nothing is taken and the message says 70 points are missing
    with pytest.raises(NotEnoughPointsError, match="only 30: 70 points are missing"):
        points_reverse_grant(order=order_a, by=None, system="order_cancelled")
    assert balance(member) == 30
    assert not PointEntry.objects.filter(kind=Kind.GRANT_REVERSAL).exists()


def test_taking_back_review_points_is_a_review_reversal_and_may_draw_from_other_lots():
    settings_()
    member = MemberFactory()
    review = MemberFactory()  # any model stands for the review (inventory's reviews come later)
    entry = points_grant(member=member, amount=30, kind=Kind.REVIEW, by=None, system="test", review=review)
    grant(member, 50, date(2027, 6, 1))
    use(member, 20, date(2027, 6, 2))  # from the review lot (it expires first)
    [back] = points_reverse_grant(entry=entry, by=None, system="test")
    assert (back.kind, back.delta, back.review_id) == (Kind.REVIEW_REVERSAL, -30, review.pk)
    assert balance(member) == 30
    assert selectors.ledger_report() == []


# --- manual entries -----------------------------------------------------------------------------------------


def test_staff_add_and_take_away_points_with_a_reason():
    settings_()
    member, staff = MemberFactory(), MemberFactory(is_staff=True)
    # SuperSaaS edits the balance 50 → 60: we record +10
    plus = points_adjust(
        member=member, delta=10, by=staff, reason="お詫び", now=jst(date(2027, 6, 1), "10:00")
    )
    assert (plus.kind, plus.delta, plus.created_by, plus.expires_on) == (Kind.OTHER, 10, staff, None)
    assert lots(member) == [(10, 10, None)]  # an "other" plus sets no date unless staff give one
    minus = points_adjust(
        member=member, delta=-4, by=staff, reason="訂正", now=jst(date(2027, 6, 2), "10:00")
    )
    assert (minus.delta, minus.balance_after) == (-4, 6)
    with pytest.raises(NotEnoughPointsError, match="only 6 points"):
        points_adjust(member=member, delta=-7, by=staff, reason="訂正")
    with pytest.raises(PointsError, match="reason"):
        points_adjust(member=member, delta=5, by=staff, reason="  ")
    with pytest.raises(PointsError, match="other than 0"):
        points_adjust(member=member, delta=0, by=staff, reason="x")
    assert AuditEntry.objects.filter(action="points.adjusted", actor=staff).count() == 2
    assert selectors.ledger_report() == []


def test_a_manual_plus_may_set_its_expiry_and_then_expires():
    settings_()
    member, staff = MemberFactory(), MemberFactory(is_staff=True)
    points_adjust(
        member=member,
        delta=10,
        by=staff,
        reason="bonus",
        expires_on=date(2027, 6, 30),
        now=jst(date(2027, 6, 1), "09:00"),
    )
    assert points_expire(on=date(2027, 7, 1), now=jst(date(2027, 7, 1), "00:30")).points == 10
    assert balance(member) == 0


# --- expiry -------------------------------------------------------------------------------------------------


def test_points_valid_through_a_day_expire_the_day_after_one_entry_per_lot():
    settings_(months=1)
    member = MemberFactory()
    grant(member, 100, date(2027, 1, 31))  # → 2027-02-28
    grant(member, 50, date(2027, 1, 31))  # → 2027-02-28
    grant(member, 20, date(2027, 2, 10))  # → 2027-03-10
    use(member, 30, date(2027, 2, 1))
    # on 2/28 nothing has expired yet (valid through 2/28)
    assert points_expire(on=date(2027, 2, 28)).entries == 0
    # on 3/1 the two lots expire: one entry each, with what was left
    result = points_expire(on=date(2027, 3, 1), now=jst(date(2027, 3, 1), "00:30"))
    assert (result.entries, result.points) == (2, 120)
    expired = list(PointEntry.objects.filter(kind=Kind.EXPIRED).values_list("delta", "expires_on", "system"))
    assert expired == [(-70, date(2027, 2, 28), "expire_points"), (-50, date(2027, 2, 28), "expire_points")]
    assert balance(member) == 20
    # history is kept: the grants and the use are still there
    assert PointEntry.objects.count() == 6
    assert AuditEntry.objects.get(action="points.expired").payload["entries"] == 2
    assert selectors.ledger_report() == []


def test_expiry_run_twice_in_a_day_expires_once():
    settings_(months=1)
    member = MemberFactory()
    grant(member, 100, date(2027, 1, 10))
    first = points_expire(on=date(2027, 2, 11), now=jst(date(2027, 2, 11), "00:30"))
    again = points_expire(on=date(2027, 2, 11), now=jst(date(2027, 2, 11), "09:00"))
    assert (first.entries, again.entries) == (1, 0)
    assert PointEntry.objects.filter(kind=Kind.EXPIRED).count() == 1
    assert AuditEntry.objects.filter(action="points.expired").count() == 1
    # and a lot cannot be expired twice even by hand (the last line)
    lot = PointLot.objects.get()
    with pytest.raises(IntegrityError), transaction.atomic():
        PointEntry.objects.create(
            member=member,
            kind=Kind.EXPIRED,
            delta=-1,
            balance_after=0,
            expired_lot=lot,
            created_at=lot.entry.created_at,
        )


def test_expiry_catches_up_missed_days():
    settings_(months=1)
    member = MemberFactory()
    grant(member, 10, date(2027, 1, 5))  # → 2027-02-05
    grant(member, 20, date(2027, 1, 20))  # → 2027-02-20
    grant(member, 40, date(2027, 2, 1))  # → 2027-03-01
    # the job did not run in February: the run on 3/1 catches both up (the lot valid through 3/1 stays)
    assert points_expire(on=date(2027, 3, 1)).points == 30
    assert balance(member) == 40


def test_a_dry_run_says_what_would_expire_and_writes_nothing():
    settings_(months=1)
    member = MemberFactory()
    grant(member, 10, date(2027, 1, 5))
    result = points_expire(on=date(2027, 3, 1), dry_run=True)
    assert (result.entries, result.points) == (1, 10)
    assert not PointEntry.objects.filter(kind=Kind.EXPIRED).exists()
    assert balance(member) == 10


# --- whole balance ------------------------------------------------------------------------------------------


def test_whole_balance_every_grant_or_use_moves_the_one_date():
    whole_balance(12)
    member = MemberFactory()
    grant(member, 100, date(2018, 1, 1))
    assert account(member).expires_on == date(2019, 1, 1)
    grant(member, 50, date(2018, 7, 1))
    assert account(member).expires_on == date(2019, 7, 1)
    use(member, 30, date(2018, 9, 30))
    assert account(member).expires_on == date(2019, 9, 30)
    assert all(expires is None for _a, _r, expires in lots(member))


def test_whole_balance_kinds_that_leave_the_date_where_it_is():
    whole_balance(12)
    member, staff = MemberFactory(), MemberFactory(is_staff=True)
    order = order_for(member)
    grant(member, 100, date(2018, 1, 1), order=order)
    grant(member, 100, date(2018, 2, 1))
    points_adjust(member=member, delta=5, by=staff, reason="bonus", now=jst(date(2018, 5, 1), "10:00"))
    points_reverse_grant(order=order, by=staff, now=jst(date(2018, 6, 1), "10:00"))
    assert account(member).expires_on == date(2019, 2, 1)


def test_whole_balance_period_change_applies_from_the_next_grant_seed_example():
    # given member A's balance valid through 2019-12-01 (12 months)
    whole_balance(12)
    member = MemberFactory()
    grant(member, 100, date(2018, 12, 1))
    assert account(member).expires_on == date(2019, 12, 1)
    # when the period is changed to 3 months on 2019-02-01, the date already set is not rewritten
    whole_balance(3)
    assert account(member).expires_on == date(2019, 12, 1)
    # and a purchase paid on 2019-03-01 moves it to 2019-06-01 (shorter than before)
    grant(member, 10, date(2019, 3, 1))
    assert account(member).expires_on == date(2019, 6, 1)


def test_per_record_period_change_never_rewrites_existing_lots():
    settings_(months=12)
    member = MemberFactory()
    grant(member, 100, date(2018, 12, 1))
    settings_(months=3)
    grant(member, 10, date(2019, 3, 1))
    assert lots(member) == [(100, 100, date(2019, 12, 1)), (10, 10, date(2019, 6, 1))]


def test_whole_balance_a_cancelled_use_puts_the_date_back():
    whole_balance(12)
    member = MemberFactory()
    grant(member, 100, date(2019, 1, 10))  # → 2020-01-10
    order = order_for(member)
    use(member, 60, date(2019, 3, 5), order=order)  # → 2020-03-05
    assert account(member).expires_on == date(2020, 3, 5)
    [back] = points_reverse_use(order=order, by=member, now=jst(date(2019, 3, 8), "10:00"))
    assert account(member).expires_on == date(2020, 1, 10)
    assert (back.expires_on, back.previous_expires_on) == (date(2020, 1, 10), date(2020, 3, 5))
    assert balance(member) == 100
    assert selectors.ledger_report() == []


def test_whole_balance_the_date_is_not_put_back_over_a_later_move():
    whole_balance(12)
    member = MemberFactory()
    grant(member, 100, date(2019, 1, 10))
    order = order_for(member)
    use(member, 60, date(2019, 3, 5), order=order)
    grant(member, 10, date(2019, 4, 1))  # → 2020-04-01: moved again after the use
    points_reverse_use(order=order, by=member, now=jst(date(2019, 4, 2), "10:00"))
    assert account(member).expires_on == date(2020, 4, 1)


def test_whole_balance_expiry_one_entry_for_the_balance_once():
    whole_balance(1)
    member = MemberFactory()
    grant(member, 100, date(2027, 1, 31))  # → 2027-02-28
    grant(member, 20, date(2027, 1, 31))
    assert points_expire(on=date(2027, 2, 28)).entries == 0
    result = points_expire(on=date(2027, 3, 1))
    assert (result.entries, result.points) == (1, 120)
    assert points_expire(on=date(2027, 3, 1)).entries == 0
    assert points_expire(on=date(2027, 3, 5)).entries == 0
    [expired] = PointEntry.objects.filter(kind=Kind.EXPIRED)
    assert (expired.delta, expired.expires_on, expired.expired_lot) == (-120, date(2027, 2, 28), None)
    assert balance(member) == 0
    assert PointAllocation.objects.filter(entry=expired).count() == 2
    assert selectors.ledger_report() == []


# --- the ledger check ---------------------------------------------------------------------------------------


def test_check_ledgers_covers_points():
    settings_()
    member = MemberFactory()
    grant(member, 100, date(2027, 6, 1))
    use(member, 40, date(2027, 6, 2))
    out = StringIO()
    call_command("check_ledgers", stdout=out)
    assert "points: OK" in out.getvalue()
    # when the cached balance is changed behind the ledger's back, then it is reported
    PointAccount.objects.filter(member=member).update(balance=61)
    [line] = selectors.ledger_report()
    assert "balance 61 but ledger says 60 and lots hold 60" in line
    PointAccount.objects.filter(member=member).update(balance=60)
    # when a lot's remaining disagrees with its allocations, then that is reported too
    PointLot.objects.filter(member=member).update(remaining=61)
    report = selectors.ledger_report()
    assert any("remaining 61 but amount 100 minus allocations 40 is 60" in line for line in report)


def test_whole_balance_a_use_given_back_after_the_balance_expired_gets_the_period_from_the_cancellation():
    whole_balance(1)
    member = MemberFactory()
    grant(member, 100, date(2027, 1, 10))  # → 2027-02-10
    order = order_for(member)
    use(member, 30, date(2027, 1, 20), order=order)  # → 2027-02-20, previous 2027-02-10
    assert points_expire(on=date(2027, 2, 21)).points == 70
    # when the use is given back on 2027-03-01, then its points do not come back already expired
    points_reverse_use(order=order, by=member, now=jst(date(2027, 3, 1), "10:00"))
    assert account(member).expires_on == date(2027, 4, 1)
    assert points_expire(on=date(2027, 3, 2)).entries == 0
    assert balance(member) == 30
    assert selectors.ledger_report() == []


def test_whole_balance_other_points_added_after_an_expiry_keep_the_date_and_expire_at_the_next_run():
    whole_balance(1)
    member, staff = MemberFactory(), MemberFactory(is_staff=True)
    grant(member, 100, date(2027, 1, 10))  # → 2027-02-10
    assert points_expire(on=date(2027, 2, 11)).entries == 1
    # an "other" plus without a date leaves the balance's date (seed 004), so the next run expires it
    points_adjust(member=member, delta=5, by=staff, reason="訂正", now=jst(date(2027, 2, 11), "10:00"))
    assert account(member).expires_on == date(2027, 2, 10)
    assert points_expire(on=date(2027, 2, 12)).points == 5
    # unless staff give it a date
    points_adjust(
        member=member,
        delta=7,
        by=staff,
        reason="bonus",
        expires_on=date(2027, 3, 31),
        now=jst(date(2027, 2, 12), "10:00"),
    )
    assert account(member).expires_on == date(2027, 3, 31)
    assert points_expire(on=date(2027, 3, 31)).entries == 0
    assert balance(member) == 7
    assert selectors.ledger_report() == []


def test_points_past_their_date_are_never_spent_before_the_nightly_run():
    settings_(months=1)
    member = MemberFactory()
    grant(member, 100, date(2027, 1, 31))  # valid through 2027-02-28
    grant(member, 20, date(2027, 2, 10))  # valid through 2027-03-10
    # when the member spends at 00:10 on 3/1, before the 00:30 run, then the expired lot is expired first
    with pytest.raises(NotEnoughPointsError, match="You have 20 points available"):
        points_use(member=member, amount=50, by=member, now=jst(date(2027, 3, 1), "00:10"))
    # (the refusal rolled everything back; a use that fits expires the lot and spends the rest)
    entry = points_use(member=member, amount=20, by=member, now=jst(date(2027, 3, 1), "00:10"))
    assert entry.balance_after == 0
    assert list(PointEntry.objects.filter(kind=Kind.EXPIRED).values_list("delta", flat=True)) == [-100]
    assert AuditEntry.objects.get(action="points.expired").payload["before_a_change"] is True
    # and the nightly run finds nothing left to do
    assert points_expire(on=date(2027, 3, 1)).entries == 0
    assert selectors.ledger_report() == []


def test_whole_balance_a_grant_after_the_date_does_not_revive_expired_points():
    whole_balance(1)
    member = MemberFactory()
    grant(member, 100, date(2027, 1, 10))  # → 2027-02-10
    # the job missed 2/11; a purchase paid on 2/12 first expires the 100, then grants 30 (→ 2027-03-12)
    entry = grant(member, 30, date(2027, 2, 12))
    assert entry.balance_after == 30
    assert account(member).expires_on == date(2027, 3, 12)
    assert list(PointEntry.objects.values_list("kind", "delta")) == [
        (Kind.PURCHASE, 100),
        (Kind.EXPIRED, -100),
        (Kind.PURCHASE, 30),
    ]
    assert selectors.ledger_report() == []
