"""Which card gateway takes payments: Stripe when STRIPE_SECRET_KEY is set, otherwise the clearly labelled
test gateway for local demos (production settings refuse to start without Stripe)."""

from django.conf import settings


def using_test_gateway() -> bool:
    return not settings.STRIPE_SECRET_KEY
