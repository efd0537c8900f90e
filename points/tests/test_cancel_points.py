"""Taking purchase points back when an order is undone (SPEC §8, seed 004 注文キャンセル時のご注意): never
below 0 — the cancel stops with how many points are missing, unless staff cancel without taking them back
or deduct them from the refund; a Stripe dashboard refund takes what it can and flags the rest. The
preview a page shows is what then happens. A partial refund leaves the points as they were."""

from __future__ import annotations

from datetime import date

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth.models import Permission
from django.test import Client
from django.utils import translation

from core.attention import waiting_for
from core.models import AuditEntry
from inventory.tests.factories import jst
from members.tests.factories import MemberFactory
from payments import registry, undo
from payments.models import Order, OrderLine, Product
from payments.services import LineDraft, order_cancel, order_create, order_mark_paid, order_refund
from payments.tests.money import charge_refunded, paid_card_booking
from payments.tests.test_webhooks import SECRET, post, sign
from points.exceptions import NotEnoughPointsError
from points.models import PointEntry, PointSettings, PointShortfall
from points.selectors import balance_of
from points.services import points_grant, points_use

pytestmark = pytest.mark.django_db
Kind = PointEntry.Kind
NOW = jst(date(2027, 6, 1), "09:00")
LATER = jst(date(2027, 6, 2), "09:00")


@pytest.fixture(autouse=True)
def _english():
    with translation.override("en"):
        yield


@pytest.fixture(autouse=True)
def webhook_secret(settings):
    settings.STRIPE_WEBHOOK_SECRET = SECRET


def base_rate(pct: int) -> None:
    row = PointSettings.current()
    row.base_rate_percent = pct
    row.save()


def paid_order(member, *, price: int = 2000, points_used: int = 0) -> Order:
    """A counter order of one product, paid (the grant happens then)."""
    sku = f"P{price}-{Product.objects.count()}"
    product = Product.objects.create(sku=sku, name="回数券", price_yen=price)
    line = LineDraft(kind=OrderLine.Kind.PRODUCT, description="回数券", unit_price_yen=price, product=product)
    order = order_create(
        member=member,
        lines=[line],
        payment_method=Order.Method.COUNTER,
        by=member,
        options={"points": points_used} if points_used else None,
        now=NOW,
    )
    return order_mark_paid(order=order, now=NOW, system="test")


def spend(member, points: int) -> None:
    points_use(member=member, amount=points, by=member, now=NOW)


def test_cancelling_takes_the_purchase_points_back_as_the_preview_said():
    # given a 2,000-yen order at 10 %: 200 points granted when paid
    base_rate(10)
    member = MemberFactory()
    order = paid_order(member)
    assert balance_of(member) == 200
    # when staff look at the preview, then cancel
    preview = undo.undo_preview(order=order, now=LATER)
    order_cancel(order=order, by=MemberFactory(is_staff=True), now=LATER)
    # then the 200 points said are taken back
    assert preview.lines == ("200 purchase points earned on this order are taken back.",)
    assert not preview.is_blocked
    [reversal] = PointEntry.objects.filter(order=order, kind=Kind.GRANT_REVERSAL)
    assert reversal.delta == -200
    assert balance_of(member) == 0


def test_the_cancel_stops_with_the_missing_count_when_the_points_were_spent():
    # given the 200 points earned, 150 of them spent on something else
    base_rate(10)
    member = MemberFactory()
    order = paid_order(member)
    spend(member, 150)
    # then the preview says the cancel cannot go ahead, with the count
    preview = undo.undo_preview(order=order, now=LATER)
    assert preview.missing == 150
    assert "150 points are missing" in preview.blocked
    # and cancelling stops with the same message, changing nothing
    with pytest.raises(NotEnoughPointsError, match="150 points are missing"):
        order_cancel(order=order, by=MemberFactory(is_staff=True), now=LATER)
    order.refresh_from_db()
    assert order.status == Order.Status.PAID
    assert balance_of(member) == 50
    assert not PointEntry.objects.filter(order=order, kind=Kind.GRANT_REVERSAL).exists()


