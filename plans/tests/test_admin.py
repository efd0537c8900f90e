"""Staff screens of plans (SPEC §7): time bands with their windows, plans with their band allowances and the
three tables of the チケット自動付与 part (each refusal names its row and saves nothing), and the read-only
lists of contracts and grants."""

from __future__ import annotations

from datetime import date, time

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone, translation

from core.models import AuditEntry
from payments.models import Product
from plans.models import GrantRule, Plan, PlanBandAllowance, PlanContract, PlanGrant, TimeBand
from plans.tests.factories import (
    GrantRuleFactory,
    PlanBandAllowanceFactory,
    PlanContractFactory,
    PlanFactory,
    TimeBandFactory,
)
from tickets.tests.factories import ProductFactory, TicketTypeFactory

pytestmark = pytest.mark.django_db

TABLES = {
    GrantRule.Kind.ON_CONTRACT: "grant_rules_contract",
    GrantRule.Kind.MONTHLY: "grant_rules_monthly",
    GrantRule.Kind.CARRY_OVER: "grant_rules_carry_over",
}


@pytest.fixture(autouse=True)
def english(admin_client):
    admin_client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    with translation.override("en"):
        yield


# --- helpers ----------------------------------------------------------------------------------------------


def formset(prefix: str, rows: list[dict], initial: int = 0) -> dict:
    data = {
        f"{prefix}-TOTAL_FORMS": str(len(rows)),
        f"{prefix}-INITIAL_FORMS": str(initial),
        f"{prefix}-MIN_NUM_FORMS": "0",
        f"{prefix}-MAX_NUM_FORMS": "1000",
    }
    for index, row in enumerate(rows):
        for key, value in row.items():
            data[f"{prefix}-{index}-{key}"] = value
    return data


def rule_row(ticket_type, **overrides) -> dict:
    row = {
        "ticket_type": str(ticket_type.pk),
        "quantity": "1",
        "expiry_amount": "1",
        "expiry_unit": GrantRule.ExpiryUnit.MONTHS,
        "restriction": GrantRule.Restriction.NONE,
        "position": "1",
    }
    row.update(overrides)
    return {key: value for key, value in row.items() if value is not None}


def plan_data(*, bands=(), contract=(), monthly=(), carry=(), **overrides) -> dict:
    data = {
        "name": "月4回プラン",
        "is_visible": "on",
        "monthly_product": str(ProductFactory(kind=Product.Kind.MONTHLY, price_yen=8800).pk),
        "contract_month_product": "",
        "enrollment_fee_product": "",
        "allowance_mode": Plan.AllowanceMode.PER_BAND,
        "total_allowance": "",
        "max_concurrent": "0",
        "max_concurrent_per_day": "0",
        "display_order": "1",
    }
    data.update(overrides)
    data.update(formset("band_allowances", list(bands)))
    data.update(formset(TABLES[GrantRule.Kind.ON_CONTRACT], list(contract)))
    data.update(formset(TABLES[GrantRule.Kind.MONTHLY], list(monthly)))
    data.update(formset(TABLES[GrantRule.Kind.CARRY_OVER], list(carry)))
    return {key: value for key, value in data.items() if value is not None}


def band_row(band, allowance="4", position="1") -> dict:
    return {"band": str(band.pk), "allowance": allowance, "position": position}


def add_plan(client, data):
    return client.post(reverse("admin:plans_plan_add"), data)


def refused(response, message: str) -> None:
    assert response.status_code == 200, "the form should be shown again with its errors"
    assert message in response.content.decode(), message


# --- time bands -------------------------------------------------------------------------------------------


def band_data(windows, weekdays=("0", "1", "2", "3", "4"), name="モーニング") -> dict:
    return {
        "name": name,
        "weekdays": list(weekdays),
        "display_order": "1",
        **formset("windows", [{"starts_at": start, "ends_at": end} for start, end in windows]),
    }


