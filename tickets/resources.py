"""The ticket CSV (SPEC §6, seed 000: チケットをCSVエクスポート / インポート), a django-import-export
resource.

The columns, their order and their values are the file format, fixed in Japanese whatever the admin's
language (they are data, not interface text):

    チケットID, 商品SKUID, 契約月分商品SKUID, 入会金商品SKUID, 表示ステータス, チケット名, チケット種別,
    チケット利用回数, 同時予約数制限, 1日あたりの同時予約数制限, 顧客毎の購入回数制限, チケット利用期限,
    利用可能プランID, 利用可能プラン名, 表示順, 登録日時

How each column reads on import:
- チケットID: empty creates a ticket type; a number updates that one (an unknown ID, or the same ID twice in
  one file, is a row error).
- 商品SKUID: the product's SKU (empty: no product). An unknown SKU is a row error naming it.
- 契約月分商品SKUID, 入会金商品SKUID: always empty for tickets (they belong to plans, §7); a value is a row
  error saying so.
- 表示ステータス 表示 / 非表示; チケット種別 回数券 / 体験チケット(有料) / 体験チケット(無料).
- チケット利用回数: a whole number, 1 or more. The three limits and チケット利用期限 (days): whole
  numbers, 0 or empty = no limit (SPEC §2). 表示順: 1 or more; empty keeps the current one (a new ticket
  gets 1). Full-width digits are read as digits.
- 利用可能プランID: item IDs separated by commas (、 and spaces are accepted too); an unknown ID is a row
  error.
- 利用可能プラン名 and 登録日時 are for reading only and are ignored: the IDs decide the items.
- A text cell the export wrote with a leading ' (a name starting with = + - @ tab or CR, which a
  spreadsheet would run as a formula) is read without it (core.csvio), so the name comes back as it was.
- チケット名 in a Shift_JIS file: a name the export had to write differently (〜 as ～, 🍣 as ?: see
  core.csvio) is kept as it is when the cell still holds exactly what the export wrote; an edited cell is
  applied. So export → import never changes a name behind anyone's back.

Every row is checked against the admin form's rules (the model's field checks and `TicketType.clean()`'s
rules) and saved by `services.TicketTypeBatch`, which checks and writes 500 rows per transaction with a
few queries; a dry run runs the same checks and writes nothing. Products, items and the ticket types a
file names are loaded in bulk before the first row (`prefetch`).

`tickets.csv_jobs` runs imports and exports with this resource and turns the outcome into files.
"""

from __future__ import annotations

import re
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import Prefetch
from django.utils import timezone
from django.utils.translation import gettext
from import_export import fields, resources, widgets

from core.csvio import CP932, written_form
from core.periods import JST
from inventory.models import Item
from payments.models import Product
from tickets.models import TicketType
from tickets.services import TicketTypeBatch, TicketTypeChange

# --- the format ----------------------------------------------------------------------------------------

TICKET_ID = "チケットID"
PRODUCT_SKU = "商品SKUID"
CONTRACT_MONTH_SKU = "契約月分商品SKUID"
ENROLLMENT_FEE_SKU = "入会金商品SKUID"
VISIBILITY = "表示ステータス"
NAME = "チケット名"
KIND = "チケット種別"
USES = "チケット利用回数"
MAX_CONCURRENT = "同時予約数制限"
MAX_CONCURRENT_PER_DAY = "1日あたりの同時予約数制限"
MAX_PURCHASES = "顧客毎の購入回数制限"
VALIDITY_DAYS = "チケット利用期限"
ITEM_IDS = "利用可能プランID"
ITEM_NAMES = "利用可能プラン名"
DISPLAY_ORDER = "表示順"
CREATED_AT = "登録日時"

COLUMNS = (
    TICKET_ID,
    PRODUCT_SKU,
    CONTRACT_MONTH_SKU,
    ENROLLMENT_FEE_SKU,
    VISIBILITY,
    NAME,
    KIND,
    USES,
    MAX_CONCURRENT,
    MAX_CONCURRENT_PER_DAY,
    MAX_PURCHASES,
    VALIDITY_DAYS,
    ITEM_IDS,
    ITEM_NAMES,
    DISPLAY_ORDER,
    CREATED_AT,
)
# The columns that hold whole numbers: written as numbers (a cell of any other column that a spreadsheet
# would run as a formula gets a leading ', see core.csvio).
NUMBER_COLUMNS = (
    TICKET_ID,
    USES,
    MAX_CONCURRENT,
    MAX_CONCURRENT_PER_DAY,
    MAX_PURCHASES,
    VALIDITY_DAYS,
    DISPLAY_ORDER,
)
# The reason column the error file adds; a corrected error file can be imported as it is.
ERROR_COLUMN = "エラー内容"

