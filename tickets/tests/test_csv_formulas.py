"""Ticket CSV and spreadsheet formulas (issue 12 item 4): a ticket name Excel would run as a formula is
exported with a leading ' (OWASP), the import takes it off again, and numbers stay numbers."""

from __future__ import annotations

import csv
import io

import pytest
from django.utils import translation

from tickets.csv_jobs import export_ticket_types, import_ticket_types
from tickets.models import TicketType
from tickets.resources import COLUMNS, NAME, USES
from tickets.tests.factories import TicketTypeFactory

pytestmark = pytest.mark.django_db

HOSTILE_NAMES = [
    '=HYPERLINK("http://evil.example/?q=1","x")',
    "+1+1",
    "-2+3",
    "@SUM(1+1)",
    "\t=1+1",
    "\r=1+1",
    "'=本当にアポストロフィで始まる名前",
    "''=二重",
]


@pytest.fixture(autouse=True)
def english():
    with translation.override("en"):
        yield


def rows_of(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("cp932"), newline="")))


def test_hostile_names_are_exported_as_text_and_imported_back_unchanged():
    # given
    tickets = {TicketTypeFactory(name=name).pk: name for name in HOSTILE_NAMES}

    # when
    first = export_ticket_types()

    # then: the real file bytes hold each name behind one more ', so Excel shows it as text
    assert first.problems == []
    assert b'"\'=HYPERLINK(""http://evil.example/?q=1"",""x"")"' in first.data
    assert "'-2+3".encode("cp932") in first.data
    header, *lines = rows_of(first.data)
    name_at = header.index(NAME)
    assert {int(line[0]): line[name_at] for line in lines} == {pk: f"'{name}" for pk, name in tickets.items()}
    for line in lines:
        assert not any(cell.startswith(tuple("=+-@\t\r")) for cell in line), line

    # when: imported back as it is
    same = import_ticket_types(first.data, dry_run=False)

    # then: nothing changes
    assert (same.unchanged, same.updated, same.failed) == (len(HOSTILE_NAMES), 0, 0)
    assert dict(TicketType.objects.values_list("pk", "name")) == tickets

    # when: the names changed meanwhile, the file puts them back exactly
    TicketType.objects.update(name="変更済み")
    restored = import_ticket_types(first.data, dry_run=False)

    # then
    assert (restored.updated, restored.failed) == (len(HOSTILE_NAMES), 0)
    assert dict(TicketType.objects.values_list("pk", "name")) == tickets
    assert export_ticket_types().data == first.data


def test_the_number_columns_stay_numbers_and_the_error_file_neutralises_only_text():
    # given: a row with a negative number of uses and a hostile name, and one with a formula as uses
    header = list(COLUMNS)
    good = dict.fromkeys(header, "")
    good.update({"表示ステータス": "表示", "チケット種別": "回数券", "チケット利用回数": "5", "表示順": "1"})
    negative = {**good, NAME: "=1+1", USES: "-3"}
    formula = {**good, NAME: "ふつう", USES: "=2+2"}
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerows([header, [negative[c] for c in header], [formula[c] for c in header]])

    # when
    result = import_ticket_types(buffer.getvalue().encode("cp932"), dry_run=False)
    error_file, _problems = result.error_file()

    # then: -3 stays the number the user typed; the text (and the formula typed into a number column)
    # cannot run
    assert result.failed == 2
    _header, first, second = rows_of(error_file)
    uses_at = header.index(USES)
    name_at = header.index(NAME)
    assert (first[name_at], first[uses_at]) == ("'=1+1", "-3")
    assert (second[name_at], second[uses_at]) == ("ふつう", "'=2+2")

    # when: the error file, corrected, is imported as it is
    corrected = error_file.replace(b",-3,", b",4,").replace(b",'=2+2,", b",2,")
    again = import_ticket_types(corrected, dry_run=False)

    # then
    assert (again.created, again.failed) == (2, 0)
    assert sorted(TicketType.objects.values_list("name", "uses")) == [("=1+1", 4), ("ふつう", 2)]


def test_an_exported_number_column_is_written_as_a_number():
    # given
    ticket = TicketTypeFactory(name="-1回券", uses=3, display_order=12)

    # when
    header, line = rows_of(export_ticket_types().data)

    # then
    values = dict(zip(header, line, strict=True))
    assert values["チケットID"] == str(ticket.pk)
    assert (values[USES], values["表示順"], values[NAME]) == ("3", "12", "'-1回券")
