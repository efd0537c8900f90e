"""The admin site, its menu grouped by the day's work (予約, 会員, アイテム, チケット, 受注, 設定) instead of
by app, with the login-throttling tables last under a security heading.

Installed by `ShopAdminConfig` in place of "django.contrib.admin" in INSTALLED_APPS, so `admin.site` is a
`ShopAdminSite` and every `admin.register` lands on it. Only the index page and the nav sidebar are
grouped: a per-app page (/admin/<app_label>/) still lists its app as Django does.
"""

from __future__ import annotations

from django.contrib import admin
from django.contrib.admin.apps import AdminConfig
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.views.main import ChangeList
from django.db.models.base import ModelBase
from django.urls import reverse
from django.utils.translation import gettext_lazy, pgettext_lazy

# (key, heading, model labels in menu order). A registered model named nowhere goes to OTHER_GROUP, so a
# later app's models are never hidden from the menu.
MENU_GROUPS = (
    ("reservations", pgettext_lazy("admin menu", "Reservations"), ("inventory.Reservation",)),
    ("members", pgettext_lazy("admin menu", "Members"), ("members.Member",)),
    (
        "items",
        pgettext_lazy("admin menu", "Items"),
        (
            "inventory.Item",
            "inventory.Review",
            "inventory.Category",
            "inventory.Store",
            "inventory.Slot",
            "inventory.AcceptanceOverride",
        ),
    ),
    ("tickets", pgettext_lazy("admin menu", "Tickets"), ("tickets.TicketType", "tickets.MemberTicket")),
    (
        "plans",
        gettext_lazy("Plans"),  # the plans app's own name (プラン), already translated
        ("plans.Plan", "plans.PlanContract", "plans.PlanGrant", "plans.TimeBand"),
    ),
    (
        "points",
        gettext_lazy("Points"),  # the points app's own name (ポイント), already translated
        ("points.PointEntry", "points.PointShortfall"),
    ),
    (
        "promotions",
        gettext_lazy("Promotions"),  # the promotions app's own name (クーポン・割引), already translated
        ("promotions.Coupon", "promotions.PriceRule"),
    ),
    (
        "orders",
        pgettext_lazy("admin menu", "Orders"),
        ("payments.Order", "payments.Product", "payments.StripeEvent"),
    ),
    (
        "settings",
        pgettext_lazy("admin menu", "Settings"),
        (
            "inventory.ReservationSettings",
            "inventory.Season",
            "payments.PaymentSettings",
            "points.PointSettings",
        ),
    ),
    ("system", pgettext_lazy("admin menu", "System"), ("core.Job", "core.AuditEntry", "auth.Group")),
    (
        "security",
        pgettext_lazy("admin menu", "Security"),
        ("axes.AccessAttempt", "axes.AccessFailureLog", "axes.AccessLog"),
    ),
)
OTHER_GROUP = "system"


class ShopChangeList(ChangeList):
    """Django's list, with a date-hierarchy year out of datetime's range (?created_at__year=99999999999,
    or 9999, whose next year does not exist) refused like any bad filter (the list reloads with ?e=1)
    instead of answering 500: Django catches only the ValueError of building the first day."""

    def get_filters(self, request):
        try:
            return super().get_filters(request)
        except (OverflowError, ValueError) as error:
            raise IncorrectLookupParameters(error) from error


class ShopAdminSite(admin.AdminSite):
    def register(self, model_or_iterable, admin_class=None, **options):
        super().register(model_or_iterable, admin_class, **options)
        models = [model_or_iterable] if isinstance(model_or_iterable, ModelBase) else model_or_iterable
        for model in models:
            model_admin = self._registry.get(model)  # None: a swapped model (auth.User), not registered
            if (
                model_admin is not None
                and type(model_admin).get_changelist is admin.ModelAdmin.get_changelist
            ):
                # Every list of the site, unless an admin chose its own list class.
                model_admin.get_changelist = lambda request, **kwargs: ShopChangeList

    @property
    def login_form(self):
        # Imported here: this module is loaded with the app registry, before auth's forms can be.
        from core.auth_forms import AdminLoginForm

        return AdminLoginForm

    def get_app_list(self, request, app_label=None):
        if app_label is not None:
            return super().get_app_list(request, app_label)
        # Django's own per-app dicts, already filtered by the user's permissions; regrouped here.
        app_dict = self._build_app_dict(request)
        models = {entry["model"]._meta.label: entry for app in app_dict.values() for entry in app["models"]}
        named = {label for _key, _heading, labels in MENU_GROUPS for label in labels}
        others = sorted(
            (entry for label, entry in models.items() if label not in named),
            key=lambda entry: str(entry["name"]).lower(),
        )
        index_url = reverse("admin:index", current_app=self.name)
        groups = []
        for key, heading, labels in MENU_GROUPS:
            entries = [models[label] for label in labels if label in models]
            if key == OTHER_GROUP:
                entries += others
            if entries:
                groups.append(
                    {
                        "name": heading,
                        "app_label": key,
                        # The heading leads back to the menu: a group spans several apps, so it has no
                        # page of its own (and a fragment never matches a page's path, so Django's
                        # "current-app" marker does not light up every group).
                        "app_url": f"{index_url}#{key}",
                        "has_module_perms": True,
                        "models": entries,
                    }
                )
        return groups


class ShopAdminConfig(AdminConfig):
    default_site = "core.admin_site.ShopAdminSite"
