"""Ledger reconciliation (`manage.py check_ledgers`): each app with a cached balance kept beside an
append-only ledger (tickets; points later) registers a check that lists every difference it finds."""

from collections.abc import Callable

_checks: dict[str, Callable[[], list[str]]] = {}


def register(name: str, check: Callable[[], list[str]]) -> None:
    """`check()` returns one human-readable line per balance that disagrees with its ledger."""
    _checks[name] = check


def checks() -> dict[str, Callable[[], list[str]]]:
    return dict(_checks)
