"""The CSV pipeline (core.csv_pipeline) with a format declared here, for categories: three columns and the
five methods an app implements. Everything else (reading, the header, chunks, the comparison, the cp932
rules, the result and error files, the job outcomes) is the pipeline's, so it holds for any CSV file an
app declares, not only the ticket CSV."""

from __future__ import annotations

import csv
import io

import pytest
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import translation
from import_export import fields, resources, widgets

from core import csv_pipeline
from core.csv_pipeline import CsvFormat, export_csv, export_outcome, import_csv, import_outcome
from core.csvio import UTF8_BOM, CsvFileError
from inventory.models import Category

pytestmark = pytest.mark.django_db

ID, NAME, ORDER = "分類ID", "分類名", "表示順"


class CategoryResource(resources.ModelResource):
    id = fields.Field(attribute="id", column_name=ID, readonly=True)
    name = fields.Field(attribute="name", column_name=NAME, widget=widgets.CharWidget())
    display_order = fields.Field(attribute="display_order", column_name=ORDER, widget=widgets.IntegerWidget())

    class Meta:
        model = Category
        fields = ("id", "name", "display_order")
        export_order = fields


class CategoryCsvFormat(CsvFormat):
    columns = (ID, NAME, ORDER)
    numeric_columns = (ID, ORDER)
    key_column = ID
    name_column = NAME
    compared_columns = (NAME, ORDER)
    field_columns = {"name": NAME, "display_order": ORDER}
    resource_class = CategoryResource
    file_stem = "categories"
    writes: list[int]  # the size of each chunk written

    def __init__(self):
        super().__init__()
        self.stored_by_id: dict[int, Category] = {}
        self.writes = []

    def exported_message(self, count):
        return f"{count} categories exported."

    @classmethod
    def export_question(cls, count):
        return f"Export {count} categories?"

    def not_this_file_message(self, detail, encoding):
        return f"This is not a category CSV: {detail} ({encoding})."

    def no_rows_message(self):
        return "No category rows."

    def unknown_key_message(self, key, values):
        return f"There is no category with ID {key}."

    def export_queryset(self):
        return Category.objects.order_by("pk")

    def prefetch(self, rows):
        ids = [int(row[ID]) for row in rows if row[ID].strip().isdigit()]
        self.stored_by_id = Category.objects.in_bulk(ids)

    def stored(self, key, values):
        return self.stored_by_id.get(key)

    def render(self, category):
        return {NAME: category.name, ORDER: str(category.display_order)}

    def build(self, stored, values, before):
        category = stored if stored is not None else Category()
        self.resource.import_instance(category, values)
        category.full_clean(validate_unique=False)
        return category, self.render(category)

    def write(self, changes, *, dry_run):
        self.writes.append(len(changes))
        with transaction.atomic():
            for change in changes:
                try:
                    change.target.validate_unique()
                except ValidationError as error:
                    change.error = error
                    continue
                if not dry_run:
                    change.target.save()
                    change.key = change.target.pk


@pytest.fixture(autouse=True)
def english():
    with translation.override("en"):
        yield


def file_of(rows, *, header=(ID, NAME, ORDER), encoding="cp932", line_end="\r\n") -> bytes:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator=line_end)
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().encode(encoding)


def rows_of(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("cp932"), newline="")))


def test_an_apps_format_exports_in_shift_jis_with_formulas_neutralised_and_numbers_as_numbers():
    yoga = Category.objects.create(name="=HYPERLINK(1)", display_order=3)

    result = export_csv(CategoryCsvFormat())

    assert result.data.endswith(b"\r\n")
    assert rows_of(result.data) == [[ID, NAME, ORDER], [str(yoga.pk), "'=HYPERLINK(1)", "3"]]
    assert result.problems == []


def test_a_character_with_a_shift_jis_counterpart_is_a_notice_and_a_lost_one_makes_the_export_partial():
    Category.objects.create(name="朝〜夜", display_order=1)
    fmt = CategoryCsvFormat()

    noticed = export_outcome(fmt, export_csv(fmt))
    assert (noticed.partial, noticed.errors, noticed.counts["substituted_characters"]) == (False, None, 1)
    assert "counterpart" in noticed.messages[1]

    Category.objects.create(name="寿司🍣", display_order=2)
    lost = export_outcome(fmt, export_csv(fmt))
    assert lost.partial
    assert lost.counts == {"exported": 2, "substituted_characters": 1, "replaced_characters": 1}
    assert [line[4] for line in rows_of(lost.errors[1])[1:]] == ["U+301C", "U+1F363"]


