"""The ledger CSV (points.ledger_csv): the search's entries as a cp932 file streamed in pieces, with fixed
Japanese columns, JST times, who acted, and formula cells neutralised."""

from __future__ import annotations

import csv
import io
from datetime import date

import pytest

from inventory.tests.factories import jst
from members.tests.factories import MemberFactory
from points import ledger_csv
from points.ledger_csv import COLUMNS, stream_ledger_csv
from points.models import PointEntry
from points.services import points_adjust, points_grant, points_use

pytestmark = pytest.mark.django_db
Kind = PointEntry.Kind
DAY = date(2026, 12, 1)


def rows_of(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("cp932"), newline="")))


def test_each_entry_is_a_row_with_jst_time_kind_who_and_a_formula_comment_neutralised():
    # given a grant by the system, a use by the member and a staff minus whose reason looks like a formula
    member = MemberFactory(email="hanako@example.com", name="山田 花子")
    staff = MemberFactory(email="staff@example.com", is_staff=True)
    granted = points_grant(
        member=member, amount=500, kind=Kind.PURCHASE, by=None, system="paid", now=jst(DAY, "00:30")
    )
    used = points_use(member=member, amount=200, by=member, now=jst(DAY, "12:00"))
    taken = points_adjust(member=member, delta=-50, by=staff, reason='=HYPERLINK("x")', now=jst(DAY, "13:00"))

    # when the ledger is streamed
    data = b"".join(stream_ledger_csv(PointEntry.objects.filter(member=member)))

    # then cp932 with CRLF, the fixed header, one row per entry
    assert data.endswith(b"\r\n")
    rows = rows_of(data)
    assert rows[0] == list(COLUMNS)
    assert rows[1] == [
        str(granted.pk),
        "2026/12/01 00:30:00",
        str(member.pk),
        "hanako@example.com",
        "山田 花子",
        "注文・入金ポイント付与",
        "500",
        "500",
        granted.expires_on.strftime("%Y/%m/%d"),
        "",
        "システム(paid)",
        "",
        "",
    ]
    assert rows[2][5:8] == ["ポイント利用", "-200", "300"]
    assert rows[2][10] == "会員"
    assert rows[3][5:8] == ["その他", "-50", "250"]
    assert rows[3][10] == "staff@example.com"
    assert rows[3][11] == '\'=HYPERLINK("x")'  # neutralised: a spreadsheet shows it as text
    assert [row[0] for row in rows[1:]] == [str(granted.pk), str(used.pk), str(taken.pk)]


def test_a_large_ledger_comes_in_many_pieces_read_in_chunks(monkeypatch, django_assert_max_num_queries):
    # given 600 entries, read 100 at a time
    member, staff = MemberFactory(), MemberFactory(is_staff=True)
    for n in range(600):
        points_adjust(member=member, delta=1, by=staff, reason=f"bonus {n}", now=jst(DAY, "10:00"))
    monkeypatch.setattr(ledger_csv, "READ_CHUNK", 100)
    monkeypatch.setattr(ledger_csv, "PIECE_BYTES", 4096)

    # when streamed (a generator: nothing is read before the first piece is asked for)
    stream = stream_ledger_csv(PointEntry.objects.all())
    with django_assert_max_num_queries(10):
        pieces = list(stream)

    # then several pieces, not one file held whole, and every row
    assert len(pieces) > 1
    assert len(rows_of(b"".join(pieces))) == 601
