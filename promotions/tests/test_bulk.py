"""Bulk creation of coupons (seed 002: 同じ条件クーポンを複数登録する場合、クーポンコードをリスト入力):
one coupon per pasted code with the same conditions, all or nothing; every unusable code named with its
line; the admin page confirms the count first."""

from __future__ import annotations

from datetime import date

import pytest
from django.urls import reverse
from django.utils import translation

from core.exceptions import DomainError
from core.models import AuditEntry
from inventory.tests.factories import CategoryFactory, ItemFactory, jst
from members.tests.factories import MemberFactory
from promotions.coupon_staff import (
    BulkCodesRefusedError,
    CouponRefusedError,
    coupons_bulk_create,
    parse_codes,
)
from promotions.models import Coupon
from promotions.tests.coupon_staff_helpers import coupon

pytestmark = pytest.mark.django_db
DAY = date(2027, 7, 1)
CONDITIONS = {
    "description": "夏のキャンペーン",
    "discount_kind": "yen",
    "discount_value": 500,
    "usage_limit": 1,
    "per_member_limit": 1,
    "valid_from": jst(DAY, "00:00"),
    "valid_until": jst(date(2027, 9, 1), "00:00"),
    "gives_back_on_cancel": False,
    "is_active": True,
}


@pytest.fixture(autouse=True)
def english():
    with translation.override("en"):
        yield


def test_the_codes_may_be_split_by_lines_commas_and_spaces_and_are_normalised():
    parsed = parse_codes("summer1\nSUMMER2, summer3  ｓｕｍｍｅｒ４\n\n、SUMMER5，SUMMER6　SUMMER7\r\n")

    assert parsed.codes == [
        (1, "SUMMER1"),
        (2, "SUMMER2"),
        (2, "SUMMER3"),
        (2, "SUMMER4"),
        (4, "SUMMER5"),
        (4, "SUMMER6"),
        (4, "SUMMER7"),
    ]
    assert parsed.problems == []


def test_one_coupon_per_code_with_the_same_conditions_and_scope():
    # given a list of three codes and conditions with a scope
    item, category = ItemFactory(), CategoryFactory()
    by = MemberFactory(is_staff=True)

    # when they are created
    created = coupons_bulk_create(
        codes_text="aki1\naki2\nAKI3",
        conditions={**CONDITIONS, "items": [item], "categories": [category]},
        by=by,
        now=jst(DAY, "09:00"),
    )

    # then three coupons, each with the conditions, the scope and its own audit entry
    assert [c.code for c in created] == ["AKI1", "AKI2", "AKI3"]
    for made in Coupon.objects.all():
        assert made.discount_kind == "yen"
        assert made.discount_value == 500
        assert made.usage_limit == 1
        assert made.valid_until == jst(date(2027, 9, 1), "00:00")
        assert made.description == "夏のキャンペーン"
        assert list(made.items.all()) == [item]
        assert list(made.categories.all()) == [category]
        assert made.used_count == 0
    entries = AuditEntry.objects.filter(action="coupon.created")
    assert entries.count() == 3
    assert {entry.actor for entry in entries} == {by}


def test_duplicates_invalid_and_existing_codes_create_nothing_and_are_named_by_line():
    # given SUMMER10 exists, and a list with an existing code, a repeat and two invalid codes
    coupon("SUMMER10")
    text = "NEW1\nsummer10\nNEW2\nnew1\nBAD-CODE\nNEW3, ok!\n"

    # when the list is created
    with pytest.raises(BulkCodesRefusedError) as refused:
        coupons_bulk_create(codes_text=text, conditions=CONDITIONS, by=MemberFactory(is_staff=True))

    # then nothing is created, and every problem is named with its line, in line order
    assert Coupon.objects.count() == 1
    assert refused.value.problems == [
        (2, "SUMMER10", "SUMMER10 exists already."),
        (4, "NEW1", "NEW1 is in the list already (line 1)."),
        (5, "BAD-CODE", "A coupon code has only letters A–Z and digits 0–9 (no spaces or symbols)."),
        (6, "OK!", "A coupon code has only letters A–Z and digits 0–9 (no spaces or symbols)."),
    ]
    assert refused.value.message == "No coupons were created: 4 codes in the list cannot be used."
    assert not AuditEntry.objects.filter(action="coupon.created").exists()


