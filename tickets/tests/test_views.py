"""The member site's ticket pages through the test client: the tickets on sale, buying one (paid through
the test gateway, or free at once), my tickets with their history, and booking with a ticket.

The clock is frozen at Tuesday 2027-06-01 09:00 JST (June 2027 has no national holiday); 06-07 is a
Monday."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from django.conf import settings
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from core.periods import JST
from inventory.models import Reservation
from inventory.tests.factories import ItemFactory, ReservationSettingsFactory, StoreFactory, jst
from members.tests.factories import MemberFactory
from payments.models import Order
from payments.services import order_cancel, order_mark_paid
from payments.stripe_events import stripe_event_process
from payments.tests.stripe_double import StripeDouble
from tickets.models import MemberTicket, TicketEntry
from tickets.services import ticket_purchase_start, ticket_revoke, tickets_expire
from tickets.tests.factories import TicketTypeFactory, issue_ticket

pytestmark = pytest.mark.django_db

NOW = datetime(2027, 6, 1, 9, 0, tzinfo=JST)
MON = date(2027, 6, 7)
LIST = reverse("tickets:list")
WALLET = reverse("tickets:wallet")


@pytest.fixture(autouse=True)
def frozen_clock(time_machine):
    time_machine.move_to(NOW, tick=False)


@pytest.fixture
def client(client):
    # English pages, so the assertions read the source strings (the site itself is Japanese by default).
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    return client


@pytest.fixture
def member(client):
    member = MemberFactory()
    client.force_login(member)
    return member


@pytest.fixture
def yoga():
    return ItemFactory(name="はじめてのヨガ", units=[(60, 2000)], stock=5)


def _body(response) -> str:
    return response.content.decode()


def _queries(client, url: str) -> int:
    from django.db import connection

    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured)


# --- the tickets on sale ---------------------------------------------------------------------------------


def test_the_list_shows_the_tickets_on_sale_with_what_they_are(client, member, yoga):
    # given a punch card, a paid trial the member already bought, and tickets that are not on sale
    store = StoreFactory(name="横浜店")
    TicketTypeFactory(
        name="ヨガ10回券", uses=10, validity_days=90, product__price_yen=30000, items=[yoga], display_order=1
    )
    trial = TicketTypeFactory(
        paid_trial=True, name="体験チケット(有料)", items=[yoga], stores=[store], display_order=2
    )
    order_mark_paid(order=ticket_purchase_start(member=member, by=member, ticket_type=trial))
    TicketTypeFactory(name="非表示の券", hidden=True)
    TicketTypeFactory(name="商品なしの券", without_product=True)
    off_sale = TicketTypeFactory(name="販売停止の券")
    off_sale.product.is_active = False
    off_sale.product.save()
    # when
    response = client.get(LIST)
    body = _body(response)
    # then only the two on sale, in display order, each with its kind, price, uses, validity and items
    assert [ticket_type.name for ticket_type, _left in response.context["rows"]] == [
        "ヨガ10回券",
        "体験チケット(有料)",
    ]
    assert "非表示の券" not in body
    assert "商品なしの券" not in body
    assert "販売停止の券" not in body
    assert "Punch card" in body
    assert "Trial ticket (paid)" in body
    assert "¥30,000" in body
    assert "¥1,000" in body
    assert "10 uses" in body
    assert "90 days from purchase" in body
    assert "No expiry" in body
    assert "はじめてのヨガ" in body
    assert "横浜店" in body
    assert "All stores" in body
    # and the trial's purchase limit with what this member has left of it
    assert "1 time per member" in body
    assert "you can buy it 0 more times" in body


def test_the_list_says_when_nothing_is_on_sale(client):
    response = client.get(LIST)
    assert "No tickets are on sale at the moment." in _body(response)


def test_the_list_keeps_its_query_count_from_1_to_30_tickets(client, member, django_assert_max_num_queries):
    items = [ItemFactory() for _ in range(3)]
    stores = [StoreFactory() for _ in range(2)]

    def add(count):
        for n in range(count):
            TicketTypeFactory(
                items=items[: n % 4], stores=stores[: n % 3], max_purchases_per_member=(n + 1) % 2
            )

    add(1)
    client.get(LIST)  # warm up (session)
    one = _queries(client, LIST)
    add(29)
    with django_assert_max_num_queries(one):
        response = client.get(LIST)
    assert len(response.context["rows"]) == 30


def test_the_site_header_links_to_the_tickets(client):
    assert f'href="{LIST}"' in _body(client.get(reverse("site:home")))


def test_a_ticket_not_on_sale_is_not_found(client, member):
    hidden = TicketTypeFactory(hidden=True)
    off_sale = TicketTypeFactory()
    off_sale.product.is_active = False
    off_sale.product.save()
    for kind in (hidden, off_sale):
        assert client.get(reverse("tickets:detail", args=[kind.pk])).status_code == 404
        assert client.post(reverse("tickets:buy", args=[kind.pk])).status_code == 404
        assert client.post(reverse("tickets:buy", args=[kind.pk]), {"step": "buy"}).status_code == 404
    assert not Order.objects.exists()


def test_buying_needs_a_login(client):
    kind = TicketTypeFactory()
    page = _body(client.get(reverse("tickets:detail", args=[kind.pk])))
    assert "Log in to buy" in page
    response = client.post(reverse("tickets:buy", args=[kind.pk]), {"step": "buy"})
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("members:login"))
    assert not Order.objects.exists()


# --- buying ----------------------------------------------------------------------------------------------


def test_buying_a_paid_ticket_through_the_test_gateway(client, member, yoga, time_machine):
    # given a 1,000-yen trial valid 14 days
    trial = TicketTypeFactory(paid_trial=True, name="体験チケット(有料)", validity_days=14, items=[yoga])
    buy = reverse("tickets:buy", args=[trial.pk])
    # when the member presses "buy" on the ticket page
    detail = client.get(reverse("tickets:detail", args=[trial.pk]))
    assert f'action="{buy}"' in _body(detail)
    confirm = client.post(buy)
    # then a confirmation step shows the price, and nothing is ordered yet
    assert confirm.templates[0].name == "site/tickets/buy_confirm.html"
    body = _body(confirm)
    assert "¥1,000" in body
    assert "Continue to payment" in body
    assert "June 14, 2027" in body  # bought today, valid through
    assert not Order.objects.exists()
    # when they confirm
    started = client.post(buy, {"step": "buy"})
    # then a pending card order for the ticket sends them to the checkout
    order = Order.objects.get(member=member)
    assert (order.status, order.payment_method, order.total_yen) == ("pending", "card", 1000)
    assert started["Location"] == reverse("payments:checkout", args=[order.pk])
    assert "体験チケット(有料)" in _body(client.get(started["Location"]))
    # when they pay through the test gateway two days later
    time_machine.move_to(datetime(2027, 6, 3, 23, 30, tzinfo=JST), tick=False)
    paid = client.post(reverse("payments:test_gateway_result", args=[order.pk]), {"result": "succeed"})
    # then the ticket is theirs, valid from the payment day (day 1) for 14 days
    assert paid["Location"] == reverse("payments:order_detail", args=[order.pk])
    ticket = MemberTicket.objects.get(member=member)
    assert ticket.order_line.order == order
    assert (ticket.valid_from, ticket.valid_through) == (date(2027, 6, 3), date(2027, 6, 16))
    assert (ticket.uses_left, ticket.uses_total) == (1, 1)
    wallet = _body(client.get(WALLET))
    assert "体験チケット(有料)" in wallet
    assert "June 16, 2027" in wallet


@pytest.fixture
def stripe_api(settings):
    """Stripe keys set and the official client pointed at payments' local double of Stripe's API."""
    with StripeDouble() as double:
        settings.STRIPE_SECRET_KEY = "sk_test_" + "k" * 24
        settings.STRIPE_API_BASE = double.url
        yield double


def test_buying_a_paid_ticket_through_stripe_checkout(client, member, stripe_api):
    # given a 30,000-yen punch card, valid 90 days
    card = TicketTypeFactory(name="ヨガ10回券", uses=10, validity_days=90, product__price_yen=30000)
    # when the member confirms the purchase and follows on to pay
    started = client.post(reverse("tickets:buy", args=[card.pk]), {"step": "buy"})
    checkout = client.get(started["Location"])
    # then Stripe Checkout is opened for the ticket at its price
    order = Order.objects.get(member=member)
    sent = stripe_api.requests[-1]
    assert sent["path"] == "/v1/checkout/sessions"
    assert sent["form"]["line_items[0][price_data][unit_amount]"] == "30000"
    assert sent["form"]["line_items[0][price_data][product_data][name]"] == "ヨガ10回券"
    assert checkout["Location"].startswith("https://checkout.stripe.test/")
    # when Stripe says the payment completed (the webhook's handler) the next day
    session = {
        "id": "cs_test_1", "object": "checkout.session", "client_reference_id": str(order.pk),
        "metadata": {"order_id": str(order.pk)}, "payment_status": "paid", "amount_total": 30000,
        "currency": "jpy", "payment_intent": "pi_test_1",
    }  # fmt: skip
    stripe_event_process(
        event={
            "id": "evt_1",
            "type": "checkout.session.completed",
            "created": 0,
            "data": {"object": session},
        },
        now=datetime(2027, 6, 2, 0, 30, tzinfo=JST),
    )
    # then the ticket is in the wallet from that day (JST), 90 days with the payment day as day 1
    ticket = MemberTicket.objects.get(member=member)
    assert (ticket.valid_from, ticket.valid_through) == (date(2027, 6, 2), date(2027, 8, 30))
    assert ticket.order_line.order == order


def test_a_free_trial_is_in_my_tickets_at_once(client, member, yoga):
    trial = TicketTypeFactory(free_trial=True, name="体験チケット(無料)", items=[yoga])
    buy = reverse("tickets:buy", args=[trial.pk])
    confirm = _body(client.post(buy))
    assert "Get this ticket" in confirm
    assert "it goes into your tickets as soon as you confirm" in confirm
    # when
    response = client.post(buy, {"step": "buy"})
    # then no card: the member lands on their tickets with the new one
    assert response["Location"] == WALLET
    order = Order.objects.get(member=member)
    assert (order.status, order.payment_method) == ("paid", "free")
    page = client.get(WALLET)
    assert "“体験チケット(無料)” is in your tickets." in _body(page)
    assert [row.ticket.ticket_type for row in page.context["current"]] == [trial]


def test_over_the_limit_the_purchase_is_refused_with_a_message(client, member):
    # given a free trial the member already took
    trial = TicketTypeFactory(free_trial=True, name="体験チケット(無料)")
    ticket_purchase_start(member=member, by=member, ticket_type=trial)
    buy = reverse("tickets:buy", args=[trial.pk])
    # then the ticket page and the confirmation say so, without a button to go on
    assert "already bought this ticket as many times as allowed" in _body(
        client.get(reverse("tickets:detail", args=[trial.pk]))
    )
    confirm = _body(client.post(buy))
    assert "at most 1 time(s)" in confirm
    assert "Get this ticket" not in confirm
    # and a purchase posted anyway is refused with the same message
    response = client.post(buy, {"step": "buy"}, follow=True)
    assert "at most 1 time(s)" in _body(response)
    assert Order.objects.filter(member=member).count() == 1
    assert MemberTicket.objects.filter(member=member).count() == 1


def test_a_second_unpaid_order_of_a_limit_one_ticket_cannot_be_paid(client, member):
    # given two card orders of a limit-1 trial, made before either was paid
    trial = TicketTypeFactory(paid_trial=True, name="体験チケット(有料)")
    buy = reverse("tickets:buy", args=[trial.pk])
    client.post(buy, {"step": "buy"})
    client.post(buy, {"step": "buy"})
    first, second = Order.objects.filter(member=member).order_by("pk")
    # the ticket page reminds the member of the unpaid orders
    assert reverse("payments:checkout", args=[first.pk]) in _body(
        client.get(reverse("tickets:detail", args=[trial.pk]))
    )
    # when the first is paid
    client.post(reverse("payments:test_gateway_result", args=[first.pk]), {"result": "succeed"})
    # then the checkout refuses the second before the member pays …
    checkout = client.get(reverse("payments:checkout", args=[second.pk]))
    assert checkout["Location"] == reverse("payments:order_detail", args=[second.pk])
    assert "at most 1 time(s)" in _body(client.get(checkout["Location"]))
    # … and a payment of it is not fulfilled: no second ticket, the order stays unpaid
    paid = client.post(
        reverse("payments:test_gateway_result", args=[second.pk]), {"result": "succeed"}, follow=True
    )
    assert "at most 1 time(s)" in _body(paid)
    second.refresh_from_db()
    assert second.status == Order.Status.PENDING
    assert MemberTicket.objects.filter(member=member).count() == 1


# --- my tickets ------------------------------------------------------------------------------------------


def test_my_tickets_show_uses_expiry_where_and_source(client, member, yoga):
    # given a punch card bought last week at one store, a plan-granted ticket without expiry, and old ones
    yokohama = StoreFactory(name="横浜店")
    card = TicketTypeFactory(name="ヨガ10回券", uses=10, validity_days=90, items=[yoga], stores=[yokohama])
    bought = order_mark_paid(order=ticket_purchase_start(member=member, by=member, ticket_type=card))
    granted = issue_ticket(
        member, TicketTypeFactory(name="月額プラン付与券", uses=4, items=[yoga]), source="grant"
    )
    soon = issue_ticket(
        member, TicketTypeFactory(name="まもなく期限の券", validity_days=10), valid_from=date(2027, 5, 25)
    )
    expired = issue_ticket(
        member, TicketTypeFactory(name="期限切れの券", validity_days=10), valid_from=date(2027, 5, 1)
    )
    tickets_expire(today=date(2027, 6, 1))
    revoked = ticket_revoke(
        ticket=issue_ticket(member, TicketTypeFactory(name="取消された券")),
        by=None,
        system="test",
        reason="返金のため",
    )
    used_up = issue_ticket(member, TicketTypeFactory(name="使い切った券", uses=1), uses=1)
    MemberTicket.objects.filter(pk=used_up.pk).update(uses_left=0)  # as if its use was taken
    # when
    response = client.get(WALLET)
    body = _body(response)
    # then the usable ones come first, expiring first first (no expiry last)
    assert [row.ticket for row in response.context["current"]] == [
        soon,
        bought.lines.get().member_ticket,
        granted,
    ]
    assert "<strong>10</strong> / 10" in body
    assert "Aug. 29, 2027" in body  # 90 days from 2027-06-01
    assert "No expiry" in body
    assert "横浜店" in body
    assert "All stores" in body
    assert "はじめてのヨガ" in body
    assert f"order #{bought.pk}" in body
    assert "Plan grant" in body
    # and the past ones in their own section, each shown as what happened to it
    past = {row.ticket: row.state_label for row in response.context["past"]}
    assert {ticket: str(label) for ticket, label in past.items()} == {
        expired: "Expired",
        revoked: "Taken back",
        used_up: "Used up",
    }
    assert body.index("Past tickets") < body.index("期限切れの券")
    assert body.index("Past tickets") > body.index("まもなく期限の券")


def test_my_tickets_empty_state(client, member):
    body = _body(client.get(WALLET))
    assert "You have no tickets you can use." in body
    assert f'href="{LIST}"' in body


def test_my_tickets_keep_their_query_count_from_1_to_30(client, member, django_assert_max_num_queries):
    items = [ItemFactory() for _ in range(3)]
    stores = [StoreFactory() for _ in range(2)]
    kinds = [
        TicketTypeFactory(items=items[: n % 4], stores=stores[: n % 3], validity_days=n * 10)
        for n in range(4)
    ]

    def add(count):
        for n in range(count):
            kind = kinds[n % 4]
            if n % 5 == 0:
                order_mark_paid(order=ticket_purchase_start(member=member, by=member, ticket_type=kind))
            else:
                ticket = issue_ticket(member, kind, valid_from=date(2027, 5, 1 + n % 20))
                if n % 7 == 0:
                    ticket_revoke(ticket=ticket, by=None, system="test", reason="テスト")

    add(1)
    client.get(WALLET)  # warm up (session)
    one = _queries(client, WALLET)
    add(29)
    with django_assert_max_num_queries(one):
        response = client.get(WALLET)
    assert len(response.context["current"]) + len(response.context["past"]) == 30


def test_a_ticket_page_shows_its_history(client, member, yoga):
    # given a ticket used for a booking, which was then cancelled
    ReservationSettingsFactory()
    kind = TicketTypeFactory(name="ヨガ10回券", uses=10, items=[yoga])
    ticket = issue_ticket(member, kind, now=jst(date(2027, 5, 31), "10:15"))
    url = reverse("site:book", args=[yoga.pk])
    slot = {"date": MON.isoformat(), "start_time": "10:00", "end_time": "11:00", "quantity": 1}
    client.post(url, {**slot, "step": "book", "payment_method": f"ticket:{ticket.pk}"})
    reservation = Reservation.objects.get()
    # when
    response = client.get(reverse("tickets:ticket_detail", args=[ticket.pk]))
    body = _body(response)
    # then every change is listed, oldest first, in JST, with the reservation linked
    assert [(e.kind, e.delta, e.uses_left_after) for e in response.context["entries"]] == [
        ("issued", 10, 10),
        ("used", -1, 9),
    ]
    assert "2027-05-31 10:15" in body
    assert "2027-06-01 09:00" in body
    assert reverse("site:reservation_detail", args=[reservation.pk]) in body
    assert "9</strong> / 10" in body


def test_another_members_ticket_is_not_found(client, member):
    theirs = issue_ticket(MemberFactory(), TicketTypeFactory(name="他人の券"))
    assert client.get(reverse("tickets:ticket_detail", args=[theirs.pk])).status_code == 404
    assert "他人の券" not in _body(client.get(WALLET))


def test_my_tickets_need_a_login(client):
    response = client.get(WALLET)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("members:login"))


def test_my_page_links_to_my_tickets(client, member):
    assert WALLET in _body(client.get(reverse("members:mypage")))


def test_a_purchase_cancelled_by_staff_shows_the_ticket_as_taken_back(client, member):
    trial = TicketTypeFactory(free_trial=True, name="体験チケット(無料)")
    order = ticket_purchase_start(member=member, by=member, ticket_type=trial)
    order_cancel(order=order, by=MemberFactory(is_staff=True))
    response = client.get(WALLET)
    assert response.context["current"] == []
    assert [str(row.state_label) for row in response.context["past"]] == ["Taken back"]
    ticket = MemberTicket.objects.get(member=member)
    history = client.get(reverse("tickets:ticket_detail", args=[ticket.pk]))
    assert [(e.kind, e.delta) for e in history.context["entries"]] == [("issued", 1), ("revoked", -1)]
    assert f"order #{order.pk}" in _body(history)


# --- booking with a ticket -------------------------------------------------------------------------------


def test_without_a_usable_ticket_the_booking_page_says_nothing_of_tickets(client, member, yoga):
    ReservationSettingsFactory()
    issue_ticket(member, TicketTypeFactory(name="別の券", items=[ItemFactory()]))
    slot = {"date": MON.isoformat(), "start_time": "10:00", "end_time": "11:00", "quantity": 1}
    confirm = client.post(reverse("site:book", args=[yoga.pk]), {**slot, "step": "confirm"})
    assert confirm.status_code == 200
    assert confirm.context["payment_notes"] == []
    assert "Paying with a ticket" not in _body(confirm)


def test_booking_with_a_ticket_offers_each_usable_ticket_and_cancelling_gives_the_use_back(
    client, member, yoga
):
    # given two usable tickets for the lesson, the later-bought one expiring first, and one for another item
    ReservationSettingsFactory()
    later = issue_ticket(member, TicketTypeFactory(name="ヨガ10回券", uses=10, items=[yoga]))
    sooner = issue_ticket(
        member,
        TicketTypeFactory(name="体験チケット", uses=1, validity_days=14, items=[yoga]),
        valid_from=date(2027, 6, 1),
    )
    issue_ticket(member, TicketTypeFactory(name="別の券", items=[ItemFactory()]))
    url = reverse("site:book", args=[yoga.pk])
    slot = {"date": MON.isoformat(), "start_time": "10:00", "end_time": "11:00", "quantity": 1}
    # when the member asks for the price
    confirm = client.post(url, {**slot, "step": "confirm"})
    # then both tickets are offered as "ticket:<id>", the one expiring first first, with what is left
    choices = confirm.context["payment_form"].fields["payment_method"].choices
    ticket_choices = [(value, label) for value, label in choices if value.startswith("ticket:")]
    assert [value for value, _label in ticket_choices] == [f"ticket:{sooner.pk}", f"ticket:{later.pk}"]
    body = _body(confirm)
    assert body.index("体験チケット") < body.index("ヨガ10回券")
    assert "1 of 1 uses left" in body
    assert "10 of 10 uses left" in body
    assert "06/14/2027" in body
    assert "別の券" not in body
    # and the page says a ticket costs no money (the price shown is what the other methods cost)
    assert "Paying with a ticket uses one of its uses per place booked; nothing is charged." in body
    # when they book with the punch card (not the first offered)
    done = client.post(url, {**slot, "step": "book", "payment_method": f"ticket:{later.pk}"})
    # then the reservation is confirmed and one use of that ticket is taken
    reservation = Reservation.objects.get(member=member)
    assert done["Location"] == reverse("site:reservation_detail", args=[reservation.pk])
    assert reservation.status == Reservation.Status.CONFIRMED
    assert reservation.payment_method == "ticket"
    later.refresh_from_db()
    sooner.refresh_from_db()
    assert (later.uses_left, sooner.uses_left) == (9, 1)
    assert TicketEntry.objects.get(reservation=reservation, kind="used").ticket == later
    # when they cancel it through the site
    cancelled = client.post(reverse("site:reservation_cancel", args=[reservation.pk]), {"reason": ""})
    # then the use comes back
    assert cancelled.status_code == 302
    reservation.refresh_from_db()
    later.refresh_from_db()
    assert reservation.status == Reservation.Status.CANCELLED
    assert later.uses_left == 10
    assert TicketEntry.objects.filter(reservation=reservation, kind="restored", ticket=later).count() == 1
