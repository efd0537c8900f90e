"""Helpers for the tickets service and concurrency tests (the factories shared by every test are in
factories.py). Dates are fixed: June 2027 has no national holiday."""

from __future__ import annotations

from datetime import date

from inventory.services import reservation_create
from inventory.tests.factories import ItemFactory, ReservationSettingsFactory, jst
from payments.models import Product
from tickets import services
from tickets.models import MemberTicket, TicketType

MONDAY = date(2027, 6, 7)
NOW = jst(date(2027, 6, 1), "09:00")
_sku = iter(range(1, 1_000_000))


def product(*, price_yen: int = 5000, kind: str = Product.Kind.ONE_TIME) -> Product:
    number = next(_sku)
    return Product.objects.create(
        sku=f"TKT-{number:06d}", name=f"チケット商品 {number}", price_yen=price_yen, kind=kind
    )


def ticket_type(*, items=(), stores=(), **fields) -> TicketType:
    fields.setdefault("name", "ヨガ5回券")
    fields.setdefault("uses", 5)
    fields.setdefault("product", product())
    made = services.ticket_type_save(
        ticket_type=TicketType(**fields), by=None, system="test", items=list(items), stores=list(stores)
    )
    return made


def give(member, kind: TicketType, *, on: date | None = None, **kwargs) -> MemberTicket:
    """A ticket handed out by staff, issued on `on` (day 1 of its validity)."""
    on = on or NOW.date()
    kwargs.setdefault("source", MemberTicket.Source.MANUAL)
    if kwargs.setdefault("by", None) is None:
        kwargs.setdefault("system", "test")
    return services.ticket_issue(
        member=member, ticket_type=kind, valid_from=on, now=jst(on, "09:00"), **kwargs
    )


def open_every_day():
    return ReservationSettingsFactory(min_minutes=30, time_step_minutes=30, cancel_deadline_minutes=60)


def lesson(**fields):
    fields.setdefault("stock", 100)
    return ItemFactory(**fields)


def book(
    member, item, *, day: date = MONDAY, start: str = "10:00", end: str = "11:00", option: str = "", now=NOW
):
    return reservation_create(
        member=member,
        by=member,
        item=item,
        starts_at=jst(day, start),
        ends_at=jst(day, end),
        payment_method="ticket",
        payment_option=option,
        now=now,
    )
