"""The demo tickets `make run` loads (tickets/demo.py, run by `manage.py load_demo_data`)."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from inventory.demo import LESSON_CODE
from inventory.models import Reservation
from members.demo import MEMBER_EMAIL
from payments.models import Order, Product
from tickets import demo, selectors
from tickets.models import MemberTicket, TicketEntry, TicketType

pytestmark = pytest.mark.django_db


def _counts() -> dict[str, int]:
    return {
        model._meta.label: model.objects.count()
        for model in (Product, TicketType, MemberTicket, TicketEntry, Order, Reservation)
    }


def test_the_demo_has_a_punch_card_and_two_trials_for_the_yoga_lesson(capsys):
    # when
    call_command("load_demo_data")
    # then the three kinds of ticket, each on its own one-time product, usable for the yoga lesson
    kinds = {kind.product.sku: kind for kind in TicketType.objects.select_related("product")}
    punch_card = kinds[demo.PUNCH_CARD_SKU]
    paid_trial = kinds[demo.PAID_TRIAL_SKU]
    free_trial = kinds[demo.FREE_TRIAL_SKU]
    assert (punch_card.name, punch_card.kind, punch_card.uses, punch_card.validity_days) == (
        "ヨガ10回券",
        TicketType.Kind.PUNCH_CARD,
        10,
        90,
    )
    assert punch_card.product.price_yen == 30000
    assert (paid_trial.kind, paid_trial.uses, paid_trial.max_purchases_per_member) == ("paid_trial", 1, 1)
    assert (paid_trial.product.price_yen, paid_trial.validity_days) == (1000, 14)
    assert (free_trial.kind, free_trial.uses, free_trial.max_purchases_per_member) == ("free_trial", 1, 1)
    assert free_trial.product.price_yen == 0
    for kind in (punch_card, paid_trial, free_trial):
        kind.full_clean()  # every rule of the ticket form holds
        assert kind.is_visible
        assert list(kind.items.values_list("code", flat=True)) == [LESSON_CODE]
    assert "ヨガ10回券" in capsys.readouterr().out


def test_the_demo_member_bought_the_punch_card_and_took_the_free_trial():
    call_command("load_demo_data")
    tickets = {
        ticket.ticket_type.product.sku: ticket
        for ticket in MemberTicket.objects.filter(member__email=MEMBER_EMAIL).select_related(
            "ticket_type__product", "order_line__order"
        )
    }
    assert set(tickets) == {demo.PUNCH_CARD_SKU, demo.FREE_TRIAL_SKU}
    # the punch card was bought by card and paid
    punch_card = tickets[demo.PUNCH_CARD_SKU]
    order = punch_card.order_line.order
    assert (punch_card.source, order.status, order.payment_method) == ("purchase", "paid", "card")
    assert (punch_card.uses_total, punch_card.uses_left) == (10, 10)
    assert list(punch_card.entries.values_list("kind", "delta")) == [("issued", 10)]
    # the free trial came with a free order, paid at once
    free_trial = tickets[demo.FREE_TRIAL_SKU]
    assert (free_trial.order_line.order.payment_method, free_trial.order_line.order.status) == (
        "free",
        "paid",
    )
    assert free_trial.uses_left == 1
    # and every cached balance agrees with its ledger
    assert selectors.ledger_differences() == []


def test_loading_the_demo_twice_creates_nothing_new():
    call_command("load_demo_data")
    first = _counts()
    call_command("load_demo_data")
    assert _counts() == first
    assert first["tickets.TicketType"] == 3


def test_a_staff_edit_to_a_demo_ticket_survives_the_next_load():
    call_command("load_demo_data")
    kind = TicketType.objects.get(product__sku=demo.PUNCH_CARD_SKU)
    kind.name = "ヨガ10回券(春割)"
    kind.save()
    call_command("load_demo_data")
    kind.refresh_from_db()
    assert kind.name == "ヨガ10回券(春割)"


def test_the_demo_lesson_costs_2500_yen_so_a_ticket_is_the_members_other_way_to_pay():
    from datetime import timedelta

    from django.utils import timezone

    from inventory import payment_methods
    from inventory.models import Item
    from members.models import Member

    # given
    call_command("load_demo_data")
    lesson = Item.objects.get(code=LESSON_CODE)
    member = Member.objects.get(email=MEMBER_EMAIL)
    starts_at = timezone.now() + timedelta(days=2)

    # then: priced, so "free" is not offered; the card pays, or one of the member's yoga tickets
    assert list(lesson.price_units.values_list("minutes", "price_yen")) == [(60, 2500)]
    assert Reservation.objects.get(member=member, item=lesson).price_yen == 2500
    assert not payment_methods.get("free").is_available(item=lesson, member=member, price_yen=2500)
    choices = payment_methods.get("ticket").choices(item=lesson, member=member, starts_at=starts_at)
    names = [label for _key, label in choices]
    assert len(names) == 2
    assert any("ヨガ10回券" in name for name in names)
