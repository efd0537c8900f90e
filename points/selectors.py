"""Reads of the points ledger: balances and the reconciliation `manage.py check_ledgers` runs."""

from __future__ import annotations

from django.db.models import F, OuterRef, Subquery, Sum
from django.db.models.functions import Coalesce

from points.models import PointAccount, PointAllocation, PointEntry, PointLot


def balance_of(member) -> int:
    return PointAccount.objects.filter(member=member).values_list("balance", flat=True).first() or 0


def ledger_report() -> list[str]:
    """One line per account whose balance is not the sum of its entries or of its lots' remaining, and per
    lot whose remaining is not its amount minus what allocations drew from it."""
    entries = PointEntry.objects.filter(member_id=OuterRef("member_id")).order_by().values("member_id")
    lots = PointLot.objects.filter(member_id=OuterRef("member_id")).order_by().values("member_id")
    accounts = (
        PointAccount.objects.annotate(
            ledger=Coalesce(Subquery(entries.annotate(t=Sum("delta")).values("t")[:1]), 0),
            in_lots=Coalesce(Subquery(lots.annotate(t=Sum("remaining")).values("t")[:1]), 0),
        )
        .exclude(balance=F("ledger"), in_lots=F("ledger"))
        .select_related("member")
        .order_by("pk")
    )
    lines = [
        f"point account #{row.pk} ({row.member.email}): balance {row.balance} but ledger says {row.ledger} "
        f"and lots hold {row.in_lots}"
        for row in accounts
    ]
    drawn = PointAllocation.objects.filter(lot_id=OuterRef("pk")).order_by().values("lot_id")
    bad_lots = (
        PointLot.objects.annotate(
            drawn=Coalesce(Subquery(drawn.annotate(t=Sum("amount")).values("t")[:1]), 0)
        )
        .exclude(remaining=F("amount") - F("drawn"))
        .select_related("member")
        .order_by("pk")
    )
    lines += [
        f"point lot #{lot.pk} ({lot.member.email}): remaining {lot.remaining} but amount {lot.amount} minus "
        f"allocations {lot.drawn} is {lot.amount - lot.drawn}"
        for lot in bad_lots
    ]
    return lines
