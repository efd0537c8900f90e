"""Ticket CSV export and import (SPEC §6, seed 000): the exact format, the round trip, characters Shift_JIS
cannot hold, every validation rule through the import, dry runs, jobs, commands, the admin pages and the
real worker."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone, translation

from core.csvio import UTF8_BOM, CsvFileError
from core.jobs import job_create, job_run
from core.models import Job
from inventory.tests.factories import ItemFactory
from payments.models import Product
from tickets import csv_jobs
from tickets.csv_jobs import export_ticket_types, import_ticket_types
from tickets.models import TicketType
from tickets.resources import COLUMNS, ERROR_COLUMN
from tickets.tests.factories import ProductFactory, TicketTypeFactory

pytestmark = pytest.mark.django_db

HEADER = (
    "チケットID,商品SKUID,契約月分商品SKUID,入会金商品SKUID,表示ステータス,チケット名,チケット種別,"
    "チケット利用回数,同時予約数制限,1日あたりの同時予約数制限,顧客毎の購入回数制限,チケット利用期限,"
    "利用可能プランID,利用可能プラン名,表示順,登録日時"
)


def rows_of(data: bytes, encoding: str = "cp932") -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode(encoding), newline="")))


def csv_bytes(rows: list[list], *, encoding: str = "cp932", line_end: str = "\r\n", header=HEADER) -> bytes:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator=line_end)
    if header is not None:
        writer.writerow(header.split(",") if isinstance(header, str) else header)
    for row in rows:
        writer.writerow(row)
    return buffer.getvalue().encode(encoding)


def row(
    *,
    ticket_id="",
    sku="",
    contract_sku="",
    fee_sku="",
    shown="表示",
    name="ヨガ5回券",
    kind="回数券",
    uses="5",
    concurrent="0",
    per_day="0",
    purchases="0",
    validity="0",
    item_ids="",
    item_names="",
    order="1",
    created="",
) -> list[str]:
    return [
        str(ticket_id), sku, contract_sku, fee_sku, shown, name, kind, str(uses), str(concurrent),
        str(per_day), str(purchases), str(validity), item_ids, item_names, str(order), created,
    ]  # fmt: skip


def snapshot() -> list[tuple]:
    """Every ticket type as the database holds it, to prove an operation wrote nothing."""
    items = TicketType.items.through.objects.order_by("tickettype_id", "item_id")
    return [
        *TicketType.objects.order_by("pk").values_list(
            "pk", "product_id", "is_visible", "name", "kind", "uses", "max_concurrent",
            "max_concurrent_per_day", "max_purchases_per_member", "validity_days", "display_order",
        ),
        *items.values_list("tickettype_id", "item_id"),
    ]  # fmt: skip


@pytest.fixture(autouse=True)
def english():
    """Messages made here in English; a job's are made in the shop's language (see shop_text)."""
    with translation.override("en"):
        yield


def shop_text(msgid: str, **params) -> str:
    """A message as a job (run in the shop's language, LANGUAGE_CODE) words it."""
    with translation.override(settings.LANGUAGE_CODE):
        text = translation.gettext(msgid)
    return text % params if params else text


def line_prefix(line: int) -> str:
    return shop_text("Line %(line)s: %(message)s", line=line, message="")


NOT_A_TICKET_CSV = (
    "This is not a ticket CSV: %(detail)s. The first line must be the header of an exported ticket "
    "CSV (read as %(encoding)s)."
)


def message_with(messages: list[str], text: str) -> str:
    """The one message that contains `text` (the wording around it may be translated)."""
    found = [message for message in messages if text in message]
    assert len(found) == 1, messages
    return found[0]


# --- export: the format -----------------------------------------------------------------------------------


def test_the_header_is_the_seeds_sixteen_columns_in_shift_jis_with_crlf():
    # given
    TicketTypeFactory()

    # when
    data = export_ticket_types().data

    # then: byte for byte, e.g. チケットID = 83 60 83 50 83 62 83 67 49 44 in Shift_JIS
    header_line = data.split(b"\r\n")[0] + b"\r\n"
    assert header_line.startswith(bytes.fromhex("8360 8350 8362 8367 4944 2c"))
    assert header_line == (HEADER + "\r\n").encode("cp932")
    assert header_line.decode("cp932").rstrip("\r\n").split(",") == list(COLUMNS)
    assert b"\n" not in data.replace(b"\r\n", b"")


def test_a_full_row_has_every_value_in_the_seeds_format():
    # given
    morning = ItemFactory(name="ワンカラー・ラメグラネイル 90分コース")
    art = ItemFactory(name="デザイン自由・アートし放題 120分コース")
    ticket = TicketTypeFactory(
        name="1回チケット",
        kind=TicketType.Kind.PAID_TRIAL,
        is_visible=False,
        uses=1,
        max_concurrent=2,
        max_concurrent_per_day=1,
        max_purchases_per_member=3,
        validity_days=30,
        display_order=7,
        product=ProductFactory(sku="20", price_yen=1000),
        items=[art, morning],
    )
    TicketType.objects.filter(pk=ticket.pk).update(created_at=datetime(2025, 5, 19, 2, 36, 15, tzinfo=UTC))
    plain = TicketTypeFactory(name="回数券", without_product=True)

    # when
    result = export_ticket_types()

    # then
    assert result.rows == 2
    assert result.problems == []
    header, first, second = rows_of(result.data)
    first_ids = sorted([morning.pk, art.pk])
    names = {morning.pk: morning.name, art.pk: art.name}
    assert dict(zip(header, first, strict=True)) == {
        "チケットID": str(ticket.pk),
        "商品SKUID": "20",
        "契約月分商品SKUID": "",
        "入会金商品SKUID": "",
        "表示ステータス": "非表示",
        "チケット名": "1回チケット",
        "チケット種別": "体験チケット(有料)",
        "チケット利用回数": "1",
        "同時予約数制限": "2",
        "1日あたりの同時予約数制限": "1",
        "顧客毎の購入回数制限": "3",
        "チケット利用期限": "30",
        "利用可能プランID": ",".join(map(str, first_ids)),
        "利用可能プラン名": ",".join(names[pk] for pk in first_ids),
        "表示順": "7",
        "登録日時": "2025/05/19 11:36:15",
    }
    assert second[:8] == [str(plain.pk), "", "", "", "表示", "回数券", "回数券", "5"]
    assert second[12:14] == ["", ""]
    assert timezone.localtime(plain.created_at).strftime("%Y/%m/%d %H:%M:%S") == second[15]


def test_the_export_reads_in_a_few_queries_however_many_tickets_there_are(django_assert_max_num_queries):
    # given
    items = ItemFactory.create_batch(3)
    for _ in range(30):
        TicketTypeFactory(items=items)

    # when / then: a count, the ticket types with products, their items
    with django_assert_max_num_queries(3):
        assert export_ticket_types().rows == 30


# --- the round trip and characters cp932 cannot hold -----------------------------------------------------

JAPANESE_NAMES = ["①回券㈱髙橋", "ヨガ～朝", "ｶﾀｶﾅﾁｹｯﾄ", "体験,カンマ入り", '"引用"チケット']


def test_export_import_export_gives_identical_bytes_with_circled_digits_ibm_kanji_tilde_and_half_width_kana():
    # given
    items = [ItemFactory(name="髙橋ルーム①"), ItemFactory(name="ｽﾀｼﾞｵ")]
    for index, name in enumerate(JAPANESE_NAMES):
        TicketTypeFactory(name=name, items=items[: index % 3], validity_days=index * 10)
    first = export_ticket_types()

    # when: imported as it is
    same = import_ticket_types(first.data, dry_run=False)

    # then: every value read back equals what was written
    assert (same.created, same.updated, same.unchanged, same.failed) == (0, 0, 5, 0)
    assert export_ticket_types().data == first.data

    # when: the names were changed meanwhile, the file puts them back exactly
    TicketType.objects.update(name="変更済み")
    restored = import_ticket_types(first.data, dry_run=False)

    # then
    assert (restored.updated, restored.failed) == (5, 0)
    assert sorted(TicketType.objects.values_list("name", flat=True)) == sorted(JAPANESE_NAMES)
    again = export_ticket_types()
    assert again.data == first.data
    assert first.problems == again.problems == []


def test_a_character_shift_jis_cannot_hold_is_reported_not_dropped_and_the_job_ends_partial():
    # given: WAVE DASH 〜 (U+301C), a sushi emoji and an EM DASH — none of them in cp932
    wave = TicketTypeFactory(name="朝ヨガ〜夜ヨガ")
    sushi = TicketTypeFactory(name="寿司🍣体験—特別")
    plain = TicketTypeFactory(name="ふつう")

    # when
    job = job_run(job_create(kind=csv_jobs.EXPORT_KIND, label="export").pk, csv_jobs.ticket_export_job)

    # then: the job says which character, where, and what was written instead; the two lost as ? make it
    # partial, 〜 written as its Shift_JIS counterpart ～ is a notice
    assert job.status == Job.Status.PARTIAL
    assert job.counts == {"exported": 3, "substituted_characters": 1, "replaced_characters": 2}
    wave_message = message_with(job.messages, "U+301C")
    for part in (f"チケットID {wave.pk}", "チケット名", "〜", "～", "U+FF5E", "対応文字"):
        assert part in wave_message
    for part in (f"チケットID {sushi.pk}", "🍣", "U+1F363"):
        assert part in message_with(job.messages, "U+1F363")
    assert "—" in message_with(job.messages, "U+2014")
    with job.result_file.open("rb") as handle:
        data = handle.read()
    names = {line[0]: line[5] for line in rows_of(data)[1:]}
    assert names == {str(wave.pk): "朝ヨガ～夜ヨガ", str(sushi.pk): "寿司?体験?特別", str(plain.pk): "ふつう"}
    with job.error_file.open("rb") as handle:
        listed = rows_of(handle.read())
    assert [line[4] for line in listed[1:]] == ["U+301C", "U+1F363", "U+2014"]

    # when: the file is imported back as it is
    result = import_ticket_types(data, dry_run=False)

    # then: the cells that still hold what the export wrote do not overwrite the real names
    assert (result.unchanged, result.updated) == (3, 0)
    assert TicketType.objects.get(pk=wave.pk).name == "朝ヨガ〜夜ヨガ"
    assert TicketType.objects.get(pk=sushi.pk).name == "寿司🍣体験—特別"


def test_an_edited_name_in_a_cell_the_export_had_to_replace_is_applied():
    # given
    wave = TicketTypeFactory(name="朝ヨガ〜夜ヨガ")
    data = export_ticket_types().data.replace(
        "朝ヨガ～夜ヨガ".encode("cp932"), "朝ヨガ～昼ヨガ".encode("cp932")
    )

    # when
    result = import_ticket_types(data, dry_run=False)

    # then
    assert result.updated == 1
    assert TicketType.objects.get(pk=wave.pk).name == "朝ヨガ～昼ヨガ"


# --- import ----------------------------------------------------------------------------------------------


def test_an_empty_id_creates_and_an_id_updates_with_the_product_and_items():
    # given
    yoga, pilates = ItemFactory(name="ヨガ"), ItemFactory(name="ピラティス")
    existing = TicketTypeFactory(name="古い名前", items=[yoga])
    new_product = ProductFactory(sku="TKT-NEW", price_yen=0)
    data = csv_bytes(
        [
            row(ticket_id=existing.pk, sku=existing.product.sku, name="新しい名前", item_ids=f"{pilates.pk}"),
            row(
                sku="TKT-NEW",
                name="無料体験",
                kind="体験チケット(無料)",
                uses="1",
                purchases="1",
                item_ids=f"{pilates.pk}、{yoga.pk}",
                order="3",
                shown="非表示",
            ),
        ]
    )

    # when
    result = import_ticket_types(data, dry_run=False)

    # then
    assert (result.created, result.updated, result.unchanged, result.failed) == (1, 1, 0, 0)
    existing.refresh_from_db()
    assert existing.name == "新しい名前"
    assert list(existing.items.all()) == [pilates]
    created = TicketType.objects.get(product=new_product)
    assert (created.name, created.kind, created.uses, created.is_visible, created.display_order) == (
        "無料体験", TicketType.Kind.FREE_TRIAL, 1, False, 3,
    )  # fmt: skip
    assert created.max_purchases_per_member == 1
    assert set(created.items.all()) == {yoga, pilates}


def test_a_mix_of_good_and_bad_rows_applies_the_good_ones_and_returns_the_bad_ones_as_they_were():
    # given
    kept = TicketTypeFactory(name="そのまま", uses=5)
    lines = [
        row(name="良い行"),
        row(name="悪い行", uses="abc"),
        row(ticket_id=kept.pk, sku=kept.product.sku, name="そのまま", uses="10", order="0"),
        row(name="良い行2", concurrent="2"),
    ]
    data = csv_bytes(lines)
    before = TicketType.objects.get(pk=kept.pk)

    # when
    job = job_create(kind=csv_jobs.IMPORT_KIND, label="import", input_name="tickets.csv", input_bytes=data)
    job = job_run(job.pk, csv_jobs.ticket_import_job)

    # then: the good rows are saved, the bad ones not at all
    assert job.status == Job.Status.PARTIAL
    assert job.counts == {"rows": 4, "created": 2, "updated": 0, "unchanged": 0, "errors": 2}
    assert set(TicketType.objects.values_list("name", flat=True)) == {"そのまま", "良い行", "良い行2"}
    kept.refresh_from_db()
    assert (kept.uses, kept.display_order) == (before.uses, before.display_order)
    assert "チケット利用回数" in message_with(job.messages, line_prefix(3))
    assert "表示順" in message_with(job.messages, line_prefix(4))

    # then: the error file is the header and each failed row exactly as it was, plus the reason
    with job.error_file.open("rb") as handle:
        error_rows = rows_of(handle.read())
    assert error_rows[0] == [*COLUMNS, ERROR_COLUMN]
    assert [line[:-1] for line in error_rows[1:]] == [lines[1], lines[2]]
    assert "“abc”" in error_rows[1][-1]
    assert "表示順" in error_rows[2][-1]

    # then: the result file says what happened to each line
    with job.result_file.open("rb") as handle:
        outcome = rows_of(handle.read())
    assert [line[0] for line in outcome[1:]] == ["2", "3", "4", "5"]


def test_the_corrected_error_file_can_be_imported_as_it_is():
    # given
    data = csv_bytes([row(name="直す行", uses="-1")])
    failed = import_ticket_types(data, dry_run=False)
    error_file, _problems = failed.error_file()
    corrected = error_file.replace(b",-1,", b",4,")

    # when
    result = import_ticket_types(corrected, dry_run=False)

    # then
    assert (failed.failed, result.created, result.failed) == (1, 1, 0)
    assert TicketType.objects.get(name="直す行").uses == 4


@pytest.mark.parametrize(
    ("encoding", "bom", "line_end"),
    [("utf-8", True, "\r\n"), ("utf-8", False, "\n"), ("utf-8", True, "\n"), ("cp932", False, "\n")],
)
def test_utf8_with_or_without_bom_and_lf_line_ends_import_the_same(encoding, bom, line_end):
    # given
    item = ItemFactory()
    data = csv_bytes(
        [
            row(name="①㈱髙～ｶﾀｶﾅ", item_ids=str(item.pk)),
            row(name="絵文字🍣" if encoding == "utf-8" else "絵文字"),
        ],
        encoding=encoding,
        line_end=line_end,
    )
    if bom:
        data = UTF8_BOM + data

    # when
    result = import_ticket_types(data, dry_run=False)

    # then
    assert (result.created, result.failed) == (2, 0)
    assert result.encoding == ("utf-8-sig" if bom else encoding)
    made = TicketType.objects.get(name="①㈱髙～ｶﾀｶﾅ")
    assert list(made.items.all()) == [item]


def test_an_unchanged_row_is_left_alone():
    # given
    ticket = TicketTypeFactory()
    data = export_ticket_types().data
    updated_at = TicketType.objects.get(pk=ticket.pk).updated_at

    # when
    result = import_ticket_types(data, dry_run=False)

    # then
    assert (result.unchanged, result.updated, result.previews) == (1, 0, [])
    assert TicketType.objects.get(pk=ticket.pk).updated_at == updated_at


def _monthly() -> str:
    return ProductFactory(sku="MONTHLY", kind=Product.Kind.MONTHLY).sku


@pytest.mark.parametrize(
    ("make_row", "column", "says"),
    [
        (lambda t: row(sku=ProductFactory(sku="PAID", price_yen=500).sku, kind="体験チケット(無料)"),
         "商品SKUID", "0 yen"),
        (lambda t: row(ticket_id=t.pk, sku=ProductFactory(sku="OTHER").sku), "商品SKUID",
         "cannot be changed"),
        (lambda t: row(ticket_id=t.pk, sku=""), "商品SKUID", "cannot be changed"),
        (lambda t: row(order="0"), "表示順", "less than 1"),
        (lambda t: row(concurrent="-1"), "同時予約数制限", "“-1”"),
        (lambda t: row(per_day="abc"), "1日あたりの同時予約数制限", "“abc”"),
        (lambda t: row(purchases="1.5"), "顧客毎の購入回数制限", "“1.5”"),
        (lambda t: row(validity="-3"), "チケット利用期限", "“-3”"),
        (lambda t: row(uses="0"), "チケット利用回数", "less than 1"),
        (lambda t: row(uses=""), "チケット利用回数", "1 or more"),
        (lambda t: row(sku=_monthly()), "商品SKUID", "monthly product"),
        (lambda t: row(sku="NO-SUCH-SKU"), "商品SKUID", "“NO-SUCH-SKU”"),
        (lambda t: row(sku=t.product.sku), "商品SKUID", "already the product of another ticket"),
        (lambda t: row(item_ids="999999"), "利用可能プランID", "999999"),
        (lambda t: row(item_ids="1,x"), "利用可能プランID", "“x”"),
        (lambda t: row(contract_sku="34"), "契約月分商品SKUID", "plans"),
        (lambda t: row(fee_sku="56"), "入会金商品SKUID", "plans"),
        (lambda t: row(ticket_id="999999"), "チケットID", "999999"),
        (lambda t: row(ticket_id="abc"), "チケットID", "“abc”"),
        (lambda t: row(shown="はい"), "表示ステータス", "“はい”"),
        (lambda t: row(kind="メンバーシップ"), "チケット種別", "“メンバーシップ”"),
        (lambda t: row(name=""), "チケット名", ""),
        (lambda t: row(name="長" * 101), "チケット名", "100"),
    ],
    ids=[
        "free trial product not 0 yen", "product changed", "product removed", "display order 0",
        "negative limit", "per-day limit not a number", "purchases not whole", "negative validity",
        "zero uses", "empty uses", "monthly product", "unknown SKU", "product of another ticket",
        "unknown item id", "item id not a number", "contract-month product", "enrollment-fee product",
        "unknown ticket id", "ticket id not a number", "unknown visibility", "unknown kind", "empty name",
        "name too long",
    ],
)  # fmt: skip
def test_every_rule_of_the_admin_form_holds_for_an_imported_row(make_row, column, says):
    # given
    existing = TicketTypeFactory(name="既存")
    data = csv_bytes([make_row(existing)])
    before = snapshot()

    # when
    result = import_ticket_types(data, dry_run=False)

    # then: the row is refused with a message naming the column; nothing is written
    assert (result.created, result.updated, result.failed) == (0, 0, 1)
    message = result.errors[0].message
    assert message.startswith(f"{column}: ") or f" / {column}: " in message
    assert says in message
    assert snapshot() == before


def test_a_dry_run_refuses_the_same_rows_as_a_real_run():
    # given
    existing = TicketTypeFactory(name="既存")
    data = csv_bytes(
        [
            row(ticket_id=existing.pk, sku=ProductFactory(sku="OTHER").sku),
            row(order="0"),
            row(sku=ProductFactory(sku="FREE", price_yen=0).sku, kind="体験チケット(無料)", uses="1"),
            row(sku="FREE", kind="体験チケット(無料)", uses="1", name="同じ商品"),
        ]
    )

    # when
    dry = import_ticket_types(data, dry_run=True)
    real = import_ticket_types(data, dry_run=False)

    # then
    assert [error.line for error in dry.errors] == [error.line for error in real.errors] == [2, 3, 5]
    assert (dry.created, real.created) == (1, 1)


def test_the_same_ticket_id_twice_in_one_file_is_refused_the_second_time():
    ticket = TicketTypeFactory()
    data = csv_bytes(
        [
            row(ticket_id=ticket.pk, sku=ticket.product.sku, name="一回目"),
            row(ticket_id=ticket.pk, sku=ticket.product.sku, name="二回目"),
        ]
    )
    result = import_ticket_types(data, dry_run=False)
    assert (result.updated, result.failed) == (1, 1)
    assert "チケットID" in result.errors[0].message
    assert TicketType.objects.get(pk=ticket.pk).name == "一回目"


def test_a_dry_run_writes_nothing_and_says_what_would_change():
    # given
    ticket = TicketTypeFactory(name="旧名", uses=5, max_concurrent=0)
    data = csv_bytes(
        [
            row(ticket_id=ticket.pk, sku=ticket.product.sku, name="新名", uses="10", concurrent="2",
                order=str(ticket.display_order)),
            row(name="新しいチケット"),
            row(name="悪い行", order="0"),
        ]
    )  # fmt: skip
    before = snapshot()
    jobs_before = Job.objects.count()

    # when
    result = import_ticket_types(data, dry_run=True)

    # then
    assert snapshot() == before
    assert Job.objects.count() == jobs_before
    assert (result.created, result.updated, result.failed) == (1, 1, 1)
    update, create = result.previews
    assert (update.action, update.key, update.line) == ("update", ticket.pk, 2)
    assert update.changes == [
        ("チケット名", "旧名", "新名"),
        ("チケット利用回数", "5", "10"),
        ("同時予約数制限", "0", "2"),
    ]
    assert (create.action, create.key, create.name) == ("create", None, "新しいチケット")
    assert ("チケット名", "", "新しいチケット") in create.changes
    assert result.errors[0].line == 4


def test_blank_lines_and_trailing_empty_cells_are_fine_but_a_short_row_is_an_error():
    data = (
        HEADER + "\r\n"
        + ",".join(row(name="余分な空セル")) + ",,\r\n"
        + "\r\n"
        + ",".join(row(name="短い行")[:10]) + "\r\n"
    ).encode("cp932")  # fmt: skip
    result = import_ticket_types(data, dry_run=False)
    assert (result.created, result.failed) == (1, 1)
    assert result.errors[0].line == 4
    assert "10" in result.errors[0].message


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (b"", "empty"),
        (HEADER.encode("cp932") + b"\r\n", "no ticket rows"),
        (b"ID,name\r\n1,a\r\n", "“ID”"),
        (HEADER.replace("表示順", "順番").encode("cp932") + b"\r\n", "“順番”"),
        (",".join(COLUMNS[:15]).encode("cp932") + b"\r\n", "missing"),
        (b"PK\x03\x04\x14\x00", ".xlsx"),
        (HEADER.encode("euc_jp") + b"\r\n", "neither Shift_JIS (cp932) nor UTF-8"),
    ],
    ids=["empty", "header only", "other csv", "renamed column", "missing column", "xlsx", "EUC-JP"],
)
def test_a_file_that_is_not_a_ticket_csv_is_refused_as_a_whole(data, says):
    TicketTypeFactory()
    before = snapshot()
    with pytest.raises(CsvFileError) as caught:
        import_ticket_types(data, dry_run=False)
    assert says in str(caught.value)
    assert snapshot() == before


