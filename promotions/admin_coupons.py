"""Staff admin of coupons (seed 002 プロモーションのセットアップ › 新しいプロモーション):

- the list: code, description, validity window, discount, uses (made / limit), per-member limit, scope,
  whether cancelling gives the use back, active; filtered by state, kind and validity, searched by code
  the way members type it (`summer10` and full-width `ＳＵＭＭＥＲ１０` find SUMMER10) or description;
- add and change through promotions.coupon_staff.coupon_save (the code normalised, every rule with its own
  message, a usage limit never below the uses made; the redemptions stay with the coupon);
- a coupon's page lists its uses (member, order, discount, when, given back?) with totals, and downloads
  them as CSV (promotions.coupon_csv, streamed);
- bulk creation (クーポンコードをリスト入力): paste codes, fill the conditions once, confirm the count;
  a list with an invalid, repeated or existing code creates nothing and names each line."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import Count, F, Q, Sum
from django.http import HttpRequest, StreamingHttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from core.admin_widgets import SafeAutocompleteSelectMultiple
from core.exceptions import DomainError
from core.templatetags.core_tags import yen
from promotions import coupon_csv
from promotions.codes import normalise_code
from promotions.coupon_staff import (
    CONDITION_FIELDS,
    BulkCodesRefusedError,
    CouponRefusedError,
    bulk_check,
    condition_problems,
    coupon_problems,
    coupon_save,
    coupons_bulk_create,
)
from promotions.models import Coupon, CouponRedemption

# The uses a coupon's page lists (newest first); the CSV has them all.
USES_SHOWN = 100
# Scope names the list shows per coupon before "and N more".
SCOPE_NAMES_SHOWN = 3


class CouponForm(forms.ModelForm):
    """The admin's form: after the model's own checks, the service's rules (coupon_staff) for the fields
    that have no error yet, so each field shows one message, the one that applies."""

    class Meta:
        model = Coupon
        fields = (
            "code",
            "description",
            "is_active",
            "discount_kind",
            "discount_value",
            "valid_from",
            "valid_until",
            "usage_limit",
            "per_member_limit",
            "gives_back_on_cancel",
            "items",
            "categories",
        )

    def clean_code(self):
        return normalise_code(self.cleaned_data.get("code", ""))

    def validate_unique(self):
        # The only unique field is the code, checked below with the normalised code in the message.
        pass

    def rule_problems(self) -> dict[str, str]:
        used = 0
        if self.instance.pk is not None:
            used = (
                Coupon.objects.filter(pk=self.instance.pk).values_list("used_count", flat=True).first() or 0
            )
        return coupon_problems(self.instance, used_count=used)

    def _post_clean(self):
        super()._post_clean()
        for name, message in self.rule_problems().items():
            if name in self.fields and name not in self.errors:
                self.add_error(name, message)


class CouponBulkForm(CouponForm):
    codes = forms.CharField(
        label=_("codes"),
        widget=forms.Textarea(attrs={"rows": 12, "cols": 40}),
        help_text=_(
            "One code per line (commas and spaces separate codes too). Half-width letters and digits; "
            "case does not matter."
        ),
    )
    confirmed = forms.CharField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.order_fields(["codes"])

    def rule_problems(self) -> dict[str, str]:
        return condition_problems(self.instance)

    def conditions(self) -> dict:
        data = self.cleaned_data
        return {name: data[name] for name in (*CONDITION_FIELDS, "items", "categories") if name in data}


class ValidityFilter(admin.SimpleListFilter):
    """Whether the coupon can be used now, by its window (not by its limit or active flag)."""

    title = _("validity")
    parameter_name = "validity"

    def lookups(self, request, model_admin):
        return [
            ("now", _("Valid now")),
            ("upcoming", _("Not yet valid")),
            ("ended", _("Ended")),
            ("used_up", _("Used up")),
        ]

    def queryset(self, request, queryset):
        now = timezone.now()
        started = Q(valid_from__isnull=True) | Q(valid_from__lte=now)
        not_ended = Q(valid_until__isnull=True) | Q(valid_until__gt=now)
        if self.value() == "now":
            return queryset.filter(started & not_ended)
        if self.value() == "upcoming":
            return queryset.filter(valid_from__gt=now)
        if self.value() == "ended":
            return queryset.filter(valid_until__lte=now)
        if self.value() == "used_up":
            return queryset.filter(usage_limit__gt=0, used_count__gte=F("usage_limit"))
        return queryset


def _when(value) -> str:
    return timezone.localtime(value).strftime("%Y/%m/%d %H:%M") if value else ""


def uses_summary(coupon: Coupon) -> dict:
    """A coupon's uses in figures: all redemptions, those given back, those standing and the discount they
    gave (one query)."""
    totals = CouponRedemption.objects.filter(coupon=coupon).aggregate(
        redemptions=Count("id"),
        released=Count("id", filter=Q(released_at__isnull=False)),
        discount=Sum("discount_yen", filter=Q(released_at__isnull=True)),
    )
    return {
        "redemptions": totals["redemptions"],
        "released": totals["released"],
        "standing": totals["redemptions"] - totals["released"],
        "discount_yen": totals["discount"] or 0,
    }


@admin.register(Coupon)
class CouponAdmin(admin.ModelAdmin):
    form = CouponForm
    list_display = (
        "code",
        "description",
        "window_display",
        "discount_display",
        "uses_display",
        "per_member_display",
        "scope_display",
        "gives_back_on_cancel",
        "is_active",
    )
    list_filter = ("is_active", ValidityFilter, "discount_kind", "gives_back_on_cancel")
    search_fields = ("code", "description")
    search_help_text = _("Code (as a member types it) or description.")
    autocomplete_fields = ("items", "categories")
    ordering = ("code",)
    list_per_page = 100
    change_form_template = "admin/promotions/coupon/change_form.html"
    change_list_template = "admin/promotions/coupon/change_list.html"
    fieldsets = (
        (None, {"fields": ("code", "description", "is_active")}),
        (_("Discount"), {"fields": ("discount_kind", "discount_value")}),
        (
            _("When and how often"),
            {
                "fields": (
                    "valid_from",
                    "valid_until",
                    "usage_limit",
                    "per_member_limit",
                    "gives_back_on_cancel",
                )
            },
        ),
        (
            _("Scope"),
            {
                "fields": ("items", "categories"),
                "description": _("Empty: the coupon applies to everything."),
            },
        ),
    )

    def get_queryset(self, request):
        # The scope column names a few items and categories: two prefetches per page, whatever its size.
        return super().get_queryset(request).prefetch_related("items", "categories")

    def get_search_results(self, request, queryset, search_term):
        """A code is searched the way it is stored (NFKC, upper-case), so `summer10` finds SUMMER10."""
        term = (search_term or "").strip()
        if not term:
            return queryset, False
        return queryset.filter(Q(code__contains=normalise_code(term)) | Q(description__icontains=term)), False

    # --- columns -----------------------------------------------------------------------------------------

    @admin.display(description=_("valid"), ordering="valid_from")
    def window_display(self, obj: Coupon) -> str:
        if not obj.valid_from and not obj.valid_until:
            return gettext("Always")
        return f"{_when(obj.valid_from)} – {_when(obj.valid_until)}"

    @admin.display(description=_("discount"), ordering="discount_value")
    def discount_display(self, obj: Coupon) -> str:
        if obj.discount_kind == Coupon.DiscountKind.PERCENT:
            return f"{obj.discount_value}%"
        return yen(obj.discount_value)

    @admin.display(description=_("uses"), ordering="used_count")
    def uses_display(self, obj: Coupon) -> str:
        return f"{obj.used_count:,} / {obj.usage_limit:,}" if obj.usage_limit else f"{obj.used_count:,} / ∞"

    @admin.display(description=_("per member"), ordering="per_member_limit")
    def per_member_display(self, obj: Coupon) -> str:
        return str(obj.per_member_limit) if obj.per_member_limit else "∞"

    @admin.display(description=_("scope"))
    def scope_display(self, obj: Coupon) -> str:
        names = [str(item) for item in obj.items.all()] + [str(category) for category in obj.categories.all()]
        if not names:
            return gettext("Everything")
        shown = ", ".join(names[:SCOPE_NAMES_SHOWN])
        more = len(names) - SCOPE_NAMES_SHOWN
        return shown + (gettext(" and %(count)d more") % {"count": more} if more > 0 else "")

    # --- saving through the service -------------------------------------------------------------------

    def save_model(self, request, obj, form, change):
        # The form ran the same rules; the service checks again under the row lock (a use made meanwhile)
        # and records who saved what.
        coupon_save(coupon=obj, by=request.user)

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except CouponRefusedError as error:
            # The form passed, but the service refused under the row lock (a use made or the same code saved
            # meanwhile): nothing was saved (the admin's transaction rolled back); say why and show the page
            # again with what is stored now.
            self.message_user(
                request, " ".join(str(message) for message in error.errors.values()), messages.ERROR
            )
            return redirect(request.get_full_path())

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if db_field.name in self.autocomplete_fields:
            # Django's own widget answers 500 when the form comes back with a value that is no id.
            kwargs["widget"] = SafeAutocompleteSelectMultiple(
                db_field, self.admin_site, using=kwargs.get("using")
            )
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def has_delete_permission(self, request, obj=None):
        # A coupon that was ever used is history (its redemptions keep it: PROTECT); without, it may go.
        if obj is not None and obj.redemptions.exists():
            return False
        return super().has_delete_permission(request, obj)

    # --- pages -------------------------------------------------------------------------------------------

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("bulk/", view(self.bulk_view), name="promotions_coupon_bulk"),
            path("<path:object_id>/uses.csv", view(self.uses_csv_view), name="promotions_coupon_uses_csv"),
            *super().get_urls(),
        ]

    def changelist_view(self, request, extra_context=None):
        extra = {
            "bulk_url": reverse("admin:promotions_coupon_bulk") if self.has_add_permission(request) else ""
        }
        return super().changelist_view(request, {**extra, **(extra_context or {})})

    def change_view(self, request, object_id, form_url="", extra_context=None):
        coupon = self.get_object(request, unquote(object_id))
        extra = {}
        if coupon is not None:
            extra = {
                "uses": list(
                    CouponRedemption.objects.filter(coupon=coupon)
                    .select_related("member")
                    .order_by("-redeemed_at", "-id")[:USES_SHOWN]
                ),
                "uses_summary": uses_summary(coupon),
                "uses_shown": USES_SHOWN,
                "uses_csv_url": reverse("admin:promotions_coupon_uses_csv", args=[coupon.pk]),
            }
        return super().change_view(request, object_id, form_url, {**extra, **(extra_context or {})})

    def uses_csv_view(self, request: HttpRequest, object_id: str):
        coupon = self.get_object(request, unquote(object_id))
        if not self.has_view_permission(request, coupon):
            raise PermissionDenied
        if coupon is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        stream = coupon_csv.redemptions_download(coupon=coupon, by=request.user)
        response = StreamingHttpResponse(stream, content_type="text/csv; charset=Shift_JIS")
        name = coupon_csv.file_name(coupon, timezone.localdate())
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response

    def bulk_view(self, request: HttpRequest):
        """Paste codes, set the conditions once, confirm the count: one coupon per code, all or nothing."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        form_class = self.get_form(
            request, None, form=CouponBulkForm, fields=[*CONDITION_FIELDS, "items", "categories"]
        )
        form = form_class(request.POST or None)
        confirm = None
        problems: list[tuple[int, str, str]] = []
        if request.method == "POST" and form.is_valid():
            codes_text = form.cleaned_data["codes"]
            try:
                parsed = bulk_check(codes_text)
                if form.cleaned_data.get("confirmed") != parsed.fingerprint:
                    # 確認: the count is shown before anything is created; a changed list is asked again.
                    form.data = form.data.copy()
                    form.data["confirmed"] = parsed.fingerprint
                    confirm = ngettext(
                        "Create %(count)d coupon with these conditions?",
                        "Create %(count)d coupons with these conditions?",
                        len(parsed.codes),
                    ) % {"count": len(parsed.codes)}
                else:
                    created = coupons_bulk_create(
                        codes_text=codes_text, conditions=form.conditions(), by=request.user
                    )
                    self.message_user(
                        request,
                        ngettext("%(count)d coupon created.", "%(count)d coupons created.", len(created))
                        % {"count": len(created)},
                        messages.SUCCESS,
                    )
                    return redirect(reverse("admin:promotions_coupon_changelist"))
            except BulkCodesRefusedError as error:
                problems = error.problems
                form.add_error("codes", error.message)
            except CouponRefusedError as error:
                for name, message in error.errors.items():
                    form.add_error(name if name in form.fields else None, message)
            except DomainError as error:
                form.add_error(error.field if error.field in form.fields else None, error.message)
        return TemplateResponse(
            request,
            "admin/promotions/coupon/bulk.html",
            {
                **self.admin_site.each_context(request),
                "opts": self.opts,
                "subtitle": None,
                "title": gettext("Create coupons from a list of codes"),
                "changelist_url": reverse("admin:promotions_coupon_changelist"),
                "form": form,
                "media": self.media + form.media,
                "confirm": confirm,
                "problems": problems,
                "button": gettext("Yes, create them") if confirm else gettext("Check the list"),
            },
        )
