"""A customer registered by staff on the phone (member_register_by_staff): no password, told plainly when the
address is taken, and able to set a first password through the password reset, which also verifies the
address so they can log in."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from core.models import AuditEntry
from members.exceptions import EmailAlreadyRegisteredError, StaffEmailAlreadyRegisteredError
from members.forms import QueuedPasswordResetForm
from members.models import Member
from members.services import member_register_by_staff
from members.tests.factories import MemberFactory


@pytest.fixture
def clerk(db):
    return MemberFactory(is_staff=True, email="clerk@example.com")


@pytest.mark.django_db
def test_staff_register_a_customer_without_a_password(clerk):
    # when
    member = member_register_by_staff(
        by=clerk,
        email="  Phone.Customer@Example.COM ",
        name=" 電話 花子 ",
        name_kana="デンワ ハナコ",
        phone="090-1234-5678",
    )
    # then the address is normalised as at sign-up, nobody can log in with a password, and it is audited
    member.refresh_from_db()
    assert member.email == "phone.customer@example.com"
    assert (member.name, member.name_kana, member.phone) == ("電話 花子", "デンワ ハナコ", "090-1234-5678")
    assert not member.has_usable_password()
    assert not member.is_staff
    assert not member.email_verified
    entry = AuditEntry.objects.get(action="member.registered_by_staff")
    assert (entry.actor_id, entry.object_id) == (clerk.pk, str(member.pk))
    assert entry.payload["email"] == "phone.customer@example.com"


@pytest.mark.django_db
def test_staff_are_told_when_the_address_is_already_registered(clerk):
    MemberFactory(email="taken@example.com")
    with pytest.raises(EmailAlreadyRegisteredError) as refused:
        member_register_by_staff(by=clerk, email="TAKEN@example.com", name="別人")
    assert refused.value.field == "email"
    assert refused.value.message == StaffEmailAlreadyRegisteredError.default_message
    assert Member.objects.filter(email__iexact="taken@example.com").count() == 1
    assert not AuditEntry.objects.filter(action="member.registered_by_staff").exists()


@pytest.mark.django_db
def test_the_reset_form_reaches_members_without_a_usable_password(clerk):
    # given a customer registered by staff (no password) and an inactive account with the same kind
    member = member_register_by_staff(by=clerk, email="nopass@example.com", name="パス なし")
    MemberFactory(email="gone@example.com", is_active=False).set_unusable_password()
    # then the reset form sends to the first (Django's own form would skip it), never to the inactive one
    assert list(QueuedPasswordResetForm().get_users("NoPass@example.com")) == [member]
    assert list(QueuedPasswordResetForm().get_users("gone@example.com")) == []


def _link(body: str) -> str:
    match = re.search(r"https?://[^/\s]+(/\S+)", body)
    assert match, f"no link in the e-mail:\n{body}"
    return match.group(1)


@pytest.mark.django_db(transaction=True)
def test_a_customer_registered_on_the_phone_sets_a_password_by_reset_and_logs_in(client, celery_worker):
    # given a customer staff registered on the phone
    clerk = MemberFactory(is_staff=True)
    member_register_by_staff(by=clerk, email="phone-reset@example.com", name="電話 太郎")
    # when they ask for a password reset and follow the mailed link
    response = client.post(reverse("members:password_reset"), {"email": "phone-reset@example.com"})
    assert response.status_code == 302
    message = celery_worker.wait_for("phone-reset@example.com")
    form_page = client.get(_link(celery_worker.body(message)), follow=True)
    assert form_page.context["validlink"]
    done = client.post(
        form_page.redirect_chain[-1][0],
        {"new_password1": "first-secret-pass-42", "new_password2": "first-secret-pass-42"},
    )
    assert done.status_code == 302
    # then their password is set, the address counts as verified, and they can log in
    member = Member.objects.get(email="phone-reset@example.com")
    assert member.check_password("first-secret-pass-42")
    assert member.email_verified
    assert AuditEntry.objects.get(action="member.email_verified", object_id=str(member.pk)).payload == {
        "via": "password_reset"
    }
    login = client.post(
        reverse("members:login"), {"username": "phone-reset@example.com", "password": "first-secret-pass-42"}
    )
    assert login.status_code == 302
    assert login["Location"] == reverse("members:mypage")
