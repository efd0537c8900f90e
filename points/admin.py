"""The points admin: the settings (points.admin_settings) and the ledger with its manual entry, edits and
CSV download (points.admin_ledger). Each module registers its own model admin."""

from points import admin_ledger, admin_settings  # noqa: F401 - registers the admins
