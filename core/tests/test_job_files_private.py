"""Job files (CSV imports, exports, error files) live in private storage outside MEDIA_ROOT, and no URL but
the staff download view serves them: not the development server's media route, however the path is spelt."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import clear_url_caches, reverse

from core.models import Job
from core.tests.test_jobs import download, finished_job, staff
from members.tests.factories import MemberFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def debug_urls(settings):
    """The project's URLs as the development server (DEBUG) has them, with its media route."""
    import config.urls

    settings.DEBUG = True
    importlib.reload(config.urls)
    clear_url_caches()
    yield
    settings.DEBUG = False
    importlib.reload(config.urls)
    clear_url_caches()


def test_a_job_file_is_stored_outside_media_root():
    # when
    job = finished_job(staff(), result=("tickets.csv", b"ID,name\r\n"))

    # then
    stored = Path(job.result_file.path)
    assert stored.is_relative_to(Path(settings.PRIVATE_ROOT))
    assert not stored.is_relative_to(Path(settings.MEDIA_ROOT))
    assert not (Path(settings.MEDIA_ROOT) / job.result_file.name).exists()
    with pytest.raises(ValueError, match="no URL"):
        job.result_file.url  # noqa: B018 - the property raises


@pytest.mark.parametrize(
    "prefix",
    ["/media/jobs/", "/media//jobs/", "/media/./jobs/", "/media/x/../jobs/", "/media/%2e/jobs/"],
)
@pytest.mark.usefixtures("debug_urls")
def test_no_spelling_of_the_media_url_serves_a_job_file(client, prefix):
    # given a finished job, and an image that the media route does serve
    owner = staff()
    job = finished_job(owner, result=("tickets.csv", b"ID,name\r\n"))
    image = Path(settings.MEDIA_ROOT) / "items" / "photo.txt"
    image.parent.mkdir(parents=True, exist_ok=True)
    image.write_bytes(b"an image")
    client.force_login(owner)

    # when
    response = client.get(prefix + job.result_file.name.removeprefix("jobs/"))
    image_response = client.get("/media/items/photo.txt")

    # then
    assert response.status_code == 404
    assert (image_response.status_code, b"".join(image_response.streaming_content)) == (200, b"an image")


def test_a_job_file_from_before_the_move_is_served_only_through_the_download_view(client, debug_urls):
    # given a job whose file was written to MEDIA_ROOT, and an upload waiting for its import there
    owner = staff()
    job = finished_job(owner, result=("tickets.csv", b"old"))
    name = job.result_file.name
    private, media = Path(settings.PRIVATE_ROOT) / name, Path(settings.MEDIA_ROOT) / name
    media.parent.mkdir(parents=True, exist_ok=True)
    private.rename(media)
    waiting = Path(settings.MEDIA_ROOT) / "jobs" / "pending" / "upload.csv"
    waiting.parent.mkdir(parents=True)
    waiting.write_bytes(b"uploaded")
    migration = importlib.import_module("core.migrations.0003_job_files_in_private_storage")
    from django.apps import apps

    # when
    migration.to_private_storage(apps, None)

    # then
    assert private.read_bytes() == b"old"
    assert (Path(settings.PRIVATE_ROOT) / "jobs" / "pending" / "upload.csv").read_bytes() == b"uploaded"
    assert not (Path(settings.MEDIA_ROOT) / "jobs").exists()
    client.force_login(owner)
    response, body = download(client, reverse("admin:core_job_download", args=[job.pk, "result"]))
    assert (response.status_code, body) == (200, b"old")
    assert client.get(f"/media/{name}").status_code == 404


def test_only_the_owner_or_staff_with_the_permission_download_and_a_member_is_sent_to_log_in(client):
    # given
    owner = staff()
    job = finished_job(owner, result=("tickets.csv", b"x"))
    url = reverse("admin:core_job_download", args=[job.pk, "result"])

    # when
    client.force_login(owner)
    own = download(client, url)
    client.force_login(staff())
    other = download(client, url)[0]
    client.force_login(MemberFactory())
    member = download(client, url)[0]

    # then
    assert (own[0].status_code, own[1]) == (200, b"x")
    assert other.status_code == 404
    assert member.status_code == 302
    assert Job.objects.get(pk=job.pk).result_file.name == job.result_file.name


@pytest.mark.parametrize("inside", ["MEDIA_ROOT", "STATIC_ROOT"])
def test_a_private_root_inside_a_public_folder_is_a_system_check_error(settings, tmp_path, inside):
    # given
    from core.checks import private_root_is_outside_public_folders

    setattr(settings, inside, str(tmp_path))
    settings.PRIVATE_ROOT = str(tmp_path / "private")

    # when
    errors = private_root_is_outside_public_folders(None)

    # then
    assert [error.id for error in errors] == ["core.E001"]


def test_the_settings_keep_private_root_apart_from_the_public_folders():
    from core.checks import private_root_is_outside_public_folders

    assert private_root_is_outside_public_folders(None) == []


def test_an_uploaded_csv_waiting_for_its_import_is_kept_in_private_storage_too(client):
    # given
    from django.core.files.uploadedfile import SimpleUploadedFile

    from tickets.tests.test_csv import csv_bytes, row, staff_with

    client.force_login(staff_with("add_tickettype", "change_tickettype", "view_tickettype"))

    # when the staff member uploads a file to preview it
    response = client.post(
        reverse("admin:tickets_tickettype_csv_import"),
        {"file": SimpleUploadedFile("チケット.csv", csv_bytes([row(name="新規チケット")]))},
    )

    # then the file waits for "Import" in private storage, and nothing of it is under MEDIA_ROOT
    assert response.status_code == 200
    assert list((Path(settings.PRIVATE_ROOT) / "jobs" / "pending").glob("*.csv"))
    assert not list(Path(settings.MEDIA_ROOT).rglob("*.csv"))