def test_a_time_band_is_saved_with_its_weekdays_and_windows(admin_client):
    response = admin_client.post(
        reverse("admin:plans_timeband_add"),
        band_data([("07:00", "10:00"), ("18:00", "22:00")], weekdays=("7", "0", "6", "0")),
    )

    assert response.status_code == 302
    band = TimeBand.objects.get()
    assert band.weekdays == [0, 6, 7]  # 祝 = 7, ticked boxes sorted, once each
    assert [(w.starts_at, w.ends_at) for w in band.windows.all()] == [
        (time(7), time(10)),
        (time(18), time(22)),
    ]
    assert AuditEntry.objects.filter(action="plans.timeband.added").count() == 1


@pytest.mark.parametrize(("start", "end"), [("10:00", "10:00"), ("10:00", "07:00")])
def test_a_window_must_end_after_it_starts(admin_client, start, end):
    response = admin_client.post(reverse("admin:plans_timeband_add"), band_data([(start, end)]))

    refused(response, "A window must end after it starts (from &lt; until).")
    assert not TimeBand.objects.exists()


def test_overlapping_windows_of_one_band_are_refused(admin_client):
    response = admin_client.post(
        reverse("admin:plans_timeband_add"),
        band_data([("07:00", "10:00"), ("12:00", "14:00"), ("09:30", "11:00")]),
    )

    refused(response, "Windows 1 (07:00–10:00) and 3 (09:30–11:00) overlap")
    assert not TimeBand.objects.exists()


def test_windows_that_touch_do_not_overlap(admin_client):
    response = admin_client.post(
        reverse("admin:plans_timeband_add"), band_data([("07:00", "10:00"), ("10:00", "12:00")])
    )

    assert response.status_code == 302
    assert TimeBand.objects.get().windows.count() == 2


def test_a_band_needs_a_weekday_and_a_window(admin_client):
    response = admin_client.post(reverse("admin:plans_timeband_add"), band_data([], weekdays=()))

    refused(response, "Tick at least one day.")
    refused(response, "A time band needs at least one window.")
    assert not TimeBand.objects.exists()


# --- plans: a valid one -----------------------------------------------------------------------------------


def test_a_plan_with_all_three_tables_is_saved_in_one_post(admin_client):
    morning = TimeBandFactory(name="モーニング", windows=[("07:00", "10:00")])
    full = TimeBandFactory(name="フルタイム", windows=[("07:00", "22:00")])
    punch, trial, carried = TicketTypeFactory(), TicketTypeFactory(), TicketTypeFactory()
    other = PlanFactory(name="他のプラン")
    fee = ProductFactory(kind=Product.Kind.ONE_TIME, price_yen=11000)
    first_month = ProductFactory(kind=Product.Kind.ONE_TIME, price_yen=4400)

    response = add_plan(
        admin_client,
        plan_data(
            enrollment_fee_product=str(fee.pk),
            contract_month_product=str(first_month.pk),
            bands=[band_row(morning, "4", "1"), band_row(full, "2", "2")],
            contract=[rule_row(trial, quantity="1", expiry_amount="14", expiry_unit="days")],
            monthly=[
                rule_row(
                    punch,
                    quantity="2",
                    restriction=GrantRule.Restriction.THIS_AND_SELECTED,
                    allowed_plans=[str(other.pk)],
                )
            ],
            carry=[rule_row(carried, carry_band=str(morning.pk), quantity="")],
        ),
    )

    assert response.status_code == 302, response.content.decode()[:3000]
    plan = Plan.objects.get(name="月4回プラン")
    assert (plan.enrollment_fee_product, plan.contract_month_product) == (fee, first_month)
    assert [(a.band, a.allowance) for a in plan.band_allowances.all()] == [(morning, 4), (full, 2)]
    rules = {rule.kind: rule for rule in plan.grant_rules.all()}
    assert set(rules) == set(TABLES)
    on_contract = rules[GrantRule.Kind.ON_CONTRACT]
    assert (on_contract.ticket_type, on_contract.quantity, on_contract.expiry_amount) == (trial, 1, 14)
    assert on_contract.expiry_unit == GrantRule.ExpiryUnit.DAYS
    monthly = rules[GrantRule.Kind.MONTHLY]
    assert (monthly.ticket_type, monthly.quantity) == (punch, 2)
    assert list(monthly.allowed_plans.all()) == [other]
    carry = rules[GrantRule.Kind.CARRY_OVER]
    assert (carry.ticket_type, carry.carry_band, carry.carry_total, carry.quantity) == (
        carried,
        morning,
        False,
        None,
    )
    assert AuditEntry.objects.filter(action="plans.plan.added").count() == 1


