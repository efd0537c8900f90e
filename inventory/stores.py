"""Which stores a staff member sees (per-store visibility). Staff named on a store's staff list see the
bookings of those stores only; staff named at no store, and superusers, see every store. A shop with one
store, or whose staff all work everywhere, sets nothing."""

from __future__ import annotations

from django.db.models import Exists, Q, QuerySet

from inventory.models import Store


def for_user(queryset: QuerySet, user, *, field: str = "store") -> QuerySet:
    """`queryset` narrowed to the stores `user` sees (`field` names the row's store). The condition is a
    subquery of the same query: no extra round trip, whatever the page."""
    if user.is_superuser:
        return queryset
    mine = Store.objects.filter(staff=user)
    return queryset.filter(Q(~Exists(mine)) | Q(**{f"{field}__in": mine.values("pk")}))