def test_a_file_error_fails_the_import_job_with_its_message():
    job = job_create(
        kind=csv_jobs.IMPORT_KIND, label="import", input_name="x.csv", input_bytes=b"ID,name\r\n"
    )
    job = job_run(job.pk, csv_jobs.ticket_import_job)
    assert job.status == Job.Status.FAILED
    assert "“ID”" in job.messages[-1]
    assert job.messages[-1].startswith(shop_text(NOT_A_TICKET_CSV).split("%(detail)s")[0])


# --- commands --------------------------------------------------------------------------------------------


def test_export_tickets_writes_the_file_and_prints_the_count(tmp_path, capsys):
    TicketTypeFactory.create_batch(2)
    path = tmp_path / "tickets.csv"

    call_command("export_tickets", str(path))

    assert path.read_bytes() == export_ticket_types().data
    assert "Wrote 2 tickets" in capsys.readouterr().out
    job = Job.objects.get(kind=csv_jobs.EXPORT_KIND)
    assert (job.status, job.started_by) == (Job.Status.SUCCEEDED, None)


def test_export_tickets_reports_characters_shift_jis_cannot_hold_and_exits_1(tmp_path, capsys):
    TicketTypeFactory(name="寿司🍣")
    path = tmp_path / "tickets.csv"

    with pytest.raises(CommandError) as caught:
        call_command("export_tickets", str(path))

    assert caught.value.returncode == 1
    assert "U+1F363" in capsys.readouterr().err
    assert "寿司?".encode("cp932") in path.read_bytes()
    assert Job.objects.get(kind=csv_jobs.EXPORT_KIND).status == Job.Status.PARTIAL


