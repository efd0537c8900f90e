"""`field__any=[…]`: `field = ANY(%s::type[])`, the whole list as ONE array parameter.

Django's `__in` sends one parameter per value, and psycopg's client-side binding (Django's default with
psycopg 3) parses and quotes each: for the 500 IDs of an import batch that is several milliseconds per
query, more than PostgreSQL takes to run it. Imports and other bulk reads use `__any` instead; an empty
list matches nothing, as `__in` does.
"""

from __future__ import annotations

from django.db.models import Field, ForeignObject, Lookup


@Field.register_lookup
@ForeignObject.register_lookup  # (relations keep their own set of lookups): `product_id__any=[…]` of IDs
class Any(Lookup):
    lookup_name = "any"
    prepare_rhs = False

    def get_db_prep_lookup(self, value, connection):
        return "%s", [list(value)]

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        _rhs, rhs_params = self.process_rhs(compiler, connection)
        array_type = f"{self.lhs.output_field.db_type(connection)}[]"
        return f"{lhs} = ANY(%s::{array_type})", (*lhs_params, *rhs_params)
