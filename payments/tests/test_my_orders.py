"""The member's order history on my page, the order page as a receipt, and the printable receipt (領収書)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import URLPattern, reverse
from django.utils import timezone

from members.tests.factories import MemberFactory
from payments import urls
from payments.models import Order, OrderLine, Product
from payments.services import LineDraft, order_cancel, order_create, order_mark_paid

pytestmark = pytest.mark.django_db


@pytest.fixture
def member(client):
    member = MemberFactory(name="山田 花子")
    client.force_login(member)
    return member


def buy(member, *lines: tuple[str, int, int], method=Order.Method.CARD) -> Order:
    drafts = []
    for name, price, quantity in lines:
        product, _created = Product.objects.get_or_create(
            sku=f"SKU-{name}", defaults={"name": name, "price_yen": price}
        )
        drafts.append(
            LineDraft(
                kind=OrderLine.Kind.PRODUCT,
                description=name,
                unit_price_yen=price,
                quantity=quantity,
                product=product,
            )
        )
    return order_create(by=None, system="tests", member=member, lines=drafts, payment_method=method)


def queries_for(client, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200
    return len(captured)


LIST = reverse("payments:order_list")


def test_my_orders_lists_only_mine_newest_first(client, member):
    # given two of my orders (one paid) and someone else's
    older = buy(member, ("回数券", 10000, 1))
    order_mark_paid(order=older)
    newer = buy(member, ("テントレンタル", 3000, 1), ("寝袋", 500, 2))
    theirs = buy(MemberFactory(), ("他人の商品", 999, 1))
    # when I open my orders
    response = client.get(LIST)
    body = response.content.decode()
    # then only mine are listed, newest first, with a status badge, the total in yen and a link
    assert list(response.context["orders"]) == [newer, older]
    assert "他人の商品" not in body
    assert f"#{theirs.pk}" not in body
    assert 'class="badge badge-paid"' in body
    assert 'class="badge badge-pending"' in body
    assert "¥4,000" in body
    assert reverse("payments:order_detail", args=[newer.pk]) in body
    assert reverse("payments:order_receipt", args=[older.pk]) in body
    assert reverse("payments:order_receipt", args=[newer.pk]) not in body  # not paid: no receipt yet


def test_my_orders_without_any(client, member):
    response = client.get(LIST)
    assert response.status_code == 200
    assert list(response.context["orders"]) == []


def test_my_orders_keep_their_query_count_from_1_to_100(client, member, django_assert_max_num_queries):
    def add(count):
        for n in range(count):
            order = buy(member, (f"商品{n % 7}", 1000 + n, 1), ("手数料", 500, 1))
            if n % 3 == 0:
                order_mark_paid(order=order)

    add(1)
    client.get(LIST)  # warm up (session)
    one = queries_for(client, LIST)
    add(99)
    with django_assert_max_num_queries(one):
        response = client.get(LIST)
    assert response.context["page"].paginator.count == 100
    assert client.get(LIST, {"page": 5}).status_code == 200


def test_my_page_links_to_my_orders(client, member):
    body = client.get(reverse("members:mypage")).content.decode()
    assert LIST in body


def _member_pages_of_an_order() -> list[str]:
    return [
        pattern.name
        for pattern in urls.urlpatterns
        if isinstance(pattern, URLPattern) and "<int:pk>" in str(pattern.pattern)
    ]


def test_someone_elses_order_is_not_found_on_any_member_page(client, member):
    # given someone else's paid order
    theirs = buy(MemberFactory(), ("回数券", 10000, 1))
    order_mark_paid(order=theirs)
    names = _member_pages_of_an_order()
    assert {"order_detail", "order_receipt", "checkout", "test_gateway_result"} <= set(names)
    for name in names:
        url = reverse(f"payments:{name}", args=[theirs.pk])
        response = client.get(url)
        if response.status_code == 405:
            response = client.post(url, {"result": "succeed"})
        assert response.status_code == 404, name
    theirs.refresh_from_db()
    assert theirs.status == Order.Status.PAID


def test_member_pages_need_a_login(client):
    order = buy(MemberFactory(), ("回数券", 10000, 1))
    for url in (LIST, reverse("payments:order_receipt", args=[order.pk])):
        response = client.get(url)
        assert response.status_code == 302
        assert reverse("members:login") in response["Location"]


def test_the_order_page_and_the_receipt_show_everything_a_receipt_needs(client, member, settings):
    # given a paid card order: two lines and a 10 % member discount
    settings.SHOP_NAME = "テスト店舗"
    member.member_discount_pct = 10
    member.save(update_fields=["member_discount_pct"])
    order = buy(member, ("テントレンタル", 3000, 1), ("寝袋", 500, 2))
    paid_at = timezone.now() - timedelta(days=1)
    order_mark_paid(order=order, now=paid_at)
    when = timezone.localtime(paid_at).strftime("%Y-%m-%d %H:%M")
    for url in (
        reverse("payments:order_detail", args=[order.pk]),
        reverse("payments:order_receipt", args=[order.pk]),
    ):
        # when I open it
        response = client.get(url)
        body = response.content.decode()
        # then it names the shop, the order, when it was paid and how, each line, the discount, the total
        assert response.status_code == 200, url
        assert "テスト店舗" in body
        assert f"#{order.pk}" in body
        assert when in body
        assert order.get_payment_method_display() in body
        assert "テントレンタル" in body
        assert "寝袋" in body
        assert "¥3,000" in body
        assert "¥1,000" in body  # 寝袋 × 2
        assert "-¥400" in body  # member discount on 4,000
        assert "¥3,600" in body
    detail = client.get(reverse("payments:order_detail", args=[order.pk])).content.decode()
    assert reverse("payments:order_receipt", args=[order.pk]) in detail
    receipt = client.get(reverse("payments:order_receipt", args=[order.pk])).content.decode()
    assert "山田 花子" in receipt
    assert "data-print" in receipt  # the Print button (static/js/site.js)


def test_no_receipt_before_payment_or_after_cancelling(client, member):
    pending = buy(member, ("回数券", 10000, 1))
    cancelled = buy(member, ("回数券", 10000, 1))
    order_mark_paid(order=cancelled)
    order_cancel(order=cancelled)
    for order in (pending, cancelled):
        assert client.get(reverse("payments:order_receipt", args=[order.pk])).status_code == 404
        detail = client.get(reverse("payments:order_detail", args=[order.pk]))
        assert detail.status_code == 200
        assert reverse("payments:order_receipt", args=[order.pk]) not in detail.content.decode()
