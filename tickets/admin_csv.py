"""CSV export and import of ticket types in the staff admin (SPEC §6): buttons on the ticket list, the
upload form with its dry-run preview, each run as a job (core.jobs)."""


class TicketTypeCsvAdminMixin:
    """Adds the CSV export/import views to TicketTypeAdmin."""
