"""Staff admin of the point ledger (seed 004 ショップ管理ツール › ポイント管理 / 会員ポイント履歴):

- the ledger (ポイント履歴): every entry, newest first, searched by period (from–to, JST days), kind and
  member (e-mail, name or kana; or one member through ?member=<id>, which adds their balance and lots with
  their expiries above the list); read-only rows (append-only: nothing is added, changed or deleted
  through the generic admin);
- the CSV download of the current search, streamed (points.ledger_csv);
- a manual entry (+/−, a required comment, an optional expiry for +), a minus confirmed first;
- editing an entry's comment or the expiry of the points it added.
Every change goes through a service in points.services."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.utils import unquote
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, StreamingHttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from core.admin import PeriodFilter
from core.exceptions import DomainError
from points import ledger_csv, services
from points.models import MAX_POINTS, PointAccount, PointEntry, PointLot, PointSettings

Kind = PointEntry.Kind
Method = PointSettings.ExpiryMethod


def _is_id(text: str | None) -> bool:
    """A row id as typed in a URL: ASCII digits that fit a bigint."""
    return bool(text) and text.isascii() and text.isdigit() and len(text) <= 18


class MemberFilter(admin.SimpleListFilter):
    """One member's history (?member=<id>): shown in the sidebar only while it is used, to clear it."""

    title = _("member")
    parameter_name = "member"

    def lookups(self, request, model_admin):
        value = self.value()
        if _is_id(value):
            member = get_user_model().objects.filter(pk=int(value)).first()
            if member is not None:
                return [(str(member.pk), str(member))]
        return []

    def queryset(self, request, queryset):
        value = self.value()
        if not value:
            return queryset
        if not _is_id(value):
            raise IncorrectLookupParameters(value)
        return queryset.filter(member_id=int(value))


def who_text(entry: PointEntry) -> str:
    """Who made the entry: the staff member, the member themself, or the system job."""
    if entry.created_by_id is None:
        return gettext("System: %(job)s") % {"job": entry.system} if entry.system else gettext("System")
    if entry.created_by_id == entry.member_id:
        return gettext("The member")
    by = entry.created_by
    return by.name or by.email


def member_by_id_or_email(text: str):
    text = (text or "").strip()
    members = get_user_model().objects
    if _is_id(text):
        return members.filter(pk=int(text)).first()
    return members.filter(email__iexact=text).first() if text else None


