from django.db import models
from django.utils.translation import gettext_lazy as _

from core.models import TimeStampedModel


class Store(TimeStampedModel):
    """A shop location. Items (later issues) belong to one store."""

    name = models.CharField(_("name"), max_length=100, unique=True)
    address = models.CharField(_("address"), max_length=255, blank=True)
    phone = models.CharField(_("phone"), max_length=20, blank=True)
    opening_hours = models.TextField(
        _("opening hours"),
        blank=True,
        help_text=_("Shown to members as written, e.g. 10:00〜20:00 (closed on Tuesdays)."),
    )
    display_order = models.PositiveIntegerField(_("display order"), default=1)
    is_public = models.BooleanField(
        _("public"), default=True, help_text=_("Hidden from the member site when off.")
    )

    class Meta:
        verbose_name = _("store")
        verbose_name_plural = _("stores")
        ordering = ["display_order", "id"]

    def __str__(self) -> str:
        return self.name