def test_a_total_plan_with_a_total_carry_over(admin_client):
    kind = TicketTypeFactory()

    response = add_plan(
        admin_client,
        plan_data(
            allowance_mode=Plan.AllowanceMode.TOTAL,
            total_allowance="8",
            carry=[rule_row(kind, carry_total="on", quantity="3")],
        ),
    )

    assert response.status_code == 302
    rule = GrantRule.objects.get()
    assert (rule.kind, rule.carry_band, rule.carry_total, rule.quantity) == ("carry_over", None, True, 3)
    assert Plan.objects.get().total_allowance == 8


def test_each_table_shows_only_its_rows_and_rows_are_removed_in_place(admin_client):
    band = TimeBandFactory()
    plan = PlanFactory()
    PlanBandAllowanceFactory(plan=plan, band=band)
    on_contract = GrantRuleFactory(plan=plan, on_contract=True)
    monthly = GrantRuleFactory(plan=plan)
    carry = GrantRuleFactory(plan=plan, carry_over=True, carry_band=band)
    url = reverse("admin:plans_plan_change", args=[plan.pk])

    page = admin_client.get(url)
    forms = {inline.formset.prefix: inline.formset for inline in page.context["inline_admin_formsets"]}
    for kind, rule in ((GrantRule.Kind.ON_CONTRACT, on_contract), (GrantRule.Kind.MONTHLY, monthly)):
        assert [form.instance for form in forms[TABLES[kind]].forms] == [rule]
    assert [form.instance for form in forms[TABLES[GrantRule.Kind.CARRY_OVER]].forms] == [carry]

    allowance = plan.band_allowances.get()
    data = plan_data(monthly_product=str(plan.monthly_product_id), name=plan.name)
    data.update(
        formset(
            "band_allowances",
            [{"id": str(allowance.pk), "plan": str(plan.pk), **band_row(band)}],
            initial=1,
        )
    )
    data.update(formset(TABLES["contract"], [_existing(on_contract, plan)], initial=1))
    data.update(formset(TABLES["monthly"], [{**_existing(monthly, plan), "DELETE": "on"}], initial=1))
    data.update(
        formset(
            TABLES["carry_over"],
            [
                _existing(carry, plan, carry_band=str(band.pk)),
                rule_row(monthly.ticket_type, carry_band=str(band.pk)),
            ],
            initial=1,
        )
    )
    response = admin_client.post(url, data)

    assert response.status_code == 302, response.content.decode()[:3000]
    assert sorted(plan.grant_rules.values_list("kind", flat=True)) == ["carry_over", "carry_over", "contract"]


def _existing(rule, plan, **overrides) -> dict:
    row = rule_row(rule.ticket_type, quantity=str(rule.quantity or ""), **overrides)
    return {"id": str(rule.pk), "plan": str(plan.pk), **row}


# --- plans: refusals --------------------------------------------------------------------------------------


def assert_nothing_saved() -> None:
    assert not Plan.objects.filter(name="月4回プラン").exists()
    assert not GrantRule.objects.exists()
    assert not PlanBandAllowance.objects.exists()


def test_the_monthly_product_must_be_monthly_and_the_fees_one_time(admin_client):
    one_time = ProductFactory(kind=Product.Kind.ONE_TIME)
    monthly = ProductFactory(kind=Product.Kind.MONTHLY)
    band = TimeBandFactory()

    response = add_plan(
        admin_client,
        plan_data(
            monthly_product=str(one_time.pk),
            enrollment_fee_product=str(monthly.pk),
            contract_month_product=str(monthly.pk),
            bands=[band_row(band)],
        ),
    )

    form = response.context["adminform"].form
    assert set(form.errors) == {"monthly_product", "enrollment_fee_product", "contract_month_product"}
    assert_nothing_saved()


