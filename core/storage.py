"""Private files: what jobs read and write (CSV imports, exports and error files hold member and business
data). They live under PRIVATE_ROOT, a folder of their own outside MEDIA_ROOT that no static or media
route serves, and are read only by the staff download view (core.admin.JobAdmin.download_view), which
checks permission and ownership."""

from __future__ import annotations

from django.conf import settings
from django.core.files.storage import FileSystemStorage
from django.utils.deconstruct import deconstructible
from django.utils.functional import cached_property


@deconstructible(path="core.storage.PrivateStorage")
class PrivateStorage(FileSystemStorage):
    """A FileSystemStorage rooted at settings.PRIVATE_ROOT (read when first used, so tests can move it)."""

    @cached_property
    def base_location(self):
        return self._value_or_setting(self._location, settings.PRIVATE_ROOT)

    def _clear_cached_properties(self, setting, **kwargs):
        super()._clear_cached_properties(setting, **kwargs)
        if setting == "PRIVATE_ROOT":
            self.__dict__.pop("base_location", None)
            self.__dict__.pop("location", None)

    def url(self, name):
        raise ValueError("Private files have no URL; staff download them through the job-history view.")


private_storage = PrivateStorage()
