"""What an order's page shows of its record (lines, payments received, refunds): read-only inlines, seen by
whoever may view or change orders, never added to, edited or deleted here."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import get_permission_codename

from payments.models import Order


class OrderRecordInline(admin.TabularInline):
    extra = 0
    max_num = 0
    can_delete = False

    def has_view_permission(self, request, obj=None):
        view = get_permission_codename("view", Order._meta)
        change = get_permission_codename("change", Order._meta)
        return request.user.has_perm(f"payments.{view}") or request.user.has_perm(f"payments.{change}")

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
