"""Defect 5 (issue 10): what a member is shown before paying is what they are charged. The booking
confirmation page shows each offered method's own breakdown, the card's from the price pipeline that
prices its order; the shop-wide setting decides whether the member discount is a line of its own or
already folded into the price. The clock is frozen at Tuesday 2027-06-01 09:00 JST; 06-07 is a Monday."""

from __future__ import annotations

import re
from datetime import date, datetime

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from core.periods import JST
from inventory.tests.factories import ItemFactory, ReservationSettingsFactory
from members.tests.factories import MemberFactory
from payments.models import Order, OrderLine, PaymentSettings, Product
from payments.pricing import charge_shown, fold_discount, order_shown, price_draft
from payments.services import LineDraft, order_create

pytestmark = pytest.mark.django_db

NOW = datetime(2027, 6, 1, 9, 0, tzinfo=JST)
MON = date(2027, 6, 7)
BOOKING = {"date": MON.isoformat(), "start_time": "10:00", "end_time": "11:00", "quantity": 1}


@pytest.fixture(autouse=True)
def frozen_clock(time_machine):
    time_machine.move_to(NOW, tick=False)


@pytest.fixture(autouse=True)
def card_checkout_on(settings):
    settings.PAYMENTS_CARD_CHECKOUT = True


@pytest.fixture
def client(client):
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    return client


@pytest.fixture
def room():
    """A ¥2,000-an-hour item, bookable every day 10:00–18:00."""
    ReservationSettingsFactory()
    return ItemFactory(name="会議室", stock=2, units=[(60, 2000)])


def show_member_discount(on: bool) -> None:
    row = PaymentSettings.current()
    row.show_member_discount = on
    row.save()


def confirm_page(client, item):
    return client.post(reverse("site:book", args=[item.pk]), {**BOOKING, "step": "confirm"})


def method_block(response, key: str) -> str:
    """The HTML of one method's breakdown on the confirmation page."""
    html = response.content.decode()
    found = re.search(rf'<div class="method-price" data-method="{key}">(.*?)</div>', html, re.DOTALL)
    assert found, f"no breakdown for {key}"
    return re.sub(r"\s+", " ", found.group(1))


def prices(response) -> dict[str, tuple[list[tuple[str, int]], int]]:
    return {
        price.key: ([(line.label, line.amount_yen) for line in price.charge.lines], price.charge.total_yen)
        for price in response.context["method_prices"]
    }


def test_card_breakdown_shows_the_member_discount_when_the_shop_shows_it(client, room):
    # given a member with a 5 % discount, and the shop showing the discount (the default)
    member = MemberFactory(member_discount_pct=5)
    client.force_login(member)
    # when they ask for the price of a ¥2,000 hour
    response = confirm_page(client, room)
    # then the card's breakdown is the price pipeline's: ¥2,000, member discount -¥100, total ¥1,900
    assert response.status_code == 200
    assert prices(response)["card"] == ([("Booking price", 2000), ("Member discount (5%)", -100)], 1900)
    card = method_block(response, "card")
    assert "Booking price: ¥2,000" in card
    assert "Member discount (5%): -¥100" in card
    assert "¥1,900" in card
    # and any other method offered takes no member discount (SPEC §3: card checkouts only)
    others = {key: value for key, value in prices(response).items() if key != "card"}
    assert all(total in (0, 2000) and len(lines) == 1 for lines, total in others.values())


def test_hidden_discount_shows_the_net_price_only_and_that_is_what_the_card_order_charges(client, room):
    # given the shop hides the member discount, and a member with 5 %
    show_member_discount(False)
    member = MemberFactory(member_discount_pct=5)
    client.force_login(member)
    # when they ask for the price
    response = confirm_page(client, room)
    # then the card shows ¥1,900 and never ¥2,000, nor a discount line or the list-price explanation
    card = method_block(response, "card")
    assert prices(response)["card"] == ([("Booking price", 1900)], 1900)
    assert "¥1,900" in card
    assert "¥2,000" not in card
    assert "discount" not in card.lower()
    # when they book by card
    done = client.post(
        reverse("site:book", args=[room.pk]), {**BOOKING, "step": "book", "payment_method": "card"}
    )
    # then the order made is charged exactly what was shown
    assert done.status_code == 302
    order = Order.objects.get(member=member)
    assert order.payment_method == Order.Method.CARD
    assert order.total_yen == prices(response)["card"][1] == 1900


