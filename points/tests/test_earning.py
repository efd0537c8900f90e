"""Purchase points (SPEC §8, seed 004 注文・入金ポイント付与): per line, on what the line costs after its
share of the discounts and of the points spent, rounded down; the product's fixed points per unit or rate,
else the base rate; shown before paying (the price step) and granted once when paid."""

from __future__ import annotations

from datetime import date

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import translation

from inventory.tests.factories import jst
from members.tests.factories import MemberFactory
from payments.models import Order, OrderLine, Product
from payments.pricing import price_draft
from payments.services import LineDraft, order_create, order_mark_paid
from points.earning import line_amounts_after_discounts, order_points_to_earn, points_to_earn
from points.models import PointEntry, PointSettings
from points.selectors import balance_of

pytestmark = pytest.mark.django_db
Kind = PointEntry.Kind
NOW = jst(date(2027, 6, 1), "09:00")


@pytest.fixture(autouse=True)
def _english():
    with translation.override("en"):
        yield


def base_rate(pct: int) -> None:
    row = PointSettings.current()
    row.base_rate_percent = pct
    row.save()


def product(sku: str, price: int, **fields) -> Product:
    return Product.objects.create(sku=sku, name=sku, price_yen=price, **fields)


def line(item: Product, quantity: int = 1) -> LineDraft:
    return LineDraft(
        kind=OrderLine.Kind.PRODUCT,
        description=item.name,
        unit_price_yen=item.price_yen,
        quantity=quantity,
        product=item,
    )


# --- the computation, with worked numbers -----------------------------------------------------------------


def test_a_rate_is_rounded_down_per_line():
    # given the 5 % base rate and two 1,999-yen lines
    base_rate(5)
    a, b = product("A", 1999), product("B", 1999)
    # then each line earns floor(1,999 × 5 / 100) = 99, not floor(3,998 × 5 %) = 199
    assert points_to_earn(lines=[line(a), line(b)]) == [99, 99]


def test_fixed_points_per_unit_times_the_quantity_and_a_product_rate_override_the_base_rate():
    # given the 1 % base rate, a product with 30 points per unit, one with a 10 % rate, one with neither
    base_rate(1)
    fixed = product("FIXED", 1000, points_per_unit=30)
    rated = product("RATED", 1500, points_rate_pct=10)
    plain = product("PLAIN", 2500)
    # then 30 × 3, floor(1,500 × 10 %), floor(2,500 × 1 %)
    assert points_to_earn(lines=[line(fixed, 3), line(rated), line(plain)]) == [90, 150, 25]


def test_a_fee_line_earns_at_the_base_rate_unless_it_sets_its_own():
    base_rate(2)
    fee = product("FEE", 3300, is_fee=True)
    assert points_to_earn(lines=[line(fee)]) == [66]


def test_the_discounts_are_shared_in_proportion_before_the_rate():
    # given 3,000 + 1,000 yen at 10 % and 400 yen of discounts (price rule 100, member 100, coupon 200)
    base_rate(10)
    a, b = product("A", 3000), product("B", 1000)
    # then the lines cost 2,700 and 900 after their shares (300 and 100) and earn 270 and 90
    assert points_to_earn(
        lines=[line(a), line(b)],
        price_rule_discount_yen=100,
        member_discount_yen=100,
        coupon_discount_yen=200,
    ) == [270, 90]


def test_no_points_are_earned_on_points_spent():
    # given 2,000 yen at 5 % of which 1,000 was paid with points
    base_rate(5)
    a = product("A", 2000)
    # then 5 % of the 1,000 yen paid
    assert points_to_earn(lines=[line(a)], points_used=1000) == [50]
    # and a line paid entirely with points earns nothing, its fixed points included
    fixed = product("FIXED", 500, points_per_unit=10)
    assert points_to_earn(lines=[line(fixed)], points_used=500) == [0]


def test_points_spent_are_shared_across_the_point_payable_lines_only():
    # given mode 3 (point-payable products only, fees excluded), a 3,000-yen lesson pack and a 1,000-yen fee
    settings = PointSettings.current()
    settings.usage_mode = PointSettings.UsageMode.PAYABLE_ONLY_NO_FEES
    settings.base_rate_percent = 10
    settings.save()
    pack, fee = product("PACK", 3000), product("FEE", 1000, is_fee=True)
    # when 600 points were spent (on the pack only)
    amounts = line_amounts_after_discounts(lines=[line(pack), line(fee)], discount_yen=0, points_used=600)
    # then the pack costs 2,400, the fee stays 1,000
    assert amounts == [2400, 1000]
    assert points_to_earn(lines=[line(pack), line(fee)], points_used=600) == [240, 100]


