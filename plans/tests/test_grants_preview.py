"""The staff preview of a month's grants (SPEC §7 "Staff can preview a month's grants (who gets what) before
they happen"): an admin page on the grant list with a month picker (next month by default, JST), the
counts per rule, the first rows and the whole list as a cp932 CSV. It writes nothing.

The clock is frozen at 2027-03-20 12:00 JST: next month is April 2027."""

from __future__ import annotations

import csv
import io
import re
from datetime import date, datetime

import pytest
from django.conf import settings
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import translation

from core.periods import JST
from members.tests.factories import MemberFactory
from plans.admin import PlanGrantAdmin
from plans.models import AllowanceUsage, GrantRule, PlanGrant
from plans.tests.factories import (
    GrantRuleFactory,
    PlanBandAllowanceFactory,
    PlanContractFactory,
    PlanFactory,
    TimeBandFactory,
)
from tickets.models import MemberTicket
from tickets.tests.factories import TicketTypeFactory

pytestmark = pytest.mark.django_db

NOW = datetime(2027, 3, 20, 12, 0, tzinfo=JST)
MARCH, APRIL = date(2027, 3, 1), date(2027, 4, 1)
URL = reverse("admin:plans_plangrant_preview")
CSV_URL = reverse("admin:plans_plangrant_preview_csv")


@pytest.fixture(autouse=True)
def frozen_clock(time_machine):
    time_machine.move_to(NOW, tick=False)


@pytest.fixture(autouse=True)
def english(frozen_clock, admin_client):
    admin_client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    with translation.override("en"):
        yield


def yoga_plan():
    """A plan with 4 a month in one band, a monthly rule (2 × 振替チケット, 1 month) and a carry-over of the
    band (all that was left)."""
    plan = PlanFactory(name="ヨガ通い放題")
    band = TimeBandFactory(name="フルタイム")
    PlanBandAllowanceFactory(plan=plan, band=band, allowance=4)
    monthly = GrantRuleFactory(
        plan=plan, quantity=2, ticket_type=TicketTypeFactory(name="振替チケット", uses=1)
    )
    carry = GrantRuleFactory(
        plan=plan,
        carry_over=True,
        carry_band=band,
        ticket_type=TicketTypeFactory(name="繰越チケット", uses=1),
    )
    return plan, band, monthly, carry


def rows_of(body: str, contract) -> str:
    """The preview's rows of one contract, without the spaces between cells."""
    found = re.findall(rf'<tr data-contract="{contract.pk}">.*?</tr>', body, flags=re.S)
    return "".join(re.sub(r">\s+<", "><", row) for row in found)


def contracts(plan, count: int):
    return [
        PlanContractFactory(plan=plan, contracted_on=date(2027, 2, 10), member=MemberFactory())
        for _ in range(count)
    ]


def test_the_grant_list_links_to_the_preview(admin_client):
    response = admin_client.get(reverse("admin:plans_plangrant_changelist"))
    assert response.status_code == 200, response.get("Location")
    page = response.content.decode()
    assert f'href="{URL}"' in page
    assert "Preview next month's grants" in page