class AdjustForm(forms.Form):
    member = forms.CharField(
        label=_("member"), max_length=254, help_text=_("The member's ID or e-mail address.")
    )
    delta = forms.IntegerField(
        label=_("change in points"),
        min_value=-MAX_POINTS,
        max_value=MAX_POINTS,
        help_text=_("Positive to add points (a bonus, a refund in points), negative to take some away."),
    )
    reason = forms.CharField(
        label=_("comment"), max_length=200, help_text=_("Why: kept in the member's point history.")
    )
    expires_on = forms.DateField(
        label=_("valid through"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text=_("Only for points added. Empty: the points have no date of their own."),
    )
    confirmed_delta = forms.CharField(required=False, widget=forms.HiddenInput)

    def clean_member(self):
        member = member_by_id_or_email(self.cleaned_data["member"])
        if member is None:
            raise forms.ValidationError(gettext("There is no member with this ID or e-mail address."))
        return member

    def clean(self):
        data = super().clean()
        if data.get("delta") == 0:
            self.add_error("delta", gettext("Enter a change other than 0."))
        if data.get("expires_on") is not None and (data.get("delta") or 0) < 0:
            self.add_error("expires_on", gettext("Only points added can have an expiry date."))
        return data


class EditForm(forms.Form):
    comment = forms.CharField(label=_("comment"), max_length=200, required=False)
    expires_on = forms.DateField(
        label=_("valid through"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text=_(
            "The last day the points this entry added can be used (JST). Empty: no date. The member's "
            "lot moves with it."
        ),
    )

    def __init__(self, *args, with_expiry: bool, **kwargs):
        super().__init__(*args, **kwargs)
        if not with_expiry:
            del self.fields["expires_on"]


def expiry_editable(entry: PointEntry) -> bool:
    """Per record, the entry added points of which some are left (its lot): their date can be changed."""
    if PointSettings.current().expiry_method != Method.PER_RECORD:
        return False
    return PointLot.objects.filter(entry=entry, remaining__gt=0).exists()


def member_summary(member_id: int) -> dict | None:
    """The member's balance and the lots that still hold points, with their dates (three queries)."""
    member = get_user_model().objects.filter(pk=member_id).first()
    if member is None:
        return None
    account = PointAccount.objects.filter(member=member).first()
    lots = list(
        PointLot.objects.filter(member=member, remaining__gt=0)
        .select_related("entry")
        .order_by("expires_on", "pk")
    )
    whole = PointSettings.current().expiry_method == Method.WHOLE_BALANCE
    return {
        "member": member,
        "balance": account.balance if account else 0,
        "balance_expires_on": account.expires_on if account and whole else None,
        "whole_balance": whole,
        "lots": lots,
    }


@admin.register(PointEntry)
class PointEntryAdmin(admin.ModelAdmin):
    list_display = (
        "at_display",
        "member_display",
        "kind",
        "change_display",
        "balance_after",
        "expires_on",
        "order_display",
        "who_display",
        "note_display",
    )
    list_display_links = ("at_display",)
    list_filter = (PeriodFilter, "kind", MemberFilter)
    search_fields = ("member__email", "member__name", "member__name_kana")
    search_help_text = _("Member e-mail, name or kana.")
    list_select_related = ("member", "created_by")
    ordering = ("-created_at", "-id")
    show_full_result_count = False  # a second COUNT(*) over a table that only grows
    list_per_page = 50
    change_list_template = "admin/points/pointentry/change_list.html"
    change_form_template = "admin/points/pointentry/change_form.html"
    fields = (
        "at_display",
        "member_display",
        "kind",
        "change_display",
        "balance_after",
        "expires_on",
        "previous_expires_on",
        "order_display",
        "reverses",
        "who_display",
        "reason",
        "comment",
    )
    readonly_fields = fields

    # --- columns -----------------------------------------------------------------------------------------

    @admin.display(description=_("at"), ordering="created_at")
    def at_display(self, obj: PointEntry) -> str:
        return timezone.localtime(obj.created_at).strftime("%Y/%m/%d %H:%M")

    @admin.display(description=_("member"), ordering="member__email")
    def member_display(self, obj: PointEntry) -> str:
        url = reverse("admin:points_pointentry_changelist") + f"?member={obj.member_id}"
        return format_html('<a href="{}">{}</a>', url, obj.member)

    @admin.display(description=_("change"), ordering="delta")
    def change_display(self, obj: PointEntry) -> str:
        return f"{obj.delta:+,d}"

    @admin.display(description=_("order"), ordering="order_id")
    def order_display(self, obj: PointEntry) -> str:
        if obj.order_id is None:
            return "—"
        return format_html(
            '<a href="{}">#{}</a>', reverse("admin:payments_order_change", args=[obj.order_id]), obj.order_id
        )

    @admin.display(description=_("by"))
    def who_display(self, obj: PointEntry) -> str:
        return who_text(obj)

    @admin.display(description=_("reason / comment"))
    def note_display(self, obj: PointEntry) -> str:
        if obj.reason and obj.comment:
            return format_html("{}<br>{}", obj.reason, obj.comment)
        return obj.reason or obj.comment or ""

    # --- append-only ---------------------------------------------------------------------------------

    def has_add_permission(self, request):
        return False  # a manual entry goes through adjust_view, which asks for a comment

    def has_delete_permission(self, request, obj=None):
        return False  # history is never deleted

    def has_change_permission(self, request, obj=None):
        return False  # read-only rows; the comment and expiry are edited through edit_view

    def _may_adjust(self, request) -> bool:
        return request.user.has_perm("points.add_pointentry")

    def _may_edit(self, request) -> bool:
        return request.user.has_perm("points.change_pointentry")

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("adjust/", view(self.adjust_view), name="points_pointentry_adjust"),
            path("csv/", view(self.csv_view), name="points_pointentry_csv"),
            path("<path:object_id>/edit/", view(self.edit_view), name="points_pointentry_edit"),
            *super().get_urls(),
        ]

    def changelist_view(self, request, extra_context=None):
        extra = {
            "adjust_url": reverse("admin:points_pointentry_adjust") if self._may_adjust(request) else "",
            "csv_url": reverse("admin:points_pointentry_csv")
            + (f"?{request.GET.urlencode()}" if request.GET else ""),
            "member_summary": None,
        }
        member = request.GET.get(MemberFilter.parameter_name, "")
        if _is_id(member):
            extra["member_summary"] = member_summary(int(member))
            if extra["adjust_url"]:
                extra["adjust_url"] += f"?member={member}"
        return super().changelist_view(request, {**extra, **(extra_context or {})})

    def change_view(self, request, object_id, form_url="", extra_context=None):
        entry = self.get_object(request, unquote(object_id))
        extra = {"operations": []}
        if entry is not None and self._may_edit(request):
            extra["operations"] = [
                (gettext("Edit comment or expiry…"), reverse("admin:points_pointentry_edit", args=[entry.pk]))
            ]
        return super().change_view(request, object_id, form_url, {**extra, **(extra_context or {})})

    # --- the CSV of the current search -------------------------------------------------------------

    def csv_view(self, request: HttpRequest):
        """The list's current search (period, kind, member, search words) as cp932 CSV, streamed."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        try:
            changelist = self.get_changelist_instance(request)
        except IncorrectLookupParameters:
            # A search the list itself would refuse: back to the list, which says so (?e=1).
            return redirect(reverse("admin:points_pointentry_changelist") + "?e=1")
        queryset = changelist.get_queryset(request).order_by("created_at", "id")
        stream = ledger_csv.ledger_download(
            queryset=queryset, by=request.user, filters=dict(request.GET.lists())
        )
        response = StreamingHttpResponse(stream, content_type="text/csv; charset=Shift_JIS")
        name = ledger_csv.file_name(timezone.localdate())
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response

    # --- manual entry ------------------------------------------------------------------------------

    def _page(self, request, template: str, **context):
        return TemplateResponse(
            request,
            template,
            {
                **self.admin_site.each_context(request),
                "opts": self.opts,
                "subtitle": None,
                "changelist_url": reverse("admin:points_pointentry_changelist"),
                **context,
            },
        )

    def adjust_view(self, request: HttpRequest):
        """その他: add or take away points by hand, with a comment; a minus is confirmed first."""
        if not self._may_adjust(request):
            raise PermissionDenied
        form = AdjustForm(request.POST or None, initial={"member": request.GET.get("member", "")})
        confirm = None
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            member, delta = data["member"], data["delta"]
            balance = (
                PointAccount.objects.filter(member=member).values_list("balance", flat=True).first() or 0
            )
            if delta < 0 and -delta > balance:
                form.add_error(
                    "delta",
                    gettext(
                        "The member has only {balance} points; at most {balance} can be taken away."
                    ).format(balance=balance),
                )
            elif delta < 0 and data.get("confirmed_delta") != str(delta):
                # 確認: a minus is asked once more, with the balance it leaves.
                form.data = form.data.copy()
                form.data["confirmed_delta"] = str(delta)
                confirm = gettext(
                    "Take %(points)s points away from %(member)s? Their balance goes from %(before)s to "
                    "%(after)s points."
                ) % {
                    "points": f"{-delta:,}",
                    "member": member,
                    "before": f"{balance:,}",
                    "after": f"{balance + delta:,}",
                }
            else:
                try:
                    services.points_adjust(
                        member=member,
                        delta=delta,
                        by=request.user,
                        reason=data["reason"],
                        expires_on=data.get("expires_on"),
                    )
                except DomainError as error:
                    form.add_error(error.field if error.field in form.fields else None, error.message)
                else:
                    self.message_user(
                        request,
                        gettext("%(change)s points recorded for %(member)s.")
                        % {"change": f"{delta:+,d}", "member": member},
                        messages.SUCCESS,
                    )
                    return redirect(reverse("admin:points_pointentry_changelist") + f"?member={member.pk}")
        return self._page(
            request,
            "admin/points/pointentry/adjust.html",
            title=gettext("Add or take away points"),
            form=form,
            confirm=confirm,
            button=gettext("Yes, take the points away") if confirm else gettext("Save"),
        )

    # --- editing an entry --------------------------------------------------------------------------

    def edit_view(self, request: HttpRequest, object_id: str):
        if not self._may_edit(request):
            raise PermissionDenied
        entry = self.get_object(request, unquote(object_id))
        if entry is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        with_expiry = expiry_editable(entry)
        form = EditForm(
            request.POST or None,
            with_expiry=with_expiry,
            initial={"comment": entry.comment, "expires_on": entry.expires_on},
        )
        if request.method == "POST" and form.is_valid():
            changes = {"comment": form.cleaned_data["comment"]}
            if with_expiry:
                changes["expires_on"] = form.cleaned_data["expires_on"]
            try:
                services.points_entry_edit(entry=entry, by=request.user, **changes)
            except DomainError as error:
                form.add_error(error.field if error.field in form.fields else None, error.message)
            else:
                self.message_user(request, gettext("The history entry was saved."), messages.SUCCESS)
                return redirect(reverse("admin:points_pointentry_change", args=[entry.pk]))
        return self._page(
            request,
            "admin/points/pointentry/edit.html",
            title=gettext("Edit history entry #%(number)s") % {"number": entry.pk},
            form=form,
            entry=entry,
            with_expiry=with_expiry,
            object_url=reverse("admin:points_pointentry_change", args=[entry.pk]),
            button=gettext("Save"),
        )
