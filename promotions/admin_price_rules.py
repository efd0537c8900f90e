"""Staff admin of price rules (価格のルール, SPEC §9): the list in checking order (position, editable in the
list), add/edit with validation, warnings about rules that can never match (promotions.price_rules'
linter) on the list and on each rule, and a preview: an item and a booking time → which rule applies, why
(and why the rules above it did not), and the price before and after. "Move up" / "Move down" buttons on
the list and on each rule swap it with its neighbour in checking order (POST only, through
promotions.price_rule_staff.price_rule_move, which locks the rules and writes its audit entry).

Rules are configuration: the admin saves them as Django does, and each save is in the audit trail through
the admin's own log (core.audit.install_admin_log_auditing)."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import Exists, OuterRef, Q
from django.http import HttpResponseNotAllowed, QueryDict
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from core.templatetags.core_tags import yen
from inventory.admin_forms import PricePreviewForm, weekdays_field
from inventory.models import Item
from inventory.pricing import DAY_TYPE_LABELS
from inventory.quotes import quote_booking
from promotions import price_rules
from promotions.models import PriceRule
from promotions.price_rule_staff import DIRECTIONS, DOWN, UP, PriceRuleMoveRefusedError, price_rule_move

# The hidden form (outside the list's own form) the list's move buttons submit through: its CSRF token.
MOVE_FORM_ID = "price-rule-move"


class PriceRuleForm(forms.ModelForm):
    weekdays = weekdays_field()

    class Meta:
        model = PriceRule
        fields = (
            "name",
            "position",
            "is_active",
            "starts_from",
            "starts_until",
            "weekdays",
            "time_from",
            "time_until",
            "items",
            "categories",
            "kind",
            "percent",
            "yen",
        )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["weekdays"].required = False
        self.fields["weekdays"].help_text = PriceRule._meta.get_field("weekdays").help_text

    def clean_weekdays(self) -> list[int]:
        return sorted(set(self.cleaned_data["weekdays"] or []))

    def clean(self):
        cleaned = super().clean()
        first, last = cleaned.get("starts_from"), cleaned.get("starts_until")
        if first is not None and last is not None and first >= last:
            self.add_error("starts_until", _("The end must be after the start."))
        first, last = cleaned.get("time_from"), cleaned.get("time_until")
        if first is not None and last is not None and first >= last:
            self.add_error("time_until", _("The end of the time of day must be after its start."))
        kind = cleaned.get("kind")
        if kind == PriceRule.Kind.PERCENT and cleaned.get("yen"):
            self.add_error("yen", _("A percent rule takes no yen amount: leave it at 0."))
        if kind == PriceRule.Kind.YEN:
            if cleaned.get("percent"):
                self.add_error("percent", _("A yen rule takes no percent: leave it at 0."))
            if cleaned.get("yen") == 0:
                self.add_error("yen", _("Enter the yen to take off."))
        return cleaned


class RulePreviewForm(PricePreviewForm):
    item = forms.ModelChoiceField(label=_("item"), queryset=Item.objects.order_by("display_order", "id"))

    field_order = ("item", "date", "start", "end", "end_date", "quantity")


def conditions_text(rule: PriceRule) -> str:
    """The rule's conditions in one line for the list ("any booking" when it has none)."""
    parts = []
    if rule.starts_from or rule.starts_until:
        parts.append(
            "{} – {}".format(
                price_rules._when(rule.starts_from) if rule.starts_from else "",
                price_rules._when(rule.starts_until) if rule.starts_until else "",
            )
        )
    if rule.weekdays:
        parts.append("・".join(str(DAY_TYPE_LABELS[day]) for day in sorted(rule.weekdays)))
    if rule.time_from or rule.time_until:
        parts.append(
            "{}–{}".format(
                rule.time_from.strftime("%H:%M") if rule.time_from else "",
                rule.time_until.strftime("%H:%M") if rule.time_until else "",
            )
        )
    scope = [str(item.name) for item in rule.items.all()] + [str(c.name) for c in rule.categories.all()]
    if scope:
        parts.append(", ".join(scope))
    return " / ".join(parts) or gettext("any booking")


def _before(position, pk) -> Q:
    """The rules checked before a rule at (position, pk): values, or OuterRef's in a subquery."""
    return Q(position__lt=position) | Q(position=position, pk__lt=pk)


