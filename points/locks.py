"""A member's points change under the lock on their account row: every grant, use, reversal, adjustment
and expiry of one member is serialised by it (lots and allocations are only written under it)."""

from django.db import connection

from points.models import PointAccount


def account_for_update(member_id: int) -> PointAccount:
    """The member's account, made at 0 on first use, held FOR UPDATE until the transaction ends. It is looked
    for before it is inserted, so a change to an existing account never waits on another transaction's
    insert."""
    rows = PointAccount.objects.select_for_update().filter(member_id=member_id)
    account = rows.first()
    if account is not None:
        return account
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {PointAccount._meta.db_table} (member_id, balance, created_at, updated_at) "  # noqa: S608
            "VALUES (%s, 0, now(), now()) ON CONFLICT DO NOTHING",
            [member_id],
        )
    return rows.get()