def test_the_seeds_example_product_a_cannot_be_cancelled_once_its_100_points_paid_for_product_b():
    # given (seed 004, 注文キャンセル時のご注意) product A ordered with 100 points to come, paid: 100 granted
    base_rate(10)
    member = MemberFactory()
    order_a = paid_order(member, price=1000)
    assert balance_of(member) == 100
    # and those 100 points used to order product B (the balance is 0)
    order_b = paid_order(member, price=500, points_used=100)
    assert order_b.points_used == 100
    assert balance_of(member) == 0 + order_b.points_to_earn  # B's own 40 points
    points_before = balance_of(member)
    # when order A is cancelled, taking its 100 points back would make the balance negative
    with pytest.raises(NotEnoughPointsError, match="points are missing"):
        order_cancel(order=order_a, by=MemberFactory(is_staff=True), now=LATER)
    # then the cancellation stops and nothing changed
    order_a.refresh_from_db()
    assert order_a.status == Order.Status.PAID
    assert balance_of(member) == points_before


def test_staff_may_cancel_without_taking_the_points_back_recorded_as_such():
    base_rate(10)
    member, staff = MemberFactory(), MemberFactory(is_staff=True)
    order = paid_order(member)
    spend(member, 150)
    terms = undo.terms_for(undo.KEEP)
    preview = undo.undo_preview(order=order, now=LATER, terms=terms)
    # when staff cancel keeping the points
    order_cancel(order=order, by=staff, now=LATER, terms=terms)
    # then nothing is taken back, and the ledger and the audit trail say so
    assert not preview.is_blocked
    assert "not taken back" in preview.lines[0]
    assert balance_of(member) == 50
    shortfall = PointShortfall.objects.get(order=order)
    assert (shortfall.resolution, shortfall.points_taken, shortfall.points_missing) == ("kept", 0, 150)
    assert shortfall.created_by == staff
    assert AuditEntry.objects.filter(action="points.take_back_keep", actor=staff).exists()


def test_deducting_takes_what_the_balance_allows_and_the_rest_in_yen():
    base_rate(10)
    member = MemberFactory()
    order = paid_order(member)
    spend(member, 150)
    terms = undo.terms_for(undo.DEDUCT)
    # the preview says how much comes off the refund
    preview = undo.undo_preview(order=order, now=LATER, terms=terms, refund_yen=2000)
    assert preview.deduct_yen == 150
    assert preview.lines[0] == "¥1,850 is refunded (¥2,000 less ¥150 for the points already spent)."
    assert undo.deduct_yen(order=order, now=LATER, terms=terms) == 150
    # when staff cancel, deducting
    order_cancel(order=order, by=MemberFactory(is_staff=True), now=LATER, terms=terms)
    # then the 50 points left are taken back and the 150 missing recorded as deducted
    assert balance_of(member) == 0
    [reversal] = PointEntry.objects.filter(order=order, kind=Kind.GRANT_REVERSAL)
    assert reversal.delta == -50
    shortfall = PointShortfall.objects.get(order=order)
    assert (shortfall.resolution, shortfall.points_taken, shortfall.deducted_yen) == ("deducted", 50, 150)


def test_points_spent_on_the_order_come_back_before_its_grant_is_taken_back():
    # given 1,000 of a member's points spent on a 3,000-yen order, which earns 10 % of the 2,000 paid
    base_rate(10)
    member = MemberFactory()
    points_grant(member=member, amount=1000, kind=Kind.SIGNUP, by=None, system="test", now=NOW)
    order = paid_order(member, price=3000, points_used=1000)
    assert balance_of(member) == 200
    spend(member, 200)
    # when the order is cancelled (the balance is 0 but the 1,000 points come back first)
    assert not undo.undo_preview(order=order, now=LATER).is_blocked
    order_cancel(order=order, by=MemberFactory(is_staff=True), now=LATER)
    # then the member has the 1,000 back less the 200 earned
    assert balance_of(member) == 800


def test_a_staff_refund_in_full_stops_before_any_money_moves_when_the_points_were_spent(stripe_api):
    base_rate(10)
    _member, _reservation, order = paid_card_booking(stripe_api)  # 2,000 yen: 200 points
    spend(order.member, 180)
    # (the webhook requests of the set-up switched this thread to the shop's language)
    with translation.override("en"), pytest.raises(Exception, match="180 points are missing"):
        order_refund(order=order, amount_yen=2000, reason="全額", by=MemberFactory(is_staff=True), now=LATER)
    assert stripe_api.refund_requests() == []
    order.refresh_from_db()
    assert order.status == Order.Status.PAID


