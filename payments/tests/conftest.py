import pytest

from payments.tests.stripe_double import StripeDouble


@pytest.fixture
def stripe_api(settings):
    """Stripe keys set and the official client pointed at a local HTTP double of Stripe's API."""
    with StripeDouble() as double:
        settings.STRIPE_SECRET_KEY = "sk_test_" + "k" * 24
        settings.STRIPE_API_BASE = double.url
        yield double
