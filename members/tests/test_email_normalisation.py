"""One spelling of an address everywhere (issue 12, item 2): letter case and full-width characters (typed
by Japanese input methods) name the same account for the login throttle, authentication, sign-up and the
password reset, so changing the case no longer gets a fresh lockout counter."""

import pytest
from django.urls import reverse

from members.models import Member
from members.tests.factories import PASSWORD, MemberFactory

pytestmark = pytest.mark.django_db

FULL_WIDTH = "ＴＡＲＯ＠ＥＸＡＭＰＬＥ．ＣＯＭ"


def _login(client, email, password, *, url="members:login"):
    return client.post(reverse(url), {"username": email, "password": password}, REMOTE_ADDR="10.0.0.9")


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("Taro@Example.COM", "taro@example.com"),
        (FULL_WIDTH, "taro@example.com"),
        ("  ｔａｒｏ@example.com ", "taro@example.com"),
    ],
)
def test_normalise_email_is_nfkc_then_lower_case(typed, stored):
    from members.normalise import normalise_email

    assert normalise_email(typed) == stored


@pytest.mark.parametrize("url", ["members:login", "admin:login"])
def test_failures_under_different_spellings_share_one_lockout_counter(client, url):
    # given a member
    MemberFactory(email="taro@example.com", is_staff=url == "admin:login")
    # when four wrong passwords are tried, each under another case or width, the form just says wrong
    for spelling in ("taro@example.com", "TARO@example.com", "Taro@Example.com", FULL_WIDTH):
        assert _login(client, spelling, "wrong-password", url=url).status_code == 200
    # and the fifth failure (AXES_FAILURE_LIMIT), under a fifth spelling, locks the account
    assert _login(client, "ｔａｒｏ@EXAMPLE.com", "wrong-password", url=url).status_code == 429
    # then the next try, under yet another spelling and with the right password, is refused
    locked = _login(client, "tArO@eXaMpLe.cOm", PASSWORD, url=url)
    assert locked.status_code == 429
    assert "_auth_user_id" not in client.session


@pytest.mark.parametrize("spelling", ["TARO@EXAMPLE.COM", FULL_WIDTH, "ｔａｒｏ＠example.com"])
def test_a_correct_login_under_another_case_or_width_works(client, spelling):
    MemberFactory(email="taro@example.com")
    response = _login(client, spelling, PASSWORD)
    assert response.status_code == 302
    assert response["Location"] == reverse("members:mypage")


def test_sign_up_with_a_full_width_upper_case_address_stores_the_normalised_one(client):
    response = client.post(
        reverse("members:sign_up"),
        {
            "email": "ＨＡＮＡＫＯ＠ＥＸＡＭＰＬＥ．ＣＯＭ",
            "name": "山田 花子",
            "name_kana": "ヤマダ ハナコ",
            "phone": "090-1234-5678",
            "password1": "sakura-blossom-2026",
            "password2": "sakura-blossom-2026",
        },
    )
    assert response.status_code == 302
    assert Member.objects.get().email == "hanako@example.com"


@pytest.mark.parametrize("spelling", ["TARO@example.com", FULL_WIDTH])
def test_password_reset_finds_the_account_under_any_spelling(client, monkeypatch, spelling):
    # given a member and a record of what the reset form would send
    MemberFactory(email="taro@example.com")
    sent = []
    monkeypatch.setattr(
        "members.forms.QueuedPasswordResetForm.send_mail", lambda self, *args, **kwargs: sent.append(args[4])
    )
    # when the reset is asked for under another spelling
    response = client.post(reverse("members:password_reset"), {"email": spelling})
    # then the one account's stored address gets the link
    assert response.status_code == 302
    assert sent == ["taro@example.com"]


def test_the_manager_and_staff_registration_store_the_normalised_address():
    from members.services import member_register_by_staff

    staff = MemberFactory(is_staff=True)
    created = Member.objects.create_user(email="ＡＢＣ＠Example.com", password=None, name="甲")
    registered = member_register_by_staff(by=staff, email="Ｄｅｆ@EXAMPLE.com", name="乙")
    assert created.email == "abc@example.com"
    assert registered.email == "def@example.com"
    assert Member.objects.get_by_natural_key("ＡＢＣ＠ＥＸＡＭＰＬＥ．ＣＯＭ") == created


def test_the_data_migration_normalises_old_rows_and_skips_a_collision(capsys):
    import importlib

    from django.apps import apps

    migration = importlib.import_module("members.migrations.0003_normalise_member_emails")
    # given rows stored before normalisation (written past the model, as old code could)
    upper, wide, clash, plain = MemberFactory.create_batch(4)
    Member.objects.filter(pk=upper.pk).update(email="Upper.Case@Example.COM")
    Member.objects.filter(pk=wide.pk).update(email="ｗｉｄｅ@example.com")
    Member.objects.filter(pk=plain.pk).update(email="clash@example.com")
    Member.objects.filter(pk=clash.pk).update(email="ＣＬＡＳＨ@example.com")
    # when the migration runs
    migration.normalise_emails(apps, None)
    # then each row has the one spelling, but for the one that would take another member's address
    emails = dict(Member.objects.values_list("pk", "email"))
    assert emails[upper.pk] == "upper.case@example.com"
    assert emails[wide.pk] == "wide@example.com"
    assert emails[plain.pk] == "clash@example.com"
    assert emails[clash.pk] == "ＣＬＡＳＨ@example.com"
    assert f"member {clash.pk} not changed" in capsys.readouterr().out
