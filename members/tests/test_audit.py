"""Members' own account changes are in the audit trail, with the member as who acted."""

import pytest
from django.urls import reverse

from core.models import AuditEntry
from members.models import Member
from members.services import member_profile_update, member_sign_up, member_verify_email, verification_path
from members.tests.factories import MemberFactory

pytestmark = pytest.mark.django_db


def test_signing_up_and_verifying_record_the_member_as_who_acted():
    # when a visitor signs up and follows the verification link
    member = member_sign_up(
        email="New@Example.com", password="a-long-pass-123", name="新規 花子", base_url="http://testserver/"
    )
    uidb64, token = verification_path(member).strip("/").split("/")[-2:]
    member_verify_email(uidb64=uidb64, token=token)
    member_verify_email(uidb64=uidb64, token=token)  # already verified: nothing recorded
    # then
    signed_up, verified = AuditEntry.objects.filter(object_id=str(member.pk)).order_by("pk")
    assert (signed_up.action, signed_up.actor, signed_up.payload) == (
        "member.signed_up",
        member,
        {"email": "new@example.com"},
    )
    assert (verified.action, verified.actor) == ("member.email_verified", member)


def test_editing_the_profile_records_old_and_new_values_through_the_service(client):
    # given a member on their profile page
    member = MemberFactory(name="旧 名前", phone="03-0000-0000")
    client.force_login(member)
    # when they change their name only
    client.post(
        reverse("members:profile_edit"),
        {"name": "新 名前", "name_kana": member.name_kana, "phone": member.phone},
    )
    # then the change is saved and recorded, by them
    assert Member.objects.get(pk=member.pk).name == "新 名前"
    entry = AuditEntry.objects.get(action="member.profile_changed")
    assert (entry.actor, entry.payload) == (member, {"changes": {"name": ["旧 名前", "新 名前"]}})
    # and saving without a change records nothing more
    member_profile_update(
        member=member, by=member, name="新 名前", name_kana=member.name_kana, phone=member.phone
    )
    assert AuditEntry.objects.filter(action="member.profile_changed").count() == 1