VISIBILITY_LABELS = {True: "表示", False: "非表示"}
KIND_LABELS = {
    TicketType.Kind.PUNCH_CARD: "回数券",
    TicketType.Kind.PAID_TRIAL: "体験チケット(有料)",
    TicketType.Kind.FREE_TRIAL: "体験チケット(無料)",
}
DATETIME_FORMAT = "%Y/%m/%d %H:%M:%S"  # 2025/05/19 11:36:15, JST
LIST_SEPARATOR = ","

# Which column a model field's error belongs to, so a row error names the column the user can fix.
FIELD_COLUMNS = {
    "id": TICKET_ID,
    "product": PRODUCT_SKU,
    "contract_month_sku": CONTRACT_MONTH_SKU,
    "enrollment_fee_sku": ENROLLMENT_FEE_SKU,
    "is_visible": VISIBILITY,
    "name": NAME,
    "kind": KIND,
    "uses": USES,
    "max_concurrent": MAX_CONCURRENT,
    "max_concurrent_per_day": MAX_CONCURRENT_PER_DAY,
    "max_purchases_per_member": MAX_PURCHASES,
    "validity_days": VALIDITY_DAYS,
    "items": ITEM_IDS,
    "display_order": DISPLAY_ORDER,
}
# The columns an import can change, compared to tell an update from an unchanged row: every column but
# the ID, the plan-only products and the read-only ones.
COMPARED_COLUMNS = tuple(
    column
    for column in COLUMNS
    if column not in {TICKET_ID, CONTRACT_MONTH_SKU, ENROLLMENT_FEE_SKU, ITEM_NAMES, CREATED_AT}
)

_WHOLE_NUMBER = re.compile(r"[0-9０-９]+")  # full-width digits typed with an IME are fine
_ID_SEPARATORS = re.compile(r"[,、，\s]+")


def _quoted(value: str) -> str:
    return f"“{value}”"


def row_error_message(error: ValidationError) -> str:
    """One line, each part naming the CSV column: "表示順: The display order must be 1 or more."."""
    if not hasattr(error, "error_dict"):
        return " ".join(error.messages)
    parts = []
    for field, errors in error.error_dict.items():
        text = " ".join(message for each in errors for message in each.messages)
        column = FIELD_COLUMNS.get(field)
        parts.append(f"{column}: {text}" if column else text)
    return " / ".join(parts)


# --- widgets: one column's text ↔ a value --------------------------------------------------------------


class WholeNumberWidget(widgets.Widget):
    """A whole number of `minimum` or more. An empty cell gives `empty` (None: the column is required when
    `required`, else the field is left as it is)."""

    def __init__(self, column: str, *, minimum: int = 0, empty: int | None = None, required: bool = False):
        super().__init__()
        self.column, self.minimum, self.empty, self.required = column, minimum, empty, required

    def clean(self, value, row=None, **kwargs):
        text = "" if value is None else str(value).strip()
        if not text:
            if self.required:
                raise ValueError(gettext("Enter a whole number of %(minimum)s or more.") % self._params())
            return self.empty
        if not _WHOLE_NUMBER.fullmatch(text):
            raise ValueError(
                gettext("%(value)s is not a whole number of %(minimum)s or more.")
                % self._params(value=_quoted(text))
            )
        number = int(text)
        if number < self.minimum:
            raise ValueError(gettext("%(value)s is less than %(minimum)s.") % self._params(value=text))
        return number

    def _params(self, **extra) -> dict:
        return {"minimum": self.minimum, **extra}

    def render(self, value, obj=None, **kwargs):
        return "" if value is None else str(int(value))


class LabelWidget(widgets.Widget):
    """One of a fixed set of labels (表示 / 非表示, 回数券 / …) ↔ the model value."""

    def __init__(self, labels: dict):
        super().__init__()
        self.labels = labels
        self.values = {label: value for value, label in labels.items()}

    def clean(self, value, row=None, **kwargs):
        text = "" if value is None else str(value).strip()
        if text in self.values:
            return self.values[text]
        choices = " / ".join(self.labels.values())
        if not text:
            raise ValueError(gettext("Enter one of %(choices)s.") % {"choices": choices})
        raise ValueError(
            gettext("%(value)s is not one of %(choices)s.") % {"value": _quoted(text), "choices": choices}
        )

    def render(self, value, obj=None, **kwargs):
        return self.labels.get(value, "")