def test_a_character_with_a_shift_jis_counterpart_is_a_notice_and_the_export_succeeds(tmp_path, capsys):
    # given: 〜 WAVE DASH (U+301C), which Windows writes as ～ (0x8160 in Shift_JIS)
    TicketTypeFactory(name="朝ヨガ〜夜ヨガ")
    path = tmp_path / "tickets.csv"

    # when
    call_command("export_tickets", str(path))

    # then: the command exits 0 and notes the character; the file holds its counterpart
    output = capsys.readouterr()
    assert "U+301C" in output.out
    assert "U+301C" not in output.err
    assert "朝ヨガ～夜ヨガ".encode("cp932") in path.read_bytes()
    job = Job.objects.get(kind=csv_jobs.EXPORT_KIND)
    assert job.status == Job.Status.SUCCEEDED
    assert job.counts == {"exported": 1, "substituted_characters": 1}
    assert "U+FF5E" in message_with(job.messages, "U+301C")
    assert not job.error_file


def test_import_tickets_prints_the_counts_writes_the_error_file_and_exits_1_when_a_row_failed(
    tmp_path, capsys
):
    source = tmp_path / "in.csv"
    errors = tmp_path / "errors.csv"
    source.write_bytes(csv_bytes([row(name="良い"), row(name="悪い", order="0")]))

    with pytest.raises(CommandError) as caught:
        call_command("import_tickets", str(source), "--errors", str(errors))

    output = capsys.readouterr()
    assert caught.value.returncode == 1
    assert "created 1, updated 0, unchanged 0, failed 1" in output.out
    assert line_prefix(3) in output.err
    assert rows_of(errors.read_bytes())[1][:-1] == row(name="悪い", order="0")
    job = Job.objects.get(kind=csv_jobs.IMPORT_KIND)
    assert (job.status, job.started_by, job.input_file.name.endswith("in.csv")) == (
        Job.Status.PARTIAL,
        None,
        True,
    )


