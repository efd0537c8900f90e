"""Member-site pages for tickets: the tickets on sale and buying one (tickets.purchases), and my tickets
(the wallet, each ticket with its ledger). Views read; every change goes through a service."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Prefetch
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_http_methods

from core.exceptions import DomainError
from core.periods import valid_through_days
from inventory.models import Item
from payments import checkout_extras, pricing
from payments.models import Order
from tickets import hooks, purchases, services
from tickets.models import MemberTicket, TicketEntry

PAST_PER_PAGE = 20


def _public_items(lookup: str = "items") -> Prefetch:
    """A ticket type's usable items that the member site shows (public items of public stores), as
    `public_items`."""
    return Prefetch(
        lookup,
        queryset=Item.objects.filter(is_public=True, store__is_public=True)
        .select_related("store")
        .order_by("store__display_order", "store_id", "display_order", "id"),
        to_attr="public_items",
    )


def _set_prices_shown(member, ticket_types) -> None:
    """Set `price_shown_yen` on each ticket type: its price as this member sees it, the product's price
    or, for a member with a member discount when the shop hides it, the price already net of it (what the
    card is charged), so nobody is shown a price they will not pay. The shop setting is read only when a
    discount applies."""
    drafts = [
        (each, purchases.ticket_purchase_preview(member=member, ticket_type=each)) for each in ticket_types
    ]
    show = pricing.shows_member_discount() if any(d.member_discount_yen for _t, d in drafts) else True
    for ticket_type, draft in drafts:
        ticket_type.price_shown_yen = pricing.price_shown_yen(draft=draft, show_member_discount=show)


def _on_sale():
    return (
        purchases.on_sale_ticket_types()
        .select_related("product")
        .prefetch_related(_public_items(), "stores")
        .order_by("display_order", "id")
    )


# --- buying ----------------------------------------------------------------------------------------------


@require_http_methods(["GET"])
def ticket_list(request):
    """The tickets on sale, with what the member may still buy of those with a purchase limit."""
    ticket_types = list(_on_sale())
    left = purchases.purchases_left(member=request.user, ticket_types=ticket_types)
    _set_prices_shown(request.user, ticket_types)
    rows = [(ticket_type, left.get(ticket_type.pk)) for ticket_type in ticket_types]
    return render(request, "site/tickets/ticket_list.html", {"rows": rows})


@require_http_methods(["GET"])
def ticket_type_detail(request, pk: int):
    ticket_type = get_object_or_404(_on_sale(), pk=pk)
    _set_prices_shown(request.user, [ticket_type])
    context = {"ticket_type": ticket_type, "purchases_left": None, "pending_orders": []}
    if request.user.is_authenticated:
        context["purchases_left"] = purchases.purchases_left(
            member=request.user, ticket_types=[ticket_type]
        ).get(ticket_type.pk)
        context["pending_orders"] = list(
            purchases.pending_orders(member=request.user, ticket_type=ticket_type)
        )
    return render(request, "site/tickets/ticket_type_detail.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def buy(request, pk: int):
    """Step 1 (GET, or the ticket page's "buy" button): the price and what the member gets, to confirm.
    Step 2 (POST step=buy): the order is made; a paid ticket goes to the checkout, a free one is in the
    wallet at once."""
    ticket_type = get_object_or_404(_on_sale(), pk=pk)
    # The extras the page asked for (points to use), posted with "extras" marking that it showed them.
    extras_data = request.POST if request.method == "POST" and "extras" in request.POST else None
    extras_refusal = None
    if request.method == "POST" and request.POST.get("step") == "buy":
        parsed = checkout_extras.OrderExtrasForm(extras_data)
        if extras_data is None or parsed.is_valid():
            try:
                order = services.ticket_purchase_start(
                    member=request.user,
                    ticket_type=ticket_type,
                    by=request.user,
                    options=parsed.values() if extras_data is not None else None,
                )
            except DomainError as error:
                if not checkout_extras.is_extras_refusal(error):
                    messages.error(request, error.message)
                    return redirect("tickets:detail", pk=ticket_type.pk)
                extras_refusal = error  # the page again, the refusal next to its field
            else:
                return _bought(request, ticket_type, order)
    refusal = ""
    try:
        services.check_purchase_allowed(member=request.user, ticket_type=ticket_type)
    except DomainError as error:
        refusal = error.message
    extras_form, draft, _unplaced = checkout_extras.priced_with_extras(
        extras_data,
        plain=purchases.ticket_purchase_preview(member=request.user, ticket_type=ticket_type),
        price=lambda options: purchases.ticket_purchase_preview(
            member=request.user, ticket_type=ticket_type, options=options
        ),
        refusal=extras_refusal,
    )
    # The price pipeline's own breakdown, the member discount a line of its own or already in the price as
    # the shop chooses (SPEC §3): the total shown is what the order will charge.
    charge = pricing.charge_shown(draft=draft, label=f"{ticket_type.name} × 1")
    ticket_type.price_shown_yen = charge.lines[0].amount_yen  # the facts' price: the breakdown's first line
    return render(
        request,
        "site/tickets/buy_confirm.html",
        {
            "ticket_type": ticket_type,
            "charge": charge,
            "extras_form": extras_form,
            "is_free": purchases.payment_method_for(ticket_type) == Order.Method.FREE,
            "refusal": refusal,
            "valid_through": _valid_through_if_bought_today(ticket_type),
        },
    )


def _bought(request, ticket_type, order: Order):
    """Where a member goes once the order is made: the wallet when it is paid already (a free ticket, or
    one points paid in full), else the card checkout."""
    if order.status == Order.Status.PAID:
        messages.success(
            request,
            gettext("“{name}” is in your tickets. You can use it when you book.").format(
                name=ticket_type.name
            ),
        )
        return redirect("tickets:wallet")
    return redirect("payments:checkout", pk=order.pk)


def _valid_through_if_bought_today(ticket_type) -> date | None:
    if not ticket_type.validity_days:
        return None
    return valid_through_days(timezone.localdate(), ticket_type.validity_days)


# --- my tickets ------------------------------------------------------------------------------------------


STATE_LABELS = {
    "usable": _("Usable"),
    "not_yet": _("Not valid yet"),
    "used_up": _("Used up"),
    "expired": _("Expired"),
    "revoked": _("Taken back"),
}
# The status badge colours shared with orders and reservations (components/status_badge.html).
BADGES = {
    "usable": "active",
    "not_yet": "pending",
    "used_up": "completed",
    "expired": "expired",
    "revoked": "cancelled",
}
CURRENT_STATES = ("usable", "not_yet")


@dataclass(frozen=True)
class WalletRow:
    ticket: MemberTicket
    state: str  # usable / not_yet / used_up / expired / revoked
    state_label: str

    @property
    def badge(self) -> str:
        return BADGES[self.state]


def _state(ticket: MemberTicket, today: date) -> str:
    if ticket.status == MemberTicket.Status.REVOKED:
        return "revoked"
    if ticket.status == MemberTicket.Status.EXPIRED or (
        ticket.valid_through is not None and ticket.valid_through < today
    ):
        return "expired"  # past its date, whether or not the nightly expiry job has run yet
    if ticket.uses_left == 0:
        return "used_up"
    if ticket.valid_from > today:
        return "not_yet"
    return "usable"


def _row(ticket: MemberTicket, today: date) -> WalletRow:
    state = _state(ticket, today)
    return WalletRow(ticket, state, STATE_LABELS[state])


def _own_tickets(request):
    return (
        MemberTicket.objects.filter(member=request.user)
        .select_related("ticket_type", "order_line")
        .prefetch_related(_public_items("ticket_type__items"), "stores")
    )


def _label_sources(tickets: list[MemberTicket]) -> None:
    """Sets `source_label` on the tickets a higher app issued and names (a plan grant: its plan and month),
    one query per app for the whole page (tickets.hooks)."""
    labels = hooks.source_labels(tickets)
    for ticket in tickets:
        ticket.source_label = labels.get(ticket.pk, "")


@login_required
@require_http_methods(["GET"])
def wallet(request):
    """My tickets: the ones that can still be used (expiring first first, no expiry last), then the past
    ones (newest first). One query for both, whatever the number of tickets."""
    today = timezone.localdate()
    rows = [_row(ticket, today) for ticket in _own_tickets(request)]
    current = sorted(
        (row for row in rows if row.state in CURRENT_STATES),
        key=lambda row: (row.ticket.valid_through is None, row.ticket.valid_through or today, row.ticket.pk),
    )
    past = sorted(
        (row for row in rows if row.state not in CURRENT_STATES),
        key=lambda row: (row.ticket.valid_from, row.ticket.pk),
        reverse=True,
    )
    past_page = Paginator(past, PAST_PER_PAGE).get_page(request.GET.get("page"))
    _label_sources([row.ticket for row in current] + [row.ticket for row in past_page.object_list])
    return render(
        request,
        "site/tickets/wallet.html",
        {"current": current, "past": past_page.object_list, "past_page": past_page},
    )


@login_required
@require_http_methods(["GET"])
def ticket_detail(request, pk: int):
    """One of my tickets with its history (the ledger), oldest first."""
    ticket = get_object_or_404(_own_tickets(request), pk=pk)
    _label_sources([ticket])
    entries = (
        TicketEntry.objects.filter(ticket=ticket)
        .select_related("reservation__item", "order_line")
        .order_by("created_at", "id")
    )
    return render(
        request,
        "site/tickets/ticket_detail.html",
        {"row": _row(ticket, timezone.localdate()), "ticket": ticket, "entries": entries},
    )
