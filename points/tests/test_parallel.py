"""Parallel spends of one balance never overdraw it (issue 14): threads on their own connections, released
together, with a control run without the account's row lock that shows the race the lock prevents."""

from __future__ import annotations

from collections import Counter
from datetime import date

import pytest
from django.db import IntegrityError
from django.utils import translation

from inventory.tests.factories import jst
from members.tests.factories import MemberFactory
from payments.models import Order
from points import locks, selectors, services
from points.exceptions import NotEnoughPointsError, PointsError
from points.models import PointAccount, PointEntry, PointLot, PointSettings
from points.services import points_grant, points_use
from tests.parallel import run_together

DAY = date(2027, 6, 8)


@pytest.fixture(autouse=True)
def _english():
    # the messages are asserted in their English source words
    with translation.override("en"):
        yield


def _member_with(points: int, lots: int = 1):
    PointSettings.current()
    member = MemberFactory()
    for n in range(lots):
        points_grant(
            member=member,
            amount=points // lots,
            kind=PointEntry.Kind.PURCHASE if n else PointEntry.Kind.SIGNUP,
            by=None,
            system="test",
            now=jst(DAY, "09:00"),
        )
    return member


def _race(member, *, attempts: int, amount: int, expected=(NotEnoughPointsError,)) -> Counter:
    calls = [
        lambda: points_use(member=member, amount=amount, by=member, now=jst(DAY, "12:00"))
        for _ in range(attempts)
    ]
    return run_together(calls, expected=expected, success="used")


@pytest.mark.django_db(transaction=True)
def test_parallel_uses_of_the_last_points_spend_exactly_what_the_balance_allows():
    # given 30 points in 3 lots
    member = _member_with(30, lots=3)
    # when 12 uses of 10 points run at once, then exactly 3 get through
    assert _race(member, attempts=12, amount=10) == Counter({"used": 3, "NotEnoughPointsError": 9})
    assert selectors.balance_of(member) == 0
    assert PointEntry.objects.filter(kind=PointEntry.Kind.USE).count() == 3
    assert selectors.ledger_report() == []


@pytest.mark.django_db(transaction=True)
def test_parallel_first_changes_of_a_new_account_make_one_account():
    # given a member with no account yet, when 8 grants run at once, then one account holds them all
    PointSettings.current()
    member = MemberFactory()
    calls = [
        lambda: points_grant(member=member, amount=5, kind=PointEntry.Kind.PURCHASE, by=None, system="test")
        for _ in range(8)
    ]
    assert run_together(calls, expected=(), success="granted") == Counter({"granted": 8})
    assert PointAccount.objects.get(member=member).balance == 40
    assert selectors.ledger_report() == []


@pytest.mark.django_db(transaction=True)
def test_control_without_the_locks_the_balance_check_lets_several_through(monkeypatch):
    # given the account read without its row lock
    def unlocked(member_id):
        return PointAccount.objects.get(member_id=member_id)

    member = _member_with(10)
    monkeypatch.setattr(locks, "account_for_update", unlocked)
    monkeypatch.setattr(services.PointLot.objects, "select_for_update", lambda: PointLot.objects.all())
    # when 12 uses of the last 10 points race, then more than one passes the balance check on a stale
    # balance (the race the lock prevents); only the later guards (the lots' consistency check, their CHECK
    # constraint) stop the extra ones
    refusals = (NotEnoughPointsError, PointsError, IntegrityError)
    outcomes = _race(member, attempts=12, amount=10, expected=refusals)
    assert outcomes["NotEnoughPointsError"] < 11, outcomes
    assert outcomes != Counter({"used": 1, "NotEnoughPointsError": 11}), outcomes


@pytest.mark.django_db(transaction=True)
def test_parallel_expiry_runs_expire_each_lot_once():
    # given 3 members with a lot past its date each
    PointSettings.current()
    members = [MemberFactory() for _ in range(3)]
    for member in members:
        points_grant(
            member=member,
            amount=10,
            kind=PointEntry.Kind.PURCHASE,
            by=None,
            system="test",
            now=jst(date(2025, 1, 10), "09:00"),
        )
    # when 6 runs start at once
    calls = [lambda: services.points_expire(on=date(2026, 1, 11)) for _ in range(6)]
    assert run_together(calls, expected=(), success="ran") == Counter({"ran": 6})
    # then each lot expired exactly once
    assert PointEntry.objects.filter(kind=PointEntry.Kind.EXPIRED).count() == 3
    assert sum(selectors.balance_of(member) for member in members) == 0
    assert selectors.ledger_report() == []


@pytest.mark.django_db(transaction=True)
def test_parallel_take_back_and_spends_never_make_the_balance_negative():
    # given 100 purchase points (from an order) and nothing else
    PointSettings.current()
    member = MemberFactory()
    order = Order.objects.create(member=member, payment_method="card", subtotal_yen=1000, total_yen=1000)
    points_grant(
        member=member, amount=100, kind=PointEntry.Kind.PURCHASE, by=None, system="test", order=order
    )
    # when the order's points are taken back while the member spends 60 twice
    calls = [
        lambda: services.points_reverse_grant(order=order, by=None, system="test"),
        lambda: points_use(member=member, amount=60, by=member),
        lambda: points_use(member=member, amount=60, by=member),
    ]
    outcomes = run_together(calls, expected=(NotEnoughPointsError,), success="done")
    # then whichever comes first wins (the take-back: 0 left; a spend: 40 left, too few for the rest) and
    # the others are refused: the balance never goes below 0
    assert outcomes == Counter({"done": 1, "NotEnoughPointsError": 2}), outcomes
    assert selectors.balance_of(member) in (0, 40)
    assert selectors.ledger_report() == []
