"""factory_boy factories for tickets, shared by every app's tests: keep them general.

A member's ticket is always issued through `services.ticket_issue` (so its "issued" ledger entry exists);
`issue_ticket` is the plain helper, MemberTicketFactory the factory_boy face of the same call.
"""

from __future__ import annotations

import factory
from django.utils import timezone

from members.tests.factories import MemberFactory
from payments.models import Product
from tickets import services
from tickets.models import MemberTicket, TicketType


class ProductFactory(factory.django.DjangoModelFactory):
    """A one-time product on sale, 5,000 yen."""

    class Meta:
        model = Product
        django_get_or_create = ("sku",)

    sku = factory.Sequence(lambda n: f"SKU-{n:06d}")
    name = factory.Sequence(lambda n: f"商品 {n}")
    kind = Product.Kind.ONE_TIME
    price_yen = 5000
    is_active = True


class TicketTypeFactory(factory.django.DjangoModelFactory):
    """A shown 5-use punch card with its own one-time product (5,000 yen), no validity limit, no purchase
    limit. `items=[...]` / `stores=[...]` set the usable items and stores. Traits: `paid_trial` (1 use,
    1,000 yen, 1 purchase), `free_trial` (1 use, 0 yen, 1 purchase), `hidden`, `without_product`."""

    class Meta:
        model = TicketType
        skip_postgeneration_save = True

    class Params:
        paid_trial = factory.Trait(
            kind=TicketType.Kind.PAID_TRIAL,
            uses=1,
            max_purchases_per_member=1,
            product=factory.SubFactory(ProductFactory, price_yen=1000),
        )
        free_trial = factory.Trait(
            kind=TicketType.Kind.FREE_TRIAL,
            uses=1,
            max_purchases_per_member=1,
            product=factory.SubFactory(ProductFactory, price_yen=0),
        )
        hidden = factory.Trait(is_visible=False)
        without_product = factory.Trait(product=None)

    name = factory.Sequence(lambda n: f"回数券 {n}")
    kind = TicketType.Kind.PUNCH_CARD
    is_visible = True
    uses = 5
    validity_days = 0
    max_purchases_per_member = 0
    max_concurrent = 0
    max_concurrent_per_day = 0
    display_order = factory.Sequence(lambda n: n + 1)
    product = factory.SubFactory(ProductFactory, name=factory.SelfAttribute("..name"))

    @factory.post_generation
    def items(self, create, extracted, **kwargs):
        if create and extracted:
            self.items.set(extracted)

    @factory.post_generation
    def stores(self, create, extracted, **kwargs):
        if create and extracted:
            self.stores.set(extracted)


def issue_ticket(member, ticket_type: TicketType, **kwargs) -> MemberTicket:
    """A ticket in `member`'s wallet through the service (handed out by staff unless `source` is given);
    any other `ticket_issue` argument (uses, valid_from, valid_through, stores, now, …) passes through."""
    kwargs.setdefault("source", MemberTicket.Source.MANUAL)
    _default_actor(kwargs)
    return services.ticket_issue(member=member, ticket_type=ticket_type, **kwargs)


def _default_actor(kwargs: dict) -> None:
    """Tests that do not say who acted issue tickets as a named system job (the audit trail needs one)."""
    if kwargs.setdefault("by", None) is None:
        kwargs.setdefault("system", "test")


class MemberTicketFactory(factory.django.DjangoModelFactory):
    """`MemberTicketFactory(member=..., ticket_type=..., valid_from=..., uses=...)`: issued through
    `services.ticket_issue`, so the ledger is right. Extra keyword arguments go to the service."""

    class Meta:
        model = MemberTicket

    member = factory.SubFactory(MemberFactory)
    ticket_type = factory.SubFactory(TicketTypeFactory)
    source = MemberTicket.Source.MANUAL

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        kwargs.setdefault("now", timezone.now())
        return issue_ticket(kwargs.pop("member"), kwargs.pop("ticket_type"), **kwargs)
