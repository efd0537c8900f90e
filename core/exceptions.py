from django.utils.translation import gettext_lazy as _


class DomainError(Exception):
    """A business rule refused an operation. `message` is shown to the user as it is (translated).

    Views turn it into a form error or a message, commands into CommandError, tasks into a recorded job
    failure. Subclasses set a default message; a call may pass a more precise one.
    """

    default_message = _("This operation is not allowed.")

    def __init__(self, message=None, *, field: str | None = None):
        self.message = message if message is not None else self.default_message
        self.field = field
        super().__init__(str(self.message))

    def __str__(self) -> str:
        return str(self.message)
