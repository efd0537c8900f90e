"""A coupon's uses as CSV (issue 15: staff see each coupon's uses and the discount given, with a CSV
download): one row per redemption, oldest first, streamed through the core CSV pipeline
(core.csv_pipeline.stream_csv: cp932 with CRLF, formula neutralisation), so memory stays flat however
many uses there are.

The columns are the file format, fixed in Japanese whatever the admin's language (data, not interface):

    利用ID, クーポンコード, 利用日時, 会員ID, メールアドレス, 会員名, 受注ID, 割引額(円), 利用取消日時

利用日時 and 利用取消日時 are JST (2027/04/10 10:00:00); 利用取消日時 is empty while the use stands (it is set
when a cancellation gave the use back).
"""

from __future__ import annotations

from collections.abc import Iterator

from django.utils import timezone

from core.audit import audit_log
from core.csv_pipeline import STREAM_CHUNK_BYTES, stream_csv
from core.periods import JST
from promotions.models import Coupon, CouponRedemption

REDEMPTION_ID = "利用ID"
CODE = "クーポンコード"
AT = "利用日時"
MEMBER_ID = "会員ID"
EMAIL = "メールアドレス"
NAME = "会員名"
ORDER_ID = "受注ID"
DISCOUNT = "割引額(円)"
RELEASED_AT = "利用取消日時"

COLUMNS = (REDEMPTION_ID, CODE, AT, MEMBER_ID, EMAIL, NAME, ORDER_ID, DISCOUNT, RELEASED_AT)
NUMBER_COLUMNS = (REDEMPTION_ID, MEMBER_ID, ORDER_ID, DISCOUNT)
DATETIME_FORMAT = "%Y/%m/%d %H:%M:%S"
READ_CHUNK = 2000

_FIELDS = (
    "id",
    "coupon_id",
    "coupon__code",
    "redeemed_at",
    "released_at",
    "member_id",
    "member__email",
    "member__name",
    "order_id",
    "discount_yen",
)


class RedemptionCsvFormat:
    """Export only (core.csv_pipeline.CsvExportColumns)."""

    columns = COLUMNS
    numeric_columns = NUMBER_COLUMNS

    def export_cells(self, use: CouponRedemption) -> list:
        return [
            use.pk,
            use.coupon.code,
            use.redeemed_at.astimezone(JST).strftime(DATETIME_FORMAT),
            use.member_id,
            use.member.email,
            use.member.name,
            use.order_id,
            use.discount_yen,
            use.released_at.astimezone(JST).strftime(DATETIME_FORMAT) if use.released_at else "",
        ]

    def describe(self, use: CouponRedemption) -> str:
        return f"{REDEMPTION_ID} {use.pk}"


def stream_redemptions_csv(coupon: Coupon) -> Iterator[bytes]:
    """The uses of `coupon` as cp932 CSV pieces, the header first; read READ_CHUNK rows at a time through a
    server-side cursor, so neither the rows nor the file are held whole."""
    rows = (
        CouponRedemption.objects.filter(coupon=coupon)
        .select_related("coupon", "member")
        .only(*_FIELDS)
        .order_by("redeemed_at", "id")
    )
    return stream_csv(
        RedemptionCsvFormat(), rows.iterator(chunk_size=READ_CHUNK), chunk_bytes=STREAM_CHUNK_BYTES
    )


def redemptions_download(*, coupon: Coupon, by, now=None) -> Iterator[bytes]:
    """The staff's download of a coupon's uses: one audit entry when it starts (a download hands member data
    out), then the streamed file."""
    audit_log(action="coupon.uses_downloaded", obj=coupon, by=by, now=now or timezone.now())
    return stream_redemptions_csv(coupon)


def file_name(coupon: Coupon, today) -> str:
    return f"coupon_{coupon.code}_uses_{today:%Y%m%d}.csv"