def test_import_tickets_dry_run_saves_nothing_and_exits_0_when_every_row_is_good(tmp_path, capsys):
    source = tmp_path / "in.csv"
    source.write_bytes(csv_bytes([row(name="良い")]))

    call_command("import_tickets", str(source), "--dry-run")

    assert "Would have: created 1" in capsys.readouterr().out
    assert not TicketType.objects.exists()
    assert Job.objects.get(kind=csv_jobs.IMPORT_KIND).params == {"dry_run": True, "system": "import_tickets"}


def test_import_tickets_refuses_a_file_that_is_not_a_ticket_csv(tmp_path):
    source = tmp_path / "in.csv"
    source.write_bytes(b"a,b\r\n")
    with pytest.raises(CommandError) as caught:
        call_command("import_tickets", str(source))
    assert str(caught.value).startswith("Job #")
    assert "“a”" in str(caught.value)


# --- the admin ---------------------------------------------------------------------------------------------


def staff_with(*codenames: str):
    from django.contrib.auth.models import Permission

    from members.tests.factories import MemberFactory

    user = MemberFactory(is_staff=True)
    user.user_permissions.add(
        *Permission.objects.filter(content_type__app_label="tickets", codename__in=codenames)
    )
    return user


def read(field) -> bytes:
    with field.open("rb") as handle:
        return handle.read()