def test_a_monthly_product_already_a_plans_is_not_offered(admin_client):
    taken = PlanFactory().monthly_product
    response = add_plan(
        admin_client, plan_data(monthly_product=str(taken.pk), bands=[band_row(TimeBandFactory())])
    )

    assert "monthly_product" in response.context["adminform"].form.errors
    assert_nothing_saved()


def test_a_ticket_product_is_not_an_enrollment_fee(admin_client):
    ticket_product = TicketTypeFactory().product
    response = add_plan(
        admin_client,
        plan_data(enrollment_fee_product=str(ticket_product.pk), bands=[band_row(TimeBandFactory())]),
    )

    assert "enrollment_fee_product" in response.context["adminform"].form.errors
    assert_nothing_saved()


def test_a_total_plan_needs_its_total(admin_client):
    response = add_plan(admin_client, plan_data(allowance_mode=Plan.AllowanceMode.TOTAL, total_allowance=""))

    refused(response, "With one total across bands (月間全体), enter the bookings per month.")
    assert_nothing_saved()


def test_a_per_band_plan_needs_a_band_allowance(admin_client):
    response = add_plan(admin_client, plan_data())

    refused(response, "A plan counted per time band needs at least one band allowance: without one it allows")
    assert_nothing_saved()


def test_a_band_is_counted_once_per_plan(admin_client):
    band = TimeBandFactory()
    response = add_plan(admin_client, plan_data(bands=[band_row(band), band_row(band, "2", "2")]))

    assert response.status_code == 200
    assert_nothing_saved()


@pytest.mark.parametrize("kind", [GrantRule.Kind.ON_CONTRACT, GrantRule.Kind.MONTHLY])
@pytest.mark.parametrize(
    ("quantity", "message"),
    [
        ("", "row 2: enter how many tickets to grant (at least 1)."),
        ("0", "row 2: the quantity must be at least 1."),
    ],
)
def test_an_on_contract_or_monthly_row_grants_at_least_one(admin_client, kind, quantity, message):
    band, ticket = TimeBandFactory(), TicketTypeFactory()
    rows = [rule_row(ticket), rule_row(ticket, quantity=quantity, position="2")]
    table = {"contract": "contract", "monthly": "monthly"}[kind]

    response = add_plan(admin_client, plan_data(bands=[band_row(band)], **{table: rows}))

    refused(response, message)
    label = {"contract": "On a new contract (新規契約時), ", "monthly": "Monthly (毎月の定期付与), "}[kind]
    refused(response, label + message)
    assert_nothing_saved()


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        ("0", "row 1: the expiry must be at least 1 day or 1 month."),
        ("", "row 1: enter the expiry: N days or N months, N at least 1."),
    ],
)
@pytest.mark.parametrize("unit", ["days", "months"])
def test_the_expiry_is_at_least_one_day_or_month(admin_client, amount, message, unit):
    response = add_plan(
        admin_client,
        plan_data(
            bands=[band_row(TimeBandFactory())],
            monthly=[rule_row(TicketTypeFactory(), expiry_amount=amount, expiry_unit=unit)],
        ),
    )

    refused(response, "Monthly (毎月の定期付与), " + message)
    assert_nothing_saved()


def test_a_carry_over_row_may_grant_at_most_n_but_not_zero(admin_client):
    band = TimeBandFactory()
    response = add_plan(
        admin_client,
        plan_data(
            bands=[band_row(band)],
            carry=[rule_row(TicketTypeFactory(), carry_band=str(band.pk), quantity="0")],
        ),
    )

    refused(response, "Carry-over (前月残り予約回数の繰越), row 1: the quantity must be at least 1.")
    assert_nothing_saved()


