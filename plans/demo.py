"""Demo plans for `make run`: two time bands and 月4回プラン, counted per band (モーニング 4, フルタイム 4),
with a monthly grant of the yoga punch card and a carry-over of the フルタイム allowance left unused.

Loaded after the tickets' demo (INSTALLED_APPS order), whose punch card it grants. Idempotent and never
overwriting a staff edit: a band is found by name and gets its windows only when it is made; the plan is
found by its monthly product's SKU and gets its bands, stores, items and rules only when it is made.
"""

from __future__ import annotations

from datetime import time

from django.db import transaction

from core.audit import audit_log
from inventory.models import Item, Store
from payments.models import Product
from plans.models import GrantRule, Plan, PlanBandAllowance, TimeBand, TimeBandWindow
from tickets.models import TicketType

EVERY_DAY_AND_HOLIDAYS = [0, 1, 2, 3, 4, 5, 6, 7]
WEEKDAYS = [0, 1, 2, 3, 4]
BANDS = [
    {"name": "フルタイム", "weekdays": EVERY_DAY_AND_HOLIDAYS, "windows": [(time(7), time(22))], "order": 1},
    {"name": "モーニング", "weekdays": WEEKDAYS, "windows": [(time(7), time(10))], "order": 2},
]
PLAN_SKU = "PLAN-MONTHLY-4"
PLAN_NAME = "月4回プラン"
PLAN_PRICE_YEN = 8800
SYSTEM = "demo_data"


def load(stdout) -> None:
    from inventory.demo import LESSON_CODE  # inventory and tickets load their demo data first
    from tickets.demo import PUNCH_CARD_SKU

    with transaction.atomic():
        bands = {data["name"]: _band(data) for data in BANDS}
        punch_card = TicketType.objects.filter(product__sku=PUNCH_CARD_SKU).first()
        plan = _plan(bands, punch_card, Item.objects.filter(code=LESSON_CODE))
    stdout.write(f"Time bands   {', '.join(bands)}")
    stdout.write(f"Plans        {plan.name} [{PLAN_SKU}]")


def _band(data: dict) -> TimeBand:
    band = TimeBand.objects.filter(name=data["name"]).first()
    if band is not None:
        return band  # a staff edit to a demo band survives the next `make run`
    band = TimeBand.objects.create(name=data["name"], weekdays=data["weekdays"], display_order=data["order"])
    for starts_at, ends_at in data["windows"]:
        TimeBandWindow.objects.create(band=band, starts_at=starts_at, ends_at=ends_at)
    audit_log(action="timeband.created", obj=band, by=None, system=SYSTEM)
    return band


def _plan(bands: dict[str, TimeBand], punch_card: TicketType | None, items) -> Plan:
    product, _created = Product.objects.get_or_create(
        sku=PLAN_SKU,
        defaults={"name": PLAN_NAME, "price_yen": PLAN_PRICE_YEN, "kind": Product.Kind.MONTHLY},
    )
    existing = Plan.objects.filter(monthly_product=product).first()
    if existing is not None:
        return existing  # a staff edit to the demo plan survives the next `make run`
    plan = Plan.objects.create(
        name=PLAN_NAME,
        is_visible=True,
        monthly_product=product,
        allowance_mode=Plan.AllowanceMode.PER_BAND,
        max_concurrent=2,
        display_order=1,
    )
    plan.stores.set(Store.objects.all())
    plan.items.set(items)
    # The morning first: a morning booking takes from モーニング while it has some left, then フルタイム.
    PlanBandAllowance.objects.create(plan=plan, band=bands["モーニング"], allowance=4, position=1)
    PlanBandAllowance.objects.create(plan=plan, band=bands["フルタイム"], allowance=4, position=2)
    if punch_card is not None:
        common = {
            "plan": plan,
            "ticket_type": punch_card,
            "expiry_amount": 1,
            "expiry_unit": GrantRule.ExpiryUnit.MONTHS,
            "restriction": GrantRule.Restriction.THIS_PLAN,
        }
        GrantRule.objects.create(kind=GrantRule.Kind.MONTHLY, quantity=1, position=1, **common)
        GrantRule.objects.create(
            kind=GrantRule.Kind.CARRY_OVER,
            carry_band=bands["フルタイム"],
            quantity=None,
            position=1,
            **common,
        )
    audit_log(action="plan.created", obj=plan, by=None, system=SYSTEM)
    return plan