def test_the_ticket_list_has_the_csv_export_and_import_buttons(admin_client):
    page = admin_client.get(reverse("admin:tickets_tickettype_changelist")).content.decode()
    assert reverse("admin:tickets_tickettype_csv_export") in page
    assert reverse("admin:tickets_tickettype_csv_import") in page


def test_staff_who_may_only_view_tickets_export_but_cannot_import(client):
    # given
    client.force_login(staff_with("view_tickettype"))

    # when
    page = client.get(reverse("admin:tickets_tickettype_changelist")).content.decode()

    # then
    assert reverse("admin:tickets_tickettype_csv_export") in page
    assert reverse("admin:tickets_tickettype_csv_import") not in page
    assert client.get(reverse("admin:tickets_tickettype_csv_export")).status_code == 200
    assert client.get(reverse("admin:tickets_tickettype_csv_import")).status_code == 403
    assert client.post(reverse("admin:tickets_tickettype_csv_import_confirm")).status_code == 403


def test_staff_without_the_ticket_permissions_cannot_export(client):
    client.force_login(staff_with())
    assert client.post(reverse("admin:tickets_tickettype_csv_export")).status_code == 403
    assert not Job.objects.exists()


def test_export_asks_first_then_queues_the_job_and_goes_to_its_page(
    client, django_capture_on_commit_callbacks
):
    # given
    TicketTypeFactory.create_batch(3)
    user = staff_with("view_tickettype")
    client.force_login(user)
    url = reverse("admin:tickets_tickettype_csv_export")

    # when: 確認画面
    confirm = client.get(url)

    # then: nothing is queued yet
    assert confirm.status_code == 200
    assert "3" in confirm.content.decode()
    assert not Job.objects.exists()

    # when: OK
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post(url)

    # then
    job = Job.objects.get()
    assert (job.kind, job.status, job.started_by) == (csv_jobs.EXPORT_KIND, Job.Status.QUEUED, user)
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:core_job_change", args=[job.pk])
    assert len(callbacks) == 1  # the task is sent once the job row is committed


