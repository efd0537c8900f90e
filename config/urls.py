import re

from django.conf import settings
from django.contrib import admin
from django.urls import include, path, re_path
from django.utils.translation import gettext_lazy as _

from core.views import healthz

admin.site.site_header = _("Shop admin")
admin.site.site_title = _("Shop admin")
admin.site.index_title = _("Administration menu")

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    path("members/", include("members.urls")),
    path("payments/", include("payments.urls")),
    path("tickets/", include("tickets.urls")),
    path("", include("inventory.urls")),
]

if settings.DEBUG:
    from django.views.static import serve

    # Uploaded images for local development. Job files (jobs/…: CSVs with member and business data) are
    # left out: they are downloaded only through the staff-only job-history view.
    urlpatterns += [
        re_path(
            rf"^{re.escape(settings.MEDIA_URL.lstrip('/'))}(?P<path>(?!jobs/).*)$",
            serve,
            {"document_root": settings.MEDIA_ROOT},
        )
    ]
