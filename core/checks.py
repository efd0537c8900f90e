"""System checks (`manage.py check`, run by every management command and the development server)."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.checks import Error, Tags, register


@register(Tags.security)
def private_root_is_outside_public_folders(app_configs, **kwargs) -> list[Error]:
    """Job files (core.storage) are private only while no static or media route reaches their folder."""
    private = Path(settings.PRIVATE_ROOT).resolve()
    errors = []
    for name in ("MEDIA_ROOT", "STATIC_ROOT"):
        if not getattr(settings, name, None):
            continue
        public = Path(getattr(settings, name)).resolve()
        if private.is_relative_to(public) or public.is_relative_to(private):
            errors.append(
                Error(
                    f"PRIVATE_ROOT ({private}) and {name} ({public}) overlap: job files (member and business "
                    f"data) would be served as public files.",
                    hint=f"Give PRIVATE_ROOT a folder of its own, outside {name}.",
                    id="core.E001",
                )
            )
    return errors
