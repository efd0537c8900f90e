"""The ticket CSV (SPEC §6, seed 000: チケットをCSVエクスポート / インポート): its columns, as a
django-import-export resource, and the format core.csv_pipeline reads and writes with it.

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
rules) and saved by `services.TicketTypeBatch`, which checks and writes 1,000 rows per transaction with a
few queries; a dry run runs the same checks and writes nothing. Products, items and the ticket types a
chunk of the file names are loaded in bulk before its first row (`prefetch`).

Reading the file, the chunks, the comparison, the result and error files and the cp932 report are the
pipeline's (core.csv_pipeline); `tickets.csv_jobs` runs it as jobs.
"""

from __future__ import annotations

import re
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import Prefetch
from django.utils import timezone
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _
from import_export import fields, resources, widgets

from core.csv_pipeline import ERROR_COLUMN, CsvFormat, RowChange
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
__all__ = ["COLUMNS", "ERROR_COLUMN", "TicketCsvFormat"]

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

# What an update reads of a stored ticket type: every field it compares, checks and writes (not the dates,
# which it neither compares nor writes but updated_at, set to now).
STORED_FIELDS = tuple(
    field.attname
    for field in TicketType._meta.concrete_fields
    if field.name not in {"created_at", "updated_at"}
)

_WHOLE_NUMBER = re.compile(r"[0-9０-９]+")  # full-width digits typed with an IME are fine
_ID_SEPARATORS = re.compile(r"[,、，\s]+")


def _quoted(value: str) -> str:
    return f"“{value}”"


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
    """商品SKUID ↔ the product. Looks the SKU up in the products loaded for the chunk of the file."""

    def __init__(self, lookups: TicketCsvFormat):
        super().__init__()
        self.lookups = lookups

    def clean(self, value, row=None, **kwargs):
        sku = "" if value is None else str(value).strip()
        if not sku:
            return None
        product = self.lookups.products_by_sku.get(sku)
        if product is None:
            raise ValueError(gettext("There is no product with SKU %(sku)s.") % {"sku": _quoted(sku)})
        return product

    def render(self, value, obj=None, **kwargs):
        return value.sku if value is not None else ""


class ItemIdsWidget(widgets.Widget):
    """利用可能プランID ↔ the usable items, by ID, in ID order."""

    def __init__(self, lookups: TicketCsvFormat):
        super().__init__()
        self.lookups = lookups

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
        unknown = [pk for pk in ids if pk not in self.lookups.items_by_id]
        if unknown:
            raise ValueError(
                gettext("There is no item with ID %(ids)s.") % {"ids": ", ".join(map(str, unknown))}
            )
        return [self.lookups.items_by_id[pk] for pk in ids]

    def render(self, value, obj=None, **kwargs):
        return LIST_SEPARATOR.join(str(item.pk) for item in value)


class JstDateTimeWidget(widgets.Widget):
    def render(self, value, obj=None, **kwargs):
        return "" if value is None else timezone.localtime(value, JST).strftime(DATETIME_FORMAT)


# --- the resource: the columns --------------------------------------------------------------------------


class TicketTypeResource(resources.ModelResource):
    """The sixteen columns: each a field with the widget that writes its cell and reads it back. The ID is
    read by the pipeline (it chooses between create and update), the items by the format (they are saved
    with the ticket type), the rest by `import_instance`."""

    id = fields.Field(
        attribute="id", column_name=TICKET_ID, widget=WholeNumberWidget(TICKET_ID), readonly=True
    )
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
    item_ids = fields.Field(column_name=ITEM_IDS, readonly=True)
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

    @staticmethod
    def items_of(ticket_type: TicketType) -> list[Item]:
        return sorted(ticket_type.items.all(), key=lambda item: item.pk)

    def dehydrate_contract_month_sku(self, ticket_type: TicketType) -> str:
        return ""  # plans only (SPEC §7)

    def dehydrate_enrollment_fee_sku(self, ticket_type: TicketType) -> str:
        return ""  # plans only (SPEC §7)

    def dehydrate_item_ids(self, ticket_type: TicketType) -> str:
        return LIST_SEPARATOR.join(str(item.pk) for item in self.items_of(ticket_type))

    def dehydrate_item_names(self, ticket_type: TicketType) -> str:
        return LIST_SEPARATOR.join(item.name for item in self.items_of(ticket_type))


