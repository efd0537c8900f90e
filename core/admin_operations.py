"""Status changes staff make on a model's rows in the admin, the same way everywhere: as a bulk action on
the list and as a button on one row's page, always through one service call per row, asking first.

    OPERATIONS = {"cancel": StaffOperation(key="cancel", label=…, title=…, question=…, button=…,
                                           done=lambda n: …, run=lambda obj, request, form: service(…),
                                           possible=lambda obj: …, form_class=CancelReasonForm)}

    class OrderAdmin(StaffOperationsMixin, admin.ModelAdmin):
        operations = OPERATIONS
        operation_template = "admin/payments/order/confirm_operation.html"   # extends the shared page

        @admin.action(description=…, permissions=["change"])
        def cancel_selected(self, request, queryset):
            return self.operate(request, queryset, OPERATIONS["cancel"], action="cancel_selected")

The confirmation page (確認画面) lists the rows and the question, with the operation's form (a reason)
when it has one; the answer runs the service once per row, each in its own transaction, so one refusal
(reported with the row and the reason) does not undo the others. An operation with `confirm=False` runs
at once from the list; from a row's page (a GET link) every operation asks first.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import Model, QuerySet
from django.http import HttpRequest
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.http import url_has_allowed_host_and_scheme

from core.exceptions import DomainError


def _always(obj) -> bool:
    return True


@dataclass(frozen=True)
class StaffOperation:
    key: str
    label: str  # the button on one row's page
    title: str
    question: str
    button: str
    done: Callable[[int], str]  # the success message for n rows
    run: Callable[[Model, HttpRequest, forms.Form | None], object]  # one service call
    possible: Callable[[Model], bool] = _always  # offered as a button on this row's page
    skip: Callable[[Model], str | None] | None = None  # already done: why, reported as info
    confirm: bool = True  # ask first from the list too
    form_class: type[forms.Form] | None = None  # asked with the question (a reason)


class StaffOperationsMixin:
    """See the module docstring. Set `operations` and `operation_template`; override `operation_rows`
    (what the confirmation page reads) and `operation_failed` (the message for a refused row)."""

    operations: dict[str, StaffOperation] = {}
    operation_template: str = "admin/staff_operation_confirm.html"

    def operation_rows(self, queryset: QuerySet) -> QuerySet:
        return queryset.order_by("pk")

    def operation_failed(self, obj, error: DomainError) -> str:
        return f"#{obj.pk}: {error}"

    def _operation_url_name(self) -> str:
        return f"{self.opts.app_label}_{self.opts.model_name}_operate"

    def operate(self, request, queryset, operation: StaffOperation, *, action: str | None = None, ask=False):
        """Ask first (unless the operation may run at once and this is not a row's page), then run. Returns
        the confirmation page, or None once the rows were changed (the admin goes back to the list)."""
        answered = request.method == "POST" and "confirm" in request.POST
        go = answered or not (operation.confirm or ask)
        form = None
        if operation.form_class is not None:
            form = operation.form_class(request.POST if answered else None)
            go = go and form.is_valid()
        if go:
            self.operation_run(request, queryset, operation, form)
            return None
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": operation.title,
            "subtitle": None,
            "operation": operation,
            "question": operation.question,
            "objects": self.operation_rows(queryset),
            "form": form,
            "action": action,
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
            "changelist_url": reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_changelist"),
        }
        return TemplateResponse(request, self.operation_template, context)

    def operation_run(self, request, queryset, operation: StaffOperation, form=None) -> int:
        done = 0
        for obj in self.operation_rows(queryset).order_by("pk"):
            if operation.skip is not None and (reason := operation.skip(obj)) is not None:
                self.message_user(request, reason, messages.INFO)
                continue
            try:
                operation.run(obj, request, form)
            except DomainError as error:
                self.message_user(request, self.operation_failed(obj, error), messages.ERROR)
            else:
                done += 1
        if done:
            self.message_user(request, operation.done(done), messages.SUCCESS)
        return done

    # --- the same operations as buttons on one row's page ---------------------------------------------

    def get_urls(self):
        return [
            path(
                "<path:object_id>/operate/<str:key>/",
                self.admin_site.admin_view(self.operate_view),
                name=self._operation_url_name(),
            ),
            *super().get_urls(),
        ]

    def operate_view(self, request: HttpRequest, object_id: str, key: str):
        operation = self.operations.get(key)
        obj = self.get_object(request, unquote(object_id))
        if operation is None or obj is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        if not self.has_change_permission(request):
            raise PermissionDenied
        # Reached by a link (GET), which only shows the question; the answer is a POST.
        response = self.operate(request, self.get_queryset(request).filter(pk=obj.pk), operation, ask=True)
        if response is not None:
            return response
        # Back where staff came from when that is our own page (the staff home's approve buttons).
        back = request.GET.get("next", "")
        if back and url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}):
            return redirect(back)
        return redirect(reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_change", args=[obj.pk]))

    def operation_buttons(self, request, obj) -> list[tuple[str, str]]:
        """(label, url) of each operation possible on this row now, for its page (empty without the
        change permission)."""
        if obj is None or not self.has_change_permission(request):
            return []
        return [
            (operation.label, reverse(f"admin:{self._operation_url_name()}", args=[obj.pk, operation.key]))
            for operation in self.operations.values()
            if operation.possible(obj)
        ]
