"""The plan join page takes a coupon code and points for the first payment, as a ticket's purchase does
(payments.checkout_extras): "Apply and show the price" shows the price with them; joining makes the first
order with them (the coupon redeemed, the points spent), discounting the one-time lines only, never the
monthly price; a refusal is shown next to its field and makes nothing; a pending contract dropped for
another gives its coupon use and points back."""

from __future__ import annotations

from datetime import date, datetime

import pytest
import time_machine
from django.conf import settings
from django.urls import reverse

from core.periods import JST
from inventory.tests.factories import jst
from members.tests.factories import MemberFactory
from payments.models import Order
from plans.models import PlanContract
from plans.tests.factories import PlanFactory
from points.models import PointEntry, PointSettings
from points.selectors import balance_of
from points.services import points_grant
from promotions.models import Coupon, CouponRedemption
from promotions.tests.factories import CouponFactory
from tickets.tests.factories import ProductFactory

pytestmark = pytest.mark.django_db

TODAY = date(2027, 6, 20)
NOTE = "The coupon discounts this first payment only, not the monthly price."


@pytest.fixture(autouse=True)
def _clock():
    with time_machine.travel(jst(TODAY, "12:00"), tick=False):
        yield


@pytest.fixture(autouse=True)
def _no_purchase_points():
    row = PointSettings.current()
    row.base_rate_percent = 0
    row.save()


def a_plan(**fields):
    """An 8,300-yen first payment (3,300 entry fee, 5,000 contract month), then 10,000 yen a month."""
    fields.setdefault("enrollment_fee_product", ProductFactory(name="入会金", price_yen=3300, is_fee=True))
    fields.setdefault("contract_month_product", ProductFactory(name="契約月分", price_yen=5000))
    return PlanFactory(**fields)


def logged_in(client, member):
    client.force_login(member)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    return member


def member_with(points: int):
    member = MemberFactory()
    if points:
        points_grant(member=member, amount=points, kind=PointEntry.Kind.PURCHASE, by=None, system="test")
    return member


def field_error(message: str) -> str:
    return f'<p class="field-error">{message}</p>'


def url(plan) -> str:
    return reverse("plans:subscribe", args=[plan.pk])


def test_the_join_page_asks_for_a_coupon_code_and_points(client):
    plan = a_plan()
    logged_in(client, member_with(3000))
    page = client.get(url(plan)).content.decode()
    assert 'name="coupon"' in page
    assert 'name="points"' in page
    assert "You have 3,000 points; up to" in page
    assert 'name="step" value="confirm"' in page
    assert NOTE not in page


def test_a_free_first_payment_asks_for_nothing(client):
    plan = a_plan(enrollment_fee_product=None, contract_month_product=None)
    logged_in(client, member_with(3000))
    page = client.get(url(plan)).content.decode()
    assert 'name="coupon"' not in page
    assert 'name="points"' not in page


def test_a_10_percent_coupon_discounts_the_first_order_and_never_the_monthly_price(client, stripe_api):
    # given a 10 % coupon and a plan with an entry fee (first payment 8,300 yen, then 10,000 a month)
    coupon = CouponFactory(code="SUMMER10", discount_value=10)
    plan = a_plan()
    member = logged_in(client, MemberFactory())
    # when the member applies it, the page shows the first payment with it and says the month is not
    page = client.post(url(plan), {"step": "confirm", "extras": "1", "coupon": "summer10"}).content.decode()
    assert "Coupon SUMMER10: -¥830" in page
    assert "¥7,470" in page
    assert NOTE in page
    assert "Then ¥10,000 a month" in page
    assert not PlanContract.objects.filter(member=member).exists()  # applying makes nothing
    assert Coupon.objects.get(pk=coupon.pk).used_count == 0
    # and when they join with it
    response = client.post(url(plan), {"step": "subscribe", "extras": "1", "coupon": "summer10"})
    # then the first order is discounted and the coupon redeemed for it
    assert response.status_code == 302
    assert response["Location"].startswith("https://checkout.stripe.test/")
    contract = PlanContract.objects.get(member=member)
    order = contract.first_order
    assert (order.subtotal_yen, order.coupon_discount_yen, order.total_yen) == (8300, 830, 7470)
    redemption = CouponRedemption.objects.get(order=order)
    assert (redemption.coupon_id, redemption.discount_yen, redemption.released_at) == (coupon.pk, 830, None)
    assert Coupon.objects.get(pk=coupon.pk).used_count == 1
    # and Stripe charges the discounted first payment once and the full monthly price from next month
    form = stripe_api.requests[-1]["form"]
    assert form["mode"] == "subscription"
    assert form["line_items[0][price_data][unit_amount]"] == "7470"
    assert "line_items[0][price_data][recurring][interval]" not in form
    assert form["line_items[1][price_data][unit_amount]"] == "10000"
    assert form["line_items[1][price_data][recurring][interval]"] == "month"
    assert contract.plan.monthly_product.price_yen == 10000