# --- other kinds of rows: plans plug theirs in ------------------------------------------------------------

# チケット種別 label → the format of the rows of that kind (the same columns). ecforce's ticket CSV also
# holds membership plans (メンバーシップ契約): the plans app registers its format here from its AppConfig,
# since tickets must not import plans. Their IDs are counted apart from ticket IDs.
ROW_KINDS: dict[str, type[CsvFormat]] = {}


def register_row_kind(label: str, format_class: type[CsvFormat]) -> None:
    ROW_KINDS[label] = format_class


# --- the format: what core.csv_pipeline needs to know -----------------------------------------------------


class TicketCsvFormat(CsvFormat):
    columns = COLUMNS
    numeric_columns = NUMBER_COLUMNS
    key_column = TICKET_ID
    name_column = NAME
    compared_columns = COMPARED_COLUMNS
    field_columns = FIELD_COLUMNS
    resource_class = TicketTypeResource
    file_stem = "tickets"
    upload_help = _(
        "The format of the ticket CSV export, in Shift_JIS or UTF-8. Leave チケットID empty to add a "
        "ticket; 利用可能プラン名 and 登録日時 are not imported."
    )

    def __init__(self):
        super().__init__()
        self.products_by_sku: dict[str, Product] = {}
        self.items_by_id: dict[int, Item] = {}
        self.ticket_types_by_id: dict[int, TicketType] = {}
        self.stored_item_ids: dict[int, list[str]] = {}
        self._full_products: dict[int, Product] | None = None
        self.resource.fields["product_sku"].widget = ProductSkuWidget(self)
        self.item_widget = ItemIdsWidget(self)
        # The compared columns but the items, each with the field that writes its cell.
        self._compared_fields = [
            field
            for field in self.export_fields
            if field.column_name in COMPARED_COLUMNS and field.column_name != ITEM_IDS
        ]
        self._import_fields = {
            field.column_name: field for field in self.resource.get_import_fields() if not field.readonly
        }
        self.batch: TicketTypeBatch | None = None
        # The formats of the other kinds of rows (ROW_KINDS), each serving the rows of its チケット種別.
        self.other_kinds = {label: format_class() for label, format_class in ROW_KINDS.items()}

    def _kind_of(self, values: dict[str, str]) -> CsvFormat | None:
        return self.other_kinds.get(values[KIND].strip())

    def _owner_of(self, obj) -> CsvFormat | None:
        if isinstance(obj, TicketType):
            return None
        return next(fmt for fmt in self.other_kinds.values() if isinstance(obj, fmt.resource._meta.model))

    # --- messages ---------------------------------------------------------------------------------------

    def exported_message(self, count: int) -> str:
        return ngettext("%(count)s ticket exported.", "%(count)s tickets exported.", count) % {"count": count}

    @classmethod
    def export_question(cls, count: int) -> str:
        return ngettext(
            "Export %(count)s ticket type as a CSV file?",
            "Export all %(count)s ticket types as a CSV file?",
            count,
        ) % {"count": count}

    def not_this_file_message(self, detail: str, encoding: str) -> str:
        return gettext(
            "This is not a ticket CSV: %(detail)s. The first line must be the header of an exported ticket "
            "CSV (read as %(encoding)s)."
        ) % {"detail": detail, "encoding": encoding}

    def no_rows_message(self) -> str:
        return gettext("The file has a header but no ticket rows.")

    def unknown_key_message(self, key: int, values: dict[str, str]) -> str:
        if (other := self._kind_of(values)) is not None:
            return other.unknown_key_message(key, values)
        return gettext("There is no ticket with ID %(id)s. Leave the ID empty to add a ticket.") % {"id": key}

    def bad_key_message(self, text: str) -> str:
        return gettext("%(value)s is not a ticket ID.") % {"value": _quoted(text)}

    def duplicate_key_message(self, key: int) -> str:
        return gettext("Ticket ID %(id)s is in the file more than once.") % {"id": key}

    # --- export -----------------------------------------------------------------------------------------

    def export_queryset(self):
        return (
            TicketType.objects.select_related("product")
            .prefetch_related(Prefetch("items", queryset=Item.objects.order_by("pk").only("id", "name")))
            .order_by("pk")
        )

    def export_total(self) -> int:
        return super().export_total() + sum(other.export_total() for other in self.other_kinds.values())

    def export_objects(self):
        """The ticket types, then each other kind's rows (plans)."""
        yield from super().export_objects()
        for other in self.other_kinds.values():
            yield from other.export_objects()

    def export_cells(self, obj) -> list:
        owner = self._owner_of(obj)
        return super().export_cells(obj) if owner is None else owner.export_cells(obj)

    def describe(self, obj) -> str:
        owner = self._owner_of(obj)
        return super().describe(obj) if owner is None else owner.describe(obj)

    def key_namespace(self, values: dict[str, str]) -> str:
        return values[KIND].strip() if self._kind_of(values) is not None else ""

    # --- import -----------------------------------------------------------------------------------------

    def prefetch(self, rows: list[dict[str, str]]) -> None:
        """Each other kind's rows to its format; the ticket rows below."""
        for label, other in self.other_kinds.items():
            other.prefetch([row for row in rows if row[KIND].strip() == label])
        self._prefetch_tickets([row for row in rows if self._kind_of(row) is None])

    def _prefetch_tickets(self, rows: list[dict[str, str]]) -> None:
        """What a chunk of rows names, in four queries of plain values: the ticket types it updates (made
        into instances without their relations), their items' IDs, the products (named by SKU or held
        by those ticket types) and the items."""
        ids, skus, item_ids = set(), set(), set()
        for row in rows:
            if _WHOLE_NUMBER.fullmatch(ticket_id := row[TICKET_ID].strip()):
                ids.add(int(ticket_id))
            if sku := row[PRODUCT_SKU].strip():
                skus.add(sku)
            item_ids.update(
                int(part) for part in ItemIdsWidget.split(row[ITEM_IDS]) if _WHOLE_NUMBER.fullmatch(part)
            )
        stored = (
            list(TicketType.objects.filter(pk__any=ids).values(*STORED_FIELDS, "product__sku")) if ids else []
        )
        self.stored_item_ids = {}
        if stored:
            through = TicketType.items.through.objects.filter(tickettype_id__any=ids).order_by("item_id")
            for ticket_type_id, item_id in through.values_list("tickettype_id", "item_id"):
                self.stored_item_ids.setdefault(ticket_type_id, []).append(str(item_id))
        skus.update(sku for values in stored if (sku := values.pop("product__sku")) is not None)
        # Only what the row needs of a product (its ID and SKU): the batch checks the rules against the
        # products as they are when it locks them, and puts those in their place.
        products = Product.objects.filter(sku__any=skus).only("id", "sku") if skus else []
        products_by_id = {product.pk: product for product in products}
        self._full_products = None
        self.products_by_sku = {product.sku: product for product in products_by_id.values()}
        self.items_by_id = (
            {item.pk: item for item in Item.objects.only("id", "name").filter(pk__any=item_ids)}
            if item_ids
            else {}
        )
        self.ticket_types_by_id = {}
        for values in stored:
            ticket_type = TicketType(**values)
            ticket_type._state.adding = False
            if ticket_type.product_id in products_by_id:
                ticket_type.product = products_by_id[ticket_type.product_id]
            self.ticket_types_by_id[ticket_type.pk] = ticket_type

    def _full_product(self, pk: int) -> Product | None:
        """A product with every field (the rows' own hold only ID and SKU), for a refused row's rules:
        the chunk's products are read once, when its first refused row needs them."""
        if self._full_products is None:
            ids = [product.pk for product in self.products_by_sku.values()]
            self._full_products = {product.pk: product for product in Product.objects.filter(pk__any=ids)}
        return self._full_products.get(pk)

    def stored(self, key: int, values: dict[str, str]):
        if (other := self._kind_of(values)) is not None:
            return other.stored(key, values)
        return self.ticket_types_by_id.get(key)

    def render(self, ticket_type: TicketType, items: list[Item] | None = None) -> dict[str, str]:
        """The compared columns of a ticket type: a stored one's items as `prefetch` read them, or `items`
        (another kind's row: its format's)."""
        if (owner := self._owner_of(ticket_type)) is not None:
            return owner.render(ticket_type)
        values = {field.column_name: field.export(ticket_type) for field in self._compared_fields}
        if items is None:
            values[ITEM_IDS] = LIST_SEPARATOR.join(self.stored_item_ids.get(ticket_type.pk, ()))
        else:
            values[ITEM_IDS] = LIST_SEPARATOR.join(str(item.pk) for item in items)
        return values

    def build(self, stored: TicketType | None, values: dict[str, str], before: dict[str, str] | None):
        """A new ticket type reads every cell; a stored one only the cells that differ from what the export
        writes for it (the others hold its stored values already). Another kind's row: its format's."""
        if (other := self._kind_of(values)) is not None:
            return other.build(stored, values, before)
        ticket_type = stored if stored is not None else TicketType()
        changed = (
            list(COMPARED_COLUMNS)
            if before is None
            else [c for c in COMPARED_COLUMNS if values[c] != before[c]]
        )
        errors: dict[str, Any] = {}
        # Each changed cell through its field's widget (import-export's import_field), every column's error
        # collected, as Resource.import_instance does without working out its fields again for each row.
        for column in changed:
            field = self._import_fields.get(column)
            if field is not None:
                try:
                    self.resource.import_field(field, ticket_type, values)
                except ValueError as error:
                    errors[field.attribute] = [str(error)]
        for name, column in (
            ("contract_month_sku", CONTRACT_MONTH_SKU),
            ("enrollment_fee_sku", ENROLLMENT_FEE_SKU),
        ):
            if values[column].strip():
                errors[name] = [
                    gettext(
                        "Leave this column empty: the contract-month and enrollment-fee products belong to "
                        "plans, not tickets."
                    )
                ]
        items = None
        if ITEM_IDS in changed:
            try:
                items = self.item_widget.clean(values[ITEM_IDS])
            except ValueError as error:
                errors["items"] = [str(error)]
        if errors:
            # A row whose cells did not parse is refused with every other rule it breaks too (the model's
            # field checks and `TicketType.clean()`), so one pass shows all of its mistakes. A row that
            # parsed is checked by the batch it is written in: the same rules, read for 1,000 rows at once.
            try:
                ticket_type.clean_fields(exclude={"product", *errors})
            except ValidationError as error:
                errors = error.update_error_dict(errors)
            if ticket_type.product_id is not None:
                ticket_type.product = self._full_product(ticket_type.product_id)  # for its rules
            try:
                ticket_type.clean()
            except ValidationError as error:
                errors = error.update_error_dict(errors)
            raise ValidationError(errors)
        after = dict(before) if before is not None else {}
        for field in self._compared_fields:
            if field.column_name in changed:
                after[field.column_name] = field.export(ticket_type)
        if items is not None:
            after[ITEM_IDS] = LIST_SEPARATOR.join(str(item.pk) for item in items)
        # The items are saved only when they change: setting them costs two queries even when they do not.
        to_save = items if items is not None and after[ITEM_IDS] != (before or {}).get(ITEM_IDS, "") else None
        return TicketTypeChange(ticket_type, items=to_save), {
            column: after[column] for column in COMPARED_COLUMNS
        }

    def write(self, changes: list[RowChange], *, dry_run: bool) -> None:
        """The chunk's changes through one TicketTypeBatch for the whole run (it remembers the products
        earlier chunks took), checked and, unless a dry run, written in a transaction per BATCH_SIZE."""
        kind_at = COLUMNS.index(KIND)
        for label, other in self.other_kinds.items():
            if theirs := [change for change in changes if change.cells[kind_at].strip() == label]:
                other.write(theirs, dry_run=dry_run)
        changes = [change for change in changes if isinstance(change.target, TicketTypeChange)]
        if not changes:
            return
        if self.batch is None:
            self.batch = TicketTypeBatch(dry_run=dry_run)
        for change in changes:
            change.target.line = change.line
            self.batch.add(change.target)
        self.batch.flush()
        for change in changes:
            change.error = change.target.error
            if change.error is None:
                change.key = change.target.ticket_type.pk
