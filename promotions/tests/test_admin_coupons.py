"""The coupon admin (promotions.admin_coupons) and its service (promotions.coupon_staff.coupon_save): codes
normalised on save and in the search, each rule with its own message, a limit never below the uses made,
the history kept; a coupon's uses with their totals and their CSV (cp932, streamed)."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta

import pytest
from django.http import StreamingHttpResponse
from django.urls import reverse
from django.utils import timezone, translation

from core.models import AuditEntry
from inventory.tests.factories import ItemFactory, jst
from members.tests.factories import MemberFactory
from promotions import coupon_csv
from promotions.coupon_staff import CouponRefusedError, coupon_save
from promotions.models import Coupon, CouponRedemption
from promotions.tests.coupon_staff_helpers import coupon, staff, use

pytestmark = pytest.mark.django_db
DAY = date(2027, 4, 10)


@pytest.fixture(autouse=True)
def english():
    with translation.override("en"):
        yield


@pytest.fixture
def admin_client(client):
    client.force_login(MemberFactory(is_staff=True, is_superuser=True))
    client.cookies["django_language"] = "en"
    return client


def refusal(new: Coupon, **kwargs) -> dict[str, str]:
    with pytest.raises(CouponRefusedError) as refused:
        coupon_save(coupon=new, by=MemberFactory(is_staff=True), **kwargs)
    return refused.value.errors


def form_data(**fields) -> dict:
    data = {
        "code": "SUMMER10",
        "description": "",
        "is_active": "on",
        "discount_kind": "percent",
        "discount_value": "10",
        "valid_from_0": "",
        "valid_from_1": "",
        "valid_until_0": "",
        "valid_until_1": "",
        "usage_limit": "",
        "per_member_limit": "",
        "_save": "Save",
    }
    data.update(fields)
    return {name: value for name, value in data.items() if value is not None}


# --- the service ---------------------------------------------------------------------------------------


def test_a_code_is_stored_normalised_with_an_audit_entry():
    # given a code typed full-width and lower-case
    by = MemberFactory(is_staff=True)

    # when it is saved
    saved = coupon_save(
        coupon=Coupon(code=" ｓｕｍｍｅｒ１０ ", discount_kind="percent", discount_value=10),
        by=by,
        now=jst(DAY, "10:00"),
    )

    # then it is stored half-width upper-case, and who made it is recorded
    saved.refresh_from_db()
    assert saved.code == "SUMMER10"
    entry = AuditEntry.objects.get(action="coupon.created")
    assert entry.actor == by
    assert entry.object_id == str(saved.pk)
    assert entry.payload["changes"]["code"] == [None, "SUMMER10"]


def test_a_code_that_is_another_coupons_once_normalised_is_refused_by_name():
    coupon("SUMMER10")

    errors = refusal(Coupon(code="summer10", discount_kind="percent", discount_value=5))

    assert errors == {"code": "SUMMER10 exists already."}
    assert Coupon.objects.count() == 1


def test_a_code_with_symbols_is_refused():
    errors = refusal(Coupon(code="SUMMER-10", discount_kind="percent", discount_value=5))

    assert errors == {"code": "A coupon code has only letters A–Z and digits 0–9 (no spaces or symbols)."}


@pytest.mark.parametrize("value", [0, 100])
def test_a_percentage_from_0_to_100_is_accepted(value):
    saved = coupon_save(coupon=Coupon(code="FREE", discount_kind="percent", discount_value=value), by=staff())

    assert saved.discount_value == value


def test_a_percentage_above_100_is_refused():
    errors = refusal(Coupon(code="TOOMUCH", discount_kind="percent", discount_value=101))

    assert errors == {"discount_value": "A percentage discount is between 0 and 100."}


def test_a_yen_discount_below_0_is_refused_and_0_is_accepted():
    errors = refusal(Coupon(code="MINUS", discount_kind="yen", discount_value=-1))
    assert errors == {"discount_value": "A yen discount is 0 or more."}

    saved = coupon_save(coupon=Coupon(code="ZERO", discount_kind="yen", discount_value=0), by=staff())
    assert saved.discount_value == 0


@pytest.mark.parametrize("until", ["10:00", "09:00"])
def test_a_window_must_end_after_it_starts(until):
    errors = refusal(
        Coupon(
            code="HAPPY",
            discount_kind="percent",
            discount_value=10,
            valid_from=jst(DAY, "10:00"),
            valid_until=jst(DAY, until),
        )
    )

    assert errors == {"valid_until": "The end of the validity must be after its start."}


def test_the_limit_cannot_go_below_the_uses_made_and_says_how_many():
    # given a coupon of 10 uses, 3 of them made
    summer = coupon(usage_limit=10)
    for _ in range(3):
        use(summer, at=jst(DAY, "10:00"))
    summer.refresh_from_db()

    # when the limit is lowered to 2
    summer.usage_limit = 2
    errors = refusal(summer)

    # then it is refused, naming the 3 uses; nothing changed
    assert errors == {
        "usage_limit": "This coupon has been used 3 times already: the usage limit cannot be lower than 3 "
        "(or leave it empty for no limit)."
    }
    summer.refresh_from_db()
    assert summer.usage_limit == 10

    # and 3 itself is accepted (used up), as is no limit
    summer.usage_limit = 3
    coupon_save(coupon=summer, by=staff())
    summer.usage_limit = None
    coupon_save(coupon=summer, by=staff())


def test_changing_a_used_coupon_keeps_its_uses_and_counter():
    # given a coupon used twice, one use given back
    summer = coupon(usage_limit=10)
    kept = use(summer, at=jst(DAY, "10:00"), discount_yen=300)
    given_back = use(summer, at=jst(DAY, "11:00"), released_at=jst(DAY, "12:00"))

    # when staff change its discount and description (a stale counter on the object they hold)
    summer.refresh_from_db()
    summer.discount_value = 20
    summer.description = "夏のキャンペーン"
    summer.used_count = 0
    coupon_save(coupon=summer, by=staff(), now=jst(DAY, "13:00"))

    # then the uses are as they were, and the counter is the uses'
    summer.refresh_from_db()
    assert summer.discount_value == 20
    assert summer.used_count == 1
    assert set(CouponRedemption.objects.filter(coupon=summer)) == {kept, given_back}
    kept.refresh_from_db()
    assert kept.discount_yen == 300
    entry = AuditEntry.objects.get(action="coupon.changed")
    assert entry.payload["changes"] == {"description": ["", "夏のキャンペーン"], "discount_value": [10, 20]}


# --- the admin pages -----------------------------------------------------------------------------------


def test_the_admin_add_form_stores_the_code_normalised(admin_client):
    response = admin_client.post(reverse("admin:promotions_coupon_add"), form_data(code="ｓｕｍｍｅｒ１０"))

    assert response.status_code == 302
    assert Coupon.objects.get().code == "SUMMER10"
    assert AuditEntry.objects.filter(action="coupon.created").count() == 1


def test_the_admin_form_shows_each_rule_next_to_its_field(admin_client):
    coupon("SUMMER10")

    response = admin_client.post(
        reverse("admin:promotions_coupon_add"),
        form_data(
            code="summer10",
            discount_value="150",
            valid_from_0="2027-04-10",
            valid_from_1="10:00",
            valid_until_0="2027-04-10",
            valid_until_1="09:00",
        ),
    )

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert errors["code"] == ["SUMMER10 exists already."]
    assert len(errors["discount_value"]) == 1
    assert len(errors["valid_until"]) == 1
    assert Coupon.objects.count() == 1


def test_the_admin_refuses_lowering_the_limit_below_the_uses(admin_client):
    summer = coupon(usage_limit=5)
    for _ in range(4):
        use(summer, at=jst(DAY, "10:00"))

    response = admin_client.post(
        reverse("admin:promotions_coupon_change", args=[summer.pk]), form_data(usage_limit="3")
    )

    assert response.status_code == 200
    assert response.context["adminform"].form.errors["usage_limit"] == [
        "This coupon has been used 4 times already: the usage limit cannot be lower than 4 "
        "(or leave it empty for no limit)."
    ]
    summer.refresh_from_db()
    assert summer.usage_limit == 5


def test_the_admin_edit_keeps_the_scope_and_the_uses(admin_client):
    summer = coupon(usage_limit=5)
    item = ItemFactory()
    summer.items.add(item)
    redemption = use(summer, at=jst(DAY, "10:00"))

    response = admin_client.post(
        reverse("admin:promotions_coupon_change", args=[summer.pk]),
        form_data(discount_value="15", usage_limit="5", items=str(item.pk)),
    )

    assert response.status_code == 302
    summer.refresh_from_db()
    assert summer.discount_value == 15
    assert summer.used_count == 1
    assert list(summer.items.all()) == [item]
    assert CouponRedemption.objects.get() == redemption


@pytest.mark.parametrize("typed", ["summer10", "SUMMER10", "ＳＵＭＭＥＲ１０", "mer1"])
def test_the_search_finds_a_code_typed_as_a_member_types_it(admin_client, typed):
    summer = coupon("SUMMER10")
    coupon("WINTER20")

    response = admin_client.get(reverse("admin:promotions_coupon_changelist"), {"q": typed})

    assert list(response.context["cl"].result_list) == [summer]


def test_the_list_shows_each_column_in_a_constant_number_of_queries(
    admin_client, django_assert_max_num_queries
):
    # given a few coupons with a scope and uses
    summer = coupon("SUMMER10", usage_limit=100, per_member_limit=1, description="夏")
    summer.items.add(ItemFactory(name="ヨガ"))
    use(summer, at=jst(DAY, "10:00"))
    coupon("YEN500", discount_kind="yen", discount_value=500)
    url = reverse("admin:promotions_coupon_changelist")

    with django_assert_max_num_queries(12) as few:
        response = admin_client.get(url)

    html = response.content.decode()
    assert "1 / 100" in html
    assert "10%" in html
    assert "¥500" in html
    assert "ヨガ" in html
    assert "Everything" in html
    assert reverse("admin:promotions_coupon_bulk") in html

    # when there are many more coupons, each with items and categories
    for n in range(20):
        more = coupon(f"MORE{n}", valid_from=jst(DAY, "10:00"), valid_until=jst(DAY, "12:00"))
        more.items.add(ItemFactory())
        use(more, at=jst(DAY, "10:00"))
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = admin_client.get(url)
    assert response.context["cl"].result_count == 22


def test_the_validity_filter(admin_client):
    hour = timedelta(hours=1)
    at = timezone.now()
    now = coupon("NOW", valid_from=at - hour, valid_until=at + hour)
    later = coupon("LATER", valid_from=at + hour)
    ended = coupon("ENDED", valid_until=at - hour)
    used_up = coupon("USEDUP", usage_limit=1)
    use(used_up, at=at - hour)
    url = reverse("admin:promotions_coupon_changelist")

    def listed(value):
        return set(admin_client.get(url, {"validity": value}).context["cl"].result_list)

    assert listed("now") == {now, used_up}
    assert listed("upcoming") == {later}
    assert listed("ended") == {ended}
    assert listed("used_up") == {used_up}


# --- uses on the coupon's page, and their CSV ------------------------------------------------------------


def test_the_coupon_page_lists_its_uses_with_totals(admin_client, django_assert_max_num_queries):
    # given two standing uses and one given back
    summer = coupon(usage_limit=100)
    hanako = MemberFactory(name="山田 花子")
    first = use(summer, at=jst(DAY, "10:00"), discount_yen=500, member=hanako)
    use(summer, at=jst(DAY, "11:00"), discount_yen=300)
    use(summer, at=jst(DAY, "12:00"), discount_yen=700, released_at=jst(DAY, "13:00"))
    url = reverse("admin:promotions_coupon_change", args=[summer.pk])

    with django_assert_max_num_queries(30) as few:
        response = admin_client.get(url)

    # then the totals count the standing uses and their discount
    assert response.context["uses_summary"] == {
        "redemptions": 3,
        "released": 1,
        "standing": 2,
        "discount_yen": 800,
    }
    html = response.content.decode()
    assert html.count('class="coupon-use"') == 3
    assert reverse("admin:payments_order_change", args=[first.order_id]) in html
    assert "山田 花子" in html
    assert "2027/04/10 13:00" in html  # when the use was given back
    assert reverse("admin:promotions_coupon_uses_csv", args=[summer.pk]) in html

    # and the page's queries do not grow with the uses
    for n in range(10):
        use(summer, at=jst(DAY, f"14:{n:02d}"))
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = admin_client.get(url)
    assert response.content.decode().count('class="coupon-use"') == 13


def test_the_uses_csv_is_cp932_streamed_with_fixed_columns(admin_client):
    # given a use standing and one given back, by a member with a Japanese name
    summer = coupon()
    hanako = MemberFactory(email="hanako@example.com", name="山田 花子")
    first = use(summer, at=jst(DAY, "10:00"), discount_yen=500, member=hanako)
    second = use(summer, at=jst(DAY, "11:00"), discount_yen=300, released_at=jst(DAY, "12:30"))
    use(coupon("OTHER"), at=jst(DAY, "10:30"))

    # when staff download the uses
    response = admin_client.get(reverse("admin:promotions_coupon_uses_csv", args=[summer.pk]))

    # then a streamed cp932 file of this coupon's uses, oldest first, JST times
    assert response.status_code == 200
    assert isinstance(response, StreamingHttpResponse)
    assert response["Content-Type"] == "text/csv; charset=Shift_JIS"
    assert "coupon_SUMMER10_uses_" in response["Content-Disposition"]
    data = b"".join(response.streaming_content)
    assert data.endswith(b"\r\n")
    rows = list(csv.reader(io.StringIO(data.decode("cp932"), newline="")))
    assert rows[0] == list(coupon_csv.COLUMNS)
    assert rows[1] == [
        str(first.pk),
        "SUMMER10",
        "2027/04/10 10:00:00",
        str(hanako.pk),
        "hanako@example.com",
        "山田 花子",
        str(first.order_id),
        "500",
        "",
    ]
    assert rows[2][0] == str(second.pk)
    assert rows[2][7:] == ["300", "2027/04/10 12:30:00"]
    assert len(rows) == 3
    assert AuditEntry.objects.filter(action="coupon.uses_downloaded", object_id=str(summer.pk)).count() == 1


def test_the_uses_csv_is_read_in_chunks_and_handed_out_in_pieces(monkeypatch):
    summer = coupon()
    for n in range(30):
        use(summer, at=jst(DAY, f"10:{n:02d}"))
    monkeypatch.setattr(coupon_csv, "STREAM_CHUNK_BYTES", 200)

    # a small piece size: the file comes in many pieces, together the whole file
    pieces = list(coupon_csv.stream_redemptions_csv(summer))

    assert len(pieces) > 5
    rows = list(csv.reader(io.StringIO(b"".join(pieces).decode("cp932"), newline="")))
    assert len(rows) == 31


def test_the_uses_csv_needs_the_view_permission(client):
    summer = coupon()
    client.force_login(staff("view_pointentry"))

    assert client.get(reverse("admin:promotions_coupon_uses_csv", args=[summer.pk])).status_code == 403

    client.force_login(staff("view_coupon"))
    assert client.get(reverse("admin:promotions_coupon_uses_csv", args=[summer.pk])).status_code == 200


@pytest.mark.parametrize("bad", ["abc", "1.5", "99999999999999999999999"])
def test_a_scope_value_that_is_no_id_is_an_error_not_a_crash(admin_client, bad):
    response = admin_client.post(reverse("admin:promotions_coupon_add"), form_data(items=bad, categories=bad))

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert "items" in errors
    assert "categories" in errors
    assert not Coupon.objects.exists()


def test_a_coupon_ever_used_cannot_be_deleted_one_never_used_can(admin_client):
    used = coupon("USED")
    use(used, at=jst(DAY, "10:00"), released_at=jst(DAY, "11:00"))  # given back: still history
    unused = coupon("UNUSED")

    assert admin_client.get(reverse("admin:promotions_coupon_delete", args=[used.pk])).status_code == 403
    response = admin_client.post(reverse("admin:promotions_coupon_delete", args=[unused.pk]), {"post": "yes"})
    assert response.status_code == 302
    assert list(Coupon.objects.all()) == [used]


def test_the_coupon_history_names_its_actions(admin_client):
    summer = coupon_save(
        coupon=Coupon(code="SUMMER10", discount_kind="percent", discount_value=10), by=staff()
    )
    summer.description = "夏"
    coupon_save(coupon=summer, by=staff())

    response = admin_client.get(reverse("admin:promotions_coupon_history", args=[summer.pk]))

    html = response.content.decode()
    assert "Coupon created" in html
    assert "Coupon changed" in html


def test_a_refusal_only_the_service_sees_saves_nothing_and_says_why(admin_client, monkeypatch):
    # given a use made after the form was checked (the form's rules see no uses yet)
    from promotions.admin_coupons import CouponForm

    summer = coupon(usage_limit=5)
    for _ in range(4):
        use(summer, at=jst(DAY, "10:00"))
    monkeypatch.setattr(CouponForm, "rule_problems", lambda form: {})
    url = reverse("admin:promotions_coupon_change", args=[summer.pk])

    # when the limit is lowered below the uses
    response = admin_client.post(url, form_data(usage_limit="3", description="changed"))

    # then the page comes back with the service's message, and nothing was saved
    assert response.status_code == 302
    assert response["Location"] == url
    page = admin_client.get(url).content.decode()
    assert "the usage limit cannot be lower than 4" in page
    summer.refresh_from_db()
    assert (summer.usage_limit, summer.description) == (5, "")
    assert not AuditEntry.objects.filter(action="coupon.changed").exists()
