"""Staff screens of tickets: the ticket list (seed 000's columns), the ticket form's rules, and the
member-ticket pages whose changes all go through services with a reason."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import translation

from members.tests.factories import MemberFactory
from tickets.models import MemberTicket, TicketEntry, TicketType
from tickets.tests.helpers import give, lesson, product, ticket_type

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def english(client):
    with translation.override("en"):
        yield


def queries_for(client, url) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured)


def form_data(**overrides) -> dict:
    data = {
        "is_visible": "on",
        "name": "ヨガ10回券",
        "kind": TicketType.Kind.PUNCH_CARD,
        "product": "",
        "uses": "10",
        "validity_days": "90",
        "display_order": "1",
        "max_concurrent": "0",
        "max_concurrent_per_day": "0",
        "max_purchases_per_member": "0",
    }
    data.update(overrides)
    return data


def test_the_list_shows_the_seed_columns_in_order(admin_client):
    ticket_type(name="ヨガ10回券", uses=10, validity_days=90)
    content = admin_client.get(reverse("admin:tickets_tickettype_changelist")).content.decode()
    columns = ["id", "is_visible", "name", "kind", "enrollment_fee", "uses", "usage_limit"]
    positions = [
        content.index(f'class="sortable column-{name}')
        if f'class="sortable column-{name}' in content
        else content.index(f'class="column-{name}')
        for name in columns
    ]
    assert positions == sorted(positions)
    assert "ヨガ10回券" in content


def test_the_list_keeps_its_query_count_from_1_to_50_rows(admin_client):
    ticket_type(items=[lesson()])
    url = reverse("admin:tickets_tickettype_changelist")
    one = queries_for(admin_client, url)
    for n in range(49):
        ticket_type(name=f"回数券 {n}")
    assert queries_for(admin_client, url) == one


def test_creating_a_ticket_type_through_the_form(admin_client):
    item = lesson()
    made = product(price_yen=30000)
    response = admin_client.post(
        reverse("admin:tickets_tickettype_add"), form_data(product=made.pk, items=[item.pk])
    )
    assert response.status_code == 302
    kind = TicketType.objects.get()
    assert (kind.name, kind.product, list(kind.items.all())) == ("ヨガ10回券", made, [item])


def test_a_free_trial_with_a_priced_product_is_refused_next_to_the_field(admin_client):
    made = product(price_yen=1000)
    response = admin_client.post(
        reverse("admin:tickets_tickettype_add"), form_data(kind=TicketType.Kind.FREE_TRIAL, product=made.pk)
    )
    assert response.status_code == 200
    # the admin speaks the shop's language: "A free trial ticket needs a product that costs 0 yen."
    assert response.context["adminform"].form.errors["product"] == [
        "体験チケット(無料)には0円の商品を設定してください。"
    ]
    assert not TicketType.objects.exists()


def test_display_order_0_is_refused(admin_client):
    response = admin_client.post(reverse("admin:tickets_tickettype_add"), form_data(display_order="0"))
    assert "display_order" in response.context["adminform"].form.errors
    assert not TicketType.objects.exists()


def test_the_product_is_read_only_once_set(admin_client):
    kind = ticket_type()
    first = kind.product
    url = reverse("admin:tickets_tickettype_change", args=[kind.pk])
    response = admin_client.get(url)
    assert 'name="product"' not in response.content.decode()
    # a forged POST with another product changes nothing
    admin_client.post(url, form_data(product=product().pk, name="改名"))
    kind.refresh_from_db()
    assert (kind.product, kind.name) == (first, "改名")


def test_the_product_choices_are_unused_one_time_products(admin_client):
    taken = ticket_type().product
    free = product()
    from payments.models import Product

    monthly = product(kind=Product.Kind.MONTHLY)
    response = admin_client.get(reverse("admin:tickets_tickettype_add"))
    choices = {choice.pk for choice in response.context["adminform"].form.fields["product"].queryset}
    assert free.pk in choices
    assert taken.pk not in choices
    assert monthly.pk not in choices


def test_hand_out_needs_a_reason_and_records_it(admin_client):
    member = MemberFactory()
    kind = ticket_type(uses=3)
    url = reverse("admin:tickets_memberticket_hand_out")
    # without a reason nothing is handed out
    response = admin_client.post(url, {"member": member.pk, "ticket_type": kind.pk, "reason": ""})
    assert response.status_code == 200
    assert "reason" in response.context["form"].errors
    assert not MemberTicket.objects.exists()
    # with one, the ticket and its ledger entry exist
    response = admin_client.post(
        url, {"member": member.pk, "ticket_type": kind.pk, "uses": "2", "reason": "お詫び"}
    )
    ticket = MemberTicket.objects.get()
    assert response.status_code == 302
    assert (ticket.member, ticket.uses_left, ticket.source) == (member, 2, MemberTicket.Source.MANUAL)
    assert ticket.entries.get().reason == "お詫び"


def test_adjust_and_revoke_from_the_ticket_page(admin_client):
    ticket = give(MemberFactory(), ticket_type(uses=3))
    page = admin_client.get(reverse("admin:tickets_memberticket_change", args=[ticket.pk])).content.decode()
    assert reverse("admin:tickets_memberticket_adjust", args=[ticket.pk]) in page
    # taking away more than is left is refused next to the field
    response = admin_client.post(
        reverse("admin:tickets_memberticket_adjust", args=[ticket.pk]), {"delta": "-4", "reason": "訂正"}
    )
    assert "delta" in response.context["form"].errors
    admin_client.post(
        reverse("admin:tickets_memberticket_adjust", args=[ticket.pk]), {"delta": "2", "reason": "補填"}
    )
    ticket.refresh_from_db()
    assert ticket.uses_left == 5
    admin_client.post(reverse("admin:tickets_memberticket_revoke", args=[ticket.pk]), {"reason": "不正利用"})
    ticket.refresh_from_db()
    assert (ticket.status, ticket.uses_left) == ("revoked", 0)
    kinds = list(ticket.entries.values_list("kind", flat=True))
    assert kinds == [TicketEntry.Kind.ISSUED, TicketEntry.Kind.MANUAL, TicketEntry.Kind.REVOKED]


def test_member_tickets_cannot_be_edited_or_deleted_directly(admin_client):
    ticket = give(MemberFactory(), ticket_type())
    response = admin_client.post(
        reverse("admin:tickets_memberticket_change", args=[ticket.pk]), {"uses_left": "99"}
    )
    assert response.status_code == 403
    assert admin_client.get(reverse("admin:tickets_memberticket_delete", args=[ticket.pk])).status_code == 403
    ticket.refresh_from_db()
    assert ticket.uses_left == 5


def test_member_ticket_list_keeps_its_query_count(admin_client):
    kind = ticket_type()
    give(MemberFactory(), kind)
    url = reverse("admin:tickets_memberticket_changelist")
    one = queries_for(admin_client, url)
    for _ in range(30):
        give(MemberFactory(), kind)
    assert queries_for(admin_client, url) == one


def test_staff_without_permission_cannot_hand_out(client):
    staff = MemberFactory(is_staff=True)
    client.force_login(staff)
    response = client.get(reverse("admin:tickets_memberticket_hand_out"))
    assert response.status_code == 403