def test_an_empty_list_is_refused():
    with pytest.raises(DomainError) as refused:
        coupons_bulk_create(codes_text=" \n , \n", conditions=CONDITIONS, by=MemberFactory(is_staff=True))

    assert refused.value.message == "Enter at least one code."


def test_conditions_that_break_a_rule_create_nothing():
    with pytest.raises(CouponRefusedError) as refused:
        coupons_bulk_create(
            codes_text="A1\nA2",
            conditions={**CONDITIONS, "discount_kind": "percent", "discount_value": 120},
            by=MemberFactory(is_staff=True),
        )

    assert refused.value.errors == {"discount_value": "A percentage discount is between 0 and 100."}
    assert not Coupon.objects.exists()


# --- the admin page ------------------------------------------------------------------------------------


def page_data(codes: str, **fields) -> dict:
    data = {
        "codes": codes,
        "description": "秋",
        "is_active": "on",
        "discount_kind": "percent",
        "discount_value": "15",
        "valid_from_0": "",
        "valid_from_1": "",
        "valid_until_0": "",
        "valid_until_1": "",
        "usage_limit": "1",
        "per_member_limit": "",
    }
    data.update(fields)
    return data


@pytest.fixture
def admin_client(client):
    client.force_login(MemberFactory(is_staff=True, is_superuser=True))
    client.cookies["django_language"] = "en"
    return client


def test_the_page_confirms_the_count_then_creates(admin_client):
    url = reverse("admin:promotions_coupon_bulk")
    assert admin_client.get(url).status_code == 200

    # when the list is sent the first time: a confirmation with the count, nothing created
    response = admin_client.post(url, page_data("aki1\naki2\naki3"))

    assert response.status_code == 200
    assert response.context["confirm"] == "Create 3 coupons with these conditions?"
    assert not Coupon.objects.exists()
    fingerprint = response.context["form"].data["confirmed"]

    # when it is confirmed: three coupons
    response = admin_client.post(url, page_data("aki1\naki2\naki3", confirmed=fingerprint))

    assert response.status_code == 302
    assert sorted(Coupon.objects.values_list("code", flat=True)) == ["AKI1", "AKI2", "AKI3"]
    assert set(Coupon.objects.values_list("discount_value", flat=True)) == {15}


def test_a_list_changed_after_the_confirmation_is_asked_about_again(admin_client):
    url = reverse("admin:promotions_coupon_bulk")
    fingerprint = admin_client.post(url, page_data("aki1\naki2")).context["form"].data["confirmed"]

    response = admin_client.post(url, page_data("aki1\naki2\naki3", confirmed=fingerprint))

    assert response.status_code == 200
    assert response.context["confirm"] == "Create 3 coupons with these conditions?"
    assert not Coupon.objects.exists()


def test_the_page_lists_the_unusable_codes_with_their_lines(admin_client):
    coupon("AKI2")

    response = admin_client.post(reverse("admin:promotions_coupon_bulk"), page_data("aki1\naki2\naki1\nx y!"))

    assert response.status_code == 200
    assert response.context["confirm"] is None
    html = response.content.decode()
    assert html.count('class="bulk-problem"') == 3
    assert "AKI2 exists already." in html
    assert "AKI1 is in the list already (line 1)." in html
    assert response.context["form"].errors["codes"] == [
        "No coupons were created: 3 codes in the list cannot be used."
    ]
    assert Coupon.objects.count() == 1


def test_the_page_shows_a_condition_error_next_to_its_field(admin_client):
    response = admin_client.post(
        reverse("admin:promotions_coupon_bulk"), page_data("aki1", discount_value="101")
    )

    assert response.status_code == 200
    assert len(response.context["form"].errors["discount_value"]) == 1
    assert not Coupon.objects.exists()


def test_the_page_needs_the_add_permission(client):
    client.force_login(MemberFactory(is_staff=True))

    assert client.get(reverse("admin:promotions_coupon_bulk")).status_code == 403
