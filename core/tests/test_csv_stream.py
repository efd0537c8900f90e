"""`core.csv_pipeline.stream_csv`: the same file `export_csv` writes, handed out in pieces as it is written
(a download streamed with flat memory), with each character cp932 cannot hold reported as it goes."""

from __future__ import annotations

import pytest

from core.csv_pipeline import export_csv, stream_csv
from core.tests.test_csv_pipeline import CategoryCsvFormat, rows_of
from inventory.models import Category

pytestmark = pytest.mark.django_db


def test_the_stream_is_the_export_file_in_pieces_with_formulas_neutralised():
    # given many categories, one whose name a spreadsheet would run as a formula
    Category.objects.create(name="=HYPERLINK(1)", display_order=1)
    Category.objects.bulk_create(Category(name=f"ヨガ{n:04d}", display_order=n + 2) for n in range(400))
    fmt = CategoryCsvFormat()

    # when it is streamed in small pieces
    pieces = list(stream_csv(fmt, fmt.export_queryset().iterator(chunk_size=50), chunk_bytes=1024))

    # then it comes in several pieces which together are exactly the export's file
    assert len(pieces) > 5
    assert all(len(piece) < 1024 + 200 for piece in pieces)
    data = b"".join(pieces)
    assert data == export_csv(CategoryCsvFormat()).data
    rows = rows_of(data)
    assert rows[0] == ["分類ID", "分類名", "表示順"]
    assert rows[1][1] == "'=HYPERLINK(1)"
    assert len(rows) == 402


def test_a_header_only_file_when_there_are_no_rows_and_problems_are_handed_out():
    fmt = CategoryCsvFormat()
    assert rows_of(b"".join(stream_csv(fmt, []))) == [["分類ID", "分類名", "表示順"]]

    Category.objects.create(name="寿司🍣", display_order=1)
    found = []
    data = b"".join(stream_csv(fmt, fmt.export_queryset(), on_problem=found.append))
    assert rows_of(data)[1][1] == "寿司?"
    assert [(problem.char, problem.is_loss) for problem in found] == [("🍣", True)]
