"""plans plugs into the apps below it (ARCHITECTURE.md): the "plan" payment method of bookings (inventory's
registry), which pays a booking with one of the plan's monthly allowance."""

from __future__ import annotations

from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from inventory.payment_methods import Charge, ChargeLine, PaymentMethod
from plans import allowance
from plans.models import PlanContract

# The system name on audit entries written when a job cancels a booking paid with the plan (by=None).
RESERVATION_CANCELLED = allowance.RESERVATION_CANCELLED


def plan_choice_label(contract: PlanContract, left: int) -> str:
    return gettext("Plan: {name} ({left} left this month for this time)").format(
        name=contract.plan.name, left=left
    )


class PlanPayment(PaymentMethod):
    """Pay a booking of one place with the plan's monthly allowance (SPEC §7): confirmed at once, costs no
    money (SPEC §9). Cancelling gives the allowance back; a no-show keeps it used."""

    key = "plan"
    label = _("Plan (monthly allowance)")
    note = _("Paying with your plan takes one booking from this month's allowance; nothing is charged.")

    def is_available(self, *, item, member, price_yen: int) -> bool:
        return True  # which contract can pay depends on the booking's day and time: `choices` lists them

    def choices(self, *, item, member, starts_at, quantity: int = 1) -> list[tuple[str, str]]:
        """The member's contracts that can pay for this booking: one place only, so none for more."""
        if quantity != 1:
            return []
        return [
            (str(contract.pk), plan_choice_label(contract, left))
            for contract, left in allowance.usable_contracts(member=member, item=item, starts_at=starts_at)
        ]

    def authorise(self, *, reservation, now, option: str = "", by=None) -> None:
        contract = allowance.contract_for_booking(
            reservation=reservation, contract_id=int(option) if option.isdigit() else None
        )
        # Whoever books takes from the allowance (the member on the site, staff taking the booking).
        allowance.allowance_take(
            contract=contract, reservation=reservation, by=by or reservation.member, now=now
        )

    def release(self, *, reservation, now, by=None, refund=None, system: str = "") -> None:
        allowance.allowance_restore(
            reservation=reservation, by=by, system=system or RESERVATION_CANCELLED, now=now
        )

    def charged_yen(self, *, reservations) -> dict[int, int]:
        """The plan pays the booking: no money is charged (SPEC §9)."""
        return {reservation.pk: 0 for reservation in reservations}

    def cancel_note(self, *, reservation) -> str | None:
        return gettext("The booking this took from your plan's monthly allowance is given back.")

    def no_show(self, *, reservation, now) -> None:
        """A no-show keeps the allowance used: nothing is given back."""

    def price_lines(self, *, member, item, quote) -> Charge:
        # SPEC §9: a booking paid with the plan costs no money (and so takes no member discount or coupon).
        return Charge(
            lines=(ChargeLine(gettext("One booking from your plan's monthly allowance"), 0),), total_yen=0
        )