def test_a_partial_refund_leaves_the_points_as_they_were(stripe_api):
    base_rate(10)
    member, _reservation, order = paid_card_booking(stripe_api)
    order_refund(order=order, amount_yen=500, reason="一部返金", by=MemberFactory(is_staff=True), now=LATER)
    # the order is partially cancelled; the points are as they were
    order.refresh_from_db()
    assert order.status == Order.Status.PARTIALLY_CANCELLED
    assert balance_of(member) == 200
    assert not PointEntry.objects.filter(order=order, kind=Kind.GRANT_REVERSAL).exists()
    assert AuditEntry.objects.filter(action="order.partially_cancelled", object_id=str(order.pk)).exists()
    # and the rest refunded undoes it as usual: the 200 points are taken back
    order_refund(order=order, amount_yen=1500, reason="残り", by=MemberFactory(is_staff=True), now=LATER)
    order.refresh_from_db()
    assert order.status == Order.Status.REFUNDED
    assert balance_of(member) == 0


def test_a_stripe_dashboard_refund_takes_what_it_can_records_the_shortfall_and_flags_it(stripe_api):
    # given a paid 2,000-yen card booking (200 points), 180 of them spent
    base_rate(10)
    member, _reservation, order = paid_card_booking(stripe_api)
    spend(member, 180)
    # when it is refunded in full in Stripe's dashboard (nothing can stop it)
    stripe_api.refund_in_dashboard("pi_paid", 2000)
    payload = charge_refunded(order, "pi_paid", 2000, event_id="evt_dash")
    assert post(Client(), payload, sign(payload)).status_code == 200
    # then the order is refunded, the 20 points left taken back and the 180 missing recorded
    order.refresh_from_db()
    assert order.status == Order.Status.REFUNDED
    assert balance_of(member) == 0
    shortfall = PointShortfall.objects.get(order=order)
    assert (shortfall.resolution, shortfall.points_taken, shortfall.points_missing) == ("forced", 20, 180)
    # and it waits on the staff home until handled
    staff = MemberFactory(is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="change_pointshortfall"))
    staff = type(staff).objects.get(pk=staff.pk)
    with translation.override("en"):  # the webhook request switched this thread to the shop's language
        waiting = [(item.count, item.url) for item in waiting_for(staff) if "Stripe dashboard" in item.label]
    assert waiting == [(1, "/admin/points/pointshortfall/?resolution__exact=forced&handled_at__isempty=1")]


def test_the_preview_is_the_listeners_own_effects():
    # the effects a page lists come from the registry (one call, every listener)
    base_rate(10)
    member = MemberFactory()
    order = paid_order(member)
    texts = [effect.text for effect in registry.undo_effects(order=order, now=LATER)]
    assert undo.undo_preview(order=order, now=LATER).lines == tuple(texts)


def test_staff_see_the_dashboard_shortfall_in_its_list_and_mark_it_handled(
    stripe_api, admin_client, admin_user
):
    # given a dashboard refund that could not take 180 points back
    base_rate(10)
    member, _reservation, order = paid_card_booking(stripe_api)
    spend(member, 180)
    stripe_api.refund_in_dashboard("pi_paid", 2000)
    payload = charge_refunded(order, "pi_paid", 2000, event_id="evt_dash2")
    post(Client(), payload, sign(payload))
    # then the attention link lists it
    url = "/admin/points/pointshortfall/?resolution__exact=forced&handled_at__isempty=1"
    page = admin_client.get(url)
    assert page.status_code == 200
    assert list(page.context["cl"].result_list) == [PointShortfall.objects.get(order=order)]
    # when staff mark it handled, it leaves the list and the staff home
    admin_client.post(
        "/admin/points/pointshortfall/",
        {"action": "mark_handled", ACTION_CHECKBOX_NAME: [str(PointShortfall.objects.get().pk)]},
    )
    assert PointShortfall.objects.get().handled_by == admin_user
    assert not [item for item in waiting_for(admin_user) if "Stripe dashboard" in item.label]
    assert AuditEntry.objects.filter(action="points.shortfall_handled").count() == 1
