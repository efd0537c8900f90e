"""The point ledger CSV (seed 004: ポイント管理画面の検索結果一覧より、ポイント履歴をCSVファイルにて
ダウンロード): the staff's current search, one row per history entry, streamed through the core CSV pipeline
(core.csv_pipeline.stream_csv: cp932 with CRLF, formula neutralisation) so memory stays flat however many
rows there are.

    stream_ledger_csv(queryset) -> Iterator[bytes]   (a PointEntry queryset; the header first)

The columns and their values are the file format, fixed in Japanese whatever the admin's language (they
are data, not interface text):

    履歴ID, 日時, 会員ID, メールアドレス, 会員名, 区分, 増減ポイント, 残高, 有効期限, 受注ID, 登録者,
    理由, コメント

日時 is JST (2019/06/03 10:15:00); 有効期限 the inclusive JST date the entry set (empty when none); 登録者 is
the staff member's e-mail address, 会員 when the member acted, or システム(<job>) for a system job.
"""

from __future__ import annotations

from collections.abc import Iterator

from django.db.models import QuerySet
from django.utils import timezone

from core.audit import audit_log
from core.csv_pipeline import STREAM_CHUNK_BYTES, stream_csv
from core.periods import JST
from points.models import PointEntry

ENTRY_ID = "履歴ID"
AT = "日時"
MEMBER_ID = "会員ID"
EMAIL = "メールアドレス"
NAME = "会員名"
KIND = "区分"
DELTA = "増減ポイント"
BALANCE = "残高"
EXPIRES_ON = "有効期限"
ORDER_ID = "受注ID"
BY = "登録者"
REASON = "理由"
COMMENT = "コメント"

COLUMNS = (
    ENTRY_ID,
    AT,
    MEMBER_ID,
    EMAIL,
    NAME,
    KIND,
    DELTA,
    BALANCE,
    EXPIRES_ON,
    ORDER_ID,
    BY,
    REASON,
    COMMENT,
)
NUMBER_COLUMNS = (ENTRY_ID, MEMBER_ID, DELTA, BALANCE, ORDER_ID)

Kind = PointEntry.Kind
# ebisumart's ポイント履歴区分 (seed 004), the words a shop's spreadsheet already uses.
KIND_LABELS = {
    Kind.SIGNUP: "会員登録ポイント付与",
    Kind.PURCHASE: "注文・入金ポイント付与",
    Kind.REVIEW: "レビューポイント付与",
    Kind.USE: "ポイント利用",
    Kind.EXPIRED: "失効",
    Kind.GRANT_REVERSAL: "注文・入金ポイント付与取消",
    Kind.REVIEW_REVERSAL: "レビューポイント付与取消",
    Kind.USE_REVERSAL: "ポイント利用取消",
    Kind.OTHER: "その他",
}
MEMBER_ACTED = "会員"
DATETIME_FORMAT = "%Y/%m/%d %H:%M:%S"
DATE_FORMAT = "%Y/%m/%d"
# Rows read from the database at a time (with their member and author), and the size of the pieces the
# file is handed out in: memory stays flat.
READ_CHUNK = 2000
PIECE_BYTES = STREAM_CHUNK_BYTES

# Only what the file shows is read (a wide table of 1M rows would otherwise cost its unread columns).
_FIELDS = (
    "id",
    "created_at",
    "member_id",
    "member__email",
    "member__name",
    "kind",
    "delta",
    "balance_after",
    "expires_on",
    "order_id",
    "created_by_id",
    "created_by__email",
    "system",
    "reason",
    "comment",
)


def who(entry: PointEntry) -> str:
    if entry.created_by_id is None:
        return f"システム({entry.system})" if entry.system else "システム"
    if entry.created_by_id == entry.member_id:
        return MEMBER_ACTED
    return entry.created_by.email


class LedgerCsvFormat:
    """Export only (core.csv_pipeline.CsvExportColumns): nothing imports a ledger."""

    columns = COLUMNS
    numeric_columns = NUMBER_COLUMNS

    def export_cells(self, entry: PointEntry) -> list:
        return [
            entry.pk,
            entry.created_at.astimezone(JST).strftime(DATETIME_FORMAT),
            entry.member_id,
            entry.member.email,
            entry.member.name,
            KIND_LABELS.get(entry.kind, entry.kind),
            entry.delta,
            entry.balance_after,
            entry.expires_on.strftime(DATE_FORMAT) if entry.expires_on else "",
            entry.order_id if entry.order_id is not None else "",
            who(entry),
            entry.reason,
            entry.comment,
        ]

    def describe(self, entry: PointEntry) -> str:
        return f"{ENTRY_ID} {entry.pk}"


def ledger_rows(queryset: QuerySet) -> QuerySet:
    """`queryset` as the file reads it: the columns it shows, its member and author joined, in its own
    order (the entries' order when it has none)."""
    rows = queryset.select_related("member", "created_by").only(*_FIELDS)
    if not rows.query.order_by and not rows.query.default_ordering:
        rows = rows.order_by("pk")
    return rows


def stream_ledger_csv(queryset: QuerySet) -> Iterator[bytes]:
    """The ledger rows of `queryset` (PointEntry) as cp932 CSV pieces, the header first. The rows are read
    READ_CHUNK at a time through a server-side cursor and written piece by piece, so neither the rows nor
    the file are ever held whole."""
    return stream_csv(
        LedgerCsvFormat(),
        ledger_rows(queryset).iterator(chunk_size=READ_CHUNK),
        chunk_bytes=PIECE_BYTES,
    )


def ledger_download(*, queryset: QuerySet, by, filters: dict, now=None) -> Iterator[bytes]:
    """The staff's download of the ledger CSV: one audit entry (who, which search) when it starts — a
    download hands member data out — then the streamed file."""
    audit_log(
        action="points.ledger_downloaded",
        obj=None,
        by=by,
        now=now or timezone.now(),
        payload={"filters": filters},
    )
    return stream_ledger_csv(queryset)


def file_name(today) -> str:
    return f"point_history_{today:%Y%m%d}.csv"