def test_the_import_preview_shows_changes_and_errors_and_writes_nothing(
    client, django_capture_on_commit_callbacks
):
    # given
    ticket = TicketTypeFactory(name="旧名")
    data = csv_bytes(
        [
            row(ticket_id=ticket.pk, sku=ticket.product.sku, name="新名", order=ticket.display_order),
            row(name="新規チケット"),
            row(name="悪い行", purchases="-1"),
        ]
    )
    user = staff_with("add_tickettype", "change_tickettype", "view_tickettype")
    client.force_login(user)
    before = snapshot()

    # when
    response = client.post(
        reverse("admin:tickets_tickettype_csv_import"), {"file": SimpleUploadedFile("チケット.csv", data)}
    )

    # then: what would change and every error, before anything is written
    page = response.content.decode()
    assert response.status_code == 200
    assert "旧名 → 新名" in page
    assert "新規チケット" in page
    assert "悪い行" in page
    assert "顧客毎の購入回数制限" in page
    assert "“-1”" in page
    assert snapshot() == before
    assert not Job.objects.exists()

    # when: Import
    token = response.context["token"]
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        confirmed = client.post(reverse("admin:tickets_tickettype_csv_import_confirm"), {"token": token})

    # then: the job has the uploaded file as its input; the rows are imported when it runs
    job = Job.objects.get()
    assert confirmed["Location"] == reverse("admin:core_job_change", args=[job.pk])
    assert (job.kind, job.started_by, job.status) == (csv_jobs.IMPORT_KIND, user, Job.Status.QUEUED)
    assert read(job.input_file) == data
    assert job.input_file.name.endswith("チケット.csv")
    assert len(callbacks) == 1
    assert snapshot() == before

    # when: the job runs (what the worker does), it ends partial and its page says so
    job = job_run(job.pk, csv_jobs.ticket_import_job)
    assert job.status == Job.Status.PARTIAL
    assert TicketType.objects.get(pk=ticket.pk).name == "新名"
    job_page = client.get(reverse("admin:core_job_change", args=[job.pk])).content.decode()
    with translation.override(settings.LANGUAGE_CODE):
        assert str(Job.PARTIAL_NOTICE) in job_page  # 一部エラーが発生しています

    # then: the token was used up
    again = client.post(reverse("admin:tickets_tickettype_csv_import_confirm"), {"token": token})
    assert again["Location"] == reverse("admin:tickets_tickettype_csv_import")
    assert Job.objects.count() == 1


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (b"", None),
        (b"ID,name\r\n1,a\r\n", "“ID”"),
        (b"PK\x03\x04\x14\x00", "xlsx"),
        (HEADER.encode("cp932") + b"\r\n", None),
    ],
    ids=["empty", "other csv", "xlsx", "header only"],
)
def test_a_bad_file_is_a_form_error_and_nothing_is_written(admin_client, data, says):
    # given
    TicketTypeFactory()
    before = snapshot()

    # when
    response = admin_client.post(
        reverse("admin:tickets_tickettype_csv_import"), {"file": SimpleUploadedFile("bad.csv", data)}
    )

    # then
    assert response.status_code == 200
    errors = response.context["form"].errors["file"]
    assert errors
    if says:
        assert says in errors[0]
    assert snapshot() == before
    assert not Job.objects.exists()


