"""Plans as rows of the ticket CSV (SPEC §6–7, seed 000): ecforce lists its membership plans in the
ticket CSV as チケット種別 メンバーシップ契約, so a shop's whole file round-trips. The plans app registers
this format with the ticket CSV (tickets.resources.register_row_kind); tickets never imports plans.

How a plan row reads (the ticket CSV's columns; its IDs are plan IDs, counted apart from ticket IDs):
- 商品SKUID: the monthly product (定期; required); 契約月分商品SKUID and 入会金商品SKUID: one-time
  products, or empty.
- チケット利用回数: the monthly maximum. A new plan counts it as one total (月間全体). A plan that counts per
  time band exports the sum of its bands and refuses another number (its bands are edited in the admin).
- 同時予約数制限 / 1日あたりの同時予約数制限: the plan's concurrency limits (0 or empty: none).
- 顧客毎の購入回数制限 and チケット利用期限: not used by plans; empty or 0.
- 利用可能プランID: the usable items (the seed's header; in our screens these are アイテム).
A row's errors name the ticket CSV's columns.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Prefetch
from django.utils.translation import gettext, ngettext
from import_export import fields, resources, widgets

from core.csv_pipeline import CsvFormat, RowChange
from inventory.models import Item
from payments.models import Product
from plans.models import Plan
from tickets.resources import (
    COLUMNS,
    CONTRACT_MONTH_SKU,
    CREATED_AT,
    DISPLAY_ORDER,
    ENROLLMENT_FEE_SKU,
    FIELD_COLUMNS,
    ITEM_IDS,
    ITEM_NAMES,
    KIND,
    LIST_SEPARATOR,
    MAX_CONCURRENT,
    MAX_CONCURRENT_PER_DAY,
    MAX_PURCHASES,
    NAME,
    NUMBER_COLUMNS,
    PRODUCT_SKU,
    TICKET_ID,
    USES,
    VALIDITY_DAYS,
    VISIBILITY,
    VISIBILITY_LABELS,
    ItemIdsWidget,
    JstDateTimeWidget,
    LabelWidget,
    ProductSkuWidget,
    WholeNumberWidget,
)

PLAN_KIND = "メンバーシップ契約"

# The columns an import can change on a plan, in file order.
COMPARED = (
    PRODUCT_SKU,
    CONTRACT_MONTH_SKU,
    ENROLLMENT_FEE_SKU,
    VISIBILITY,
    NAME,
    USES,
    MAX_CONCURRENT,
    MAX_CONCURRENT_PER_DAY,
    ITEM_IDS,
    DISPLAY_ORDER,
)
# A plan's field → the ticket CSV's field name, so an error names its column (tickets' FIELD_COLUMNS).
ERROR_FIELDS = {
    "monthly_product": "product",
    "contract_month_product": "contract_month_sku",
    "enrollment_fee_product": "enrollment_fee_sku",
    "total_allowance": "uses",
}


class PlanRowResource(resources.ModelResource):
    id = fields.Field(
        attribute="id", column_name=TICKET_ID, widget=WholeNumberWidget(TICKET_ID), readonly=True
    )
    product_sku = fields.Field(attribute="monthly_product", column_name=PRODUCT_SKU)
    contract_month_sku = fields.Field(attribute="contract_month_product", column_name=CONTRACT_MONTH_SKU)
    enrollment_fee_sku = fields.Field(attribute="enrollment_fee_product", column_name=ENROLLMENT_FEE_SKU)
    is_visible = fields.Field(
        attribute="is_visible", column_name=VISIBILITY, widget=LabelWidget(VISIBILITY_LABELS)
    )
    name = fields.Field(attribute="name", column_name=NAME, widget=widgets.CharWidget())
    kind = fields.Field(column_name=KIND, readonly=True)
    uses = fields.Field(column_name=USES, readonly=True)  # read by the format: per-band plans differ
    max_concurrent = fields.Field(
        attribute="max_concurrent",
        column_name=MAX_CONCURRENT,
        widget=WholeNumberWidget(MAX_CONCURRENT, empty=0),
    )
    max_concurrent_per_day = fields.Field(
        attribute="max_concurrent_per_day",
        column_name=MAX_CONCURRENT_PER_DAY,
        widget=WholeNumberWidget(MAX_CONCURRENT_PER_DAY, empty=0),
    )
    max_purchases = fields.Field(column_name=MAX_PURCHASES, readonly=True)
    validity_days = fields.Field(column_name=VALIDITY_DAYS, readonly=True)
    item_ids = fields.Field(column_name=ITEM_IDS, readonly=True)
    item_names = fields.Field(column_name=ITEM_NAMES, readonly=True)
    display_order = fields.Field(
        attribute="display_order",
        column_name=DISPLAY_ORDER,
        widget=WholeNumberWidget(DISPLAY_ORDER, minimum=1),
        saves_null_values=False,
    )
    created_at = fields.Field(
        attribute="created_at", column_name=CREATED_AT, widget=JstDateTimeWidget(), readonly=True
    )

    class Meta:
        model = Plan
        fields = (
            "id",
            "product_sku",
            "contract_month_sku",
            "enrollment_fee_sku",
            "is_visible",
            "name",
            "kind",
            "uses",
            "max_concurrent",
            "max_concurrent_per_day",
            "max_purchases",
            "validity_days",
            "item_ids",
            "item_names",
            "display_order",
            "created_at",
        )
        export_order = fields

    @staticmethod
    def items_of(plan: Plan) -> list[Item]:
        return sorted(plan.items.all(), key=lambda item: item.pk)

    @staticmethod
    def monthly_maximum(plan: Plan) -> int | None:
        """The monthly maximum the CSV shows: the total, or the sum of the bands' allowances."""
        if plan.allowance_mode == Plan.AllowanceMode.TOTAL:
            return plan.total_allowance
        if plan.pk is None:
            return 0
        return sum(allowance.allowance for allowance in plan.band_allowances.all())

    def dehydrate_kind(self, plan: Plan) -> str:
        return PLAN_KIND

    def dehydrate_uses(self, plan: Plan) -> str:
        maximum = self.monthly_maximum(plan)
        return "" if maximum is None else str(maximum)

    def dehydrate_max_purchases(self, plan: Plan) -> str:
        return ""

    def dehydrate_validity_days(self, plan: Plan) -> str:
        return ""

    def dehydrate_item_ids(self, plan: Plan) -> str:
        if plan.pk is None:
            return ""
        return LIST_SEPARATOR.join(str(item.pk) for item in self.items_of(plan))

    def dehydrate_item_names(self, plan: Plan) -> str:
        return LIST_SEPARATOR.join(item.name for item in self.items_of(plan))


