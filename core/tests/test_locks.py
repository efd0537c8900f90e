"""The advisory lock helper: held to the end of the transaction, and a wait past the timeout becomes a
friendly "busy" error instead of a hung request."""

import threading

import pytest
from django.db import connection, transaction

from core.locks import BusyError, advisory_xact_lock

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_second_holder_waits_then_gets_a_busy_error():
    # given one connection holding the lock
    held, release = threading.Event(), threading.Event()

    def holder():
        with transaction.atomic():
            advisory_xact_lock("test:key")
            held.set()
            release.wait(10)
        connection.close()

    thread = threading.Thread(target=holder)
    thread.start()
    held.wait(10)
    # when another transaction asks for it with a short timeout, then it is told to retry
    with pytest.raises(BusyError), transaction.atomic():
        advisory_xact_lock("test:key", timeout_ms=200)
    # and a different key is not blocked
    with transaction.atomic():
        advisory_xact_lock("test:other", timeout_ms=200)
    release.set()
    thread.join(10)
    # once released, the key is free again
    with transaction.atomic():
        advisory_xact_lock("test:key", timeout_ms=200)


def test_it_needs_a_transaction():
    with pytest.raises(RuntimeError):
        advisory_xact_lock("test:key")
