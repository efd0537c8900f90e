"""Every audit action the code writes has words staff read on the audit list and the history pages."""

import re
from pathlib import Path

from django.utils import translation

from core.audit import _action_labels, action_label

ROOT = Path(__file__).resolve().parents[2]
APPS = ("core", "members", "inventory", "payments", "tickets", "points", "promotions", "plans")
LITERAL = re.compile(r'action="([a-z_]+\.[a-z_.]+)"')


def _actions_written() -> set[str]:
    found = set()
    for app in APPS:
        for path in (ROOT / app).rglob("*.py"):
            if "tests" in path.parts or "migrations" in path.parts:
                continue
            found.update(LITERAL.findall(path.read_text()))
    return found


def test_every_action_the_code_writes_has_a_label():
    # given the action keys written by the code (the refund outcomes are written as refund.<state>)
    settled = {"refund.succeeded", "refund.failed", "refund.superseded", "refund.pending"}
    written = _actions_written() | settled
    assert {"order.refunded", "reservation.cancelled", "ticket.used"} <= written
    # then each has words of its own
    assert sorted(written - set(_action_labels)) == []


def test_an_admin_form_edit_reads_as_its_model_and_what_was_done_and_anything_else_as_its_key():
    with translation.override("en"):
        assert action_label("order.refunded") == "Order refunded in full"
        assert action_label("inventory.item.changed") == "Item: changed"
        assert action_label("payments.product.deleted") == "Product: deleted"
        assert action_label("nowhere.thing.changed") == "nowhere.thing.changed"
        assert action_label("something.new") == "something.new"
