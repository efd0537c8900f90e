"""The demo plans `make run` loads (plans/demo.py, run by `manage.py load_demo_data`)."""

from __future__ import annotations

from datetime import time

import pytest
from django.core.management import call_command

from plans import demo
from plans.models import GrantRule, Plan, TimeBand, TimeBandWindow
from tickets.demo import PUNCH_CARD_SKU

pytestmark = pytest.mark.django_db


def test_the_demo_has_two_bands_and_a_plan_of_four_a_month_per_band(capsys):
    call_command("load_demo_data")

    bands = {band.name: band for band in TimeBand.objects.prefetch_related("windows")}
    full, morning = bands["フルタイム"], bands["モーニング"]
    assert full.weekdays == [0, 1, 2, 3, 4, 5, 6, 7]  # every day and 祝
    assert morning.weekdays == [0, 1, 2, 3, 4]
    assert [(w.starts_at, w.ends_at) for w in full.windows.all()] == [(time(7), time(22))]
    assert [(w.starts_at, w.ends_at) for w in morning.windows.all()] == [(time(7), time(10))]

    plan = Plan.objects.get(monthly_product__sku=demo.PLAN_SKU)
    assert (plan.name, plan.allowance_mode, plan.monthly_product.kind) == (
        "月4回プラン",
        "per_band",
        "monthly",
    )
    assert [(row.band.name, row.allowance) for row in plan.band_allowances.all()] == [
        ("モーニング", 4),
        ("フルタイム", 4),
    ]
    rules = {rule.kind: rule for rule in plan.grant_rules.select_related("ticket_type__product")}
    assert set(rules) == {GrantRule.Kind.MONTHLY, GrantRule.Kind.CARRY_OVER}
    assert rules["monthly"].ticket_type.product.sku == PUNCH_CARD_SKU
    assert rules["monthly"].quantity == 1
    assert (rules["carry_over"].carry_band, rules["carry_over"].quantity) == (full, None)
    assert plan.stores.exists()
    assert plan.items.exists()
    assert "月4回プラン" in capsys.readouterr().out


def test_loading_again_keeps_a_staff_edit():
    call_command("load_demo_data")
    morning = TimeBand.objects.get(name="モーニング")
    TimeBandWindow.objects.filter(band=morning).update(ends_at=time(11))
    plan = Plan.objects.get()
    Plan.objects.filter(pk=plan.pk).update(name="朝活プラン")
    plan.grant_rules.filter(kind=GrantRule.Kind.CARRY_OVER).delete()

    call_command("load_demo_data")

    assert TimeBand.objects.count() == 2
    assert list(morning.windows.values_list("ends_at", flat=True)) == [time(11)]
    assert Plan.objects.get().name == "朝活プラン"
    assert not GrantRule.objects.filter(kind=GrantRule.Kind.CARRY_OVER).exists()
