"""A webhook that fails verification is answered with a plain 400 that says nothing about how the endpoint
is configured (issue 12, item 8): the Stripe client's own reasons ("No webhook secret value was provided",
"No signatures found matching…") are logged, never sent to whoever posted."""

import hashlib
import hmac
import json
import time

import pytest
from django.urls import reverse

from payments.models import StripeEvent
from payments.stripe_events import WebhookRejectedError

SECRET = "whsec_test_" + "r" * 24
PAYLOAD = json.dumps(
    {"id": "evt_r", "object": "event", "type": "checkout.session.completed", "created": 1780000000,
     "data": {"object": {"id": "cs_r"}}}
)  # fmt: skip


def sign(payload: str, secret: str) -> str:
    timestamp = int(time.time())
    signature = hmac.new(secret.encode(), f"{timestamp}.{payload}".encode(), hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={signature}"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("configured", "signature"),
    [
        pytest.param("", sign(PAYLOAD, "whsec_guess"), id="no secret configured"),
        pytest.param("", "", id="no secret configured, no signature"),
        pytest.param(SECRET, sign(PAYLOAD, "whsec_wrong"), id="wrong secret"),
        pytest.param(SECRET, "", id="no signature"),
        pytest.param(SECRET, "t=1,v1=abc", id="stale and wrong"),
        pytest.param(SECRET, "garbage", id="not a signature header"),
    ],
)
def test_an_unverified_webhook_gets_a_plain_400_that_reveals_nothing(client, settings, configured, signature):
    # given the endpoint with or without its secret
    settings.STRIPE_WEBHOOK_SECRET = configured
    # when an unverifiable body is posted
    response = client.post(
        reverse("payments:stripe_webhook"),
        PAYLOAD,
        content_type="application/json",
        HTTP_STRIPE_SIGNATURE=signature,
    )
    # then the answer is the same 400 whatever the reason, and nothing is stored
    assert response.status_code == 400
    assert response.json() == {"error": str(WebhookRejectedError.default_message)}
    assert not {"secret", "whsec", "signature", "header"} & set(response.content.decode().lower().split())
    assert not StripeEvent.objects.exists()
