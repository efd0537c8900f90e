"""The member account journeys end to end, with e-mails delivered by a real Celery worker."""

import re

import pytest
from django.core import mail
from django.urls import reverse

from members.models import Member
from members.tests.factories import PASSWORD, MemberFactory

SIGN_UP = {
    "email": "Hanako.Yamada@Example.com",
    "name": "山田 花子",
    "name_kana": "ヤマダ ハナコ",
    "phone": "090-1234-5678",
    "password1": "sakura-blossom-2026",
    "password2": "sakura-blossom-2026",
}


def _link(body: str) -> str:
    match = re.search(r"https?://[^/\s]+(/\S+)", body)
    assert match, f"no link in the e-mail:\n{body}"
    return match.group(1)


@pytest.mark.django_db(transaction=True)
def test_sign_up_verify_by_email_from_the_worker_then_log_in(client, celery_worker):
    # given a visitor on the sign-up page
    # when they sign up
    response = client.post(reverse("members:sign_up"), SIGN_UP)

    # then the member exists, unverified, with the address stored in lower case
    assert response.status_code == 302
    assert response["Location"] == reverse("members:sign_up_done")
    member = Member.objects.get()
    assert member.email == "hanako.yamada@example.com"
    assert not member.email_verified
    # and logging in is refused until the address is verified
    refused = client.post(
        reverse("members:login"), {"username": member.email, "password": SIGN_UP["password1"]}
    )
    assert refused.status_code == 200
    assert "not verified" in refused.content.decode() or "確認" in refused.content.decode()
    assert "_auth_user_id" not in client.session

    # when the worker delivers the verification e-mail (never the web process)
    message = celery_worker.wait_for("hanako.yamada@example.com")
    assert mail.outbox == []
    body = celery_worker.body(message)
    verified = client.get(_link(body), follow=True)

    # then the address is verified and the member can log in and reach their page
    assert verified.redirect_chain[-1][0] == reverse("members:login")
    member.refresh_from_db()
    assert member.email_verified
    login = client.post(
        reverse("members:login"), {"username": "HANAKO.yamada@example.com", "password": SIGN_UP["password1"]}
    )
    assert login.status_code == 302
    assert login["Location"] == reverse("members:mypage")
    page = client.get(reverse("members:mypage"))
    assert "山田 花子" in page.content.decode()


@pytest.mark.django_db(transaction=True)
def test_password_reset_through_the_worker(client, celery_worker):
    # given a verified member
    member = MemberFactory(email="reset-me@example.com")

    # when they ask for a reset and follow the link the worker mailed
    response = client.post(reverse("members:password_reset"), {"email": "Reset-Me@example.com"})
    assert response.status_code == 302
    message = celery_worker.wait_for("reset-me@example.com")
    link = _link(celery_worker.body(message))
    form_page = client.get(link, follow=True)
    assert form_page.context["validlink"]
    set_password = client.post(
        form_page.redirect_chain[-1][0],
        {"new_password1": "new-secret-pass-42", "new_password2": "new-secret-pass-42"},
    )

    # then the new password works and the old one does not
    assert set_password.status_code == 302
    assert set_password["Location"] == reverse("members:password_reset_complete")
    member.refresh_from_db()
    assert member.check_password("new-secret-pass-42")
    assert not member.check_password(PASSWORD)
    # and the link cannot be used twice
    again = client.get(link, follow=True)
    assert not again.context["validlink"]


@pytest.mark.django_db(transaction=True)
def test_password_reset_for_an_unknown_address_sends_nothing_and_says_the_same(client, celery_worker):
    # when someone asks to reset a password for an address nobody uses
    response = client.post(reverse("members:password_reset"), {"email": "nobody@example.com"})

    # then the answer is the same as for a real account (no probing), and no e-mail goes out
    assert response.status_code == 302
    assert response["Location"] == reverse("members:password_reset_done")
    with pytest.raises(AssertionError, match="no e-mail"):
        celery_worker.wait_for("nobody@example.com", timeout=2)


@pytest.mark.django_db(transaction=True)
def test_a_sign_up_with_a_registered_address_e_mails_its_owner_through_the_worker(client, celery_worker):
    # given a member
    owner = MemberFactory(email="hanako.yamada@example.com", name="山田 花子")
    # when someone signs up with that address (in another case)
    response = client.post(reverse("members:sign_up"), SIGN_UP)
    # then they are answered as a new sign-up, no account is made, and the worker mails the owner
    assert response.status_code == 302
    assert response["Location"] == reverse("members:sign_up_done")
    assert list(Member.objects.all()) == [owner]
    message = celery_worker.wait_for("hanako.yamada@example.com", subject_contains="会員登録が試みられました")
    body = celery_worker.body(message)
    assert "山田 花子" in body
    assert reverse("members:login") in body
    assert reverse("members:password_reset") in body
