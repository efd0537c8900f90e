"""The payments staff admin: product and order lists, the read-only order page, 入金 and cancel through the
services (each confirmed first), and products that orders keep."""

from __future__ import annotations

import itertools
from datetime import date

import pytest
from django.contrib import messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from inventory.models import Reservation
from inventory.services import reservation_create
from inventory.tests.factories import ItemFactory, ReservationSettingsFactory, jst
from members.tests.factories import MemberFactory
from payments import registry
from payments.models import Order, OrderLine, Product
from payments.reservations import order_for_reservation
from payments.services import LineDraft, order_cancel, order_create, order_mark_paid

pytestmark = pytest.mark.django_db

MONDAY = date(2027, 6, 7)
NOW = jst(date(2027, 6, 1), "09:00")


class RecordingFulfiller:
    """Stands where tickets/plans register theirs for product lines (registry interface, not a fake of
    our code under test)."""

    def __init__(self):
        self.fulfilled: list[int] = []
        self.undone: list[int] = []

    def fulfil(self, *, line, now):
        self.fulfilled.append(line.pk)

    def undo(self, *, line, now, by):
        self.undone.append(line.pk)


@pytest.fixture
def product_fulfiller(monkeypatch):
    fulfiller = RecordingFulfiller()
    monkeypatch.setitem(registry._fulfillers, OrderLine.Kind.PRODUCT, fulfiller)
    return fulfiller


@pytest.fixture
def frozen(time_machine):
    time_machine.move_to(NOW, tick=False)


@pytest.fixture
def card_booking(settings, frozen):
    settings.PAYMENTS_CARD_CHECKOUT = True
    ReservationSettingsFactory(tentative_hold_minutes=20)
    item = ItemFactory(name="キャンプテント", units=[(60, 1000)], stock=1)
    return reservation_create(
        member=(booker := MemberFactory()),
        by=booker,
        item=item,
        starts_at=jst(MONDAY, "10:00"),
        ends_at=jst(MONDAY, "11:00"),
        payment_method="card",
        now=NOW,
    )


_skus = itertools.count(1000)


def make_product(n: int | None = None, **fields) -> Product:
    n = next(_skus) if n is None else n
    return Product.objects.create(
        **{"sku": f"P-{n:03}", "name": f"回数券 {n}", "price_yen": 10000 + n, **fields}
    )


def product_order(member=None, product=None, method=Order.Method.COUNTER, quantity=1) -> Order:
    product = product or make_product()
    return order_create(
        by=None,
        system="tests",
        member=member or MemberFactory(),
        lines=[
            LineDraft(
                kind=OrderLine.Kind.PRODUCT,
                description=product.name,
                unit_price_yen=product.price_yen,
                quantity=quantity,
                product=product,
            )
        ],
        payment_method=method,
    )


