"""A ticket's purchase takes points like a booking (issue 14 "Spending"): its confirm page shows the balance
and how many points can pay, the price with them applied; points that pay it in full put the ticket in the
wallet with no checkout; a refusal is shown next to the field and nothing is bought; the usage mode applies
to the ticket's product (a product points cannot pay for takes none in modes 3 and 4)."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import translation

from members.tests.factories import MemberFactory
from payments.models import Order
from points import selectors
from points.exceptions import PointsError
from points.models import PointEntry, PointSettings
from points.services import points_grant
from tickets.models import MemberTicket
from tickets.services import ticket_purchase_start
from tickets.tests.factories import TicketTypeFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _no_purchase_points():
    row = PointSettings.current()
    row.base_rate_percent = 0
    row.save()


def member_with(points: int):
    member = MemberFactory()
    points_grant(member=member, amount=points, kind=PointEntry.Kind.PURCHASE, by=None, system="test")
    return member


def logged_in(client, member):
    client.force_login(member)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    return client


def test_points_that_pay_for_a_ticket_in_full_put_it_in_the_wallet_without_a_checkout():
    # given a 5,000-yen punch card and 6,000 points
    member = member_with(6000)
    punch_card = TicketTypeFactory()
    # when the member buys it with 5,000 points
    order = ticket_purchase_start(member=member, ticket_type=punch_card, by=member, options={"points": 5000})
    # then the card order is paid at 0 yen and the ticket is in the wallet
    assert (order.status, order.payment_method, order.total_yen) == (Order.Status.PAID, "card", 0)
    assert MemberTicket.objects.filter(member=member, ticket_type=punch_card).count() == 1
    assert selectors.balance_of(member) == 1000


@pytest.mark.parametrize("mode", [PointSettings.UsageMode.PAYABLE_ONLY_NO_FEES, 4])
def test_a_ticket_whose_product_points_cannot_pay_for_takes_none_in_modes_3_and_4(mode):
    PointSettings.objects.filter(pk=1).update(usage_mode=mode)
    member = member_with(6000)
    punch_card = TicketTypeFactory(product__points_payable=False)
    with translation.override("en"), pytest.raises(PointsError, match="Points cannot pay for this order"):
        ticket_purchase_start(member=member, ticket_type=punch_card, by=member, options={"points": 100})
    assert not Order.objects.filter(member=member).exists()
    assert selectors.balance_of(member) == 6000


def test_the_confirm_page_shows_the_points_and_the_price_with_them(client):
    member = member_with(1200)
    punch_card = TicketTypeFactory()
    url = reverse("tickets:buy", args=[punch_card.pk])
    # the page asks for points, with the balance and the limit
    content = logged_in(client, member).get(url).content.decode()
    assert "You have 1,200 points; up to 1,200 can pay for this order." in content
    # applying 1,000 shows the price with them
    content = client.post(url, {"step": "confirm", "extras": "1", "points": "1000"}).content.decode()
    assert "Points used: -¥1,000" in content
    assert "¥4,000" in content


def test_buying_with_points_goes_on_to_the_checkout_of_the_rest(client):
    member = member_with(1200)
    punch_card = TicketTypeFactory()
    url = reverse("tickets:buy", args=[punch_card.pk])
    response = logged_in(client, member).post(url, {"step": "buy", "extras": "1", "points": "1000"})
    order = Order.objects.get(member=member)
    assert response.status_code == 302
    assert response.url == reverse("payments:checkout", args=[order.pk])
    assert (order.points_used, order.total_yen) == (1000, 4000)
    assert selectors.balance_of(member) == 200


@pytest.mark.parametrize(
    ("points", "message"),
    [
        ("1500", "You have 1,200 points; you cannot use 1,500."),
        ("x", "Enter the points to use as a whole number."),
    ],
)
def test_a_refusal_is_shown_next_to_the_field_and_nothing_is_bought(client, points, message):
    member = member_with(1200)
    punch_card = TicketTypeFactory()
    url = reverse("tickets:buy", args=[punch_card.pk])
    response = logged_in(client, member).post(url, {"step": "buy", "extras": "1", "points": points})
    assert response.status_code == 200
    assert f'<p class="field-error">{message}</p>' in response.content.decode()
    assert not Order.objects.filter(member=member).exists()
    assert selectors.balance_of(member) == 1200


def test_a_free_trial_asks_for_no_points(client):
    member = member_with(1200)
    trial = TicketTypeFactory(free_trial=True)
    content = logged_in(client, member).get(reverse("tickets:buy", args=[trial.pk])).content.decode()
    assert 'name="points"' not in content
