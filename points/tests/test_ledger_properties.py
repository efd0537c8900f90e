"""A property-based test of the points ledger (issue 14, "Done when"): a hypothesis state machine runs grants,
uses, uses given back, grants taken back, manual entries, staff edits of a grant's expiry, expiry runs and
period changes in random order on random dates moving forward (month ends, last valid days and the day after,
29 February of leap years), for 1–3 members, under either expiry method, against real PostgreSQL through
points.services.

A plain-Python model of SPEC §8 (lots spent from the one that expires first, per-record dates clamped to the
month's last day, the whole balance's one date, expiry before any change, refusals that change nothing)
predicts each member's balance, lots and balance date; after every step the database must agree with it and
with itself:
- each account's cached balance = the sum of its entries' deltas = the sum of its lots' remaining (lots
  past their date that the run has expired hold nothing), never negative;
- each lot's remaining = its amount − what allocations drew from it; an expired lot holds nothing;
- a refused change (more than the balance, taking back points already spent, a past expiry) changes
  nothing: not the entries, not the lots, not the balance.

Each example runs inside a savepoint rolled back in `teardown`, so every example starts from a clean
database (and the test's own transaction, pytest-django's, is never committed)."""

from __future__ import annotations

import calendar
import copy
from dataclasses import dataclass, field
from datetime import date, timedelta

import pytest
from django.db import transaction
from django.db.models import Sum
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from core.periods import add_months_clamped
from inventory.tests.factories import jst
from members.tests.factories import MemberFactory
from points import selectors
from points.exceptions import NotEnoughPointsError, PointsError
from points.models import PointAccount, PointAllocation, PointEntry, PointLot, PointSettings
from points.services import (
    points_adjust,
    points_entry_edit,
    points_expire,
    points_grant,
    points_reverse_grant,
    points_reverse_use,
    points_use,
)

Kind = PointEntry.Kind
Method = PointSettings.ExpiryMethod
LAST_DAY = date(2045, 12, 31)  # dates stay well inside what the models hold

# --- the model ----------------------------------------------------------------------------------------------


class RefusedError(Exception):
    """The model says the service must refuse this change (and change nothing)."""

    def __init__(self, error: type[Exception]):
        super().__init__(error.__name__)
        self.error = error


@dataclass
class Lot:
    amount: int
    remaining: int
    expires_on: date | None


@dataclass
class Use:
    entry_id: int
    points: int
    expires_on: date | None
    previous_expires_on: date | None
    reversed: bool = False


@dataclass
class Grant:
    entry_id: int
    points: int
    lot: int  # index in Member.lots
    expires_on: date | None  # the entry's (per record: its lot's; whole balance: the balance's it set)
    reversed: bool = False


@dataclass
class Member:
    """One member's points as SPEC §8 says they must be. Lots are in the order they were made (the
    database's pk order)."""

    lots: list[Lot] = field(default_factory=list)
    expires_on: date | None = None  # whole balance only
    uses: list[Use] = field(default_factory=list)
    grants: list[Grant] = field(default_factory=list)

    @property
    def balance(self) -> int:
        return sum(lot.remaining for lot in self.lots)

    def draw_order(self, first: int | None = None) -> list[int]:
        order = sorted(
            (n for n, lot in enumerate(self.lots) if lot.remaining > 0),
            key=lambda n: (self.lots[n].expires_on is None, self.lots[n].expires_on or date.min, n),
        )
        if first is not None:
            order.sort(key=lambda n: n != first)
        return order

    def draw(self, amount: int, first: int | None = None) -> None:
        for n in self.draw_order(first):
            take = min(self.lots[n].remaining, amount)
            self.lots[n].remaining -= take
            amount -= take
        assert amount == 0, "the model drew more than its lots hold"

    def expire(self, on: date, *, whole: bool) -> tuple[int, int]:
        """What expires before `on`: each lot past its date, then (whole balance) the balance past its
        date. Returns (entries, points)."""
        entries = points = 0
        for lot in self.lots:
            if lot.remaining > 0 and lot.expires_on is not None and lot.expires_on < on:
                entries, points = entries + 1, points + lot.remaining
                lot.remaining = 0
        if whole and self.balance > 0 and self.expires_on is not None and self.expires_on < on:
            entries, points = entries + 1, points + self.balance
            for lot in self.lots:
                lot.remaining = 0
        return entries, points


# --- the machine --------------------------------------------------------------------------------------------

amounts = st.integers(min_value=1, max_value=400)


