"""Defect 6 (issue 10): a ticket's rules hold from the product's side too. Editing the product a free trial
sells (price 0 → 500, or one-time → monthly) used to be accepted; now the product admin form, the product
service and any import (all through Product.clean) refuse it, and a product no ticket sells edits freely."""

from __future__ import annotations

import threading
import time

import pytest
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.forms.models import model_to_dict
from django.urls import reverse
from django.utils import translation

from core.models import AuditEntry
from payments.models import Product
from payments.products import product_save
from tickets.models import TicketType
from tickets.services import ticket_type_save
from tickets.tests.factories import ProductFactory, TicketTypeFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(admin_client, admin_user):
    admin_client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    return admin_client


def form_data(product: Product, **changes) -> dict:
    data = {key: value for key, value in model_to_dict(product).items() if value is not None}
    data.pop("id", None)
    data.update(changes)
    return {key: value for key, value in data.items() if value is not False}


def post_product(client, product: Product, **changes):
    url = reverse("admin:payments_product_change", args=[product.pk])
    return client.post(url, form_data(product, **changes))


def test_free_trial_product_price_edited_to_500_in_the_admin_is_a_price_error_and_nothing_is_saved(staff):
    # given a free trial selling a 0-yen product
    trial = TicketTypeFactory(free_trial=True, name="無料体験")
    # when staff change the product's price to 500
    response = post_product(staff, trial.product, price_yen=500)
    # then the form shows the error on the price, naming the ticket, and the product is unchanged
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert list(errors) == ["price_yen"]
    assert "The ticket “無料体験” sells this product." in errors["price_yen"][0]
    assert "A free trial ticket needs a product that costs 0 yen." in errors["price_yen"][0]
    trial.product.refresh_from_db()
    assert trial.product.price_yen == 0
    assert not AuditEntry.objects.filter(action__startswith="product.").exists()


def test_free_trial_product_made_monthly_in_the_admin_is_refused(staff):
    trial = TicketTypeFactory(free_trial=True)
    response = post_product(staff, trial.product, kind=Product.Kind.MONTHLY)
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert "Only a one-time product can be sold as a ticket" in errors["kind"][0]
    trial.product.refresh_from_db()
    assert trial.product.kind == Product.Kind.ONE_TIME


@pytest.mark.parametrize(
    ("trait", "changes", "field"),
    [
        ("free_trial", {"price_yen": 500}, "price_yen"),
        ("free_trial", {"kind": Product.Kind.MONTHLY}, "kind"),
        ("paid_trial", {"price_yen": 0}, "price_yen"),
        ("punch_card", {"kind": Product.Kind.MONTHLY}, "kind"),
    ],
)
def test_the_product_service_refuses_what_the_ticket_forbids(admin_user, trait, changes, field):
    # given a ticket of the kind, and its product edited against its rule
    ticket_type = TicketTypeFactory(**({trait: True} if trait != "punch_card" else {}))
    product = Product.objects.get(pk=ticket_type.product_id)
    before = model_to_dict(product)
    for name, value in changes.items():
        setattr(product, name, value)
    # when
    with pytest.raises(ValidationError) as refused:
        product_save(product=product, by=admin_user)
    # then the error is on the product's field and nothing is stored or recorded
    assert list(refused.value.error_dict) == [field]
    assert model_to_dict(Product.objects.get(pk=product.pk)) == before
    assert not AuditEntry.objects.filter(action__startswith="product.").exists()


def test_paid_trial_product_price_edited_to_0_in_the_admin_is_refused(staff):
    trial = TicketTypeFactory(paid_trial=True)
    response = post_product(staff, trial.product, price_yen=0)
    errors = response.context["adminform"].form.errors
    assert "A paid trial ticket needs a product that costs more than 0 yen." in errors["price_yen"][0]
    trial.product.refresh_from_db()
    assert trial.product.price_yen == 1000


def test_a_product_no_ticket_sells_edits_fine_and_the_save_is_recorded(staff, admin_user):
    # given a free trial (0 yen) and a product no ticket sells
    TicketTypeFactory(free_trial=True)
    product = ProductFactory(price_yen=0, name="入会金")
    # when staff make it a 500-yen monthly product
    response = post_product(staff, product, price_yen=500, kind=Product.Kind.MONTHLY)
    # then it is saved, with who changed what
    assert response.status_code == 302, response.context["adminform"].form.errors
    product.refresh_from_db()
    assert (product.price_yen, product.kind) == (500, Product.Kind.MONTHLY)
    entry = AuditEntry.objects.get(action="product.changed")
    assert entry.actor == admin_user
    assert entry.payload["changes"] == {"kind": ["one_time", "monthly"], "price_yen": [0, 500]}


def test_a_free_trial_product_can_still_be_renamed(admin_user):
    trial = TicketTypeFactory(free_trial=True)
    product = Product.objects.get(pk=trial.product_id)
    product.name = "無料体験(新)"
    product_save(product=product, by=admin_user)
    assert Product.objects.get(pk=product.pk).name == "無料体験(新)"


def test_the_ticket_side_keeps_its_messages_on_its_product_field():
    # the rules moved into TicketType.product_rule_error; the ticket form still reports them on "product"
    ticket_type = TicketTypeFactory.build(
        kind=TicketType.Kind.FREE_TRIAL, product=ProductFactory(price_yen=500), display_order=1
    )
    with translation.override("en"):
        errors = ticket_type.rule_errors(stored_product_id=None, product_holder_id=None)
        assert errors == {"product": "A free trial ticket needs a product that costs 0 yen."}


@pytest.mark.django_db(transaction=True)
def test_a_product_priced_while_a_free_trial_takes_it_is_refused_after_the_trial_commits():
    # given a 0-yen product, and staff A saving a free trial with it (committing a moment later)
    product = ProductFactory(price_yen=0)
    trial = TicketTypeFactory.build(free_trial=True, product=product)
    saved, outcomes = threading.Event(), []

    def staff_a_saves_the_trial():
        try:
            with transaction.atomic():
                ticket_type_save(ticket_type=trial, by=None, system="tests")
                saved.set()
                time.sleep(0.5)  # still uncommitted while staff B edits the product
        finally:
            connection.close()

    def staff_b_prices_the_product():
        try:
            saved.wait(10)
            edited = Product.objects.get(pk=product.pk)
            edited.price_yen = 500
            product_save(product=edited, by=None, system="tests")
            outcomes.append("priced")
        except ValidationError as error:
            outcomes.append(sorted(error.message_dict))
        finally:
            connection.close()

    # when both run at once
    threads = [
        threading.Thread(target=staff_a_saves_the_trial),
        threading.Thread(target=staff_b_prices_the_product),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    # then B waited for A's commit and was refused: the free trial's product still costs 0 yen
    assert outcomes == [["price_yen"]]
    assert Product.objects.get(pk=product.pk).price_yen == 0