def test_next_month_is_previewed_by_default_with_counts_per_rule_and_who_gets_what(admin_client):
    # given a contract made in February that used 1 of March's 4, and one that is not paid yet
    plan, band, monthly, carry = yoga_plan()
    member = MemberFactory(name="山田花子", email="hanako@example.com")
    contract = PlanContractFactory(plan=plan, member=member, contracted_on=date(2027, 2, 10))
    AllowanceUsage.objects.create(contract=contract, month=MARCH, band=band, used=1)
    PlanContractFactory(plan=plan, contracted_on=date(2027, 3, 1), status="pending")
    # when staff open the preview without choosing a month
    response = admin_client.get(URL)
    # then it is April's (next month in JST), as if granted on 4/1
    assert response.status_code == 200
    assert response.context["month"] == APRIL
    assert response.context["form"]["month"].value() == "2027-04"
    body = response.content.decode()
    assert "Grants for 2027-04" in body
    # with the counts per rule: plan, when, ticket, contracts, tickets, valid through
    rules = {rule.rule_id: rule for rule in response.context["preview"].rules}
    assert (rules[monthly.pk].plan_name, rules[monthly.pk].ticket_type_name) == (
        "ヨガ通い放題",
        "振替チケット",
    )
    assert (rules[monthly.pk].grants, rules[monthly.pk].tickets) == (1, 1)
    assert (rules[carry.pk].grants, rules[carry.pk].tickets) == (1, 1)
    assert rules[monthly.pk].valid_through == date(2027, 4, 30)
    assert f'<tr data-rule="{monthly.pk}">' in body
    assert "On the 1st of every month (毎月の定期付与)" in body
    # and the rows: the member, 2 monthly tickets and March's 3 left carried over, valid through 4/30
    assert body.count(f'<tr data-contract="{contract.pk}">') == 2
    assert "山田花子" in body
    assert "hanako@example.com" in body
    shown = rows_of(body, contract)
    assert "振替チケット</td><td>2027-04</td><td>2</td><td>2</td><td>2027-04-30</td>" in shown
    assert "繰越チケット</td><td>2027-04</td><td>3</td><td>3</td><td>2027-04-30</td>" in shown
    assert "2027-04-30" in body
    assert reverse("admin:plans_plancontract_change", args=[contract.pk]) in body
    assert f'href="{CSV_URL}?month=2027-04"' in body
    assert "more grant" not in body
    # and nothing was granted
    assert PlanGrant.objects.count() == 0
    assert MemberTicket.objects.count() == 0


def test_a_carry_over_with_nothing_left_is_a_contract_without_a_ticket(admin_client):
    plan, band, monthly, carry = yoga_plan()
    contract = PlanContractFactory(plan=plan, contracted_on=date(2027, 2, 10))
    AllowanceUsage.objects.create(contract=contract, month=MARCH, band=band, used=4)
    response = admin_client.get(URL)
    rules = {rule.rule_id: (rule.grants, rule.tickets) for rule in response.context["preview"].rules}
    assert rules == {monthly.pk: (1, 1), carry.pk: (1, 0)}
    assert '<td colspan="2">nothing left to carry over</td><td>—</td>' in rows_of(
        response.content.decode(), contract
    )


def test_another_month_can_be_chosen(admin_client):
    plan, _band, monthly, carry = yoga_plan()
    PlanContractFactory(plan=plan, contracted_on=date(2027, 4, 10))
    # a contract made in April is due May's monthly grant (and April's carry-over), nothing in April
    assert admin_client.get(URL, {"month": "2027-04"}).context["preview"].rules == []
    may = admin_client.get(URL, {"month": "2027-05"})
    assert may.context["month"] == date(2027, 5, 1)
    assert {rule.rule_id: rule.tickets for rule in may.context["preview"].rules} == {
        monthly.pk: 1,
        carry.pk: 1,
    }
    assert "Grants for 2027-05" in may.content.decode()
    # full-width digits, as a Japanese keyboard may type them where the browser has no month picker
    assert admin_client.get(URL, {"month": "２０２７-05"}).context["month"] == date(2027, 5, 1)


@pytest.mark.parametrize(
    "month", ["2027-13", "2027-00", "abc", "", "27-04", "2027-4", "0999-01", "2027-04-01"]
)
def test_a_bad_month_is_a_form_error_not_a_crash(admin_client, month):
    response = admin_client.get(URL, {"month": month})
    assert response.status_code == 200
    assert response.context["form"].errors["month"]
    assert "preview" not in response.context
    assert "errornote" in response.content.decode()


def test_a_bad_month_on_the_csv_link_goes_back_to_the_page_with_the_error(admin_client):
    response = admin_client.get(CSV_URL, {"month": "2027-13"})
    assert response.status_code == 302
    assert response["Location"] == f"{URL}?month=2027-13"
    page = admin_client.get(response["Location"]).content.decode()
    assert "Enter a month as YYYY-MM, for example 2027-04." in page