def test_a_band_carry_over_on_a_total_plan_is_refused(admin_client):
    band = TimeBandFactory()
    response = add_plan(
        admin_client,
        plan_data(
            allowance_mode=Plan.AllowanceMode.TOTAL,
            total_allowance="4",
            carry=[rule_row(TicketTypeFactory(), carry_band=str(band.pk))],
        ),
    )

    refused(
        response, "row 1: this plan counts one total across bands, so a band&#x27;s carry-over would never"
    )
    assert_nothing_saved()


def test_a_total_carry_over_on_a_per_band_plan_is_refused(admin_client):
    band = TimeBandFactory()
    response = add_plan(
        admin_client,
        plan_data(bands=[band_row(band)], carry=[rule_row(TicketTypeFactory(), carry_total="on")]),
    )

    refused(response, "row 1: this plan counts per time band, so 月間全体 would never grant anything")
    assert_nothing_saved()


def test_a_carry_over_band_must_be_one_of_the_plans_bands(admin_client):
    morning, evening = TimeBandFactory(name="モーニング"), TimeBandFactory(name="イブニング")
    response = add_plan(
        admin_client,
        plan_data(
            bands=[band_row(morning)], carry=[rule_row(TicketTypeFactory(), carry_band=str(evening.pk))]
        ),
    )

    refused(response, "row 1: “イブニング” is not among this plan&#x27;s band allowances")
    assert_nothing_saved()


@pytest.mark.parametrize(
    ("band", "total", "message"),
    [
        (True, "on", "row 1: choose either a time band or 月間全体, not both."),
        (False, "", "row 1: choose the time band whose unused allowance is carried over, or 月間全体."),
    ],
)
def test_a_carry_over_row_chooses_a_band_or_the_total(admin_client, band, total, message):
    morning = TimeBandFactory()
    response = add_plan(
        admin_client,
        plan_data(
            bands=[band_row(morning)],
            carry=[
                rule_row(TicketTypeFactory(), carry_band=str(morning.pk) if band else "", carry_total=total)
            ],
        ),
    )

    refused(response, message)
    assert_nothing_saved()


def test_the_selected_plans_restriction_needs_a_plan(admin_client):
    response = add_plan(
        admin_client,
        plan_data(
            bands=[band_row(TimeBandFactory())],
            contract=[rule_row(TicketTypeFactory(), restriction=GrantRule.Restriction.THIS_AND_SELECTED)],
        ),
    )

    refused(
        response, "On a new contract (新規契約時), row 1: “This plan and the selected plans” needs at least"
    )
    assert_nothing_saved()


@pytest.mark.parametrize(
    "restriction",
    [GrantRule.Restriction.NONE, GrantRule.Restriction.ANY_PLAN, GrantRule.Restriction.THIS_PLAN],
)
def test_selected_plans_only_with_that_restriction(admin_client, restriction):
    other = PlanFactory()
    response = add_plan(
        admin_client,
        plan_data(
            bands=[band_row(TimeBandFactory())],
            monthly=[rule_row(TicketTypeFactory(), restriction=restriction, allowed_plans=[str(other.pk)])],
        ),
    )

    refused(
        response, "Monthly (毎月の定期付与), row 1: Select plans only with “This plan and the selected plans”"
    )
    assert not Plan.objects.filter(name="月4回プラン").exists()


def test_a_refused_row_saves_nothing_of_the_valid_tables(admin_client):
    band = TimeBandFactory()
    plan = PlanFactory()
    allowance = PlanBandAllowanceFactory(plan=plan, band=band, allowance=4)
    url = reverse("admin:plans_plan_change", args=[plan.pk])
    data = plan_data(monthly_product=str(plan.monthly_product_id), name="新しい名前")
    data.update(
        formset(
            "band_allowances",
            [{"id": str(allowance.pk), "plan": str(plan.pk), **band_row(band, "9")}],
            initial=1,
        )
    )
    data.update(formset(TABLES["monthly"], [rule_row(TicketTypeFactory(), quantity="0")]))

    refused(admin_client.post(url, data), "row 1: the quantity must be at least 1.")

    allowance.refresh_from_db()
    assert Plan.objects.get().name == plan.name != "新しい名前"
    assert allowance.allowance == 4
    assert not GrantRule.objects.exists()