def test_points_pay_part_of_the_first_order(client):
    # given 3,000 points (no Stripe keys: the test gateway)
    plan = a_plan()
    member = logged_in(client, member_with(3000))
    page = client.post(url(plan), {"step": "confirm", "extras": "1", "points": "2000"}).content.decode()
    assert "Points used: -¥2,000" in page
    assert "¥6,300" in page
    assert NOTE not in page
    assert balance_of(member) == 3000
    # when the member joins with 2,000 of them
    response = client.post(url(plan), {"step": "subscribe", "extras": "1", "points": "2000"})
    # then the first order takes them and asks 6,300 yen by card
    order = PlanContract.objects.get(member=member).first_order
    assert response["Location"] == reverse("payments:checkout", args=[order.pk])
    assert (order.points_used, order.total_yen, order.payment_method) == (2000, 6300, Order.Method.CARD)
    assert balance_of(member) == 1000
    # and paying it starts the plan
    client.get(response["Location"])
    client.post(reverse("payments:test_gateway_result", args=[order.pk]), {"result": "succeed"})
    order.refresh_from_db()
    assert order.status == Order.Status.PAID
    assert PlanContract.objects.get(member=member).status == PlanContract.Status.ACTIVE


def test_an_unknown_code_is_refused_next_to_the_field_and_nothing_is_made(client):
    plan = a_plan()
    member = logged_in(client, member_with(3000))
    response = client.post(url(plan), {"step": "subscribe", "extras": "1", "coupon": "NOPE", "points": "500"})
    assert response.status_code == 200
    page = response.content.decode()
    assert field_error("There is no coupon with this code. Check the code and try again.") in page
    assert 'value="500"' in page  # what the member typed stays
    assert not PlanContract.objects.filter(member=member).exists()
    assert not Order.objects.filter(member=member).exists()
    assert balance_of(member) == 3000


@pytest.mark.parametrize(
    ("coupon", "message"),
    [
        ({"valid_until": datetime(2027, 6, 1, tzinfo=JST)}, "This coupon has expired"),
        ({"usage_limit": 1, "used_count": 1}, "This coupon has been used up."),
    ],
    ids=["expired", "used-up"],
)
def test_a_coupon_that_cannot_be_used_is_refused_next_to_the_field(client, coupon, message):
    CouponFactory(code="GONE", **coupon)
    plan = a_plan()
    member = logged_in(client, MemberFactory())
    for step in ("confirm", "subscribe"):
        page = client.post(url(plan), {"step": step, "extras": "1", "coupon": "GONE"}).content.decode()
        assert '<p class="field-error">' + message in page
        assert "¥8,300" in page  # the price without it
    assert not PlanContract.objects.filter(member=member).exists()
    assert not Order.objects.filter(member=member).exists()


def test_too_many_points_are_refused_next_to_the_field(client):
    plan = a_plan()
    member = logged_in(client, member_with(3000))
    response = client.post(url(plan), {"step": "subscribe", "extras": "1", "points": "5000"})
    assert field_error("You have 3,000 points; you cannot use 5,000.") in response.content.decode()
    assert not PlanContract.objects.filter(member=member).exists()
    assert balance_of(member) == 3000


