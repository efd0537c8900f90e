"""Row locks taken before the checks that keep bookings within stock and capacity."""

from django.db import connection

from inventory.models import Item, Reservation, Slot


def item_for_update(item_id: int) -> Item:
    """Serialises bookings of one item: every free-type booking locks its item row, then checks stock."""
    return Item.objects.select_for_update().get(pk=item_id)


def item_stock_for_update(item_id: int) -> int:
    """The same lock as item_for_update, for a booking, which needs only the stock under it (the item row
    itself was read before the transaction): one plain statement instead of the whole model's."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT stock FROM {Item._meta.db_table} WHERE id = %s FOR UPDATE", [item_id])  # noqa: S608
        row = cursor.fetchone()
    if row is None:
        raise Item.DoesNotExist
    return row[0]


def slot_for_update(slot_id: int) -> Slot:
    return Slot.objects.select_for_update().get(pk=slot_id)


def reservation_for_update(reservation_id: int) -> Reservation:
    """The reservation, locked, after the bookings paid together with it (its payment method's
    `lock_paid_together`: the weeks of a repeat booking's one order), so every path locks a repeat booking's
    weeks in the same order. Locks only reservation rows (of=("self",)): the slot counter changes by
    conditional UPDATE."""
    from inventory import payment_methods

    key = Reservation.objects.filter(pk=reservation_id).values_list("payment_method", flat=True).first()
    method = payment_methods.registered(key)
    if method is not None:
        method.lock_paid_together(reservation_id=reservation_id)
    return (
        Reservation.objects.select_for_update(of=("self",))
        .select_related("item", "member")
        .get(pk=reservation_id)
    )


def item_key_share(item_id: int) -> None:
    """FOR KEY SHARE on the item row (what the reservation's foreign key takes anyway, taken earlier): a
    fixed-slot booking holds it before it reads the item's events, so a stock or capacity edit, which locks
    the item FOR UPDATE, either waits for the booking (and then sees its slot) or goes first (and the
    booking then reads the new capacities). Bookings do not block one another on it."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT 1 FROM {Item._meta.db_table} WHERE id = %s FOR KEY SHARE", [item_id])  # noqa: S608


def future_slots_for_update(item_id: int, since) -> list[Slot]:
    """The item's slots starting at or after `since`, locked in primary-key order (no deadlock with another
    editor; bookings lock one slot each)."""
    return list(Slot.objects.select_for_update().filter(item_id=item_id, starts_at__gte=since).order_by("pk"))
