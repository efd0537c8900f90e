"""店舗管理 › 商品: products, edited as ordinary model forms; one on an order line cannot be deleted."""

from __future__ import annotations

from django.contrib import admin
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from core.templatetags.core_tags import yen
from payments.models import OrderLine, Product
from payments.products import product_save

# How many referring orders the delete page names per product before it says "and N more".
DELETE_BLOCKERS_SHOWN = 5


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = ("sku", "name", "kind", "price_display", "points_payable", "is_fee", "is_active")
    list_display_links = ("sku", "name")
    list_filter = ("kind", "is_active", "points_payable", "is_fee")
    search_fields = ("sku", "name")
    search_help_text = _("SKU or product name.")
    fieldsets = (
        (None, {"fields": ("sku", "name", "kind", "price_yen", "is_active")}),
        (
            _("Points and fees"),
            {"fields": ("points_payable", "points_per_unit", "points_rate_pct", "is_fee")},
        ),
    )

    @admin.display(description=_("price"), ordering="price_yen")
    def price_display(self, obj: Product) -> str:
        return yen(obj.price_yen)

    def save_model(self, request, obj, form, change):
        # The form has already run Product.clean (so a rule a ticket holds the product to is an error on
        # the field); the service checks again under the row lock and records who saved it.
        product_save(product=obj, by=request.user)

    def get_deleted_objects(self, objs, request):
        """An order line keeps its product (PROTECT): say which orders hold it, in words staff can act on,
        instead of Django's list of protected "order line" objects."""
        lines = (
            OrderLine.objects.filter(product__in=objs)
            .select_related("product")
            .order_by("product_id", "-order_id")
        )
        protected: list[str] = []
        by_product: dict[int, list[OrderLine]] = {}
        for line in lines:
            by_product.setdefault(line.product_id, []).append(line)
        for found in by_product.values():
            product = found[0].product
            numbers = sorted({line.order_id for line in found}, reverse=True)
            shown = ", ".join(f"#{number}" for number in numbers[:DELETE_BLOCKERS_SHOWN])
            more = len(numbers) - DELETE_BLOCKERS_SHOWN
            protected.append(
                gettext(
                    "%(product)s is on orders %(orders)s%(more)s, which keep it as a record of the sale. "
                    "Untick “on sale” to stop selling it instead."
                )
                % {
                    "product": product,
                    "orders": shown,
                    "more": (gettext(" and %(count)d more") % {"count": more}) if more > 0 else "",
                }
            )
        if protected:
            return [], {}, set(), protected
        return super().get_deleted_objects(objs, request)
