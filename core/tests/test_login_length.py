"""A username longer than an e-mail address can be is refused by the login form itself, before
authentication and axes see it (axes' failure record holds 255 characters: a longer one answered 500;
issue 12, item 5)."""

import pytest
from axes.models import AccessAttempt, AccessFailureLog
from django.urls import reverse

pytestmark = pytest.mark.django_db

TOO_LONG = "a" * 250 + "@example.com"


@pytest.mark.parametrize("url_name", ["members:login", "admin:login"])
@pytest.mark.parametrize("username", [TOO_LONG, "b" * 300, "c" * 5000])
def test_a_username_longer_than_an_address_is_a_form_error_and_no_failure_record(client, url_name, username):
    # when
    response = client.post(reverse(url_name), {"username": username, "password": "wrong-password"})
    # then the login page is shown again, and nothing reached authentication
    assert response.status_code == 200
    assert response.context["form"].errors["username"]
    assert not AccessAttempt.objects.exists()
    assert not AccessFailureLog.objects.exists()


@pytest.mark.parametrize("url_name", ["members:login", "admin:login"])
def test_a_wrong_password_for_an_address_of_the_longest_length_is_still_counted(client, url_name):
    username = "a" * 242 + "@example.com"
    assert len(username) == 254
    response = client.post(reverse(url_name), {"username": username, "password": "wrong-password"})
    assert response.status_code == 200
    assert AccessAttempt.objects.count() == 1
