"""Defect 5 (issue 10) on the ticket pages: a member sees the price they will be charged. With the member
discount shown (the shop's default) the breakdown has it as a line; hidden, the price is already net of
it and the list price appears nowhere. A booking paid with a ticket costs no money and takes no discount.
The clock is frozen at Tuesday 2027-06-01 09:00 JST; 06-07 is a Monday."""

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
from payments.models import Order, PaymentSettings
from tickets.tests.factories import TicketTypeFactory, issue_ticket

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


def show_member_discount(on: bool) -> None:
    row = PaymentSettings.current()
    row.show_member_discount = on
    row.save()


def text(response) -> str:
    return re.sub(r"\s+", " ", response.content.decode())


def test_ticket_purchase_page_shows_the_member_discount_as_a_line_when_the_shop_shows_it(client):
    # given a ¥2,000 punch card and a member with 5 %
    card = TicketTypeFactory(name="ヨガ5回券", product__price_yen=2000)
    client.force_login(MemberFactory(member_discount_pct=5))
    # when they open the purchase confirmation
    response = client.get(reverse("tickets:buy", args=[card.pk]))
    # then the pipeline's breakdown: ¥2,000, -¥100, ¥1,900
    charge = response.context["charge"]
    assert [(line.label, line.amount_yen) for line in charge.lines] == [
        ("ヨガ5回券 × 1", 2000),
        ("Member discount (5%)", -100),
    ]
    assert charge.total_yen == 1900
    assert "Member discount (5%): -¥100" in text(response)


def test_hidden_discount_ticket_pages_show_only_the_net_price_and_the_order_charges_it(client):
    # given the shop hides the member discount, a ¥2,000 punch card and a member with 5 %
    show_member_discount(False)
    card = TicketTypeFactory(name="ヨガ5回券", product__price_yen=2000)
    member = MemberFactory(member_discount_pct=5)
    client.force_login(member)
    # when they look at the list, the ticket and the purchase confirmation
    pages = [
        client.get(reverse("tickets:list")),
        client.get(reverse("tickets:detail", args=[card.pk])),
        client.get(reverse("tickets:buy", args=[card.pk])),
    ]
    # then every page says ¥1,900 and none ¥2,000 or a discount
    for page in pages:
        assert "¥1,900" in text(page)
        assert "¥2,000" not in text(page)
        assert "discount" not in text(page).lower()
    shown = pages[-1].context["charge"].total_yen
    # when they go on to pay
    client.post(reverse("tickets:buy", args=[card.pk]), {"step": "buy"})
    # then the order charges exactly what was shown, and its page shows the same
    order = Order.objects.get(member=member)
    assert order.total_yen == shown == 1900
    order_page = text(client.get(reverse("payments:order_detail", args=[order.pk])))
    assert "¥1,900" in order_page
    assert "¥2,000" not in order_page


def test_a_member_without_discount_sees_the_list_price_and_no_discount_line(client):
    card = TicketTypeFactory(product__price_yen=2000)
    client.force_login(MemberFactory(member_discount_pct=0))
    response = client.get(reverse("tickets:buy", args=[card.pk]))
    assert [line.amount_yen for line in response.context["charge"].lines] == [2000]
    assert "discount" not in text(response).lower()


def test_the_ticket_list_query_count_does_not_depend_on_discounts(client):
    # given three tickets on sale, and members with and without a (hidden) discount
    show_member_discount(False)
    TicketTypeFactory.create_batch(3, product__price_yen=2000)
    counts = []
    for pct in (0, 5):
        client.force_login(MemberFactory(member_discount_pct=pct))
        client.get(reverse("tickets:list"))
        # when
        with CaptureQueriesContext(connection) as queries:
            assert client.get(reverse("tickets:list")).status_code == 200
        counts.append(len(queries.captured_queries))
    # then at most the shop setting is read once more
    assert counts[1] - counts[0] <= 1, counts


@pytest.mark.parametrize("shown", [True, False])
def test_booking_with_a_ticket_costs_nothing_and_takes_no_member_discount(client, shown):
    # given a member with 5 % holding a ticket for a ¥2,000 lesson
    show_member_discount(shown)
    ReservationSettingsFactory()
    yoga = ItemFactory(name="はじめてのヨガ", units=[(60, 2000)], stock=5)
    member = MemberFactory(member_discount_pct=5)
    issue_ticket(member, TicketTypeFactory(name="ヨガ10回券", uses=10, items=[yoga]))
    client.force_login(member)
    # when they ask for the price
    response = client.post(reverse("site:book", args=[yoga.pk]), {**BOOKING, "step": "confirm"})
    # then the ticket's breakdown is ¥0 with no discount line; the card's is the pipeline's
    prices = {price.key: price.charge for price in response.context["method_prices"]}
    assert [(line.amount_yen) for line in prices["ticket"].lines] == [0]
    assert prices["ticket"].total_yen == 0
    assert prices["card"].total_yen == 1900
    block = re.search(r'data-method="ticket">(.*?)</div>', response.content.decode(), re.DOTALL).group(1)
    assert "discount" not in block.lower()
    assert "¥0" in block


def test_the_booking_confirmation_query_count_does_not_grow_with_the_tickets_held(client):
    # given a member with 1, then 4 usable tickets for the lesson
    ReservationSettingsFactory()
    yoga = ItemFactory(units=[(60, 2000)], stock=5)
    member = MemberFactory(member_discount_pct=5)
    client.force_login(member)
    kind = TicketTypeFactory(uses=10, items=[yoga])
    counts = []
    for held in (1, 4):
        while member.tickets.count() < held:
            issue_ticket(member, kind)
        client.post(reverse("site:book", args=[yoga.pk]), {**BOOKING, "step": "confirm"})
        # when
        with CaptureQueriesContext(connection) as queries:
            client.post(reverse("site:book", args=[yoga.pk]), {**BOOKING, "step": "confirm"})
        counts.append(len(queries.captured_queries))
    # then
    assert counts[0] == counts[1], counts
