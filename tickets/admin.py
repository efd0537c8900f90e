"""Staff admin of tickets (在庫管理 › チケット管理, and the tickets members hold).

Ticket types are configuration, saved through `tickets.services.ticket_type_save` (the rules live in
`TicketType.clean`); the product becomes read-only once set. Member tickets are ledger-backed: their pages
are read-only, and every change (hand out, add or take away uses, take back) goes through a service from
its own form, which asks for a reason and is the confirmation step.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import HttpRequest
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from core import limits
from core.csv_admin import CsvAdminMixin
from core.exceptions import DomainError
from core.templatetags.core_tags import yen
from payments.models import Product
from tickets import services
from tickets.csv_jobs import TICKETS
from tickets.models import MemberTicket, TicketEntry, TicketType


class TicketTypeForm(forms.ModelForm):
    class Meta:
        model = TicketType
        fields = (
            "is_visible",
            "name",
            "items",
            "max_concurrent",
            "max_concurrent_per_day",
            "max_purchases_per_member",
            "product",
            "kind",
            "uses",
            "validity_days",
            "stores",
            "display_order",
        )


@admin.register(TicketType)
class TicketTypeAdmin(CsvAdminMixin, admin.ModelAdmin):
    """The list shows the seed's columns: ID, shown, name, kind, enrollment fee, uses, usage limit. The CSV
    export and import pages come from core.csv_admin."""

    csv_jobs = TICKETS

    form = TicketTypeForm
    list_display = (
        "id",
        "is_visible",
        "name",
        "kind",
        "enrollment_fee",
        "uses",
        "usage_limit",
        "product_display",
        "display_order",
    )
    list_display_links = ("id", "name")
    list_filter = ("is_visible", "kind")
    search_fields = ("name", "product__sku", "product__name")
    search_help_text = _("Ticket name, product SKU or product name.")
    list_select_related = ("product",)
    filter_horizontal = ("items", "stores")
    fieldsets = (
        (
            None,
            {"fields": ("is_visible", "name", "kind", "product", "uses", "validity_days", "display_order")},
        ),
        (_("Where it can be used"), {"fields": ("items", "stores")}),
        (
            _("Limits (0 means no limit)"),
            {"fields": ("max_concurrent", "max_concurrent_per_day", "max_purchases_per_member")},
        ),
    )

    @admin.display(description=_("enrollment fee"))
    def enrollment_fee(self, obj: TicketType) -> str:
        # 入会費用 belongs to membership plans (SPEC §7); a ticket never has one.
        return gettext("None")

    @admin.display(description=_("usage limit"), boolean=True)
    def usage_limit(self, obj: TicketType) -> bool:
        return obj.has_usage_limit

    @admin.display(description=_("ticket product"), ordering="product__sku")
    def product_display(self, obj: TicketType) -> str:
        if obj.product is None:
            return "—"
        return f"{obj.product.name} [{obj.product.sku}] {yen(obj.product.price_yen)}"

    def get_readonly_fields(self, request, obj=None):
        # 一度設定すると変更できません: the product is fixed once set.
        return ("product",) if obj is not None and obj.product_id else ()

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "product":
            kwargs["queryset"] = Product.objects.filter(kind=Product.Kind.ONE_TIME).filter(
                Q(ticket_type__isnull=True)
            )
            kwargs["help_text"] = _(
                "One-time products not yet sold as another ticket. A free trial needs a 0-yen product. "
                "It cannot be changed once set."
            )
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request, obj, form, change):
        # The form's items and stores go through the service too, so its audit entry says what changed
        # (save_related then sets the same rows again, changing nothing).
        services.ticket_type_save(
            ticket_type=obj,
            by=request.user,
            items=form.cleaned_data.get("items"),
            stores=form.cleaned_data.get("stores"),
        )


class TicketEntryInline(admin.TabularInline):
    model = TicketEntry
    extra = 0
    can_delete = False
    fields = (
        "created_at",
        "kind",
        "delta",
        "uses_left_after",
        "reservation",
        "order_line",
        "created_by",
        "reason",
    )
    readonly_fields = fields
    ordering = ("id",)
    verbose_name_plural = _("history")

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class HandOutForm(forms.Form):
    member = forms.ModelChoiceField(
        label=_("member"),
        queryset=None,
        widget=forms.TextInput,
        help_text=_("The member's ID (shown in the member list)."),
    )
    ticket_type = forms.ModelChoiceField(label=_("ticket type"), queryset=TicketType.objects.all())
    uses = forms.IntegerField(
        label=_("number of uses"),
        min_value=1,
        max_value=limits.bounds_of(TicketType, "uses")["max_value"],
        required=False,
        help_text=_("Empty: the ticket type's number."),
    )
    reason = forms.CharField(label=_("reason"), max_length=200)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        from django.contrib.auth import get_user_model

        self.fields["member"].queryset = get_user_model().objects.all()


class AdjustForm(forms.Form):
    delta = forms.IntegerField(
        label=_("change in uses"),
        **limits.bounds_of(TicketEntry, "delta"),
        help_text=_("Positive to add uses, negative to take some away."),
    )
    reason = forms.CharField(label=_("reason"), max_length=200)


class RevokeForm(forms.Form):
    reason = forms.CharField(label=_("reason"), max_length=200)


@admin.register(MemberTicket)
class MemberTicketAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "member",
        "ticket_type",
        "uses_display",
        "valid_through_display",
        "status",
        "source",
        "created_at",
    )
    list_filter = ("status", "source", "ticket_type")
    search_fields = ("member__email", "member__name", "member__name_kana", "ticket_type__name")
    search_help_text = _("Member e-mail, name or kana, or ticket name.")
    list_select_related = ("member", "ticket_type")
    date_hierarchy = "created_at"
    inlines = (TicketEntryInline,)
    readonly_fields = (
        "member",
        "ticket_type",
        "status",
        "uses_total",
        "uses_left",
        "valid_from",
        "valid_through",
        "stores_display",
        "source",
        "order_line",
        "issued_by",
        "note",
        "created_at",
    )
    fields = readonly_fields
    change_list_template = "admin/tickets/memberticket/change_list.html"
    change_form_template = "admin/tickets/memberticket/change_form.html"

    @admin.display(description=_("uses left"), ordering="uses_left")
    def uses_display(self, obj: MemberTicket) -> str:
        return f"{obj.uses_left} / {obj.uses_total}"

    @admin.display(description=_("valid through"), ordering="valid_through")
    def valid_through_display(self, obj: MemberTicket) -> str:
        return obj.valid_through.strftime("%Y/%m/%d") if obj.valid_through else gettext("No limit")

    @admin.display(description=_("usable stores"))
    def stores_display(self, obj: MemberTicket) -> str:
        names = [store.name for store in obj.stores.all()]
        return ", ".join(names) if names else gettext("Every store")

    def has_add_permission(self, request):
        return False  # handing out goes through hand_out_view, which records the reason

    def has_delete_permission(self, request, obj=None):
        return False  # a ledger is never deleted; take a ticket back instead

    def has_change_permission(self, request, obj=None):
        return False if obj is not None else super().has_change_permission(request, obj)

    def _may_change(self, request) -> bool:
        return request.user.has_perm("tickets.change_memberticket")

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("hand-out/", view(self.hand_out_view), name="tickets_memberticket_hand_out"),
            path("<path:object_id>/adjust/", view(self.adjust_view), name="tickets_memberticket_adjust"),
            path("<path:object_id>/revoke/", view(self.revoke_view), name="tickets_memberticket_revoke"),
            *super().get_urls(),
        ]

    def changelist_view(self, request, extra_context=None):
        extra = {"can_hand_out": request.user.has_perm("tickets.add_memberticket")}
        return super().changelist_view(request, {**extra, **(extra_context or {})})

    def change_view(self, request, object_id, form_url="", extra_context=None):
        ticket = self.get_object(request, unquote(object_id))
        extra = {"operations": []}
        if ticket is not None and self._may_change(request) and ticket.status == MemberTicket.Status.ACTIVE:
            extra["operations"] = [
                (
                    gettext("Add or take away uses…"),
                    reverse("admin:tickets_memberticket_adjust", args=[ticket.pk]),
                ),
                (gettext("Take back…"), reverse("admin:tickets_memberticket_revoke", args=[ticket.pk])),
            ]
        return super().change_view(request, object_id, form_url, {**extra, **(extra_context or {})})

    def _form_page(self, request, *, title, form, intro, button, ticket=None):
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": title,
            "subtitle": None,
            "form": form,
            "intro": intro,
            "button": button,
            "changelist_url": reverse("admin:tickets_memberticket_changelist"),
            "back_url": reverse("admin:tickets_memberticket_changelist"),
        }
        if ticket is not None:
            ticket_url = reverse("admin:tickets_memberticket_change", args=[ticket.pk])
            context.update(object_url=ticket_url, object_label=f"#{ticket.pk}", back_url=ticket_url)
        return TemplateResponse(request, "admin/staff_form_page.html", context)

    def _run(self, request, form, call):
        """Call a service with the form's data; a refusal is shown next to its field, nothing is saved."""
        try:
            return call()
        except DomainError as error:
            form.add_error(error.field if error.field in form.fields else None, error.message)
            return None

    def hand_out_view(self, request: HttpRequest):
        """管理サイトから配布: give a member a ticket, with the reason recorded in its ledger."""
        if not request.user.has_perm("tickets.add_memberticket"):
            raise PermissionDenied
        form = HandOutForm(request.POST or None, initial={"member": request.GET.get("member")})
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            ticket = self._run(
                request,
                form,
                lambda: services.ticket_hand_out(
                    member=data["member"],
                    ticket_type=data["ticket_type"],
                    uses=data["uses"],
                    by=request.user,
                    reason=data["reason"],
                ),
            )
            if ticket is not None:
                self.log_addition(request, ticket, [{"added": {}}])
                self.message_user(
                    request,
                    gettext("“%(ticket)s” was handed out to %(member)s.")
                    % {"ticket": ticket.ticket_type.name, "member": ticket.member},
                    messages.SUCCESS,
                )
                return redirect(reverse("admin:tickets_memberticket_change", args=[ticket.pk]))
        return self._form_page(
            request,
            title=gettext("Hand out a ticket"),
            form=form,
            intro=gettext(
                "The ticket goes straight into the member's wallet, valid from today for the ticket type's "
                "validity. The reason is kept in the ticket's history."
            ),
            button=gettext("Hand out"),
        )

    def _ticket_or_redirect(self, request, object_id):
        if not self._may_change(request):
            raise PermissionDenied
        return self.get_object(request, unquote(object_id))

    def adjust_view(self, request: HttpRequest, object_id: str):
        ticket = self._ticket_or_redirect(request, object_id)
        if ticket is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        form = AdjustForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            done = self._run(
                request,
                form,
                lambda: services.ticket_adjust(
                    ticket=ticket, delta=data["delta"], by=request.user, reason=data["reason"]
                ),
            )
            if done is not None:
                self.message_user(
                    request,
                    gettext("The ticket now has %(left)s uses left.") % {"left": done.uses_left},
                    messages.SUCCESS,
                )
                return redirect(reverse("admin:tickets_memberticket_change", args=[ticket.pk]))
        return self._form_page(
            request,
            title=gettext("Change the uses of ticket #%(number)s") % {"number": ticket.pk},
            form=form,
            intro=gettext("%(member)s holds “%(ticket)s” with %(left)s of %(total)s uses left.")
            % {
                "member": ticket.member,
                "ticket": ticket.ticket_type.name,
                "left": ticket.uses_left,
                "total": ticket.uses_total,
            },
            button=gettext("Save the change"),
            ticket=ticket,
        )

    def revoke_view(self, request: HttpRequest, object_id: str):
        ticket = self._ticket_or_redirect(request, object_id)
        if ticket is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        form = RevokeForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            reason = form.cleaned_data["reason"]
            done = self._run(
                request, form, lambda: services.ticket_revoke(ticket=ticket, by=request.user, reason=reason)
            )
            if done is not None:
                self.message_user(request, gettext("The ticket was taken back."), messages.SUCCESS)
                return redirect(reverse("admin:tickets_memberticket_change", args=[ticket.pk]))
        return self._form_page(
            request,
            title=gettext("Take back ticket #%(number)s") % {"number": ticket.pk},
            form=form,
            intro=format_html(
                "{} {}",
                gettext("%(member)s loses the %(left)s uses left on “%(ticket)s”.")
                % {"member": ticket.member, "left": ticket.uses_left, "ticket": ticket.ticket_type.name},
                gettext("Reservations already made with it stay booked. This cannot be undone."),
            ),
            button=gettext("Yes, take it back"),
            ticket=ticket,
        )
