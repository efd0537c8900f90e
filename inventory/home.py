"""What inventory puts on the staff home (core.home): today's and tomorrow's live bookings, by JST day,
ordered by start, and the bookings awaiting approval; each of the stores the staff member sees
(inventory.stores), each row naming its store."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from django.db.models import Count, Exists, Q
from django.db.models.functions import TruncDate
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.home import DailySeries, Panel
from core.periods import JST, start_of_day
from inventory import payment_methods, services, stores
from inventory.exceptions import PaymentMethodError
from inventory.models import Reservation, ReservationSettings

# A day's list stops here (the rest is one click away in the reservation list): the page stays small.
SHOWN_PER_PANEL = 200


@dataclass(frozen=True)
class Day:
    label: str
    day: date
    bookings: list[Reservation]


def payment_label(key: str) -> str:
    try:
        return str(payment_methods.get(key).label)
    except PaymentMethodError:
        return key


def upcoming_bookings(today: date, user=None) -> dict[date, list[Reservation]]:
    """Live bookings starting on `today` or the next JST day, by day, in start order, of the stores `user`
    sees (every store without a user): one query, and one for the user's stores."""
    tomorrow = today + timedelta(days=1)
    days: dict[date, list[Reservation]] = {today: [], tomorrow: []}
    live = Reservation.objects.all() if user is None else stores.for_user(Reservation.objects.all(), user)
    rows = (
        live.filter(
            status__in=Reservation.LIVE_STATUSES,
            starts_at__gte=start_of_day(today),
            starts_at__lt=start_of_day(tomorrow + timedelta(days=1)),
        )
        .select_related("member", "item", "store")
        .only(
            "id",
            "starts_at",
            "ends_at",
            "quantity",
            "status",
            "payment_method",
            "member__name",
            "member__email",
            "item__name",
            "store__name",
        )
        .order_by("starts_at", "id")[:SHOWN_PER_PANEL]
    )
    for reservation in rows:
        reservation.payment_label = payment_label(reservation.payment_method)
        days[timezone.localdate(reservation.starts_at, JST)].append(reservation)
    return days


def bookings_context(request) -> dict:
    today = timezone.localdate()
    by_day = upcoming_bookings(today, request.user)
    changelist = reverse("admin:inventory_reservation_changelist")
    labels = (_("Today"), _("Tomorrow"))
    days = [
        Day(str(label), day, bookings) for label, (day, bookings) in zip(labels, by_day.items(), strict=True)
    ]
    # 電話・来店予約 (inventory/admin/staff_booking.py), for staff who may take bookings.
    take_url = (
        reverse("admin:inventory_reservation_take")
        if request.user.has_perm("inventory.add_reservation")
        else ""
    )
    return {"days": days, "list_url": changelist, "shown_max": SHOWN_PER_PANEL, "take_url": take_url}


def bookings_panel() -> Panel:
    return Panel(
        key="bookings",
        template="admin/inventory/home/bookings.html",
        context=bookings_context,
        permission="inventory.view_reservation",
        order=20,
    )


APPROVALS_SHOWN = 50


def approvals_context(request) -> dict:
    """Bookings awaiting approval, the soonest automatic decline first, with approve / decline buttons
    (each asks first, with a message for the member): two queries however many there are."""
    waiting = stores.for_user(services.awaiting_approval(), request.user)
    rows = list(
        waiting.only(
            "id",
            "starts_at",
            "ends_at",
            "quantity",
            "status",
            "payment_method",
            "created_at",
            "approval_deadline",
            "member__name",
            "member__email",
            "item__name",
            "item__store__name",
        )[:APPROVALS_SHOWN]
    )
    total = len(rows) if len(rows) < APPROVALS_SHOWN else waiting.count()
    home = reverse("admin:index")
    may_decide = request.user.has_perm("inventory.change_reservation")
    for reservation in rows:
        reservation.payment_label = payment_label(reservation.payment_method)
        if may_decide:
            reservation.approve_url = _operation_url(reservation, "approve", home)
            reservation.decline_url = _operation_url(reservation, "decline", home)
    changelist = reverse("admin:inventory_reservation_changelist")
    return {
        "waiting": rows,
        "total": total,
        "shown_max": APPROVALS_SHOWN,
        "list_url": f"{changelist}?status__exact={Reservation.Status.AWAITING}",
    }


def _operation_url(reservation: Reservation, key: str, back: str) -> str:
    url = reverse("admin:inventory_reservation_operate", args=[reservation.pk, key])
    return f"{url}?next={back}"


def approvals_panel() -> Panel:
    return Panel(
        key="approvals",
        template="admin/inventory/home/approvals.html",
        context=approvals_context,
        permission="inventory.view_reservation",
        order=15,
        shown=lambda user: approval_in_use(),
    )


def approval_in_use() -> bool:
    """Whether approval is switched on anywhere, or a booking still waits (approval switched off since):
    one query."""
    waiting = Reservation.objects.filter(status=Reservation.Status.AWAITING)
    return ReservationSettings.objects.filter(Q(approval_required=True) | Q(Exists(waiting))).exists()


def bookings_per_day(first: date, last: date) -> dict[date, int]:
    """Bookings (not cancelled) by the JST day they start, `first`–`last`: one grouped query."""
    rows = (
        Reservation.objects.filter(
            starts_at__gte=start_of_day(first), starts_at__lt=start_of_day(last + timedelta(days=1))
        )
        .exclude(status=Reservation.Status.CANCELLED)
        .annotate(day=TruncDate("starts_at", tzinfo=JST))
        .values("day")
        .annotate(n=Count("id"))
        .order_by()
        .values_list("day", "n")
    )
    return dict(rows)


def bookings_series() -> DailySeries:
    return DailySeries(
        key="bookings",
        label=_("Bookings"),
        values=bookings_per_day,
        permission="inventory.view_reservation",
        axis="count",
        order=10,
    )