def _after(position, pk) -> Q:
    """The rules checked after a rule at (position, pk)."""
    return Q(position__gt=position) | Q(position=position, pk__gt=pk)


def neighbours(rule: PriceRule) -> tuple[bool, bool]:
    """Whether a rule is checked before `rule`, and whether one is checked after it."""
    rules = PriceRule.objects.all()
    return (
        rules.filter(_before(rule.position, rule.pk)).exists(),
        rules.filter(_after(rule.position, rule.pk)).exists(),
    )


@admin.register(PriceRule)
class PriceRuleAdmin(admin.ModelAdmin):
    form = PriceRuleForm
    list_display = ("position", "name", "is_active", "conditions", "discount")
    list_display_links = ("name",)
    list_editable = ("position", "is_active")
    ordering = ("position", "id")
    filter_horizontal = ("items", "categories")
    change_list_template = "admin/promotions/pricerule/change_list.html"
    change_form_template = "admin/promotions/pricerule/change_form.html"
    fieldsets = (
        (None, {"fields": ("name", "position", "is_active")}),
        (
            _("Conditions (empty: any)"),
            {
                "fields": (
                    "starts_from",
                    "starts_until",
                    "weekdays",
                    "time_from",
                    "time_until",
                    "items",
                    "categories",
                ),
                "description": _(
                    "All conditions are read on the booked start time (JST), not the time of ordering. "
                    "Rules are checked by order; the first active rule whose conditions all match applies."
                ),
            },
        ),
        (_("Discount"), {"fields": ("kind", "percent", "yen")}),
    )

    def get_queryset(self, request):
        # has_above / has_below: whether a rule is checked before / after it (the list's move buttons), in
        # the list's one query.
        others = PriceRule.objects.all()
        return (
            super()
            .get_queryset(request)
            .annotate(
                has_above=Exists(others.filter(_before(OuterRef("position"), OuterRef("pk")))),
                has_below=Exists(others.filter(_after(OuterRef("position"), OuterRef("pk")))),
            )
            .prefetch_related("items", "categories")
        )

    def get_list_display(self, request):
        shown = list(super().get_list_display(request))
        if self.has_change_permission(request):
            shown.insert(shown.index("position") + 1 if "position" in shown else 0, "move")
        return shown

    @admin.display(description=_("move"))
    def move(self, rule: PriceRule) -> str:
        """The rule's "Move up" / "Move down" buttons: they submit the hidden move form (its CSRF token) to
        the rule's move page, not the list's own form; the first has no "up", the last no "down"."""
        url = reverse("admin:promotions_pricerule_move", args=[rule.pk])

        def button(direction: str, arrow: str, label: str, enabled: bool) -> str:
            return format_html(
                '<button type="submit" class="button" form="{}" formaction="{}" name="direction" value="{}" '
                'title="{}" aria-label="{}"{}>{}</button>',
                MOVE_FORM_ID,
                url,
                direction,
                label,
                f"{label}: {rule.name}",
                " disabled" if not enabled else "",
                arrow,
            )

        return format_html(
            "{} {}",
            button(UP, "▲", gettext("Move up"), getattr(rule, "has_above", True)),
            button(DOWN, "▼", gettext("Move down"), getattr(rule, "has_below", True)),
        )

    @admin.display(description=_("conditions"))
    def conditions(self, rule: PriceRule) -> str:
        return conditions_text(rule)

    @admin.display(description=_("discount"))
    def discount(self, rule: PriceRule) -> str:
        return f"{rule.percent}%" if rule.kind == PriceRule.Kind.PERCENT else f"-{yen(rule.yen)}"

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        return [
            path(
                "preview/", self.admin_site.admin_view(self.preview_view), name="{}_{}_preview".format(*info)
            ),
            path(
                "<path:object_id>/move/",
                self.admin_site.admin_view(self.move_view),
                name="{}_{}_move".format(*info),
            ),
            *super().get_urls(),
        ]

    def _named_warnings(self, only: int | None = None) -> list[str]:
        """The linter's warnings, each naming its rule; `only`: just that rule's."""
        rules = list(PriceRule.objects.order_by("position", "id").prefetch_related("items", "categories"))
        found = price_rules.rules_warnings(rules, now=timezone.now())
        if only is not None:
            return found.get(only, [])
        names = {rule.pk: rule for rule in rules}
        return [
            gettext("%(name)s (order %(position)s): %(problem)s")
            % {"name": names[pk].name, "position": names[pk].position, "problem": problem}
            for pk, problems in found.items()
            for problem in problems
        ]

    def _rule_warnings(self, pk: int) -> list[str]:
        """One rule's warnings: the linter's, and whether its items' acceptance hours leave it no booking."""
        found = self._named_warnings(only=pk)
        rule = PriceRule.objects.filter(pk=pk).prefetch_related("items").first()
        hours = price_rules.opening_hours_problem(rule) if rule is not None else None
        return [*found, hours] if hours else found

    def changelist_view(self, request, extra_context=None):
        extra = {
            "rule_warnings": self._named_warnings(),
            "preview_url": reverse("admin:promotions_pricerule_preview"),
            "move_form_id": MOVE_FORM_ID if self.has_change_permission(request) else "",
        }
        return super().changelist_view(request, {**extra, **(extra_context or {})})

    def change_view(self, request, object_id, form_url="", extra_context=None):
        try:
            pk = int(object_id)
        except (TypeError, ValueError):
            pk = None
        extra = {
            "rule_warnings": self._rule_warnings(pk) if pk is not None else [],
            "preview_url": reverse("admin:promotions_pricerule_preview"),
        }
        rule = PriceRule.objects.filter(pk=pk).first() if pk is not None else None
        if rule is not None and self.has_change_permission(request, rule):
            above, below = neighbours(rule)
            extra["move"] = {
                "url": reverse("admin:promotions_pricerule_move", args=[rule.pk]),
                "up": above,
                "down": below,
                "changelist_filters": request.GET.get("_changelist_filters", ""),
            }
        return super().change_view(request, object_id, form_url, {**extra, **(extra_context or {})})

    def move_view(self, request, object_id):
        """POST direction=up|down: swap the rule with its neighbour in checking order, then back to the list
        (its sorting and page kept) with a message saying the new order. GET changes nothing (405)."""
        if not self.has_change_permission(request):
            raise PermissionDenied
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        rule = self.get_object(request, unquote(object_id))
        if rule is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        if not self.has_change_permission(request, rule):
            raise PermissionDenied
        list_url = reverse("admin:promotions_pricerule_changelist")
        filters = QueryDict(request.POST.get("_changelist_filters", "")).urlencode()
        if filters:
            list_url = f"{list_url}?{filters}"
        direction = request.POST.get("direction")
        if direction not in DIRECTIONS:
            self.message_user(request, gettext("Choose to move the rule up or down."), messages.ERROR)
            return redirect(list_url)
        try:
            moved = price_rule_move(rule=rule, direction=direction, by=request.user)
        except PriceRuleMoveRefusedError as error:
            self.message_user(request, str(error), messages.WARNING)
            return redirect(list_url)
        self.message_user(
            request,
            gettext(
                "“%(name)s” is now number %(position)d of %(count)d in the checking order "
                "(it swapped places with “%(other)s”)."
            )
            % {
                "name": moved.rule.name,
                "position": moved.position,
                "count": moved.count,
                "other": moved.other.name,
            },
            messages.SUCCESS,
        )
        return redirect(list_url)

    def preview_view(self, request):
        if not self.has_view_permission(request):
            raise PermissionDenied
        form = RulePreviewForm(request.GET or None)
        result = None
        if form.is_bound and form.is_valid():
            data = form.cleaned_data
            item = data["item"]
            quote = quote_booking(item, data["starts_at"], data["ends_at"], data["quantity"])
            rule, checks = price_rules.matching_rule(item, data["starts_at"])
            off = price_rules.discount_yen(rule, quote.total_yen)
            result = {
                "item": item,
                "starts_at": data["starts_at"],
                "rule": rule,
                "checks": checks,
                "before_yen": quote.total_yen,
                "discount_yen": off,
                "after_yen": quote.total_yen - off,
            }
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": gettext("Price rule preview"),
            "subtitle": None,
            "form": form,
            "result": result,
            "changelist_url": reverse("admin:promotions_pricerule_changelist"),
            "rule_warnings": self._named_warnings(),
        }
        return TemplateResponse(request, "admin/promotions/pricerule/preview.html", context)