class PlanRowsFormat(CsvFormat):
    """The メンバーシップ契約 rows of the ticket CSV (see the module's docstring)."""

    columns = COLUMNS
    numeric_columns = NUMBER_COLUMNS
    key_column = TICKET_ID
    name_column = NAME
    compared_columns = COMPARED
    field_columns = FIELD_COLUMNS
    resource_class = PlanRowResource
    file_stem = "tickets"

    def __init__(self):
        super().__init__()
        self.plans_by_id: dict[int, Plan] = {}
        self.products_by_sku: dict[str, Product] = {}
        self.items_by_id: dict[int, Item] = {}
        for name in ("product_sku", "contract_month_sku", "enrollment_fee_sku"):
            self.resource.fields[name].widget = ProductSkuWidget(self)
        self.item_widget = ItemIdsWidget(self)
        self.uses_widget = WholeNumberWidget(USES, minimum=1, required=True)
        self._fields = {field.column_name: field for field in self.export_fields}

    # --- messages (the ticket format words the file's; these are the rows') ----------------------------

    def exported_message(self, count: int) -> str:
        return ngettext("%(count)s plan exported.", "%(count)s plans exported.", count) % {"count": count}

    @classmethod
    def export_question(cls, count: int) -> str:
        return ngettext(
            "Export %(count)s plan as a CSV file?", "Export all %(count)s plans as a CSV file?", count
        ) % {"count": count}

    def not_this_file_message(self, detail: str, encoding: str) -> str:
        return gettext("This is not a ticket CSV: %(detail)s.") % {"detail": detail}

    def no_rows_message(self) -> str:
        return gettext("The file has a header but no ticket rows.")

    def unknown_key_message(self, key: int, values: dict[str, str]) -> str:
        return gettext("There is no plan with ID %(id)s. Leave the ID empty to add a plan.") % {"id": key}

    # --- export ---------------------------------------------------------------------------------------

    def export_queryset(self):
        return (
            Plan.objects.select_related("monthly_product", "contract_month_product", "enrollment_fee_product")
            .prefetch_related(
                Prefetch("items", queryset=Item.objects.order_by("pk").only("id", "name")), "band_allowances"
            )
            .order_by("pk")
        )

    def describe(self, plan: Plan) -> str:
        return f"{PLAN_KIND} {plan.pk}"

    # --- import ---------------------------------------------------------------------------------------

    def prefetch(self, rows: list[dict[str, str]]) -> None:
        ids = {int(row[TICKET_ID].strip()) for row in rows if row[TICKET_ID].strip().isdigit()}
        skus = {
            row[column].strip()
            for row in rows
            for column in (PRODUCT_SKU, CONTRACT_MONTH_SKU, ENROLLMENT_FEE_SKU)
        }
        item_ids = {
            int(part) for row in rows for part in ItemIdsWidget.split(row[ITEM_IDS]) if part.isdigit()
        }
        self.plans_by_id = (
            {plan.pk: plan for plan in self.export_queryset().filter(pk__any=ids)} if ids else {}
        )
        skus.discard("")
        self.products_by_sku = {product.sku: product for product in Product.objects.filter(sku__any=skus)}
        self.items_by_id = (
            {item.pk: item for item in Item.objects.only("id", "name").filter(pk__any=item_ids)}
            if item_ids
            else {}
        )

    def stored(self, key: int, values: dict[str, str]) -> Plan | None:
        return self.plans_by_id.get(key)

    def render(self, plan: Plan, items: list[Item] | None = None) -> dict[str, str]:
        values = {}
        for column in COMPARED:
            field = self._fields[column]
            values[column] = str(self.resource.export_field(field, plan) or "")
        if items is not None:
            values[ITEM_IDS] = LIST_SEPARATOR.join(str(item.pk) for item in items)
        return values

    def build(self, stored: Plan | None, values: dict[str, str], before: dict[str, str] | None):
        plan = stored if stored is not None else Plan(allowance_mode=Plan.AllowanceMode.TOTAL)
        changed = list(COMPARED) if before is None else [c for c in COMPARED if values[c] != before[c]]
        errors: dict[str, list[str]] = {}
        for column in changed:
            field = self._fields[column]
            if field.readonly:
                continue
            try:
                self.resource.import_field(field, plan, values)
            except ValueError as error:
                errors[ERROR_FIELDS.get(field.attribute, field.attribute)] = [str(error)]
        if USES in changed:
            try:
                maximum = self.uses_widget.clean(values[USES])
            except ValueError as error:
                errors["uses"] = [str(error)]
            else:
                if plan.allowance_mode == Plan.AllowanceMode.TOTAL:
                    plan.total_allowance = maximum
                else:
                    errors["uses"] = [
                        gettext(
                            "This plan counts its bookings per time band (%(total)s a month in all): change "
                            "the bands' allowances in the admin."
                        )
                        % {"total": PlanRowResource.monthly_maximum(plan)}
                    ]
        for column, name in ((MAX_PURCHASES, "max_purchases_per_member"), (VALIDITY_DAYS, "validity_days")):
            if values[column].strip() not in ("", "0"):
                errors[name] = [gettext("Leave this column empty: plans have no purchase limit or validity.")]
        items = None
        if ITEM_IDS in changed:
            try:
                items = self.item_widget.clean(values[ITEM_IDS])
            except ValueError as error:
                errors["items"] = [str(error)]
        errors.update(_product_errors(plan))
        if errors:
            raise ValidationError(errors)
        return (plan, items), self.render(plan, items)

    def write(self, changes: list[RowChange], *, dry_run: bool) -> None:
        """Each plan checked with the model's rules and saved with its items, in the chunk's transaction."""
        with transaction.atomic():
            for change in changes:
                plan, items = change.target
                try:
                    plan.full_clean(exclude=["stores", "items"])
                except ValidationError as error:
                    change.error = ValidationError(
                        {
                            ERROR_FIELDS.get(name, name): messages
                            for name, messages in error.message_dict.items()
                        }
                    )
                    continue
                if dry_run:
                    continue
                plan.save()
                if items is not None:
                    plan.items.set(items)
                change.key = plan.pk


def _product_errors(plan: Plan) -> dict[str, list[str]]:
    """The monthly product must be monthly (定期); the contract-month and enrollment-fee products one-time."""
    errors = {}
    if plan.monthly_product_id is None:
        errors["product"] = [gettext("Enter the SKU of the plan's monthly product.")]
    elif plan.monthly_product.kind != Product.Kind.MONTHLY:
        errors["product"] = [gettext("A plan's product must be a monthly product (定期).")]
    for name, attribute in (
        ("contract_month_sku", "contract_month_product"),
        ("enrollment_fee_sku", "enrollment_fee_product"),
    ):
        product = getattr(plan, attribute)
        if product is not None and product.kind != Product.Kind.ONE_TIME:
            errors[name] = [gettext("This must be a one-time product.")]
    return errors