def test_a_booking_line_earns_at_the_base_rate():
    base_rate(3)
    booking = LineDraft(kind=OrderLine.Kind.RESERVATION, description="ヨガ", unit_price_yen=3300)
    assert points_to_earn(lines=[booking]) == [99]


def test_both_points_rules_on_a_product_is_a_validation_error_and_the_database_refuses_it_too():
    both = Product(sku="BOTH", name="both", price_yen=1000, points_per_unit=10, points_rate_pct=5)
    with pytest.raises(ValidationError) as error:
        both.full_clean()
    assert "Set either fixed points per unit or a rate, not both." in str(error.value)
    with pytest.raises(IntegrityError), transaction.atomic():
        both.save()


# --- shown before paying: the price step ------------------------------------------------------------------


def test_the_price_draft_says_what_the_order_will_earn_and_the_order_earns_exactly_that():
    # given the 5 % base rate and a member with a 10 % member discount buying 2 × 1,999 yen by card
    base_rate(5)
    member = MemberFactory(member_discount_pct=10)
    a = product("A", 1999)
    # when the price is drafted (the confirm page) and the order made
    draft = price_draft(member=member, lines=[line(a, 2)], payment_method=Order.Method.CARD)
    order = order_create(member=member, lines=[line(a, 2)], payment_method=Order.Method.CARD, by=member)
    # then 3,998 − 399 = 3,599 yen earns 179 points, on the page and when paid
    assert draft.total_yen == 3599
    assert draft.points_to_earn == 179
    assert order_points_to_earn(order) == 179
    assert draft.total_yen == order.total_yen  # shown, never charged


# --- granted when paid --------------------------------------------------------------------------------------


def test_paid_grants_the_purchase_points_once_even_when_the_payment_arrives_twice():
    base_rate(5)
    member = MemberFactory()
    order = order_create(
        member=member, lines=[line(product("A", 1999))], payment_method=Order.Method.COUNTER, by=member
    )
    # when the order is marked paid twice (a webhook received again)
    order_mark_paid(order=order, now=NOW, system="test")
    order_mark_paid(order=order, now=NOW, system="test")
    # then one purchase entry of 99 points, linked to the order
    [entry] = PointEntry.objects.filter(order=order, kind=Kind.PURCHASE)
    assert entry.delta == 99
    assert balance_of(member) == 99


def test_the_grant_is_what_the_member_was_shown_even_when_the_rate_changes_before_payment():
    # given a counter order made at the 5 % base rate (99 points shown on the confirm page and e-mail)
    base_rate(5)
    member = MemberFactory()
    order = order_create(
        member=member, lines=[line(product("A", 1999))], payment_method=Order.Method.COUNTER, by=member
    )
    assert order.points_to_earn == 99
    # when the shop raises the rate to 10 % before the member pays at the counter
    base_rate(10)
    order_mark_paid(order=order, now=NOW, system="test")
    # then the member earns the 99 points promised, not 199
    assert PointEntry.objects.get(order=order, kind=Kind.PURCHASE).delta == 99


def test_an_order_that_earns_nothing_writes_no_entry():
    base_rate(0)
    member = MemberFactory()
    order = order_create(
        member=member, lines=[line(product("A", 1999))], payment_method=Order.Method.COUNTER, by=member
    )
    order_mark_paid(order=order, now=NOW, system="test")
    assert not PointEntry.objects.filter(order=order).exists()


def test_the_paid_email_and_the_order_page_say_how_many_points_the_order_earned(client, monkeypatch):
    from core import emails

    sent = []
    monkeypatch.setattr(emails.send_email, "delay_on_commit", lambda **message: sent.append(message))
    # given a counter order at 5 % (99 points), paid
    base_rate(5)
    member = MemberFactory()
    order = order_create(
        member=member, lines=[line(product("A", 1999))], payment_method=Order.Method.COUNTER, by=member
    )
    order_mark_paid(order=order, now=NOW, system="test")
    monkeypatch.undo()
    # then the "payment received" e-mail says so
    [paid_mail] = [each for each in sent if "Points earned" in each["body"]]
    assert "Points earned with this order: 99" in paid_mail["body"]
    # and so does the member's order page
    client.force_login(member)
    client.cookies["django_language"] = "en"
    page = client.get(f"/payments/orders/{order.pk}/").content.decode()
    assert "Points earned with this order: 99" in page
