"""Demo tickets for `make run`: a yoga punch card, a paid and a free trial, and the demo member's wallet.

Loaded after inventory's demo (INSTALLED_APPS order), whose yoga lesson the tickets can book. Idempotent:
products are found by SKU and ticket types by their product, created only when missing; the demo member's
tickets are bought only when they hold none of that ticket yet. Purchases go through the services (an
order paid by card, a free order), so the orders and the ticket ledger are what a real purchase makes.
"""

from __future__ import annotations

from core.exceptions import DomainError
from inventory.models import Item, Store
from payments.models import Product
from payments.services import order_mark_paid
from tickets import services
from tickets.models import MemberTicket, TicketType

PUNCH_CARD_SKU = "TKT-YOGA-10"
PAID_TRIAL_SKU = "TKT-YOGA-TRIAL"
FREE_TRIAL_SKU = "TKT-YOGA-TRIAL-FREE"

TICKETS = [
    {
        "sku": PUNCH_CARD_SKU,
        "name": "ヨガ10回券",
        "price_yen": 30000,
        "kind": TicketType.Kind.PUNCH_CARD,
        "uses": 10,
        "validity_days": 90,
        "max_purchases_per_member": 0,
        "max_concurrent": 3,
        "display_order": 1,
        "stores": [],
    },
    {
        "sku": PAID_TRIAL_SKU,
        "name": "ヨガ体験チケット(有料)",
        "price_yen": 1000,
        "kind": TicketType.Kind.PAID_TRIAL,
        "uses": 1,
        "validity_days": 14,
        "max_purchases_per_member": 1,
        "max_concurrent": 0,
        "display_order": 2,
        "stores": ["横浜店"],
    },
    {
        "sku": FREE_TRIAL_SKU,
        "name": "ヨガ体験チケット(無料)",
        "price_yen": 0,
        "kind": TicketType.Kind.FREE_TRIAL,
        "uses": 1,
        "validity_days": 30,
        "max_purchases_per_member": 1,
        "max_concurrent": 0,
        "display_order": 3,
        "stores": ["横浜店"],
    },
]


def load(stdout) -> None:
    from inventory.demo import LESSON_CODE  # inventory loads its demo data first (INSTALLED_APPS order)

    lesson = Item.objects.filter(code=LESSON_CODE).first()
    kinds = {data["sku"]: _ticket_type(data, lesson) for data in TICKETS}
    stdout.write(f"Tickets      {', '.join(kind.name for kind in kinds.values())}")
    _demo_wallet(stdout, kinds)


def _ticket_type(data: dict, lesson: Item | None) -> TicketType:
    product, _created = Product.objects.get_or_create(
        sku=data["sku"],
        defaults={"name": data["name"], "price_yen": data["price_yen"], "kind": Product.Kind.ONE_TIME},
    )
    existing = TicketType.objects.filter(product=product).first()
    if existing is not None:
        return existing  # a staff edit to a demo ticket survives the next `make run`
    fields = {
        key: data[key]
        for key in (
            "name",
            "kind",
            "uses",
            "validity_days",
            "max_purchases_per_member",
            "max_concurrent",
            "display_order",
        )
    }
    return services.ticket_type_save(
        ticket_type=TicketType(product=product, is_visible=True, **fields),
        by=None,
        system="demo_data",
        items=[lesson] if lesson else [],
        stores=list(Store.objects.filter(name__in=data["stores"])),
    )


def _demo_wallet(stdout, kinds: dict[str, TicketType]) -> None:
    """The demo member bought the punch card (paid by card) and took the free trial."""
    from members.demo import MEMBER_EMAIL  # members loads its demo data first
    from members.models import Member

    member = Member.objects.filter(email=MEMBER_EMAIL).first()
    if member is None:
        return
    punch_card = kinds[PUNCH_CARD_SKU]
    if not MemberTicket.objects.filter(member=member, ticket_type=punch_card).exists():
        # As on the site: the order for the ticket, then the card payment arriving (入金).
        order = services.ticket_purchase_start(member=member, ticket_type=punch_card, by=member)
        order_mark_paid(order=order)
        stdout.write(f"Ticket       {punch_card.name} bought by {member.email} (order #{order.pk})")
    free_trial = kinds[FREE_TRIAL_SKU]
    if not MemberTicket.objects.filter(member=member, ticket_type=free_trial).exists():
        try:
            services.ticket_purchase_start(member=member, ticket_type=free_trial, by=member)
        except DomainError as error:
            stdout.write(f"Ticket       skipped {free_trial.name}: {error}")
        else:
            stdout.write(f"Ticket       {free_trial.name} taken by {member.email}")
