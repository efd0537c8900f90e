"""Demo data of payments for `make run`: the demo member's bookings paid at the counter have their pending
orders. Bookings made by this version's demo already do (the counter payment method makes the order);
this gives one to those made before counter bookings had orders. Idempotent: only a booking without an
order gets one."""

from __future__ import annotations

from inventory.models import Reservation
from payments.counter import counter_order_create


def load(stdout) -> None:
    from members.demo import MEMBER_EMAIL  # members loads its demo data first (INSTALLED_APPS order)

    without_order = (
        Reservation.objects.filter(
            member__email=MEMBER_EMAIL,
            payment_method="counter",
            price_yen__gt=0,
            status__in=Reservation.LIVE_STATUSES,
            order_lines__isnull=True,
        )
        .select_related("item", "member")
        .order_by("pk")
    )
    for reservation in without_order:
        order = counter_order_create(reservation=reservation, by=None, system="load_demo_data")
        stdout.write(f"Order        #{order.pk} at the counter for reservation #{reservation.pk}")
