"""Run calls really in parallel for the concurrency tests: one thread per call, each on its own PostgreSQL
connection, released together by a barrier. Outcomes are counted by name, so a test asserts the exact mix."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable

from django.db import connection


def run_together(
    calls: list[Callable[[], object]], *, expected: tuple[type[Exception], ...], success: str = "booked"
) -> Counter:
    """Call each at the same instant. A return counts as `success`; an `expected` refusal counts under its
    class name; anything else as "unexpected …", which makes the test's exact assertion fail."""
    barrier = threading.Barrier(len(calls))
    outcomes: Counter = Counter()
    guard = threading.Lock()

    def attempt(call) -> None:
        try:
            barrier.wait()
            call()
            result = success
        except expected as error:
            result = type(error).__name__
        except Exception as error:  # anything else is a failure the test reports
            result = f"unexpected {type(error).__name__}: {error}"
        finally:
            connection.close()
        with guard:
            outcomes[result] += 1

    threads = [threading.Thread(target=attempt, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    return outcomes