def test_shown_discount_total_equals_the_card_order_total(client, room):
    # given a member with 5 % and the discount shown
    member = MemberFactory(member_discount_pct=5)
    client.force_login(member)
    shown = prices(confirm_page(client, room))["card"][1]
    # when they book by card
    client.post(reverse("site:book", args=[room.pk]), {**BOOKING, "step": "book", "payment_method": "card"})
    # then
    order = Order.objects.get(member=member)
    assert (order.subtotal_yen, order.member_discount_yen, order.total_yen) == (2000, 100, shown)


@pytest.mark.parametrize("shown", [True, False])
def test_a_member_without_discount_sees_no_discount_line(client, room, shown):
    # given
    show_member_discount(shown)
    client.force_login(MemberFactory(member_discount_pct=0))
    # when
    response = confirm_page(client, room)
    # then
    assert prices(response)["card"] == ([("Booking price", 2000)], 2000)
    assert "discount" not in method_block(response, "card").lower()
    assert "60 min × 1: ¥2,000 each" in method_block(response, "card")


def test_the_confirmation_page_query_count_does_not_depend_on_discount_or_setting(client, room):
    # given three members: with a shown discount, with a hidden one, without any
    counts = []
    for pct, shown in ((5, True), (5, False), (0, True)):
        show_member_discount(shown)
        client.force_login(MemberFactory(member_discount_pct=pct))
        confirm_page(client, room)  # warm the per-process caches (content types, sessions)
        # when
        with CaptureQueriesContext(connection) as queries:
            assert confirm_page(client, room).status_code == 200
        counts.append(len(queries.captured_queries))
    # then
    assert len(set(counts)) == 1, counts


# --- the helpers -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amounts", "discount", "expected"),
    [
        ([2000], 100, [1900]),
        ([1000, 1000], 101, [949, 950]),
        ([3000, 1000, 1], 153, [2885, 962, 1]),
        ([500, 0], 0, [500, 0]),
    ],
)
def test_fold_discount_shares_in_proportion_and_adds_up(amounts, discount, expected):
    folded = fold_discount(amounts, discount)
    assert folded == expected
    assert sum(folded) == sum(amounts) - discount


@pytest.mark.parametrize("shown", [True, False])
def test_an_order_shown_to_its_member_adds_up_to_its_total(shown):
    # given a card order of two lines for a member with 10 %
    member = MemberFactory(member_discount_pct=10)
    a = Product.objects.create(sku="A", name="A", price_yen=1500)
    b = Product.objects.create(sku="B", name="B", price_yen=1001)
    order = order_create(
        by=None,
        system="tests",
        member=member,
        lines=[
            LineDraft(
                kind=OrderLine.Kind.PRODUCT, product=a, description="A", unit_price_yen=1500, quantity=2
            ),
            LineDraft(kind=OrderLine.Kind.PRODUCT, product=b, description="B", unit_price_yen=1001),
        ],
        payment_method=Order.Method.CARD,
    )
    # when
    view = order_shown(order=order, lines=order.lines.order_by("pk"), show_member_discount=shown)
    # then the lines, the subtotal and the discounts shown add up to the total charged
    assert sum(line.amount_yen for line in view.lines) == view.subtotal_yen
    assert view.subtotal_yen - view.member_discount_yen == order.total_yen == 3601
    assert view.member_discount_yen == (400 if shown else 0)


def test_charge_shown_is_the_drafts_total_either_way():
    member = MemberFactory(member_discount_pct=7)
    line = LineDraft(kind=OrderLine.Kind.PRODUCT, description="A", unit_price_yen=3333)
    draft = price_draft(member=member, lines=[line], payment_method=Order.Method.CARD)
    for shown in (True, False):
        charge = charge_shown(draft=draft, label="A", show_member_discount=shown)
        assert sum(each.amount_yen for each in charge.lines) == charge.total_yen == 3333 - 233


# --- my page ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("shown", "pct", "expected"), [(True, 7, True), (False, 7, False), (True, 0, False)])
def test_my_page_shows_the_member_discount_only_when_the_shop_shows_it(client, shown, pct, expected):
    # given the shop's setting and a member's discount
    show_member_discount(shown)
    client.force_login(MemberFactory(member_discount_pct=pct))
    # when the member opens their my page
    html = client.get(reverse("members:mypage")).content.decode()
    # then the discount is there only when they have one and the shop shows it
    assert ("<dt>Member discount</dt><dd>7%</dd>" in html) is expected
