"""Batched writes for imports: many rows of one model in one statement, every value a parameter.

    bulk_insert(TicketType, new)                   INSERT … SELECT FROM unnest(…): one array per column
    bulk_update(TicketType, changed, fields)       UPDATE … FROM unnest(…) joined on the primary key
    insert_values(Through, ["a_id", "b_id"], pairs) plain rows, no model instances

Why not Django's bulk_create / bulk_update: bulk_update writes a CASE with a branch per row for each
column, which PostgreSQL evaluates row by row (quadratic in the batch size), and both send one parameter
per cell, which psycopg's client-side binding parses and quotes one by one (15,000 parameters for a batch
of 500 rows of 30 columns). Here a batch is one parameter per column, whatever its number of rows.

`bulk_insert` takes the new rows' IDs from the table's sequence first (one query), so each object gets its
own ID whatever order PostgreSQL inserts the rows in. Fields with `auto_now` / `auto_now_add` are filled
as `Model.save()` fills them (`Field.pre_save`). Neither sends signals nor runs validation: the caller
has checked every row.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from django.db import DEFAULT_DB_ALIAS, connections, models
from django.db.models import Model


def _array_type(field, connection) -> str:
    return f"{field.db_type(connection)}[]"


# Fields whose Python value psycopg adapts exactly as Django's get_db_prep_save would (an int, a str, a
# bool, or None): their values go into the arrays as they are, skipping three calls per cell.
_PLAIN_FIELDS = (models.BooleanField, models.CharField, models.TextField, models.IntegerField)


def _column(field, objs: Sequence[Model], connection, *, add: bool) -> list:
    """The database values of `field` for every object (`Field.pre_save` fills auto_now dates)."""
    attname = field.attname
    target = field.target_field if field.is_relation else field
    if isinstance(target, _PLAIN_FIELDS):
        values = [getattr(obj, attname) for obj in objs]
        if all(value is None or type(value) in (int, str, bool) for value in values):
            return values
    return [field.get_db_prep_save(field.pre_save(obj, add), connection) for obj in objs]


def bulk_insert(model: type[Model], objs: Sequence[Model]) -> None:
    """Inserts `objs` (new, without IDs) in one statement and sets each one's ID."""
    if not objs:
        return
    connection = connections[DEFAULT_DB_ALIAS]  # looked up once, not per value
    meta = model._meta
    pk = meta.pk
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
            [meta.db_table, pk.column, len(objs)],
        )
        ids = [row[0] for row in cursor.fetchall()]
        for obj, new_id in zip(objs, ids, strict=True):
            setattr(obj, pk.attname, new_id)
        _insert(cursor, connection, meta, list(meta.concrete_fields), objs)
    for obj in objs:
        obj._state.adding = False
        obj._state.db = connection.alias


def bulk_update(model: type[Model], objs: Sequence[Model], field_names: Iterable[str]) -> None:
    """Writes `field_names` of every object in `objs` (stored, with IDs) in one statement. A field with
    `auto_now` among them gets the current time, as `save()` would give it."""
    if not objs:
        return
    connection = connections[DEFAULT_DB_ALIAS]
    meta = model._meta
    quote = connection.ops.quote_name
    fields = [meta.get_field(name) for name in field_names]
    pk = meta.pk
    columns = [[getattr(obj, pk.attname) for obj in objs]]
    columns += [_column(field, objs, connection, add=False) for field in fields]
    arrays = ", ".join(f"%s::{_array_type(field, connection)}" for field in [pk, *fields])
    aliases = ", ".join(["id", *(f"c{index}" for index in range(len(fields)))])
    assignments = ", ".join(f"{quote(field.column)} = v.c{index}" for index, field in enumerate(fields))
    table = quote(meta.db_table)
    with connection.cursor() as cursor:
        # Only the model's own quoted table and column names and database types are formatted in.
        cursor.execute(
            f"UPDATE {table} AS t SET {assignments} FROM unnest({arrays}) AS v({aliases}) "  # noqa: S608
            f"WHERE t.{quote(pk.column)} = v.id",
            columns,
        )


def insert_values(model: type[Model], field_names: Sequence[str], rows: Sequence[Sequence]) -> None:
    """Inserts plain rows (tuples of database values of `field_names`, e.g. the pairs of a many-to-many
    table) in one statement, without making model instances; the other columns take their defaults."""
    if not rows:
        return
    connection = connections[DEFAULT_DB_ALIAS]
    fields = [model._meta.get_field(name) for name in field_names]
    with connection.cursor() as cursor:
        _insert(
            cursor,
            connection,
            model._meta,
            fields,
            None,
            [list(column) for column in zip(*rows, strict=True)],
        )


def _insert(cursor, connection, meta, fields, objs, columns=None) -> None:
    """One INSERT … SELECT FROM unnest(…) of `fields`: the values of `objs`, or the given `columns`."""
    if columns is None:
        columns = [_column(field, objs, connection, add=True) for field in fields]
    arrays = ", ".join(f"%s::{_array_type(field, connection)}" for field in fields)
    names = ", ".join(connection.ops.quote_name(field.column) for field in fields)
    table = connection.ops.quote_name(meta.db_table)
    # Only the model's own quoted table and column names and database types are formatted in.
    cursor.execute(f"INSERT INTO {table} ({names}) SELECT * FROM unnest({arrays})", columns)  # noqa: S608
