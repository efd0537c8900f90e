"""Plans in the ticket CSV (SPEC §6–7, seed 000): ecforce's メンバーシップ契約 rows, exported after the
tickets and imported into plans, so a shop's whole file round-trips."""

from __future__ import annotations

import csv
import io

import pytest
from django.utils import translation

from inventory.tests.factories import ItemFactory
from payments.models import Product
from plans.csv import PLAN_KIND
from plans.models import Plan, PlanBandAllowance, TimeBand
from tickets.csv_jobs import export_ticket_types, import_ticket_types
from tickets.resources import COLUMNS
from tickets.tests.factories import ProductFactory, TicketTypeFactory
from tickets.tests.test_csv import csv_bytes, row

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def english():
    with translation.override("en"):
        yield


def rows_of(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("cp932"), newline="")))


def monthly(sku: str, price: int = 8800) -> Product:
    return ProductFactory(sku=sku, kind=Product.Kind.MONTHLY, price_yen=price)


def plan_row(**cells) -> list[str]:
    cells.setdefault("kind", PLAN_KIND)
    cells.setdefault("uses", "4")
    return row(**cells)


def make_plan(**fields) -> Plan:
    fields.setdefault("monthly_product", monthly("M-4"))
    fields.setdefault("allowance_mode", Plan.AllowanceMode.TOTAL)
    fields.setdefault("total_allowance", 4)
    return Plan.objects.create(name=fields.pop("name", "月4回プラン"), **fields)


def test_plans_are_exported_after_the_tickets_as_membership_rows_with_their_three_products():
    ticket = TicketTypeFactory(name="ヨガ5回券")
    yoga = ItemFactory(name="ヨガ")
    plan = make_plan(
        contract_month_product=ProductFactory(sku="M-4-FIRST"),
        enrollment_fee_product=ProductFactory(sku="FEE"),
        max_concurrent=2,
    )
    plan.items.set([yoga])

    lines = rows_of(export_ticket_types().data)

    assert lines[0] == list(COLUMNS)
    assert [line[0] for line in lines[1:]] == [str(ticket.pk), str(plan.pk)]
    plan_line = dict(zip(COLUMNS, lines[2], strict=True))
    assert plan_line["チケット種別"] == PLAN_KIND
    assert (plan_line["商品SKUID"], plan_line["契約月分商品SKUID"], plan_line["入会金商品SKUID"]) == (
        "M-4",
        "M-4-FIRST",
        "FEE",
    )
    assert (plan_line["チケット利用回数"], plan_line["同時予約数制限"], plan_line["利用可能プランID"]) == (
        "4",
        "2",
        str(yoga.pk),
    )
    assert (plan_line["顧客毎の購入回数制限"], plan_line["チケット利用期限"]) == ("", "")


def test_the_whole_file_round_trips_and_a_ticket_and_a_plan_may_share_an_id():
    plan = make_plan()
    band = TimeBand.objects.create(name="モーニング", weekdays=[0, 1, 2, 3, 4])
    per_band = make_plan(
        name="朝プラン", monthly_product=monthly("M-AM"), allowance_mode=Plan.AllowanceMode.PER_BAND
    )
    PlanBandAllowance.objects.create(plan=per_band, band=band, allowance=3)
    ticket = TicketTypeFactory(id=plan.pk, name="ヨガ5回券")  # a ticket and a plan with the same ID
    exported = export_ticket_types().data

    again = import_ticket_types(exported, dry_run=False)

    assert (again.unchanged, again.updated, again.failed) == (3, 0, 0)
    assert export_ticket_types().data == exported
    # IDs of tickets and plans are counted apart: the same number for both is not "in the file twice"
    same = csv_bytes(
        [
            row(ticket_id=ticket.pk, sku=ticket.product.sku, name="ヨガ5回券 改"),
            plan_row(ticket_id=plan.pk, sku="M-4", name="改名プラン"),
        ]
    )
    result = import_ticket_types(same, dry_run=False)
    assert (result.updated, result.failed) == (2, 0)
    plan.refresh_from_db()
    assert plan.name == "改名プラン"


def test_a_membership_row_without_an_id_creates_a_plan_counting_one_monthly_total():
    yoga = ItemFactory(name="ヨガ")
    monthly("M-8")
    ProductFactory(sku="FEE")

    result = import_ticket_types(
        csv_bytes([plan_row(sku="M-8", fee_sku="FEE", name="月8回プラン", uses="8", item_ids=str(yoga.pk))]),
        dry_run=False,
    )

    assert (result.created, result.failed) == (1, 0)
    plan = Plan.objects.get(name="月8回プラン")
    assert (plan.allowance_mode, plan.total_allowance, plan.monthly_product.sku) == ("total", 8, "M-8")
    assert plan.enrollment_fee_product.sku == "FEE"
    assert list(plan.items.all()) == [yoga]
    assert result.previews[0].key == plan.pk


@pytest.mark.parametrize(
    ("make_row", "column", "says"),
    [
        (lambda: plan_row(sku="ONE"), "商品SKUID", "monthly product"),
        (lambda: plan_row(sku=""), "商品SKUID", "monthly product"),
        (lambda: plan_row(sku="M-X", fee_sku="M-Y"), "入会金商品SKUID", "one-time"),
        (lambda: plan_row(sku="M-X", uses="0"), "チケット利用回数", "less than 1"),
        (lambda: plan_row(sku="M-X", purchases="3"), "顧客毎の購入回数制限", "Leave this column empty"),
        (lambda: plan_row(ticket_id="999999", sku="M-X"), "チケットID", "no plan with ID 999999"),
    ],
)
def test_a_bad_membership_row_is_refused_naming_its_column_and_nothing_is_saved(make_row, column, says):
    ProductFactory(sku="ONE")
    monthly("M-X")
    monthly("M-Y")

    result = import_ticket_types(csv_bytes([make_row()]), dry_run=False)

    assert result.failed == 1
    message = result.errors[0].message
    assert message.startswith(column), message
    assert says in message
    assert not Plan.objects.exists()


def test_a_per_band_plan_refuses_another_monthly_maximum_and_keeps_its_bands():
    band = TimeBand.objects.create(name="フルタイム", weekdays=[0, 1, 2, 3, 4, 5, 6, 7])
    plan = make_plan(allowance_mode=Plan.AllowanceMode.PER_BAND, total_allowance=None)
    PlanBandAllowance.objects.create(plan=plan, band=band, allowance=4)

    result = import_ticket_types(csv_bytes([plan_row(ticket_id=plan.pk, sku="M-4", uses="6")]), dry_run=False)

    assert result.failed == 1
    assert "per time band" in result.errors[0].message
    plan.refresh_from_db()
    assert (plan.allowance_mode, plan.total_allowance) == ("per_band", None)


def test_a_dry_run_checks_membership_rows_and_writes_nothing():
    monthly("M-8")

    result = import_ticket_types(csv_bytes([plan_row(sku="M-8", name="新プラン")]), dry_run=True)

    assert (result.created, result.failed) == (1, 0)
    assert not Plan.objects.exists()
