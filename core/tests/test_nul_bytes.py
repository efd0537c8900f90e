"""PostgreSQL refuses NUL in text: a request carrying one is answered 400 before any view or query runs
(issue 12, item 5)."""

import pytest
from django.test import override_settings
from django.urls import reverse

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "query",
    ["status__exact=%00", "q=%00", "q=a%00b", "o=1%00", "p=%00", "%00=1"],
)
def test_a_nul_in_an_admin_list_filter_or_search_is_a_400(admin_client, query):
    url = reverse("admin:payments_order_changelist") + "?" + query
    with override_settings(DEBUG=False):
        response = admin_client.get(url)
    assert response.status_code == 400
    assert b"NUL" in response.content


@pytest.mark.parametrize("query", ["store=%00", "category=1%00", "page=%00"])
def test_a_nul_in_a_member_page_query_is_a_400(client, query):
    response = client.get(reverse("site:item_list") + "?" + query)
    assert response.status_code == 400


def test_a_nul_in_a_posted_form_value_is_a_400(client):
    response = client.post(reverse("members:login"), {"username": "a\x00@example.com", "password": "x"})
    assert response.status_code == 400


def test_ordinary_values_pass(admin_client, client):
    assert admin_client.get(reverse("admin:payments_order_changelist") + "?q=%E6%9C%9D").status_code == 200
    assert client.get(reverse("site:item_list") + "?page=2").status_code == 200
