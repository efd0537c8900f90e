"""Every integer field a person types has the shop's bound on the model field (core/limits.py), so a form,
the admin or an import refuses an out-of-range number instead of a 500 (issue 12, item 5). A new integer
field fails here until it gets a bound, or is named below as one nobody types."""

from django.apps import apps
from django.core.validators import MaxValueValidator
from django.db import models

OUR_APPS = {"core", "members", "inventory", "payments", "tickets", "points", "promotions", "plans"}

# Computed by the services or internal counters: nobody types them.
UNBOUNDED = {
    "core.Job.progress_done",
    "core.Job.progress_total",
    "inventory.Slot.booked",
    "payments.Order.subtotal_yen",
    "payments.Order.price_rule_discount_yen",
    "payments.Order.member_discount_yen",
    "payments.Order.coupon_discount_yen",
    "payments.Order.points_used",
    "payments.Order.points_to_earn",
    "payments.Order.total_yen",
    "payments.Order.refunded_yen",
    "payments.Payment.amount_yen",
    "payments.Refund.amount_yen",
    "tickets.TicketEntry.uses_left_after",
    "plans.AllowanceUsage.used",
    "plans.AllowanceEntry.delta",
    "plans.PlanGrant.quantity",  # written by the grants from the rule (≤ MAX_COUNT) or the allowance left
    "promotions.Coupon.used_count",  # the count of standing redemptions, kept by the redemption service
    "promotions.CouponRedemption.discount_yen",  # what the coupon step computed for the order
    "promotions.PriceRuleUse.discount_yen",  # what the price rule step computed for the order
}


def test_every_typed_integer_field_has_an_upper_bound():
    unbounded = []
    for model in apps.get_models():
        if model._meta.app_label not in OUR_APPS:
            continue
        for field in model._meta.concrete_fields:
            if not isinstance(field, models.IntegerField) or field.primary_key or field.choices:
                continue
            name = f"{model._meta.label}.{field.name}"
            if name in UNBOUNDED:
                continue
            if not any(isinstance(v, MaxValueValidator) for v in field._validators):
                unbounded.append(name)
    assert unbounded == []
