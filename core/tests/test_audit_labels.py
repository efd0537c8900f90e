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


def test_an_action_nobody_described_reads_as_its_key():
    with translation.override("en"):
        assert action_label("inventory.item.changed") == "inventory.item.changed"
        assert action_label("order.refunded") == "Order refunded in full"
