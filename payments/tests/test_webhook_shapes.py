"""A correctly signed webhook that is no Stripe event is refused with 400 and stores nothing (issue 12,
item 5: `[]`, `{}` or an event without `data` answered 500)."""

import json

import pytest

from payments.models import StripeEvent
from payments.tests.test_webhooks import post, sign, webhook_secret  # noqa: F401 - the fixture by name

pytestmark = pytest.mark.django_db

GOOD = {"id": "evt_1", "object": "event", "type": "charge.refunded", "created": 1780000000, "livemode": False}

NOT_EVENTS = {
    "list": [],
    "empty object": {},
    "string": "event",
    "number": 1,
    "null": None,
    "no data": GOOD,
    "data not an object": {**GOOD, "data": []},
    "data without object": {**GOOD, "data": {}},
    "object not an object": {**GOOD, "data": {"object": "ch_1"}},
    "no id": {**{k: v for k, v in GOOD.items() if k != "id"}, "data": {"object": {}}},
    "id not a string": {**GOOD, "id": 1, "data": {"object": {}}},
    "no type": {**{k: v for k, v in GOOD.items() if k != "type"}, "data": {"object": {}}},
    "type not a string": {**GOOD, "type": ["x"], "data": {"object": {}}},
    "created not a number": {**GOOD, "created": "yesterday", "data": {"object": {}}},
    "created out of range": {**GOOD, "created": 10**20, "data": {"object": {}}},
    "id too long": {**GOOD, "id": "evt_" + "1" * 300, "data": {"object": {}}},
    "a NUL in the object": {**GOOD, "data": {"object": {"name": "a\x00b"}}},
}


@pytest.mark.parametrize("body", NOT_EVENTS.values(), ids=list(NOT_EVENTS))
def test_a_signed_body_that_is_no_event_is_a_400_and_stores_nothing(client, body):
    payload = json.dumps(body)
    response = post(client, payload, sign(payload))
    assert response.status_code == 400
    assert not StripeEvent.objects.exists()


def test_a_signed_event_of_the_right_shape_is_stored(client):
    payload = json.dumps({**GOOD, "type": "customer.created", "data": {"object": {"id": "cus_1"}}})
    response = post(client, payload, sign(payload))
    assert response.status_code == 200
    assert StripeEvent.objects.count() == 1
