"""The Content-Security-Policy (issue 12, item 8): every page carries it, and no page needs more than it
allows: no inline script, style or event handler, except a block carrying the page's nonce or one whose
hash the policy names (Django's change list without actions). The browser tests run under the same policy
and fail on any violation Chromium reports (tests/browser/conftest.py)."""

from __future__ import annotations

import base64
import hashlib
import re

import pytest
from django.contrib import admin
from django.urls import NoReverseMatch, reverse

from members.tests.factories import MemberFactory

INLINE_SCRIPT = re.compile(r"<script\b(?![^>]*\bsrc=)([^>]*)>(.*?)</script>", re.DOTALL | re.IGNORECASE)
INLINE_STYLE = re.compile(r"<style\b([^>]*)>(.*?)</style>", re.DOTALL | re.IGNORECASE)
# an attribute inside a tag: onclick="…", style="…" (text between tags is not matched)
HANDLER_OR_STYLE_ATTRIBUTE = re.compile(r"<[a-z][^>]*?\s(on[a-z]+|style)\s*=", re.IGNORECASE)


def policy(response) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    return {name: values for name, *values in (part.split() for part in header.split(";") if part.strip())}


def assert_allowed_by_its_policy(response) -> None:
    """Every inline <script> (other than JSON data) and <style> of the page is let through by the page's
    own header, and no tag has an event handler or style attribute (CSP would drop them)."""
    html = response.content.decode()
    directives = policy(response)
    for attributes, _code in INLINE_SCRIPT.findall(html):
        if 'type="application/json"' in attributes:
            continue  # json_script: data, never executed
        nonce = re.search(r'nonce="([^"]+)"', attributes)
        assert nonce, attributes
        assert f"'nonce-{nonce[1]}'" in directives["script-src"], attributes
    for attributes, css in INLINE_STYLE.findall(html):
        nonce = re.search(r'nonce="([^"]+)"', attributes)
        digest = base64.b64encode(hashlib.sha256(css.encode()).digest()).decode()
        allowed = {f"'sha256-{digest}'"} | ({f"'nonce-{nonce[1]}'"} if nonce else set())
        assert allowed & set(directives["style-src"]), css
    assert HANDLER_OR_STYLE_ATTRIBUTE.findall(html) == [], response.request["PATH_INFO"]


@pytest.mark.django_db
def test_a_page_sends_the_policy(client):
    # when
    response = client.get(reverse("site:home"))
    # then
    assert response.status_code == 200
    directives = policy(response)
    assert directives["default-src"] == ["'self'"]
    assert directives["script-src"] == ["'self'"]  # no 'unsafe-inline', no other origin
    assert directives["style-src"][0] == "'self'"
    assert "'unsafe-inline'" not in directives["style-src"]
    assert directives["object-src"] == ["'none'"]
    assert directives["base-uri"] == ["'none'"]
    assert directives["frame-ancestors"] == ["'none'"]
    # forms post to us; the checkout's POST may be redirected to Stripe Checkout
    assert directives["form-action"] == ["'self'", "https://checkout.stripe.com"]


@pytest.mark.django_db
def test_member_pages_need_nothing_the_policy_refuses(client):
    member = MemberFactory()
    pages = ["site:home", "members:login", "members:sign_up", "tickets:list"]
    for name in pages:
        assert_allowed_by_its_policy(client.get(reverse(name)))
    client.force_login(member)
    for name in ["members:mypage", "site:home"]:
        assert_allowed_by_its_policy(client.get(reverse(name)))


@pytest.mark.django_db
def test_admin_pages_need_nothing_the_policy_refuses(admin_client):
    # the staff home (its Chart.js comes from our static files), every list and every add form
    assert_allowed_by_its_policy(admin_client.get(reverse("admin:index")))
    checked = 0
    for model in admin.site._registry:
        for view in ("changelist", "add"):
            try:
                url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}")
            except NoReverseMatch:
                continue
            response = admin_client.get(url)
            if response.status_code == 200:
                assert_allowed_by_its_policy(response)
                checked += 1
    assert checked > 20


@pytest.mark.django_db
def test_a_change_list_without_action_bars_keeps_its_inline_style(admin_client, monkeypatch):
    """Django renders an inline <style> (a column width) in a change list whose admin shows the actions
    neither on top nor at the bottom; its hash is in the policy."""
    from core.models import AuditEntry

    # given an admin without action bars
    monkeypatch.setattr(admin.site._registry[AuditEntry], "actions_on_top", False)
    monkeypatch.setattr(admin.site._registry[AuditEntry], "actions_on_bottom", False)
    # when
    response = admin_client.get(reverse("admin:core_auditentry_changelist"))
    # then
    assert INLINE_STYLE.search(response.content.decode())
    assert_allowed_by_its_policy(response)
