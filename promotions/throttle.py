"""Guessing coupon codes is throttled (issue 15): after LIMIT unknown codes from one member or one address
within WINDOW seconds, the coupon field refuses every code (known ones too) until WINDOW seconds after the
last unknown one. Counters live in the cache (Redis in the stack, shared by every web process), one per
member and one per address, so neither a new session nor a second account from the same address resets
them. A cache that is down must not stop bookings: a failure to count lets the code through unthrottled."""

from __future__ import annotations

import logging

from django.core.cache import cache

logger = logging.getLogger(__name__)

LIMIT = 5
WINDOW_SECONDS = 10 * 60


def _keys(*, member_id: int | None, ip: str) -> list[str]:
    keys = []
    if member_id:
        keys.append(f"promotions:unknown-coupon:member:{member_id}")
    if ip:
        keys.append(f"promotions:unknown-coupon:ip:{ip}")
    return keys


def is_throttled(*, member_id: int | None, ip: str) -> bool:
    keys = _keys(member_id=member_id, ip=ip)
    if not keys:
        return False
    try:
        counts = cache.get_many(keys)
    except Exception:  # the cache down: let the member try
        logger.exception("coupon throttle: cache unavailable")
        return False
    return any((count or 0) >= LIMIT for count in counts.values())


def record_unknown(*, member_id: int | None, ip: str) -> None:
    """Count one unknown code against the member and the address; each counter's window restarts."""
    for key in _keys(member_id=member_id, ip=ip):
        try:
            if cache.add(key, 1, WINDOW_SECONDS):
                continue
            try:
                cache.incr(key)
            except ValueError:  # expired between add and incr
                cache.set(key, 1, WINDOW_SECONDS)
            cache.touch(key, WINDOW_SECONDS)
        except Exception:
            logger.exception("coupon throttle: cache unavailable")


def reset(*, member_id: int | None, ip: str) -> None:
    cache.delete_many(_keys(member_id=member_id, ip=ip))