def test_utf8_with_bom_and_lf_creates_and_the_export_imported_back_changes_nothing():
    data = UTF8_BOM + file_of([["", "ヨガ", "1"], ["", "朝〜夜", "2"]], encoding="utf-8", line_end="\n")

    created = import_csv(CategoryCsvFormat(), data, dry_run=False)

    assert (created.encoding, created.created, created.failed) == ("utf-8-sig", 2, 0)
    exported = export_csv(CategoryCsvFormat()).data  # 〜 is written as ～ in Shift_JIS
    again = import_csv(CategoryCsvFormat(), exported, dry_run=False)
    assert (again.unchanged, again.updated) == (2, 0)
    assert set(Category.objects.values_list("name", flat=True)) == {"ヨガ", "朝〜夜"}


def test_updates_name_the_changed_columns_and_a_refused_row_comes_back_with_its_reason():
    yoga = Category.objects.create(name="ヨガ", display_order=1)
    data = file_of([[yoga.pk, "ヨガ", "5"], ["", "", "1"], ["999999", "x", "1"], [yoga.pk, "ヨガ", "6"]])

    result = import_csv(CategoryCsvFormat(), data, dry_run=False)

    assert (result.updated, result.failed) == (1, 3)
    assert result.previews[0].changes == [(ORDER, "1", "5")]
    assert [(error.line, error.message.split(":")[0]) for error in result.errors] == [
        (3, NAME),
        (4, ID),
        (5, ID),
    ]
    assert "more than once" in result.errors[2].message
    error_file, _problems = result.error_file()
    lines = rows_of(error_file)
    assert lines[0] == [ID, NAME, ORDER, csv_pipeline.ERROR_COLUMN]
    assert lines[1][:3] == ["", "", "1"]
    # corrected, the error file is imported as it is
    fixed = error_file.replace(",,1,".encode("cp932"), ",陶芸,1,".encode("cp932"))
    assert import_csv(CategoryCsvFormat(), fixed, dry_run=False).created == 1
    assert Category.objects.filter(name="陶芸").exists()


def test_rows_are_read_and_written_in_chunks_and_reported_in_line_order(monkeypatch):
    monkeypatch.setattr(csv_pipeline, "BATCH_ROWS", 2)
    fmt = CategoryCsvFormat()
    data = file_of([["", f"分類{n}", "1"] for n in range(5)] + [["", "", "1"]])

    result = import_csv(fmt, data, dry_run=False)

    assert fmt.writes == [2, 2, 1]  # the last chunk's bad row is refused before its write
    assert (result.rows, result.created, result.failed) == (6, 5, 1)
    outcome = import_outcome(fmt, result)
    assert outcome.partial
    assert [line[0] for line in rows_of(outcome.result[1])[1:]] == ["2", "3", "4", "5", "6", "7"]


def test_a_dry_run_checks_every_row_and_writes_nothing():
    Category.objects.create(name="ヨガ", display_order=1)
    data = file_of([["", "ピラティス", "1"], ["", "ヨガ", "1"]])

    result = import_csv(CategoryCsvFormat(), data, dry_run=True)

    assert (result.created, result.failed) == (1, 1)  # the unique name, checked by the format's write
    assert list(Category.objects.values_list("name", flat=True)) == ["ヨガ"]


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (file_of([], header=(ID, NAME)), "This is not a category CSV: column 3"),
        (file_of([], header=(ID, "名前", ORDER)), "This is not a category CSV: column 2 is “名前”"),
        (file_of([]), "No category rows."),
        (file_of([["", "", ""]]).replace(b",,", b""), "No category rows."),
    ],
)
def test_a_file_that_is_not_the_formats_is_refused_as_a_whole_with_the_formats_message(data, says):
    with pytest.raises(CsvFileError) as refused:
        import_csv(CategoryCsvFormat(), data, dry_run=False)
    assert str(refused.value.message).startswith(says)
    assert not Category.objects.exists()
