"""`manage.py benchmark_points` works on a few lots: its raw-SQL reference writes the same rows as the expiry
run (entries, allocations, lots, balances), every balance stays equal to its ledger, and the last line is the
ratio."""

from __future__ import annotations

import re
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from points import selectors
from points.models import PointAccount, PointEntry, PointLot

# The expiry run commits each batch (durable transactions): the test needs real commits.
pytestmark = pytest.mark.django_db(transaction=True)


def test_the_benchmark_runs_and_its_reference_writes_what_the_expiry_writes():
    # when the benchmark runs with 400 lots of 30 members, keeping its rows
    out = StringIO()
    call_command(
        "benchmark_points", "--lots", "400", "--members", "30", "--keep", "--csv-in-process", stdout=out
    )
    # then the reference wrote the same rows as the service, and the ledger adds up
    text = out.getvalue()
    assert "same rows as the reference: yes" in text, text
    assert "balances = ledger = lots: yes" in text, text
    assert re.search(r"ratio: \d+\.\d\d\Z", text.strip()), text
    expired = PointEntry.objects.filter(kind=PointEntry.Kind.EXPIRED)
    assert expired.count() == int(re.search(r"(\d+) due on", text).group(1)) > 0
    assert not PointLot.objects.filter(remaining__gt=0, expires_on__lt=timezone.localdate()).exists()
    assert PointAccount.objects.count() == 30
    assert selectors.ledger_report() == []


def test_the_benchmark_deletes_what_it_made():
    call_command("benchmark_points", "--lots", "50", "--members", "5", "--csv-in-process", stdout=StringIO())
    assert not PointEntry.objects.exists()
    assert not PointLot.objects.exists()
    assert not PointAccount.objects.exists()