# --- pages and lists --------------------------------------------------------------------------------------


def make_rows(n: int) -> None:
    for _ in range(n):
        band = TimeBandFactory(windows=[("07:00", "10:00"), ("18:00", "20:00")])
        plan = PlanFactory()
        PlanBandAllowanceFactory(plan=plan, band=band)
        rule = GrantRuleFactory(plan=plan)
        contract = PlanContractFactory(plan=plan)
        PlanGrant.objects.create(
            contract=contract, rule=rule, month=date(2027, 4, 1), quantity=1, created_at=timezone.now()
        )


@pytest.mark.parametrize(
    "name",
    [
        "plans_plan_changelist",
        "plans_timeband_changelist",
        "plans_plancontract_changelist",
        "plans_plangrant_changelist",
    ],
)
def test_the_lists_keep_their_query_count_as_rows_grow(admin_client, django_assert_max_num_queries, name):
    url = reverse(f"admin:{name}")
    make_rows(2)
    with CaptureQueriesContext(connection) as few:
        assert admin_client.get(url).status_code == 200
    make_rows(20)
    with django_assert_max_num_queries(len(few)):
        response = admin_client.get(url)
    assert response.status_code == 200
    assert response.context["cl"].result_count >= 22


def test_the_pages_answer_for_a_superuser(admin_client):
    make_rows(1)
    plan, band = Plan.objects.get(), TimeBand.objects.get()
    contract, grant = PlanContract.objects.get(), PlanGrant.objects.get()
    for url in (
        reverse("admin:plans_plan_add"),
        reverse("admin:plans_plan_change", args=[plan.pk]),
        reverse("admin:plans_timeband_add"),
        reverse("admin:plans_timeband_change", args=[band.pk]),
        reverse("admin:plans_plancontract_change", args=[contract.pk]),
        reverse("admin:plans_plangrant_change", args=[grant.pk]),
        reverse("admin:plans_plangrant_changelist") + "?month=2027-04&rule=" + str(grant.rule_id),
        reverse("admin:plans_plancontract_changelist") + "?q=" + contract.member.email,
    ):
        assert admin_client.get(url).status_code == 200, url


def test_contracts_and_grants_are_read_only(admin_client):
    make_rows(1)
    contract, grant = PlanContract.objects.get(), PlanGrant.objects.get()

    assert admin_client.get(reverse("admin:plans_plancontract_add")).status_code == 403
    assert admin_client.get(reverse("admin:plans_plangrant_add")).status_code == 403
    page = admin_client.get(reverse("admin:plans_plancontract_change", args=[contract.pk])).content.decode()
    assert 'name="_save"' not in page
    response = admin_client.post(reverse("admin:plans_plangrant_change", args=[grant.pk]), {"quantity": "9"})
    assert response.status_code == 403
    grant.refresh_from_db()
    assert grant.quantity == 1


@pytest.mark.parametrize("query", ["?month=abc", "?month=99999999999-01", "?rule=x", "?rule=" + "9" * 30])
def test_bad_grant_filters_reload_the_list(admin_client, query):
    make_rows(1)  # a filter with no choices is not shown, and its parameter is then ignored
    response = admin_client.get(reverse("admin:plans_plangrant_changelist") + query)

    assert response.status_code == 302, response.content.decode()[-3000:]
    assert "e=1" in response["Location"]


def test_the_contract_search_finds_a_member_by_name_or_email(admin_client):
    make_rows(3)
    contract = PlanContract.objects.first()

    for term in (contract.member.email, contract.member.name):
        response = admin_client.get(reverse("admin:plans_plancontract_changelist"), {"q": term})
        assert [row.pk for row in response.context["cl"].result_list] == [contract.pk]
