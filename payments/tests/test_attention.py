"""Money staff still have to act on is never silent: a refund Stripe refuses flags the order 要返金, and the
admin home lists what is waiting (要返金, unpaid counter orders of past bookings) for staff who may act."""

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse
from django.utils import translation

from core.models import AuditEntry
from inventory.services import reservation_cancel
from members.tests.factories import MemberFactory
from payments.models import Order, Refund
from payments.services import refund_execute, refund_request
from payments.tests.money import LATER, paid_card_booking, set_refund_policy
from payments.tests.test_webhooks import SECRET

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def webhook_secret(settings):
    settings.STRIPE_WEBHOOK_SECRET = SECRET


def test_a_refund_stripe_refuses_flags_the_order_for_staff(stripe_api):
    # given a paid 2,000-yen card order of which 1,000 yen was refunded in the dashboard (no webhook yet)
    _member, _reservation, order = paid_card_booking(stripe_api)
    stripe_api.refund_in_dashboard("pi_paid", 1000)
    staff = MemberFactory(is_staff=True)
    # when staff refund 1,500 yen: Stripe refuses (more than is left there)
    refund = refund_request(order=order, amount_yen=1500, reason="一部返金", by=staff, now=LATER)
    refund = refund_execute(refund=refund, by=staff, now=LATER)
    # then our refund failed, the dashboard's is recorded, and the order waits for staff (要返金)
    assert refund.state == Refund.State.FAILED
    assert Refund.objects.get(state=Refund.State.EXTERNAL).amount_yen == 1000
    order.refresh_from_db()
    assert (order.refund_needed, order.refunded_yen) == (True, 1000)
    assert AuditEntry.objects.filter(action="order.refund_needed", object_id=str(order.pk)).exists()


def test_the_admin_home_lists_refunds_to_decide_for_staff_who_may_act(stripe_api, client):
    # given a member's cancel under the "staff decide" policy
    member, reservation, order = paid_card_booking(stripe_api)
    set_refund_policy("staff")
    reservation_cancel(reservation=reservation, by=member, as_staff=False, now=LATER)
    # when staff who may change orders open the admin home
    staff = MemberFactory(is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="change_order"))
    client.force_login(staff)
    with translation.override("en"):
        home = client.get(reverse("admin:index"))
    # then it lists one refund to decide, linking to the filtered order list
    [waiting] = home.context["waiting"]
    assert waiting.count == 1
    assert waiting.url == reverse("admin:payments_order_changelist") + "?refund_needed__exact=1"
    listed = client.get(waiting.url)
    assert [row.pk for row in listed.context["cl"].result_list] == [order.pk]


def test_staff_without_the_permission_or_with_nothing_waiting_see_no_items(stripe_api, client):
    # given an order flagged 要返金
    _member, _reservation, order = paid_card_booking(stripe_api)
    Order.objects.filter(pk=order.pk).update(refund_needed=True)
    # when staff who may not change orders open the admin home, then nothing is listed
    client.force_login(MemberFactory(is_staff=True))
    assert client.get(reverse("admin:index")).context["waiting"] == []
    # and with nothing waiting, a staff member who may act reads that nothing is
    Order.objects.filter(pk=order.pk).update(refund_needed=False)
    client.force_login(MemberFactory(is_staff=True, is_superuser=True))
    page = client.get(reverse("admin:index"))
    assert page.context["waiting"] == []
    assert 'class="attention-none"' in page.content.decode()
