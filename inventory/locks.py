"""Row locks taken before the checks that keep bookings within stock and capacity."""

from inventory.models import Item, Reservation, Slot


def item_for_update(item_id: int) -> Item:
    """Serialises bookings of one item: every free-type booking locks its item row, then checks stock."""
    return Item.objects.select_for_update().get(pk=item_id)


def slot_for_update(slot_id: int) -> Slot:
    return Slot.objects.select_for_update().get(pk=slot_id)


def reservation_for_update(reservation_id: int) -> Reservation:
    # Locks only the reservation row (of=("self",)): the slot counter changes by conditional UPDATE.
    return (
        Reservation.objects.select_for_update(of=("self",))
        .select_related("item", "member")
        .get(pk=reservation_id)
    )
