"""Sign-up points (SPEC §8): granted at a member's first login, once; none with a setting of 0; none for
staff; a second login, or two first logins racing, grant nothing more."""

from __future__ import annotations

import pytest
from django.contrib.auth.signals import user_logged_in
from django.test import RequestFactory
from django.urls import reverse

from members.tests.factories import PASSWORD, MemberFactory
from points import selectors
from points.models import PointEntry, PointSettings
from points.signals import grant_signup_points

pytestmark = pytest.mark.django_db


def signup_points(amount: int) -> None:
    row = PointSettings.current()
    row.signup_points = amount
    row.save()


def log_in(client, member) -> None:
    response = client.post(reverse("members:login"), {"username": member.email, "password": PASSWORD})
    assert response.status_code == 302, response.content.decode()[:500]


def test_the_first_login_grants_the_sign_up_points_once(client):
    signup_points(300)
    member = MemberFactory()

    log_in(client, member)
    client.logout()
    log_in(client, member)

    assert selectors.balance_of(member) == 300
    (entry,) = PointEntry.objects.filter(member=member)
    assert (entry.kind, entry.delta) == (PointEntry.Kind.SIGNUP, 300)


def test_no_sign_up_points_with_a_setting_of_0_or_for_staff(client):
    signup_points(0)
    member = MemberFactory()
    log_in(client, member)
    assert not PointEntry.objects.filter(member=member).exists()

    signup_points(300)
    staff = MemberFactory(is_staff=True)
    user_logged_in.send(sender=type(staff), request=RequestFactory().get("/"), user=staff)
    assert not PointEntry.objects.filter(member=staff).exists()


def test_a_sign_up_grant_already_made_is_not_made_again_even_past_the_check(monkeypatch):
    signup_points(300)
    member = MemberFactory()
    request = RequestFactory().get("/")
    grant_signup_points(sender=None, request=request, user=member)
    # a racing first login that passed the check before the first one committed: the constraint refuses it
    monkeypatch.setattr(
        "points.signals.PointEntry.objects.filter", lambda **kwargs: PointEntry.objects.none()
    )
    grant_signup_points(sender=None, request=request, user=member)
    monkeypatch.undo()

    assert PointEntry.objects.filter(member=member, kind=PointEntry.Kind.SIGNUP).count() == 1
    assert selectors.balance_of(member) == 300
