"""Booking and cancellation e-mails are sent by the real Celery worker after the booking commits."""

from datetime import date

import pytest
from django.conf import settings
from django.core import mail
from django.utils import translation

from inventory.services import reservation_approve, reservation_cancel, reservation_create
from inventory.tests.factories import ItemFactory, ReservationSettingsFactory, jst
from members.tests.factories import MemberFactory

MONDAY = date(2027, 6, 7)
NOW = jst(date(2027, 6, 1), "09:00")


@pytest.mark.django_db(transaction=True)
def test_booking_and_cancellation_mails_come_from_the_worker(celery_worker):
    # given
    ReservationSettingsFactory()
    member = MemberFactory(email="booker@example.com", name="予約 太郎")
    item = ItemFactory(name="キャンプテント", units=[(60, 1000)])
    # when a booking is made, then cancelled
    reservation = reservation_create(
        member=member,
        by=member,
        item=item,
        starts_at=jst(MONDAY, "10:00"),
        ends_at=jst(MONDAY, "12:00"),
        payment_method="counter",
        now=NOW,
    )
    booked = celery_worker.wait_for("booker@example.com", subject_contains="キャンプテント")
    reservation_cancel(reservation=reservation, by=member, reason="予定変更", now=NOW)
    # then both mails arrive through the worker (never the web process) with the booking's facts in JST
    body = celery_worker.body(booked)
    assert "2027-06-07" in body
    assert "10:00" in body
    assert "¥2,000" in body
    assert str(reservation.pk) in body
    cancelled = celery_worker.wait_for("booker@example.com", body_contains="予定変更")
    assert str(reservation.pk) in celery_worker.body(cancelled)
    assert mail.outbox == []


@pytest.mark.django_db
def test_the_booking_mail_is_rendered_by_the_worker_as_of_the_commit(
    monkeypatch, django_capture_on_commit_callbacks
):
    # given the request renders no template and the task is captured instead of sent
    from kombu.utils.json import dumps, loads

    from core import emails, tasks

    def no_rendering(*args, **kwargs):
        raise AssertionError("the request rendered an e-mail template")

    queued = []
    monkeypatch.setattr(emails, "render_to_string", no_rendering)
    monkeypatch.setattr(
        tasks.send_templated_email, "apply_async", lambda kwargs, **options: queued.append(kwargs)
    )
    ReservationSettingsFactory()
    member = MemberFactory(email="booker@example.com", name="Taro")
    item = ItemFactory(name="Tent", units=[(60, 1000)])
    # when a member browsing in English books
    with translation.override("en"), django_capture_on_commit_callbacks(execute=True):
        reservation = reservation_create(
            member=member,
            by=member,
            item=item,
            starts_at=jst(MONDAY, "10:00"),
            ends_at=jst(MONDAY, "12:00"),
            payment_method="counter",
            now=NOW,
        )
    # and it is cancelled before the worker gets to its e-mail
    monkeypatch.undo()
    reservation_cancel(reservation=reservation, by=member, reason="予定変更", now=NOW)
    # then the task's message (through Celery's JSON) renders the booking as it was committed, in English
    [message] = queued
    tasks.send_templated_email(**loads(dumps(message)))
    [sent] = mail.outbox
    assert sent.to == ["booker@example.com"]
    assert sent.subject == f"[{settings.SHOP_NAME}] Your reservation for Tent"
    assert "Your reservation is confirmed." in sent.body
    assert "2027-06-07 (Mon) 10:00 – 2027-06-07 12:00" in sent.body
    assert "¥2,000" in sent.body
    assert str(reservation.pk) in sent.body
    assert "cancelled" not in sent.body


@pytest.mark.django_db
def test_staff_acting_in_english_send_the_member_mail_in_the_shops_language(
    monkeypatch, django_capture_on_commit_callbacks
):
    # given a booking awaiting approval, and the e-mail task captured instead of sent
    from kombu.utils.json import dumps, loads

    from core import tasks

    ReservationSettingsFactory(approval_required=True)
    member = MemberFactory(email="request@example.com", name="花子")
    item = ItemFactory(name="スタジオ")
    reservation = reservation_create(
        member=member,
        by=member,
        item=item,
        starts_at=jst(MONDAY, "10:00"),
        ends_at=jst(MONDAY, "11:00"),
        payment_method="free",
        now=NOW,
    )
    queued = []
    monkeypatch.setattr(
        tasks.send_templated_email, "apply_async", lambda kwargs, **options: queued.append(kwargs)
    )
    # when staff, whose admin is in English, approve it
    with translation.override("en"), django_capture_on_commit_callbacks(execute=True):
        reservation_approve(reservation=reservation, by=MemberFactory(is_staff=True), now=NOW)
    # then the member's e-mail is written in the shop's language (Japanese), not the staff's
    [message] = queued
    assert message["language"] == settings.LANGUAGE_CODE == "ja"
    tasks.send_templated_email(**loads(dumps(message)))
    [sent] = mail.outbox
    assert "承認しました" in sent.subject
    assert "Your" not in sent.body
