"""factory_boy factories for plans, shared by every plans test (grants, allowance, admin, contracts): keep
them general. A plan gets its own monthly product; a contract is active, made on the member site, and in
force from the day it was made unless told otherwise."""

from __future__ import annotations

from datetime import date

import factory

from members.tests.factories import MemberFactory
from payments.models import Product
from plans.models import GrantRule, Plan, PlanBandAllowance, PlanContract, TimeBand, TimeBandWindow
from tickets.tests.factories import ProductFactory, TicketTypeFactory


class TimeBandFactory(factory.django.DjangoModelFactory):
    """A band on every weekday and holidays (0–7) with no window; `windows=[("10:00", "18:00")]` adds some."""

    class Meta:
        model = TimeBand
        django_get_or_create = ("name",)
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"時間帯 {n}")
    weekdays = factory.LazyFunction(lambda: list(range(8)))
    display_order = factory.Sequence(lambda n: n + 1)

    @factory.post_generation
    def windows(self, create, extracted, **kwargs):
        if create and extracted:
            for starts_at, ends_at in extracted:
                TimeBandWindow.objects.create(band=self, starts_at=starts_at, ends_at=ends_at)


class PlanFactory(factory.django.DjangoModelFactory):
    """A shown per-band plan with its own monthly product (10,000 yen) and no allowance rows. Trait `total`
    (one total of 4 a month); `stores=[...]` / `items=[...]` set the bookable stores and usable items."""

    class Meta:
        model = Plan
        skip_postgeneration_save = True

    class Params:
        total = factory.Trait(allowance_mode=Plan.AllowanceMode.TOTAL, total_allowance=4)

    name = factory.Sequence(lambda n: f"プラン {n}")
    is_visible = True
    monthly_product = factory.SubFactory(
        ProductFactory, kind=Product.Kind.MONTHLY, price_yen=10000, name=factory.SelfAttribute("..name")
    )
    allowance_mode = Plan.AllowanceMode.PER_BAND
    display_order = factory.Sequence(lambda n: n + 1)

    @factory.post_generation
    def stores(self, create, extracted, **kwargs):
        if create and extracted:
            self.stores.set(extracted)

    @factory.post_generation
    def items(self, create, extracted, **kwargs):
        if create and extracted:
            self.items.set(extracted)


class PlanBandAllowanceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PlanBandAllowance

    plan = factory.SubFactory(PlanFactory)
    band = factory.SubFactory(TimeBandFactory)
    allowance = 4
    position = factory.Sequence(lambda n: n + 1)


class GrantRuleFactory(factory.django.DjangoModelFactory):
    """A monthly rule granting one 5-use ticket valid for 1 month, with no usable-plan restriction. Traits:
    `on_contract`, `carry_over` (set `carry_band` or `carry_total`; quantity empty: all left);
    `allowed_plans=[...]` sets the selected plans."""

    class Meta:
        model = GrantRule
        skip_postgeneration_save = True

    class Params:
        on_contract = factory.Trait(kind=GrantRule.Kind.ON_CONTRACT)
        carry_over = factory.Trait(kind=GrantRule.Kind.CARRY_OVER, quantity=None)

    plan = factory.SubFactory(PlanFactory)
    kind = GrantRule.Kind.MONTHLY
    ticket_type = factory.SubFactory(TicketTypeFactory)
    quantity = 1
    expiry_amount = 1
    expiry_unit = GrantRule.ExpiryUnit.MONTHS
    restriction = GrantRule.Restriction.NONE
    position = factory.Sequence(lambda n: n + 1)

    @factory.post_generation
    def allowed_plans(self, create, extracted, **kwargs):
        if create and extracted:
            self.allowed_plans.set(extracted)


class PlanContractFactory(factory.django.DjangoModelFactory):
    """An active site contract made on 2027-03-25 and in force from that day (`starts_on` defaults to
    `contracted_on`), open-ended."""

    class Meta:
        model = PlanContract

    member = factory.SubFactory(MemberFactory)
    plan = factory.SubFactory(PlanFactory)
    contracted_on = date(2027, 3, 25)
    starts_on = factory.SelfAttribute("contracted_on")
    ends_on = None
    channel = PlanContract.Channel.SITE
    status = PlanContract.Status.ACTIVE