class ProductSkuWidget(widgets.Widget):
    """商品SKUID ↔ the product. Looks the SKU up in the products the resource loaded for the whole file."""

    def __init__(self, resource: TicketTypeResource):
        super().__init__()
        self.resource = resource

    def clean(self, value, row=None, **kwargs):
        sku = "" if value is None else str(value).strip()
        if not sku:
            return None
        product = self.resource.products_by_sku.get(sku)
        if product is None:
            raise ValueError(gettext("There is no product with SKU %(sku)s.") % {"sku": _quoted(sku)})
        return product

    def render(self, value, obj=None, **kwargs):
        return value.sku if value is not None else ""


class ItemIdsWidget(widgets.Widget):
    """利用可能プランID ↔ the usable items, by ID, in ID order."""

    def __init__(self, resource: TicketTypeResource):
        super().__init__()
        self.resource = resource

    @staticmethod
    def split(value) -> list[str]:
        text = "" if value is None else str(value)
        return [part for part in _ID_SEPARATORS.split(text) if part]

    def clean(self, value, row=None, **kwargs):
        parts = self.split(value)
        not_numbers = [part for part in parts if not _WHOLE_NUMBER.fullmatch(part)]
        if not_numbers:
            raise ValueError(
                gettext("%(values)s: item IDs are whole numbers separated by commas.")
                % {"values": ", ".join(_quoted(part) for part in not_numbers)}
            )
        ids = sorted({int(part) for part in parts})
        unknown = [pk for pk in ids if pk not in self.resource.items_by_id]
        if unknown:
            raise ValueError(
                gettext("There is no item with ID %(ids)s.") % {"ids": ", ".join(map(str, unknown))}
            )
        return [self.resource.items_by_id[pk] for pk in ids]

    def render(self, value, obj=None, **kwargs):
        return LIST_SEPARATOR.join(str(item.pk) for item in value)


class JstDateTimeWidget(widgets.Widget):
    def render(self, value, obj=None, **kwargs):
        return "" if value is None else timezone.localtime(value, JST).strftime(DATETIME_FORMAT)


# --- the resource --------------------------------------------------------------------------------------


