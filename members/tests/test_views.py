import pytest
from django.test import Client
from django.urls import reverse

from members import mypage
from members.models import Member
from members.services import verification_path
from members.tests.factories import PASSWORD, MemberFactory

pytestmark = pytest.mark.django_db


def _login(client, email, password, *, ip="10.0.0.1", url="members:login"):
    return client.post(reverse(url), {"username": email, "password": password}, REMOTE_ADDR=ip)


@pytest.mark.parametrize(
    ("field", "value", "error_field"),
    [
        ("password2", "does-not-match-1", "password2"),
        ("password1", "123", "password1"),  # too short and numeric (password2 is set to match below)
        ("name_kana", "yamada", "name_kana"),
        ("phone", "12", "phone"),
        ("email", "not-an-address", "email"),
        ("name", "", "name"),
    ],
)
def test_sign_up_validation_names_the_field_and_saves_nothing(client, field, value, error_field):
    data = {
        "email": "new@example.com",
        "name": "新規 会員",
        "name_kana": "シンキ カイイン",
        "phone": "03-1234-5678",
        "password1": "valid-pass-phrase",
        "password2": "valid-pass-phrase",
        field: value,
    }
    if field == "password1":
        data["password2"] = value
    response = client.post(reverse("members:sign_up"), data)
    assert response.status_code == 200
    assert error_field in response.context["form"].errors
    assert not Member.objects.exists()


def test_an_invalid_verification_link_is_refused_and_changes_nothing(client):
    # given an unverified member
    member = MemberFactory(email_verified_at=None)
    good = verification_path(member)
    tampered = good[:-3] + "abc/"
    # when
    response = client.get(tampered)
    # then
    assert response.status_code == 400
    member.refresh_from_db()
    assert not member.email_verified


def test_a_verification_link_expires_after_a_day(client, time_machine):
    # given a link made now
    time_machine.move_to("2026-11-23 10:00 +09:00")
    member = MemberFactory(email_verified_at=None)
    link = verification_path(member)
    # when it is opened more than PASSWORD_RESET_TIMEOUT (1 day) later
    time_machine.move_to("2026-11-24 10:01 +09:00")
    response = client.get(link)
    # then it is refused
    assert response.status_code == 400
    member.refresh_from_db()
    assert not member.email_verified


def test_login_is_throttled_after_five_failures(client):
    # given a member
    member = MemberFactory(email="locked@example.com")
    # when the wrong password is tried four times from one address, the form just says it is wrong
    for _ in range(4):
        failed = _login(client, member.email, "wrong-password")
        assert failed.status_code == 200
        assert "_auth_user_id" not in client.session
    # and the fifth failure locks the account for that address
    assert _login(client, member.email, "wrong-password").status_code == 429
    # then even the right password is refused from that address, with the lockout page
    locked = _login(client, member.email, PASSWORD)
    assert locked.status_code == 429
    assert "_auth_user_id" not in client.session
    # while the same member on another address still gets in (the lock is per account and address)
    other = Client()
    assert _login(other, member.email, PASSWORD, ip="10.0.0.2").status_code == 302


def test_four_failures_do_not_lock_and_a_success_resets_the_count(client):
    member = MemberFactory(email="almost@example.com")
    for _ in range(4):
        _login(client, member.email, "wrong-password")
    assert _login(client, member.email, PASSWORD).status_code == 302
    client.logout()
    for _ in range(4):
        _login(client, member.email, "wrong-password")
    assert _login(client, member.email, PASSWORD).status_code == 302


def test_staff_admin_login_is_throttled_too(client):
    staff = MemberFactory(email="staff@example.com", is_staff=True, is_superuser=True)
    for _ in range(5):
        _login(client, staff.email, "wrong-password", url="admin:login")
    locked = _login(client, staff.email, PASSWORD, url="admin:login")
    assert locked.status_code == 429
    assert "_auth_user_id" not in client.session


def test_my_page_needs_a_login(client):
    response = client.get(reverse("members:mypage"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("members:login"))


def test_a_member_sees_only_their_own_my_page(client):
    # given two members
    alice = MemberFactory(name="有栖 アリス", phone="090-1111-1111")
    bob = MemberFactory(name="坊 ボブ", phone="090-2222-2222")
    # when Bob is logged in and even asks for Alice by id
    client.force_login(bob)
    response = client.get(reverse("members:mypage"), {"member": alice.pk, "id": alice.pk, "pk": alice.pk})
    # then he sees his own data and nothing of hers
    body = response.content.decode()
    assert response.status_code == 200
    assert "坊 ボブ" in body
    assert alice.name not in body
    assert alice.email not in body
    assert alice.phone not in body


def test_profile_edit_changes_only_the_logged_in_member(client):
    alice = MemberFactory(name="有栖")
    bob = MemberFactory(name="坊")
    client.force_login(bob)
    response = client.post(
        reverse("members:profile_edit"),
        {
            "name": "坊 改",
            "name_kana": "ボウ",
            "phone": "090-3333-3333",
            "email": alice.email,
            "is_staff": "on",
        },
    )
    assert response.status_code == 302
    bob.refresh_from_db()
    alice.refresh_from_db()
    assert bob.name == "坊 改"
    assert bob.email != alice.email
    assert not bob.is_staff
    assert alice.name == "有栖"


def test_my_page_shows_the_profile_facts_higher_apps_register(client, monkeypatch):
    # given a higher app's fact (payments registers the member discount this way, shown by shop setting)
    monkeypatch.setattr(mypage, "_profile_facts", {})
    mypage.register_profile_fact(
        "badge", lambda *, member: mypage.ProfileFact("Badge", "gold") if member.name == "有栖" else None
    )
    # when two members open their my page
    shown = MemberFactory(name="有栖")
    client.force_login(shown)
    with_fact = client.get(reverse("members:mypage")).content.decode()
    client.force_login(MemberFactory(name="坊"))
    without = client.get(reverse("members:mypage")).content.decode()
    # then each sees only what the fact returned for them
    assert "<dt>Badge</dt><dd>gold</dd>" in with_fact
    assert "Badge" not in without


def test_logout_needs_post_and_logs_out(client):
    member = MemberFactory()
    client.force_login(member)
    assert client.get(reverse("members:logout")).status_code == 405
    assert client.post(reverse("members:logout")).status_code == 302
    assert "_auth_user_id" not in client.session


def test_member_admin_list_query_count_does_not_grow(admin_client, django_assert_max_num_queries):
    MemberFactory.create_batch(2)
    with django_assert_max_num_queries(12) as small:
        assert admin_client.get(reverse("admin:members_member_changelist")).status_code == 200
    MemberFactory.create_batch(98)
    with django_assert_max_num_queries(len(small.captured_queries)):
        assert admin_client.get(reverse("admin:members_member_changelist")).status_code == 200


def test_my_page_shows_the_cards_other_apps_registered(client):
    client.force_login(MemberFactory())
    body = client.get(reverse("members:mypage")).content.decode()
    assert reverse("site:reservation_list") in body


@pytest.mark.django_db
def test_staff_cannot_delete_their_own_account_from_the_admin(client):
    staff = MemberFactory(is_staff=True, is_superuser=True)
    client.force_login(staff)
    url = f"/admin/members/member/{staff.pk}/delete/"
    assert client.get(url).status_code == 403
    assert client.post(url, {"post": "yes"}).status_code == 403
    assert Member.objects.filter(pk=staff.pk).exists()
    other = MemberFactory()
    assert client.post(f"/admin/members/member/{other.pk}/delete/", {"post": "yes"}).status_code == 302
    assert not Member.objects.filter(pk=other.pk).exists()
