from django.contrib import admin

from inventory.models import Store


@admin.register(Store)
class StoreAdmin(admin.ModelAdmin):
    list_display = ("name", "address", "phone", "display_order", "is_public", "updated_at")
    list_editable = ("display_order", "is_public")
    list_filter = ("is_public",)
    search_fields = ("name", "address", "phone")
    fields = ("name", "address", "phone", "opening_hours", "display_order", "is_public")
