import pytest
from django.core import mail

from members.tests.factories import MemberFactory
from payments.models import Order, OrderLine, Product
from payments.services import LineDraft, order_create, order_mark_paid


@pytest.mark.django_db(transaction=True)
def test_the_purchase_mail_is_sent_by_the_worker_when_the_order_is_paid(celery_worker):
    # given a pending counter order for a 10-use punch card
    member = MemberFactory(email="buyer@example.com", name="購入 花子")
    product = Product.objects.create(sku="TICKET-10", name="回数券10回", price_yen=15000)
    order = order_create(
        by=None,
        system="tests",
        member=member,
        lines=[
            LineDraft(
                kind=OrderLine.Kind.PRODUCT, description=product.name, unit_price_yen=15000, product=product
            )
        ],
        payment_method=Order.Method.COUNTER,
    )
    # when staff record the counter payment
    order_mark_paid(order=order)
    # then the worker mails the member the lines and the total
    message = celery_worker.wait_for("buyer@example.com", body_contains="回数券10回")
    body = celery_worker.body(message)
    assert "¥15,000" in body
    assert str(order.pk) in body
    assert mail.outbox == []
