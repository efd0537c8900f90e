import pytest
from django.conf import settings
from django.template import Context, Template
from django.test import override_settings
from django.urls import reverse
from django.utils import translation

from config.celery import app as celery_app
from core.exceptions import DomainError
from core.templatetags.core_tags import num, signed, yen


@pytest.mark.parametrize(
    ("value", "expected"),
    [(1234, "¥1,234"), (0, "¥0"), (1000000, "¥1,000,000"), (-500, "-¥500"), ("2500", "¥2,500"), (None, "")],
)
def test_yen_filter(value, expected):
    assert yen(value) == expected


def test_yen_filter_in_a_template():
    rendered = Template("{% load core_tags %}{{ price|yen }}").render(Context({"price": 98000}))
    assert rendered == "¥98,000"


@pytest.mark.parametrize(
    ("value", "expected"), [(1500, "1,500"), (0, "0"), (-1234567, "-1,234,567"), ("12", "12"), (None, "")]
)
def test_num_filter(value, expected):
    assert num(value) == expected


@pytest.mark.parametrize(("value", "expected"), [(1500, "+1,500"), (-500, "-500"), (0, "0"), (None, "")])
def test_signed_filter(value, expected):
    assert signed(value) == expected


def test_domain_error_carries_a_translated_message_and_the_field():
    class SlotFullError(DomainError):
        default_message = "This slot is full."

    error = SlotFullError(field="slot")
    assert str(error) == "This slot is full."
    assert error.field == "slot"
    assert str(DomainError("custom")) == "custom"


def test_time_zone_language_and_celery_timezone():
    assert settings.TIME_ZONE == "Asia/Tokyo"
    assert settings.USE_TZ is True
    assert settings.LANGUAGE_CODE == "ja"
    assert settings.CELERY_TIMEZONE == "Asia/Tokyo"
    assert celery_app.conf.timezone == "Asia/Tokyo"


def test_every_beat_entry_names_a_registered_task():
    celery_app.loader.import_default_modules()
    for name, entry in settings.CELERY_BEAT_SCHEDULE.items():
        assert entry["task"] in celery_app.tasks, f"beat entry {name!r} names an unknown task"


def test_japanese_translations_are_compiled_and_used():
    with translation.override("ja"):
        assert str(translation.gettext("Log in")) == "ログイン"
        assert str(translation.gettext("My page")) == "マイページ"


@pytest.mark.django_db
def test_healthz_reports_database_and_redis(client):
    response = client.get(reverse("healthz"))
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "redis": "ok"}


@pytest.mark.django_db
def test_healthz_fails_when_redis_is_unreachable(client):
    with override_settings(REDIS_URL="redis://127.0.0.1:1/0"):
        response = client.get(reverse("healthz"))
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "error"
    assert body["database"] == "ok"
    assert body["redis"].startswith("error")


@pytest.mark.django_db
def test_pages_are_japanese_by_default(client):
    response = client.get(reverse("site:home"))
    assert response.status_code == 200
    assert '<html lang="ja">' in response.content.decode()
    assert "ログイン" in response.content.decode()


@pytest.mark.django_db
def test_admin_is_branded(client):
    response = client.get(reverse("admin:login"))
    assert response.status_code == 200
    assert "店舗管理" in response.content.decode()


@pytest.mark.django_db
def test_an_english_browser_still_gets_japanese_by_default(client):
    response = client.get(reverse("site:home"), HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9")
    assert "ログイン" in response.content.decode()
    assert response["Content-Language"] == "ja"


@pytest.mark.django_db
def test_a_visitor_who_chose_english_gets_english(client):
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    response = client.get(reverse("site:home"))
    assert "Log in" in response.content.decode()
    assert response["Content-Language"] == "en"


@pytest.mark.django_db
def test_a_request_in_english_leaves_english_active_in_the_thread(client):
    """As with Django's LocaleMiddleware, the visitor's language stays active in the thread after the
    response (a test reads the response's lazy messages in it); the root conftest's autouse fixture puts
    the shop's language back before the next test, which test_each_test_starts_in_the_shop_language checks
    when it runs after this one (as it does in file order)."""
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    client.get(reverse("site:home"))
    assert translation.get_language() == "en"


def test_each_test_starts_in_the_shop_language():
    assert translation.get_language() == settings.LANGUAGE_CODE == "ja"
    assert translation.gettext("Log in") == "ログイン"


def test_every_japanese_message_is_translated():
    import polib

    catalogue = polib.pofile(str(settings.BASE_DIR / "locale/ja/LC_MESSAGES/django.po"))
    missing = [entry.msgid for entry in catalogue.untranslated_entries() + catalogue.fuzzy_entries()]
    assert missing == []