class LedgerMachine(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        # Every example starts from the database as the test found it, and leaves it so.
        self.savepoint = transaction.savepoint()
        self.members: list = []
        self.model: list[Member] = []

    def teardown(self):
        transaction.savepoint_rollback(self.savepoint)

    # --- set-up and time ------------------------------------------------------------------------------------

    @initialize(
        method=st.sampled_from([Method.PER_RECORD, Method.WHOLE_BALANCE]),
        months=st.sampled_from([1, 2, 3, 6, 12]),
        members=st.integers(min_value=1, max_value=3),
        start=st.one_of(
            st.dates(min_value=date(2027, 1, 1), max_value=date(2030, 12, 31)),
            st.sampled_from([date(2027, 1, 31), date(2028, 2, 29), date(2027, 12, 31), date(2028, 1, 31)]),
        ),
    )
    def start(self, method, months, members, start):
        row = PointSettings.current()
        row.expiry_method, row.period_months = method, months
        row.save()
        self.whole = method == Method.WHOLE_BALANCE
        self.months = months
        self.today = start
        self.members = [MemberFactory() for _ in range(members)]
        self.staff = MemberFactory(is_staff=True)
        self.model = [Member() for _ in range(members)]

    def _move_to(self, day: date) -> None:
        self.today = min(max(day, self.today), LAST_DAY)

    @rule(days=st.integers(min_value=0, max_value=60))
    def days_pass(self, days):
        self._move_to(self.today + timedelta(days=days))

    @rule()
    def to_the_month_end(self):
        self._move_to(self.today.replace(day=calendar.monthrange(self.today.year, self.today.month)[1]))

    @rule()
    def to_the_first_of_next_month(self):
        self._move_to(add_months_clamped(self.today.replace(day=1), 1))

    @rule()
    def to_the_next_29_february(self):
        year = self.today.year
        while not (calendar.isleap(year) and date(year, 2, 29) >= self.today):
            year += 1
        self._move_to(date(year, 2, 29))

    def _boundaries(self) -> list[date]:
        """The days ahead on which something stops being valid: lots' and balances' last valid days, and the
        dates a use given back might put back."""
        days = set()
        for member in self.model:
            days |= {lot.expires_on for lot in member.lots if lot.remaining and lot.expires_on}
            days |= {use.previous_expires_on for use in member.uses if use.previous_expires_on}
            if member.expires_on:
                days.add(member.expires_on)
        return sorted(day for day in days if day >= self.today)

    @precondition(lambda self: self._boundaries())
    @rule(data=st.data(), after=st.sampled_from([0, 1]))
    def to_a_last_valid_day(self, data, after):
        # the last day something is valid (it must still be there) or the day after (it must be gone)
        self._move_to(data.draw(st.sampled_from(self._boundaries())) + timedelta(days=after))

    @rule(months=st.sampled_from([1, 2, 3, 6, 12, 13, 24]))
    def change_the_period(self, months):
        row = PointSettings.current()
        row.period_months = months
        row.save()
        self.months = months

    # --- changes --------------------------------------------------------------------------------------------

    def _change(self, n: int, predict, call):
        """Runs the model's `predict` on a copy of member n and the service `call`; both refuse or both
        succeed. A refusal must leave the database as it was (the expiry before the change included)."""
        trial = copy.deepcopy(self.model[n])
        try:
            outcome = predict(trial)
        except RefusedError as refused:
            before = self._snapshot(n)
            with pytest.raises(refused.error):
                call()
            assert self._snapshot(n) == before, "a refused change changed the ledger"
            return None
        result = call()
        self.model[n] = trial
        return outcome, result

    def _now(self):
        return jst(self.today, "12:00")

    @rule(n=st.integers(0, 2), amount=amounts, kind=st.sampled_from([Kind.PURCHASE, Kind.REVIEW]))
    def grant(self, n, amount, kind):
        n %= len(self.members)

        def predict(member: Member):
            member.expire(self.today, whole=self.whole)
            expires_on = add_months_clamped(self.today, self.months)
            if self.whole:
                member.expires_on = expires_on
            member.lots.append(Lot(amount, amount, None if self.whole else expires_on))
            return len(member.lots) - 1

        lot, entry = self._change(
            n,
            predict,
            lambda: points_grant(
                member=self.members[n], amount=amount, kind=kind, by=None, system="test", now=self._now()
            ),
        )
        expires_on = add_months_clamped(self.today, self.months)
        assert entry.expires_on == expires_on
        self.model[n].grants.append(Grant(entry.pk, amount, lot, expires_on))

    # mostly what the balance allows, sometimes more than it holds
    @rule(n=st.integers(0, 2), amount=st.one_of(st.integers(1, 60), st.integers(1, 600)))
    def use(self, n, amount):
        n %= len(self.members)
        member_row = self.members[n]

        def predict(member: Member):
            member.expire(self.today, whole=self.whole)
            if amount > member.balance:
                raise RefusedError(NotEnoughPointsError)
            previous = member.expires_on
            if self.whole:
                member.expires_on = add_months_clamped(self.today, self.months)
            member.draw(amount)
            return previous, member.expires_on if self.whole else None

        done = self._change(
            n, predict, lambda: points_use(member=member_row, amount=amount, by=member_row, now=self._now())
        )
        if done:
            (previous, expires_on), entry = done
            assert (entry.expires_on, entry.previous_expires_on) == (
                (expires_on, previous) if self.whole else (None, None)
            )
            self.model[n].uses.append(Use(entry.pk, amount, expires_on, previous if self.whole else None))

    @precondition(lambda self: any(member.uses for member in self.model))
    @rule(data=st.data())
    def give_a_use_back(self, data):
        n = data.draw(st.sampled_from([n for n, member in enumerate(self.model) if member.uses]))
        index = data.draw(st.integers(0, len(self.model[n].uses) - 1))
        use = self.model[n].uses[index]

        def predict(member: Member):
            member.expire(self.today, whole=self.whole)
            if member.uses[index].reversed:
                return 0
            lot_date = add_months_clamped(self.today, self.months)
            if self.whole:
                lot_date = None
                if use.expires_on is not None and member.expires_on == use.expires_on:
                    put_back = use.previous_expires_on
                    if put_back is None or put_back < self.today:
                        put_back = add_months_clamped(self.today, self.months)
                    member.expires_on = put_back
                if member.expires_on is None or member.expires_on < self.today:
                    member.expires_on = add_months_clamped(self.today, self.months)
            member.lots.append(Lot(use.points, use.points, lot_date))
            member.uses[index].reversed = True
            return 1

        written, entries = self._change(
            n,
            predict,
            lambda: points_reverse_use(
                entry=PointEntry.objects.get(pk=use.entry_id), by=None, system="test", now=self._now()
            ),
        )
        assert len(entries) == written

    @precondition(lambda self: any(member.grants for member in self.model))
    @rule(data=st.data())
    def take_a_grant_back(self, data):
        n = data.draw(st.sampled_from([n for n, member in enumerate(self.model) if member.grants]))
        index = data.draw(st.integers(0, len(self.model[n].grants) - 1))
        grant = self.model[n].grants[index]

        def predict(member: Member):
            member.expire(self.today, whole=self.whole)
            if member.grants[index].reversed:
                return 0
            if grant.points > member.balance:
                raise RefusedError(NotEnoughPointsError)  # spent (or expired): nothing is taken
            member.draw(grant.points, first=grant.lot)
            member.grants[index].reversed = True
            return 1

        done = self._change(
            n,
            predict,
            lambda: points_reverse_grant(
                entry=PointEntry.objects.get(pk=grant.entry_id), by=None, system="test", now=self._now()
            ),
        )
        if done:
            written, entries = done
            assert len(entries) == written

    @precondition(lambda self: any(member.grants for member in self.model))
    @rule(data=st.data(), valid_days=st.one_of(st.none(), st.integers(min_value=-3, max_value=400)))
    def staff_edit_a_grants_expiry(self, data, valid_days):
        n = data.draw(st.sampled_from([n for n, member in enumerate(self.model) if member.grants]))
        index = data.draw(st.integers(0, len(self.model[n].grants) - 1))
        grant = self.model[n].grants[index]
        expires_on = None if valid_days is None else self.today + timedelta(days=valid_days)

        def predict(member: Member):
            member.expire(self.today, whole=self.whole)
            if expires_on == grant.expires_on:
                return  # nothing to change
            lot = member.lots[grant.lot]
            if self.whole or lot.remaining == 0 or (expires_on is not None and expires_on < self.today):
                raise RefusedError(PointsError)  # one date for the balance; nothing left; a past date
            lot.expires_on = expires_on
            member.grants[index].expires_on = expires_on

        self._change(
            n,
            predict,
            lambda: points_entry_edit(
                entry=PointEntry.objects.get(pk=grant.entry_id),
                expires_on=expires_on,
                by=self.staff,
                now=self._now(),
            ),
        )

    @rule(
        n=st.integers(0, 2),
        delta=st.integers(min_value=-300, max_value=300).filter(bool),
        valid_days=st.one_of(st.none(), st.integers(min_value=-3, max_value=400)),
    )
    def adjust(self, n, delta, valid_days):
        n %= len(self.members)
        expires_on = None if valid_days is None else self.today + timedelta(days=valid_days)

        def predict(member: Member):
            if expires_on is not None and (delta < 0 or expires_on < self.today):
                raise RefusedError(PointsError)  # a minus has no date; a date cannot be in the past
            member.expire(self.today, whole=self.whole)
            if member.balance + delta < 0:
                raise RefusedError(NotEnoughPointsError)
            if delta > 0:
                if self.whole and expires_on is not None:
                    member.expires_on = expires_on
                member.lots.append(Lot(delta, delta, None if self.whole else expires_on))
            else:
                member.draw(-delta)

        self._change(
            n,
            predict,
            lambda: points_adjust(
                member=self.members[n],
                delta=delta,
                by=self.staff,
                reason="property test",
                expires_on=expires_on,
                now=self._now(),
            ),
        )

    @rule()
    def the_nightly_expiry_runs(self):
        expected = [0, 0]
        for member in self.model:
            entries, points = member.expire(self.today, whole=self.whole)
            expected[0] += entries
            expected[1] += points
        result = points_expire(on=self.today, now=jst(self.today, "00:30"))
        assert (result.entries, result.points) == tuple(expected)
        # and nothing past its date is left
        assert not PointLot.objects.filter(remaining__gt=0, expires_on__lt=self.today).exists()
        if self.whole:
            assert not PointAccount.objects.filter(balance__gt=0, expires_on__lt=self.today).exists()

    # --- invariants -----------------------------------------------------------------------------------------

    def _snapshot(self, n: int) -> tuple:
        member = self.members[n]
        account = PointAccount.objects.filter(member=member).values_list("balance", "expires_on").first()
        return (
            account,
            list(PointEntry.objects.filter(member=member).order_by("pk").values_list("pk", "delta")),
            list(PointLot.objects.filter(member=member).order_by("pk").values_list("pk", "remaining")),
            PointAllocation.objects.filter(lot__member=member).count(),
        )

    @invariant()
    def the_database_agrees_with_the_model_and_with_itself(self):
        for member, model in zip(self.members, self.model, strict=True):
            account = PointAccount.objects.filter(member=member).first()
            balance = account.balance if account else 0
            entries = PointEntry.objects.filter(member=member)
            lots = PointLot.objects.filter(member=member).order_by("pk")
            # the model's balance, lots and balance date
            assert balance == model.balance
            assert list(lots.values_list("amount", "remaining", "expires_on")) == [
                (lot.amount, lot.remaining, lot.expires_on) for lot in model.lots
            ]
            if self.whole and account:
                assert account.expires_on == model.expires_on
            # cached balance = ledger = lots; never negative
            assert balance >= 0
            assert balance == (entries.aggregate(total=Sum("delta"))["total"] or 0)
            assert balance == (lots.aggregate(total=Sum("remaining"))["total"] or 0)
            last = entries.order_by("pk").last()
            assert (last.balance_after if last else 0) == balance
            assert not entries.filter(balance_after__lt=0).exists()
            # each lot's remaining = amount − allocations; an expired lot holds nothing
            for lot in lots.annotate(drawn=Sum("allocations__amount")):
                assert lot.remaining == lot.amount - (lot.drawn or 0)
            expired_lots = entries.filter(kind=Kind.EXPIRED, expired_lot__isnull=False).values("expired_lot")
            assert not lots.filter(pk__in=expired_lots, remaining__gt=0).exists()
        assert selectors.ledger_report() == []


SETTINGS = settings(
    max_examples=60,
    stateful_step_count=30,
    deadline=None,  # a step is a few database round trips: its time varies with the machine's load
    database=None,  # no example database written into the repository
    suppress_health_check=[HealthCheck.too_slow],
)


@pytest.mark.django_db
def test_the_ledger_always_adds_up_whatever_happens_in_whatever_order():
    # Each example runs in a savepoint of this test's transaction, rolled back in the machine's teardown.
    run_state_machine_as_test(LedgerMachine, settings=SETTINGS)