def queries_for(client, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200
    return len(captured)


def texts(response) -> list[tuple[int, str]]:
    return [(message.level, str(message)) for message in get_messages(response.wsgi_request)]


CHANGELIST = reverse("admin:payments_order_changelist")


def act(client, action: str, orders, *, confirm: bool, **answers):
    data = {"action": action, ACTION_CHECKBOX_NAME: [str(order.pk) for order in orders], **answers}
    if confirm:
        data["confirm"] = "yes"
    return client.post(CHANGELIST, data)


# --- list pages: query counts do not grow with the rows -----------------------------------------------


def test_product_changelist_keeps_its_query_count_from_1_to_100_rows(admin_client):
    # given one product and a warmed-up page
    make_product(0)
    url = reverse("admin:payments_product_changelist")
    admin_client.get(url)
    one = queries_for(admin_client, url)
    # when there are 100
    for n in range(1, 100):
        make_product(n, kind=Product.Kind.MONTHLY if n % 2 else Product.Kind.ONE_TIME)
    response = admin_client.get(url)
    # then all are listed, prices in yen, with the same number of queries
    assert response.context["cl"].result_count == 100
    assert "¥10,099" in response.content.decode()
    assert queries_for(admin_client, url) == one


def test_order_changelist_keeps_its_query_count_from_1_to_100_rows(admin_client):
    product = make_product()
    product_order(product=product)
    admin_client.get(CHANGELIST)
    one = queries_for(admin_client, CHANGELIST)

    for n in range(99):
        product_order(product=product, method=Order.Method.CARD if n % 2 else Order.Method.COUNTER)
    response = admin_client.get(CHANGELIST)

    assert response.context["cl"].result_count == 100
    assert queries_for(admin_client, CHANGELIST) == one
    # and filtered, searched and drilled down by date
    assert admin_client.get(CHANGELIST + "?status=pending&payment_method=card&q=example").status_code == 200
    assert admin_client.get(CHANGELIST, {"created_at__year": timezone.localdate().year}).status_code == 200


def test_orders_are_found_by_member_email_name_or_number(admin_client):
    alice = MemberFactory(email="alice@example.com", name="山田 花子")
    mine, other = product_order(member=alice), product_order()

    def found(term):
        return set(admin_client.get(CHANGELIST, {"q": term}).context["cl"].result_list)

    assert found("alice@") == {mine}
    assert found("花子") == {mine}
    assert found(f"#{other.pk}") == {other}
    assert found(str(other.pk)) == {other}


# --- the order page is read-only and shows every amount of the pipeline -------------------------------


def test_order_page_is_read_only_with_its_lines_and_every_amount(admin_client):
    # given a card order with a 10 % member discount
    product = make_product(price_yen=3000)
    order = product_order(
        member=MemberFactory(member_discount_pct=10), product=product, method=Order.Method.CARD, quantity=2
    )
    # when staff open it
    response = admin_client.get(reverse("admin:payments_order_change", args=[order.pk]))
    body = response.content.decode()
    # then nothing can be saved, the line is shown, and each step of the price has its own row
    assert response.status_code == 200
    assert response.context["has_change_permission"] is False
    assert 'name="_save"' not in body
    assert product.name in body
    assert "¥6,000" in body  # subtotal and line amount
    assert "−¥600" in body  # member discount
    assert "¥5,400" in body  # total
    for field in ("price_rule_discount_display", "coupon_discount_display", "points_used_display"):
        assert f"field-{field}" in body
    # and the page offers 入金 and cancel, each leading to a question first
    labels = [label for label, _url in response.context["operations"]]
    assert len(labels) == 2
    assert admin_client.get(reverse("admin:payments_order_add")).status_code == 403
    assert (
        admin_client.post(
            reverse("admin:payments_order_delete", args=[order.pk]), {"post": "yes"}
        ).status_code
        == 403
    )
    assert Order.objects.filter(pk=order.pk).exists()


# --- 入金 (mark paid) ---------------------------------------------------------------------------------


def test_mark_paid_asks_first_then_confirms_the_tentative_card_reservation(card_booking, admin_client):
    # given a tentative card booking whose member paid at the counter instead
    order = order_for_reservation(card_booking)
    assert card_booking.status == Reservation.Status.TENTATIVE
    # when staff choose the action: a question, nothing changed yet
    asked = act(admin_client, "mark_paid_selected", [order], confirm=False)
    assert asked.status_code == 200
    assert "admin/payments/order/confirm_operation.html" in [t.name for t in asked.templates]
    assert f"#{order.pk}" in asked.content.decode()
    order.refresh_from_db()
    assert order.status == Order.Status.PENDING
    # when they answer yes
    answered = act(admin_client, "mark_paid_selected", [order], confirm=True, how="cash")
    # then the order is paid through the service, which confirmed the reservation
    assert answered.status_code == 302
    order.refresh_from_db()
    card_booking.refresh_from_db()
    assert order.status == Order.Status.PAID
    assert order.paid_at == NOW
    assert card_booking.status == Reservation.Status.CONFIRMED
    assert order.lines.get().fulfilled_at == NOW
    assert [level for level, _text in texts(answered)] == [messages.SUCCESS]


def test_mark_paid_from_the_order_page_asks_on_get_and_acts_on_post(admin_client, product_fulfiller):
    order = product_order()
    url = reverse("admin:payments_order_operate", args=[order.pk, "mark_paid"])
    # a link (GET) only asks
    assert admin_client.get(url).status_code == 200
    order.refresh_from_db()
    assert order.status == Order.Status.PENDING
    # the answer pays it and fulfils its line
    response = admin_client.post(url, {"confirm": "yes", "how": "cash"})
    assert response["Location"] == reverse("admin:payments_order_change", args=[order.pk])
    order.refresh_from_db()
    assert order.status == Order.Status.PAID
    assert product_fulfiller.fulfilled == [order.lines.get().pk]


def test_mark_paid_reports_each_order_it_could_not_change(admin_client, product_fulfiller):
    # given a pending, an already paid and a cancelled order
    pending, paid, cancelled = product_order(), product_order(), product_order()
    order_mark_paid(order=paid)
    order_cancel(order=cancelled)
    # when staff mark all three as paid
    response = act(admin_client, "mark_paid_selected", [pending, paid, cancelled], confirm=True, how="cash")
    # then the pending one is paid, and the other two are named in their own messages
    statuses = dict(Order.objects.values_list("pk", "status"))
    assert statuses == {
        pending.pk: Order.Status.PAID,
        paid.pk: Order.Status.PAID,
        cancelled.pk: Order.Status.CANCELLED,
    }
    reported = texts(response)
    assert any(level == messages.ERROR and f"#{cancelled.pk}" in text for level, text in reported)
    assert any(level == messages.INFO and f"#{paid.pk}" in text for level, text in reported)
    assert sum(level == messages.SUCCESS for level, _text in reported) == 1
    assert len(product_fulfiller.fulfilled) == 2  # the already paid one was not fulfilled twice


# --- cancel -------------------------------------------------------------------------------------------


def test_cancel_asks_first_then_cancels_the_order_and_its_reservation(card_booking, admin_client, admin_user):
    order = order_for_reservation(card_booking)
    asked = act(admin_client, "cancel_selected", [order], confirm=False)
    assert asked.status_code == 200
    order.refresh_from_db()
    assert order.status == Order.Status.PENDING

    act(admin_client, "cancel_selected", [order], confirm=True)

    order.refresh_from_db()
    card_booking.refresh_from_db()
    assert order.status == Order.Status.CANCELLED
    assert order.cancelled_at == NOW
    assert card_booking.status == Reservation.Status.CANCELLED
    assert card_booking.cancelled_by == admin_user


def test_cancel_from_the_order_page_and_a_cancelled_order_offers_nothing(admin_client, product_fulfiller):
    order = product_order()
    url = reverse("admin:payments_order_operate", args=[order.pk, "cancel"])
    admin_client.post(url, {"confirm": "yes"})
    order.refresh_from_db()
    assert order.status == Order.Status.CANCELLED
    assert product_fulfiller.undone == [order.lines.get().pk]
    page = admin_client.get(reverse("admin:payments_order_change", args=[order.pk]))
    assert page.context["operations"] == []


def test_staff_without_change_permission_cannot_operate(client, product_fulfiller):
    from django.contrib.auth.models import Permission

    staff = MemberFactory(is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="view_order"))
    client.force_login(staff)
    order = product_order()
    page = client.get(reverse("admin:payments_order_change", args=[order.pk]))
    assert page.status_code == 200
    assert "operations" not in page.context or not page.context["operations"]
    url = reverse("admin:payments_order_operate", args=[order.pk, "mark_paid"])
    assert client.post(url, {"confirm": "yes"}).status_code == 403
    order.refresh_from_db()
    assert order.status == Order.Status.PENDING


# --- products -----------------------------------------------------------------------------------------


def test_a_product_on_an_order_cannot_be_deleted_and_staff_are_told_why(admin_client):
    product = make_product(name="10回券")
    order = product_order(product=product)
    url = reverse("admin:payments_product_delete", args=[product.pk])

    page = admin_client.get(url)
    body = page.content.decode()
    assert f"#{order.pk}" in body
    assert "10回券" in body
    admin_client.post(url, {"post": "yes"})
    assert Product.objects.filter(pk=product.pk).exists()

    # and from the list's bulk delete too
    bulk = admin_client.post(
        reverse("admin:payments_product_changelist"),
        {"action": "delete_selected", ACTION_CHECKBOX_NAME: [str(product.pk)], "post": "yes"},
    )
    assert bulk.status_code == 200
    assert Product.objects.filter(pk=product.pk).exists()


def test_an_unused_product_can_be_deleted(admin_client):
    product = make_product()
    admin_client.post(reverse("admin:payments_product_delete", args=[product.pk]), {"post": "yes"})
    assert not Product.objects.filter(pk=product.pk).exists()