def test_an_upload_cannot_be_confirmed_by_another_staff_member_or_with_a_forged_token(client, admin_client):
    # given
    response = admin_client.post(
        reverse("admin:tickets_tickettype_csv_import"),
        {"file": SimpleUploadedFile("t.csv", csv_bytes([row(name="誰かの")]))},
    )
    token = response.context["token"]
    client.force_login(staff_with("add_tickettype", "change_tickettype"))
    url = reverse("admin:tickets_tickettype_csv_import_confirm")

    # when
    stolen = client.post(url, {"token": token})
    forged = client.post(url, {"token": token[:-2] + "xx"})

    # then
    assert stolen.status_code == forged.status_code == 302
    assert stolen["Location"] == forged["Location"] == reverse("admin:tickets_tickettype_csv_import")
    assert not Job.objects.exists()


# --- a long file: its preview is a dry-run job ------------------------------------------------------------


@pytest.fixture
def short_preview_limit(monkeypatch):
    from core import csv_admin

    monkeypatch.setattr(csv_admin, "PREVIEW_IN_PAGE_ROWS", 2)


def import_from_job_url(job: Job) -> str:
    return reverse("admin:tickets_tickettype_csv_import_from_job", args=[job.pk])


def test_a_long_file_is_checked_by_a_dry_run_job_and_imported_once_from_its_page(
    client, short_preview_limit, django_capture_on_commit_callbacks
):
    # given: three rows, over the (lowered) limit of rows checked in the page
    data = csv_bytes([row(name="一"), row(name="二"), row(name="悪い", order="0")])
    user = staff_with("add_tickettype", "change_tickettype", "view_tickettype")
    client.force_login(user)
    before = snapshot()

    # when: uploaded
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post(
            reverse("admin:tickets_tickettype_csv_import"), {"file": SimpleUploadedFile("長い.csv", data)}
        )

    # then: a dry-run job is queued with the file, and nothing is written
    checked = Job.objects.get()
    assert response["Location"] == reverse("admin:core_job_change", args=[checked.pk])
    assert (checked.kind, checked.started_by) == (csv_jobs.IMPORT_KIND, user)
    assert checked.params == {"dry_run": True}
    assert read(checked.input_file) == data
    assert len(callbacks) == 1
    assert snapshot() == before

    # when: the worker has run it
    checked = job_run(checked.pk, csv_jobs.ticket_import_job)
    page = client.get(reverse("admin:core_job_change", args=[checked.pk])).content.decode()

    # then: its counts, and the button to import the file
    assert checked.status == Job.Status.PARTIAL
    assert checked.counts == {"rows": 3, "created": 2, "updated": 0, "unchanged": 0, "errors": 1}
    assert snapshot() == before
    assert import_from_job_url(checked) in page

    # when: Import this file, twice (a double click)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        first = client.post(import_from_job_url(checked))
        second = client.post(import_from_job_url(checked))

    # then: one import job, of the same bytes, and the button became a link to it
    imported = Job.objects.exclude(pk=checked.pk).get()
    assert first["Location"] == second["Location"] == reverse("admin:core_job_change", args=[imported.pk])
    assert imported.params == {}
    assert read(imported.input_file) == data
    assert len(callbacks) == 1
    checked.refresh_from_db()
    assert checked.params == {"dry_run": True, "import_job": imported.pk}
    page = client.get(reverse("admin:core_job_change", args=[checked.pk])).content.decode()
    assert import_from_job_url(checked) not in page
    assert f'href="{reverse("admin:core_job_change", args=[imported.pk])}"' in page  # a link to the import

    # when: the worker runs the import
    imported = job_run(imported.pk, csv_jobs.ticket_import_job)

    # then
    assert imported.counts["created"] == 2
    assert set(TicketType.objects.values_list("name", flat=True)) == {"一", "二"}