def test_the_page_shows_the_first_rows_and_says_how_many_more_with_every_row_in_the_csv(
    admin_client, monkeypatch
):
    # given 3 contracts due the monthly and the carry-over (6 grants), and a page of 4 rows
    monkeypatch.setattr(PlanGrantAdmin, "preview_rows", 4)
    plan, _band, _monthly, _carry = yoga_plan()
    made = contracts(plan, 3)
    response = admin_client.get(URL, {"month": "2027-04"})
    body = response.content.decode()
    # then 4 rows are shown, the counts cover all 6, and the rest is in the CSV
    assert len(response.context["rows"]) == 4
    assert response.context["preview"].total_grants == 6
    assert "…and 2 more grants: download the CSV for every row." in body
    data = admin_client.get(CSV_URL, {"month": "2027-04"}).content.decode("cp932")
    lines = list(csv.reader(io.StringIO(data)))
    assert lines[0][:4] == ["会員ID", "メールアドレス", "氏名", "契約ID"]
    assert sorted(int(line[3]) for line in lines[1:]) == sorted([c.pk for c in made] * 2)


def test_the_csv_is_a_cp932_attachment_named_with_the_month(admin_client):
    plan, _band, _monthly, _carry = yoga_plan()
    contract = PlanContractFactory(
        plan=plan, contracted_on=date(2027, 2, 10), member=MemberFactory(name="山田花子")
    )
    response = admin_client.get(CSV_URL, {"month": "2027-04"})
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=Windows-31J"
    assert response["Content-Disposition"] == 'attachment; filename="plan_grants_preview_2027-04.csv"'
    text = response.content.decode("cp932")
    assert "\r\n" in text
    rows = list(csv.reader(io.StringIO(text)))[1:]
    assert {(row[2], row[3], row[6], row[7], row[8]) for row in rows} == {
        ("山田花子", str(contract.pk), "振替チケット", "2027/04", "2"),
        ("山田花子", str(contract.pk), "繰越チケット", "2027/04", "4"),
    }
    # without a month: next month's
    default = admin_client.get(CSV_URL)
    assert default["Content-Disposition"] == 'attachment; filename="plan_grants_preview_2027-04.csv"'
    assert PlanGrant.objects.count() == 0


def test_the_empty_states_say_why_nothing_would_be_granted(admin_client):
    # no monthly or carry-over rule at all (an on-contract rule is not granted on the 1st)
    GrantRuleFactory(on_contract=True)
    body = admin_client.get(URL).content.decode()
    assert "No plan has a monthly or carry-over grant rule" in body
    assert reverse("admin:plans_plan_changelist") in body
    assert "grant-preview-rows" not in body
    # rules, but no contract due
    plan, _band, _monthly, _carry = yoga_plan()
    PlanContractFactory(plan=plan, contracted_on=date(2027, 3, 5), status="pending")
    body = admin_client.get(URL).content.decode()
    assert "Nothing would be granted for 2027-04" in body
    assert "grant-preview-csv" not in body


def test_the_query_count_stays_the_same_as_contracts_grow(
    admin_client, django_assert_max_num_queries, monkeypatch
):
    monkeypatch.setattr(PlanGrantAdmin, "preview_rows", 10)
    plan, _band, _monthly, _carry = yoga_plan()
    contracts(plan, 2)
    with CaptureQueriesContext(connection) as few:
        assert admin_client.get(URL).status_code == 200
        assert admin_client.get(CSV_URL).status_code == 200
    contracts(plan, 40)
    with django_assert_max_num_queries(len(few)):
        page = admin_client.get(URL)
        download = admin_client.get(CSV_URL)
    assert page.context["preview"].total_grants == 84
    assert len(page.context["rows"]) == 10
    assert download.content.decode("cp932").count("\r\n") == 85


def test_the_preview_needs_the_view_permission_on_plan_grants(client):
    staff = MemberFactory(is_staff=True)
    client.force_login(staff)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    assert client.get(URL).status_code == 403
    assert client.get(CSV_URL).status_code == 403
    staff.user_permissions.add(
        Permission.objects.get(content_type__app_label="plans", codename="view_plangrant")
    )
    assert client.get(URL).status_code == 200
    assert client.get(CSV_URL).status_code == 200
    page = client.get(reverse("admin:plans_plangrant_changelist")).content.decode()
    assert f'href="{URL}"' in page


def test_on_contract_rules_are_not_in_the_preview(admin_client):
    plan, _band, monthly, carry = yoga_plan()
    on_contract = GrantRuleFactory(plan=plan, on_contract=True)
    contracts(plan, 1)
    rules = [rule.rule_id for rule in admin_client.get(URL).context["preview"].rules]
    assert set(rules) == {monthly.pk, carry.pk}
    assert on_contract.kind == GrantRule.Kind.ON_CONTRACT
