"""Sign-up never tells whether an address is registered (issue 12, item 3): the visitor gets the answer a
new address gets, and the owner of the address gets an e-mail instead."""

import re

import pytest
from django.urls import reverse

from core.emails import render_templated_email
from members.models import Member
from members.tests.factories import MemberFactory

pytestmark = pytest.mark.django_db

CSRF = re.compile(rb'name="csrfmiddlewaretoken" value="[^"]*"')


def _sign_up(client, email):
    return client.post(
        reverse("members:sign_up"),
        {
            "email": email,
            "name": "別人 太郎",
            "name_kana": "ベツジン タロウ",
            "phone": "090-1111-2222",
            "password1": "another-strong-pass",
            "password2": "another-strong-pass",
        },
    )


@pytest.fixture
def queued(monkeypatch):
    """The e-mails members.services queues, rendered as the worker would send them."""
    sent = []

    def record(*, template, context, to):
        subject, body = render_templated_email(template=template, context=context)
        sent.append({"template": template, "to": to, "subject": subject, "body": body})

    monkeypatch.setattr("members.services.queue_templated_email", record)
    return sent


def _page(client, response):
    assert response.status_code == 302
    page = client.get(response["Location"])
    return CSRF.sub(b"", page.content)


def test_sign_up_answers_a_registered_address_exactly_as_a_new_one(client, django_user_model, queued):
    # given a registered member
    owner = MemberFactory(email="taken@example.com", name="持ち主 花子")
    # when someone signs up with a new address, and someone else with the registered one (another case)
    new = _sign_up(client, "fresh@example.com")
    new_page = _page(client, new)
    client.cookies.clear()
    taken = _sign_up(client, "TAKEN@example.com")
    taken_page = _page(client, taken)
    # then both get the same redirect and the same page, naming the address they typed
    assert taken.status_code == new.status_code == 302
    assert taken["Location"] == new["Location"]
    assert sorted(taken.headers) == sorted(new.headers)
    assert taken.content == new.content
    assert taken_page.replace(b"taken@example.com", b"fresh@example.com") == new_page
    assert "すでに登録".encode() not in taken_page
    # and no second account was made for the registered address
    assert Member.objects.filter(email="taken@example.com").get() == owner
    assert Member.objects.count() == 2
    # and the owner got the "someone tried" e-mail with the ways in, the new address its verification
    assert [(mail["template"], mail["to"]) for mail in queued] == [
        ("members/verify_email", ["fresh@example.com"]),
        ("members/sign_up_attempted", ["taken@example.com"]),
    ]
    notice = queued[1]["body"]
    assert "持ち主 花子" in notice
    assert "http://testserver" + reverse("members:login") in notice
    assert "http://testserver" + reverse("members:password_reset") in notice


def test_the_someone_tried_e_mail_is_in_japanese(client, queued):
    MemberFactory(email="taken@example.com")
    _sign_up(client, "taken@example.com")
    (notice,) = queued
    assert notice["to"] == ["taken@example.com"]
    assert "登録" in notice["subject"]


def test_a_closed_account_is_not_e_mailed_and_the_visitor_is_answered_the_same(client, queued):
    MemberFactory(email="closed@example.com", is_active=False)
    response = _sign_up(client, "closed@example.com")
    assert response.status_code == 302
    assert response["Location"] == reverse("members:sign_up_done")
    assert queued == []
    assert Member.objects.count() == 1