def test_a_checked_file_is_imported_only_by_its_uploader_and_only_when_there_is_something_to_import(
    client, short_preview_limit
):
    # given
    uploader = staff_with("add_tickettype", "change_tickettype", "view_tickettype")
    other = staff_with("add_tickettype", "change_tickettype", "view_tickettype")

    def checked_job(rows, *, run=True, dry_run=True) -> Job:
        job = job_create(
            kind=csv_jobs.IMPORT_KIND,
            label="check",
            started_by=uploader,
            params={"dry_run": True} if dry_run else {},
            input_name="t.csv",
            input_bytes=csv_bytes(rows),
        )
        return job_run(job.pk, csv_jobs.ticket_import_job) if run else job

    good = checked_job([row(name="良い"), row(name="良い2"), row(name="良い3")])
    only_errors = checked_job([row(name=f"悪い{n}", uses="0") for n in range(3)])
    still_queued = checked_job([row(name="待ち")], run=False)
    real_import = checked_job([row(name="本番")], dry_run=False, run=False)

    # when / then: another staff member cannot import it, nor see the button
    client.force_login(other)
    assert client.post(import_from_job_url(good)).status_code == 404

    # when / then: the uploader gets no button and no job where there is nothing (yet) to import
    client.force_login(uploader)
    for job in (only_errors, still_queued):
        page = client.get(reverse("admin:core_job_change", args=[job.pk])).content.decode()
        assert import_from_job_url(job) not in page
        response = client.post(import_from_job_url(job))
        assert response["Location"] == reverse("admin:core_job_change", args=[job.pk])
    assert client.post(import_from_job_url(real_import)).status_code == 404
    assert Job.objects.count() == 4
    assert not TicketType.objects.exists()

    # when / then: without the add and change permissions, no import either
    client.force_login(staff_with("view_tickettype"))
    assert client.post(import_from_job_url(good)).status_code == 403


def test_a_short_file_is_still_previewed_in_the_page(client, short_preview_limit):
    client.force_login(staff_with("add_tickettype", "change_tickettype", "view_tickettype"))
    response = client.post(
        reverse("admin:tickets_tickettype_csv_import"),
        {"file": SimpleUploadedFile("t.csv", csv_bytes([row(name="一"), row(name="二")]))},
    )
    assert response.status_code == 200
    assert response.context["result"].created == 2
    assert not Job.objects.exists()


# --- the real worker ---------------------------------------------------------------------------------------


def wait_until_finished(job: Job, timeout: float = 60) -> Job:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job.refresh_from_db()
        if job.is_finished:
            return job
        time.sleep(0.2)
    raise AssertionError(f"job #{job.pk} is still {job.status} after {timeout}s")


def download(client, job: Job, which: str) -> bytes:
    response = client.get(reverse("admin:core_job_download", args=[job.pk, which]))
    assert response.status_code == 200
    return b"".join(response.streaming_content)


@pytest.mark.django_db(transaction=True)
def test_the_worker_runs_the_export_and_the_import_started_from_the_admin(client, celery_worker):
    # given
    item = ItemFactory(name="ヨガ")
    TicketTypeFactory(name="①㈱髙～ｶﾀｶﾅ", items=[item])
    TicketTypeFactory(name="朝〜夜")
    user = staff_with("add_tickettype", "change_tickettype", "view_tickettype")
    client.force_login(user)

    # when: CSVエクスポート → OK
    client.post(reverse("admin:tickets_tickettype_csv_export"))

    # then: the worker made the file and noted 〜 (written as ～); the staff member downloads it
    export_job = wait_until_finished(Job.objects.get(kind=csv_jobs.EXPORT_KIND))
    assert export_job.status == Job.Status.SUCCEEDED, (export_job.messages, export_job.counts)
    assert export_job.counts == {"exported": 2, "substituted_characters": 1}
    exported = download(client, export_job, "result")
    assert exported == export_ticket_types().data
    assert "U+301C" in message_with(export_job.messages, "U+301C")
    assert not export_job.error_file

    # when: the exported file with one new row and one bad row is imported through the preview
    data = exported + csv_bytes([row(name="新規"), row(name="悪い", order="0")], header=None)
    preview = client.post(
        reverse("admin:tickets_tickettype_csv_import"), {"file": SimpleUploadedFile("t.csv", data)}
    )
    client.post(reverse("admin:tickets_tickettype_csv_import_confirm"), {"token": preview.context["token"]})

    # then
    import_job = wait_until_finished(Job.objects.get(kind=csv_jobs.IMPORT_KIND))
    assert import_job.status == Job.Status.PARTIAL
    assert import_job.counts == {"rows": 4, "created": 1, "updated": 0, "unchanged": 2, "errors": 1}
    assert import_job.started_by == user
    errors = rows_of(download(client, import_job, "errors"))
    assert errors[1][:-1] == row(name="悪い", order="0")
    assert download(client, import_job, "input") == data
    assert TicketType.objects.filter(name="新規").exists()
    assert TicketType.objects.get(name__startswith="朝").name == "朝〜夜"
