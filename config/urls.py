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
    path("plans/", include("plans.urls")),
    path("points/", include("points.urls")),
    path("", include("inventory.urls")),
]

if getattr(settings, "BENCHMARK_VIEWS", False):
    # Only for the server `manage.py benchmark_booking_http` starts (BENCHMARK_VIEWS=1, read by
    # config.settings.local alone): production settings never set it, so this URL never exists there.
    from inventory import benchmark_views

    urlpatterns += [path(benchmark_views.PATH, benchmark_views.trivial_insert)]

if settings.DEBUG:
    from core.views import serve_media

    # Uploaded images for local development. Job files (CSVs with member and business data) are not under
    # MEDIA_ROOT: they live in private storage (PRIVATE_ROOT), which no URL serves, and are downloaded only
    # through the staff-only job-history view.
    urlpatterns += [re_path(rf"^{re.escape(settings.MEDIA_URL.lstrip('/'))}(?P<path>.*)$", serve_media)]