def test_a_pending_contract_dropped_for_another_plan_gives_the_coupon_and_points_back(client):
    # given a pending contract whose first order took a coupon use and 1,000 points
    coupon = CouponFactory(code="WELCOME", gives_back_on_cancel=True, usage_limit=1)
    first_plan, other_plan = a_plan(), a_plan()
    member = logged_in(client, member_with(3000))
    client.post(url(first_plan), {"step": "subscribe", "extras": "1", "coupon": "WELCOME", "points": "1000"})
    dropped = PlanContract.objects.get(member=member)
    assert Coupon.objects.get(pk=coupon.pk).used_count == 1
    assert balance_of(member) == 2000
    # when the member starts again with another plan, without extras
    client.post(url(other_plan), {"step": "subscribe", "extras": "1"})
    # then the first contract is dropped, its order cancelled, and the coupon use and the points are back
    dropped.refresh_from_db()
    dropped.first_order.refresh_from_db()
    assert dropped.status == PlanContract.Status.ENDED
    assert dropped.first_order.status == Order.Status.CANCELLED
    assert Coupon.objects.get(pk=coupon.pk).used_count == 0
    assert CouponRedemption.objects.get(order=dropped.first_order).released_at is not None
    assert balance_of(member) == 3000
    new = PlanContract.objects.get(member=member, status=PlanContract.Status.PENDING)
    assert (new.plan, new.first_order.total_yen) == (other_plan, 8300)
    # and the coupon (one use in all) can be used again
    client.post(url(first_plan), {"step": "subscribe", "extras": "1", "coupon": "WELCOME"})
    again = PlanContract.objects.get(member=member, status=PlanContract.Status.PENDING)
    assert (again.plan, again.first_order.coupon_discount_yen) == (first_plan, 830)


def test_joining_again_with_the_same_extras_reuses_the_order_and_other_extras_replace_it(client):
    coupon = CouponFactory(code="ONCE", per_member_limit=1)  # its use is not given back on cancel
    plan = a_plan()
    member = logged_in(client, member_with(3000))
    data = {"step": "subscribe", "extras": "1", "coupon": "once", "points": "500"}
    client.post(url(plan), data)
    first = PlanContract.objects.get(member=member)
    # the member comes back from the card page and joins again with the same code and points: same order
    response = client.post(url(plan), data)
    assert response["Location"] == reverse("payments:checkout", args=[first.first_order_id])
    assert PlanContract.objects.filter(member=member).count() == 1
    assert Coupon.objects.get(pk=coupon.pk).used_count == 1
    assert balance_of(member) == 2500
    # with other points instead: the old order is cancelled (its points back) and a new one made
    client.post(url(plan), {"step": "subscribe", "extras": "1", "points": "700"})
    first.refresh_from_db()
    assert first.status == PlanContract.Status.ENDED
    new = PlanContract.objects.get(member=member, status=PlanContract.Status.PENDING)
    assert (new.first_order.points_used, new.first_order.coupon_discount_yen) == (700, 0)
    assert balance_of(member) == 2300


def test_joining_without_the_extras_form_still_works(client):
    # an old page (or a member with nothing to apply) posts no extras at all
    plan = a_plan()
    member = logged_in(client, MemberFactory())
    response = client.post(url(plan))
    assert response.status_code == 302
    order = PlanContract.objects.get(member=member).first_order
    assert (order.total_yen, order.coupon_discount_yen, order.points_used) == (8300, 0, 0)


def test_a_first_payment_brought_to_0_yen_still_sets_up_the_monthly_payment(client, stripe_api):
    # given a 100 % coupon: the first payment costs nothing, but the plan bills 10,000 yen a month after it
    CouponFactory(code="FREEJOIN", discount_value=100)
    plan = a_plan()
    member = logged_in(client, MemberFactory())
    response = client.post(url(plan), {"step": "subscribe", "extras": "1", "coupon": "FREEJOIN"})
    order = PlanContract.objects.get(member=member).first_order
    assert order.total_yen == 0
    # then the card checkout opens for the subscription alone, not a "nothing to pay" confirmation
    assert response["Location"].startswith("https://checkout.stripe.test/")
    form = stripe_api.requests[-1]["form"]
    assert form["mode"] == "subscription"
    assert form["line_items[0][price_data][unit_amount]"] == "10000"
    assert form["line_items[0][price_data][recurring][interval]"] == "month"
    # and the order's own payment page goes to the checkout too: it is never confirmed without a card
    page = client.get(reverse("payments:checkout", args=[order.pk]))
    assert page.status_code == 302
    assert page["Location"].startswith("https://checkout.stripe.test/")
    order.refresh_from_db()
    assert order.status == Order.Status.PENDING
    from payments.exceptions import OrderError
    from payments.services import order_confirm_free

    with pytest.raises(OrderError):
        order_confirm_free(order=order, by=member)
