"""The promotions panel of the staff home: this month's (JST) coupon uses and discount per coupon and per
price rule; uses given back do not count; its queries do not grow with the uses."""

from __future__ import annotations

from datetime import date

import pytest
from django.utils import translation

from inventory.tests.factories import jst
from members.tests.factories import MemberFactory
from payments.models import Order
from promotions import home
from promotions.home import promotions_context
from promotions.models import PriceRule, PriceRuleUse
from promotions.tests.coupon_staff_helpers import coupon, staff, use

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def english():
    with translation.override("en"):
        yield


@pytest.fixture
def in_april(monkeypatch):
    """The home is looked at on 2027-04-10 (JST)."""
    from django.utils import timezone

    now = jst(date(2027, 4, 10), "10:00")
    monkeypatch.setattr(timezone, "now", lambda: now)
    return now


def rule_use(rule: PriceRule, *, at, discount_yen: int) -> PriceRuleUse:
    member = MemberFactory()
    order = Order.objects.create(
        member=member, payment_method="card", status=Order.Status.PAID, subtotal_yen=5000, total_yen=5000
    )
    return PriceRuleUse.objects.create(order=order, rule=rule, discount_yen=discount_yen, at=at)


def april_uses():
    summer, yen500 = coupon("SUMMER10"), coupon("YEN500", discount_kind="yen", discount_value=500)
    use(summer, at=jst(date(2027, 4, 1), "00:00"), discount_yen=300)  # the month's first moment (JST)
    use(summer, at=jst(date(2027, 4, 9), "12:00"), discount_yen=200)
    use(
        summer,
        at=jst(date(2027, 4, 9), "13:00"),
        discount_yen=900,
        released_at=jst(date(2027, 4, 9), "14:00"),
    )
    use(summer, at=jst(date(2027, 3, 31), "23:59"), discount_yen=400)  # March (JST), though April in no zone
    use(yen500, at=jst(date(2027, 4, 5), "10:00"), discount_yen=500)
    use(yen500, at=jst(date(2027, 4, 6), "10:00"), discount_yen=500)
    use(yen500, at=jst(date(2027, 5, 1), "00:00"), discount_yen=500)  # May
    weekend = PriceRule.objects.create(name="週末割", position=1, kind="yen", yen=300)
    morning = PriceRule.objects.create(name="朝割", position=2, kind="percent", percent=10)
    rule_use(weekend, at=jst(date(2027, 4, 3), "10:00"), discount_yen=300)
    rule_use(weekend, at=jst(date(2027, 4, 4), "10:00"), discount_yen=300)
    rule_use(morning, at=jst(date(2027, 4, 4), "09:00"), discount_yen=150)
    rule_use(morning, at=jst(date(2027, 3, 4), "09:00"), discount_yen=150)  # March
    return summer, yen500, weekend, morning


def test_the_panel_shows_this_months_uses_and_discount_per_coupon_and_rule(client, in_april):
    summer, yen500, weekend, morning = april_uses()
    client.force_login(staff("view_coupon"))
    client.cookies["django_language"] = "en"

    response = client.get("/admin/")

    html = response.content.decode()
    assert 'id="panel-promotions"' in html
    coupons = response.context["coupons"]
    # most discount first; SUMMER10's use given back does not count
    assert coupons["rows"] == [
        {"id": yen500.pk, "code": "YEN500", "uses": 2, "discount_yen": 1000},
        {"id": summer.pk, "code": "SUMMER10", "uses": 2, "discount_yen": 500},
    ]
    assert (coupons["uses"], coupons["discount_yen"], coupons["more"]) == (4, 1500, 0)
    rules = response.context["rules"]
    assert rules["rows"] == [
        {"id": weekend.pk, "name": "週末割", "uses": 2, "discount_yen": 600},
        {"id": morning.pk, "name": "朝割", "uses": 1, "discount_yen": 150},
    ]
    assert (rules["uses"], rules["discount_yen"]) == (3, 750)
    assert "¥1,500" in html
    assert "週末割" in html
    assert f"/admin/promotions/coupon/{yen500.pk}/change/" in html


def test_the_panel_has_an_empty_state(client, in_april):
    client.force_login(staff("view_coupon"))
    client.cookies["django_language"] = "en"

    html = client.get("/admin/").content.decode()

    assert "No coupon was used this month." in html
    assert "No price rule applied this month." in html


def test_the_panel_needs_the_view_coupon_permission(client, in_april):
    client.force_login(staff("view_pricerule"))

    assert 'id="panel-promotions"' not in client.get("/admin/").content.decode()


def test_only_the_top_coupons_are_listed_and_the_rest_counted(in_april, monkeypatch):
    monkeypatch.setattr(home, "TOP_COUPONS", 2)
    for n in range(5):
        use(coupon(f"ONCE{n}"), at=jst(date(2027, 4, 2), "10:00"), discount_yen=100 * (n + 1))

    figures = promotions_context(None)["coupons"]

    assert [row["code"] for row in figures["rows"]] == ["ONCE4", "ONCE3"]
    assert (figures["uses"], figures["discount_yen"], figures["coupons"], figures["more"]) == (5, 1500, 5, 3)


def test_the_panels_queries_do_not_grow_with_the_uses(in_april, django_assert_num_queries):
    april_uses()
    with django_assert_num_queries(3):
        promotions_context(None)
    for n in range(30):
        use(coupon(f"MORE{n}"), at=jst(date(2027, 4, 2), "10:00"))
        rule_use(
            PriceRule.objects.create(name=f"rule {n}", position=10 + n),
            at=jst(date(2027, 4, 2), "10:00"),
            discount_yen=10,
        )
    with django_assert_num_queries(3):
        context = promotions_context(None)
    assert len(context["coupons"]["rows"]) == home.TOP_COUPONS
    assert len(context["rules"]["rows"]) == 32