class TicketTypeResource(resources.ModelResource):
    """One instance per import or export (it holds the file's lookups and what each row would change).

    Import with `import_data(dataset, dry_run=False, use_transactions=False)` after `prefetch(dataset)`,
    with this resource's own `dry_run` for a dry run. import-export's transaction would hold the whole
    file in one transaction (one bad row undoing the rest, every touched row locked to the end, and its
    dry run writing then rolling back); here the rows are checked and written by `TicketTypeBatch`, a
    transaction per 500 rows, and a dry run runs the same checks without writing anything. What happened
    to a row is in `saved[row_number]` (its `error`, or its ticket type) once `import_data` returns.
    """

    id = fields.Field(attribute="id", column_name=TICKET_ID, widget=WholeNumberWidget(TICKET_ID))
    product_sku = fields.Field(attribute="product", column_name=PRODUCT_SKU)
    contract_month_sku = fields.Field(column_name=CONTRACT_MONTH_SKU, readonly=True)
    enrollment_fee_sku = fields.Field(column_name=ENROLLMENT_FEE_SKU, readonly=True)
    is_visible = fields.Field(
        attribute="is_visible", column_name=VISIBILITY, widget=LabelWidget(VISIBILITY_LABELS)
    )
    name = fields.Field(attribute="name", column_name=NAME, widget=widgets.CharWidget())
    kind = fields.Field(attribute="kind", column_name=KIND, widget=LabelWidget(KIND_LABELS))
    uses = fields.Field(
        attribute="uses", column_name=USES, widget=WholeNumberWidget(USES, minimum=1, required=True)
    )
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
    max_purchases_per_member = fields.Field(
        attribute="max_purchases_per_member",
        column_name=MAX_PURCHASES,
        widget=WholeNumberWidget(MAX_PURCHASES, empty=0),
    )
    validity_days = fields.Field(
        attribute="validity_days", column_name=VALIDITY_DAYS, widget=WholeNumberWidget(VALIDITY_DAYS, empty=0)
    )
    item_ids = fields.Field(column_name=ITEM_IDS, readonly=True)  # imported by import_instance
    item_names = fields.Field(column_name=ITEM_NAMES, readonly=True)
    display_order = fields.Field(
        attribute="display_order",
        column_name=DISPLAY_ORDER,
        widget=WholeNumberWidget(DISPLAY_ORDER, minimum=1),
        saves_null_values=False,  # empty keeps the current order (a new ticket gets the default, 1)
    )
    created_at = fields.Field(
        attribute="created_at", column_name=CREATED_AT, widget=JstDateTimeWidget(), readonly=True
    )

    class Meta:
        model = TicketType
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
            "max_purchases_per_member",
            "validity_days",
            "item_ids",
            "item_names",
            "display_order",
            "created_at",
        )
        export_order = fields
        import_id_fields = ("id",)
        skip_diff = True  # what changed is worked out per column in import_instance, for the preview
        report_skipped = True
        clean_model_instances = True
        use_transactions = False
        chunk_size = 2000

    def __init__(self, *, encoding: str | None = None, dry_run: bool = False):
        super().__init__()
        self.encoding = encoding
        self.dry_run = dry_run
        self.products_by_sku: dict[str, Product] = {}
        self.items_by_id: dict[int, Item] = {}
        self.ticket_types_by_id: dict[int, TicketType] = {}
        self._item_widget = ItemIdsWidget(self)
        self.fields["product_sku"].widget = ProductSkuWidget(self)
        self._seen_ids: set[int] = set()
        # Filled per row: its line in the file, its changes (column, old, new) and what was saved.
        self.row_lines: dict[int, int] = {}
        self.changes: dict[int, list[tuple[str, str, str]]] = {}
        self.saved: dict[int, TicketTypeChange] = {}
        self.batch = TicketTypeBatch(dry_run=dry_run)
        self.progress = None  # a core.jobs.JobProgress, advanced after each row

    # --- export -----------------------------------------------------------------------------------------

    @classmethod
    def export_queryset(cls):
        return (
            TicketType.objects.select_related("product")
            .prefetch_related(Prefetch("items", queryset=Item.objects.order_by("pk").only("id", "name")))
            .order_by("pk")
        )

    def get_queryset(self):
        return self.export_queryset()

    def iter_queryset(self, queryset):
        # Django's iterator() prefetches per chunk when given a chunk size, so memory stays flat.
        yield from queryset.iterator(chunk_size=self.get_chunk_size())

    @staticmethod
    def _items(ticket_type: TicketType) -> list[Item]:
        return sorted(ticket_type.items.all(), key=lambda item: item.pk)

    def dehydrate_contract_month_sku(self, ticket_type: TicketType) -> str:
        return ""  # plans only (SPEC §7)

    def dehydrate_enrollment_fee_sku(self, ticket_type: TicketType) -> str:
        return ""  # plans only (SPEC §7)

    def dehydrate_item_ids(self, ticket_type: TicketType) -> str:
        return LIST_SEPARATOR.join(str(item.pk) for item in self._items(ticket_type))

    def dehydrate_item_names(self, ticket_type: TicketType) -> str:
        return LIST_SEPARATOR.join(item.name for item in self._items(ticket_type))

    # --- import -----------------------------------------------------------------------------------------

    def prefetch(self, dataset) -> None:
        """Load every ticket type, product and item the file names, in three queries."""
        ids, skus, item_ids = set(), set(), set()
        for row in dataset.dict:
            if _WHOLE_NUMBER.fullmatch(ticket_id := str(row.get(TICKET_ID) or "").strip()):
                ids.add(int(ticket_id))
            if sku := str(row.get(PRODUCT_SKU) or "").strip():
                skus.add(sku)
            item_ids.update(
                int(part) for part in ItemIdsWidget.split(row.get(ITEM_IDS)) if _WHOLE_NUMBER.fullmatch(part)
            )
        self.ticket_types_by_id = self.export_queryset().in_bulk(ids) if ids else {}
        self.products_by_sku = Product.objects.in_bulk(skus, field_name="sku") if skus else {}
        self.items_by_id = Item.objects.only("id", "name").in_bulk(item_ids) if item_ids else {}

    def get_instance(self, instance_loader, row):
        text = str(row.get(TICKET_ID) or "").strip()
        if not text:
            return None
        if not _WHOLE_NUMBER.fullmatch(text):
            raise ValidationError({"id": gettext("%(value)s is not a ticket ID.") % {"value": _quoted(text)}})
        pk = int(text)
        if pk in self._seen_ids:
            raise ValidationError(
                {"id": gettext("Ticket ID %(id)s is in the file more than once.") % {"id": pk}}
            )
        self._seen_ids.add(pk)
        instance = self.ticket_types_by_id.get(pk)
        if instance is None:
            raise ValidationError(
                {
                    "id": gettext("There is no ticket with ID %(id)s. Leave the ID empty to add a ticket.")
                    % {"id": pk}
                }
            )
        return instance

    def _compared(self, instance: TicketType, items: list[Item] | None) -> dict[str, str]:
        values = {
            field.column_name: self.export_field(field, instance)
            for field in self.fields.values()
            if field.column_name in COMPARED_COLUMNS and field.column_name != ITEM_IDS
        }
        if items is None:
            items = self._items(instance) if instance.pk else []
        values[ITEM_IDS] = self._item_widget.render(items)
        return values

    def import_instance(self, instance, row, **kwargs):
        row_number = kwargs.get("row_number")
        before = self._compared(instance, None) if instance.pk else None
        stored_name = instance.name
        errors: dict[str, Any] = {}
        try:
            super().import_instance(instance, row, **kwargs)
        except ValidationError as error:
            errors = error.update_error_dict(errors)
        if (
            before is not None
            and self.encoding == CP932
            and instance.name != stored_name
            and written_form(stored_name) == instance.name
        ):
            instance.name = stored_name  # the cell holds what the export wrote for it: not an edit
        for name in ("contract_month_sku", "enrollment_fee_sku"):
            if str(row.get(self.fields[name].column_name) or "").strip():
                errors[name] = [
                    gettext(
                        "Leave this column empty: the contract-month and enrollment-fee products belong to "
                        "plans, not tickets."
                    )
                ]
        try:
            instance._csv_items = self._item_widget.clean(row.get(ITEM_IDS))
        except ValueError as error:
            instance._csv_items = None
            errors["items"] = [str(error)]
        after = self._compared(instance, instance._csv_items or [])
        if before is None:
            changes = [(column, "", after[column]) for column in COMPARED_COLUMNS]
        else:
            changes = [(c, before[c], after[c]) for c in COMPARED_COLUMNS if before[c] != after[c]]
        instance._csv_changes = changes
        # The items are saved only when they change: setting them costs two queries even when they do not.
        items_change = after[ITEM_IDS] != (before[ITEM_IDS] if before is not None else "")
        instance._csv_items_to_save = instance._csv_items if items_change else None
        if row_number is not None:
            self.changes[row_number] = changes
        if errors:
            raise ValidationError(errors)

    def skip_row(self, instance, original, row, import_validation_errors=None):
        return not import_validation_errors and instance.pk is not None and not instance._csv_changes

    def validate_instance(self, instance, import_validation_errors=None, validate_unique=True):
        """A row whose cells did not parse is refused here, with every other rule it breaks too (the
        model's field checks and `TicketType.clean()`), so one pass shows all of its mistakes. A row that
        parsed is checked by the batch it is saved in (`do_instance_save`): the same rules, read for 500
        rows at once."""
        if not import_validation_errors:
            return
        errors = dict(import_validation_errors)
        try:
            instance.clean_fields(exclude={"product", *errors})
        except ValidationError as error:
            errors = error.update_error_dict(errors)
        try:
            instance.clean()
        except ValidationError as error:
            errors = error.update_error_dict(errors)
        raise ValidationError(errors)

    def import_row(self, row, instance_loader, **kwargs):
        self._current_row = kwargs.get("row_number")
        row_result = super().import_row(row, instance_loader, **kwargs)
        if self.progress is not None:
            self.progress.advance()  # every row, refused ones too (after_import_row misses those)
        return row_result

    def do_instance_save(self, instance, is_create):
        change = TicketTypeChange(
            instance, items=instance._csv_items_to_save, line=self.row_lines.get(self._current_row)
        )
        self.saved[self._current_row] = change
        self.batch.add(change)  # checked (and, unless a dry run, written) with its batch

    def save_m2m(self, instance, row, **kwargs):
        """Nothing to do: the batch writes the items with the ticket type."""

    def after_import(self, dataset, result, **kwargs):
        """The last batch. (ModelResource would reset the table's ID sequence to max(id) here, for files
        that bring their own IDs; ours never do, an empty ID creates, and a reset racing another insert
        could hand out an ID twice.)"""
        self.batch.flush()
