"""Price rules' checking order (SPEC §9: the first matching rule applies): "Move up" / "Move down" on the
list and on each rule swap a rule with its neighbour through price_rule_move (all rules locked, positions
renumbered 1..n when they have duplicates or gaps, an audit entry naming who moved what); POST with CSRF
only, staff with change permission only."""

from __future__ import annotations

import time
from collections import Counter
from datetime import date, datetime

import pytest
from django.contrib.auth.models import Permission
from django.contrib.messages import get_messages
from django.db.models.query import QuerySet
from django.test import Client
from django.urls import reverse
from django.utils import translation

from core.models import AuditEntry
from core.periods import JST
from inventory.tests.factories import ItemFactory, jst
from members.tests.factories import MemberFactory
from promotions.models import PriceRule
from promotions.price_rule_staff import PriceRuleMoveRefusedError, price_rule_move
from promotions.price_rules import matching_rule
from tests.parallel import run_together

NOW = datetime(2027, 6, 1, 9, 0, tzinfo=JST)
MONDAY = date(2027, 6, 7)
LIST_URL = "admin:promotions_pricerule_changelist"


@pytest.fixture(autouse=True)
def _english():
    with translation.override("en"):
        yield


def staff(*codenames: str):
    user = MemberFactory(is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    return user


def editor():
    return staff("view_pricerule", "change_pricerule")


@pytest.fixture
def staff_client(client):
    client.force_login(editor())
    client.cookies["django_language"] = "en"
    return client


def rule(name, position, **fields) -> PriceRule:
    fields.setdefault("percent", 10)
    return PriceRule.objects.create(name=name, position=position, **fields)


def order() -> list[str]:
    return [each.name for each in PriceRule.objects.order_by("position", "id")]


def positions() -> dict[str, int]:
    return dict(PriceRule.objects.values_list("name", "position"))


def move_url(target: PriceRule) -> str:
    return reverse("admin:promotions_pricerule_move", args=[target.pk])


def said(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


# --- the buttons --------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_moving_up_swaps_with_the_rule_above_and_changes_which_rule_applies(staff_client):
    # given two rules that both match a Monday-morning booking: the first one applies
    item = ItemFactory(name="会議室")
    everything = rule("Everything", 1)
    mondays = rule("Mondays", 2, weekdays=[0], percent=20)
    assert matching_rule(item, jst(MONDAY, "10:00"))[0] == everything

    # when staff move "Mondays" up
    response = staff_client.post(move_url(mondays), {"direction": "up"})

    # then it is checked first and applies; back on the list, the message says the new order
    assert response.status_code == 302
    assert response.url == reverse(LIST_URL)
    assert positions() == {"Mondays": 1, "Everything": 2}
    assert matching_rule(item, jst(MONDAY, "10:00"))[0] == mondays
    assert said(response) == [
        "“Mondays” is now number 1 of 2 in the checking order (it swapped places with “Everything”)."
    ]


@pytest.mark.django_db
def test_moving_down_swaps_with_the_rule_below(staff_client):
    item = ItemFactory()
    first = rule("First", 1)
    rule("Second", 2)
    rule("Third", 3)

    response = staff_client.post(move_url(first), {"direction": "down"})

    assert order() == ["Second", "First", "Third"]
    assert positions() == {"Second": 1, "First": 2, "Third": 3}
    assert matching_rule(item, jst(MONDAY, "10:00"))[0].name == "Second"
    assert said(response) == [
        "“First” is now number 2 of 3 in the checking order (it swapped places with “Second”)."
    ]


@pytest.mark.django_db
def test_the_list_keeps_its_sorting_after_a_move(staff_client):
    rule("First", 1)
    second = rule("Second", 2)

    response = staff_client.post(move_url(second), {"direction": "up", "_changelist_filters": "o=2"})

    assert response.url == reverse(LIST_URL) + "?o=2"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("name", "direction", "message"),
    [
        ("First", "up", "“First” is checked first already: it cannot move up."),
        ("Last", "down", "“Last” is checked last already: it cannot move down."),
    ],
)
def test_the_first_cannot_move_up_nor_the_last_down(staff_client, name, direction, message):
    rules = {"First": rule("First", 1), "Last": rule("Last", 2)}

    response = staff_client.post(move_url(rules[name]), {"direction": direction})

    assert response.status_code == 302
    assert positions() == {"First": 1, "Last": 2}
    assert said(response) == [message]
    assert not AuditEntry.objects.filter(action="price_rule.moved").exists()


@pytest.mark.django_db
def test_a_refused_move_leaves_gaps_as_they_were(staff_client):
    first = rule("First", 5)
    rule("Second", 5)

    staff_client.post(move_url(first), {"direction": "up"})

    assert positions() == {"First": 5, "Second": 5}


@pytest.mark.django_db
def test_an_unknown_direction_changes_nothing(staff_client):
    rule("First", 1)
    second = rule("Second", 2)

    response = staff_client.post(move_url(second), {"direction": "sideways"})

    assert response.status_code == 302
    assert positions() == {"First": 1, "Second": 2}
    assert said(response) == ["Choose to move the rule up or down."]


@pytest.mark.django_db
def test_get_changes_nothing(staff_client):
    rule("First", 1)
    second = rule("Second", 2)

    response = staff_client.get(move_url(second), {"direction": "up"})

    assert response.status_code == 405
    assert positions() == {"First": 1, "Second": 2}
    assert not AuditEntry.objects.filter(action="price_rule.moved").exists()


@pytest.mark.django_db
def test_a_post_without_the_csrf_token_is_refused():
    rule("First", 1)
    second = rule("Second", 2)
    client = Client(enforce_csrf_checks=True)
    client.force_login(editor())

    response = client.post(move_url(second), {"direction": "up"})

    assert response.status_code == 403
    assert positions() == {"First": 1, "Second": 2}


@pytest.mark.django_db
def test_staff_without_change_permission_get_403_and_no_buttons(client):
    rule("First", 1)
    second = rule("Second", 2)
    client.force_login(staff("view_pricerule"))

    response = client.post(move_url(second), {"direction": "up"})

    assert response.status_code == 403
    assert positions() == {"First": 1, "Second": 2}
    page = client.get(reverse(LIST_URL))
    assert page.status_code == 200
    assert "move" not in page.context["cl"].list_display
    assert 'name="direction"' not in page.content.decode()


@pytest.mark.django_db
def test_the_list_has_the_buttons_the_first_without_up_the_last_without_down(staff_client):
    first = rule("First", 1)
    middle = rule("Middle", 2)
    last = rule("Last", 3)

    html = staff_client.get(reverse(LIST_URL)).content.decode()

    def button(target, direction) -> str:
        start = html.index(f'formaction="{move_url(target)}" name="direction" value="{direction}"')
        return html[start : html.index(">", start)]

    assert 'id="price-rule-move"' in html
    assert 'form="price-rule-move"' in html
    assert "disabled" in button(first, "up")
    assert "disabled" not in button(first, "down")
    assert "disabled" not in button(middle, "up")
    assert "disabled" not in button(middle, "down")
    assert "disabled" not in button(last, "up")
    assert "disabled" in button(last, "down")


@pytest.mark.django_db
def test_a_rules_page_has_move_up_and_down_where_it_can_move(staff_client):
    first = rule("First", 1)
    rule("Last", 2)

    response = staff_client.get(reverse("admin:promotions_pricerule_change", args=[first.pk]))

    assert response.context["move"] == {
        "url": move_url(first),
        "up": False,
        "down": True,
        "changelist_filters": "",
    }
    html = response.content.decode()
    assert 'value="down"' in html
    assert 'value="up"' not in html


# --- the service --------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_move_is_audited_with_who_moved_what():
    by = editor()
    above = rule("Above", 1)
    moved_rule = rule("Moved", 2)

    moved = price_rule_move(rule=moved_rule, direction="up", by=by, now=NOW)

    assert (moved.position, moved.count, moved.other) == (1, 2, above)
    entry = AuditEntry.objects.get(action="price_rule.moved")
    assert entry.actor == by
    assert entry.object_id == str(moved_rule.pk)
    assert entry.created_at == NOW
    assert entry.payload == {
        "direction": "up",
        "position": [2, 1],
        "swapped_with": above.pk,
        "swapped_with_name": "Above",
        "swapped_with_position": [1, 2],
        "renumbered": {},
    }


@pytest.mark.django_db
def test_duplicates_and_gaps_are_renumbered_first_keeping_the_order():
    # given positions with a duplicate (the older rule first) and gaps
    a = rule("A", 5)
    rule("B", 5)
    rule("C", 9)
    d = rule("D", 20)

    # when C moves up
    moved = price_rule_move(rule=PriceRule.objects.get(name="C"), direction="up", by=editor())

    # then the rules are numbered 1..n in their old order, with C and B swapped
    assert positions() == {"A": 1, "C": 2, "B": 3, "D": 4}
    assert moved.position == 2
    entry = AuditEntry.objects.get(action="price_rule.moved")
    assert entry.payload["renumbered"] == {
        str(a.pk): [5, 1],
        str(PriceRule.objects.get(name="B").pk): [5, 2],
        str(PriceRule.objects.get(name="C").pk): [9, 3],
        str(d.pk): [20, 4],
    }
    assert entry.payload["position"] == [9, 2]


@pytest.mark.django_db
def test_inactive_rules_keep_their_place_in_the_order():
    rule("Off", 1, is_active=False)
    on = rule("On", 2)

    price_rule_move(rule=on, direction="up", by=editor())

    assert order() == ["On", "Off"]


@pytest.mark.django_db
def test_a_rule_deleted_meanwhile_is_refused():
    gone = rule("Gone", 2)
    rule("Other", 1)
    PriceRule.objects.filter(pk=gone.pk).delete()

    with pytest.raises(PriceRuleMoveRefusedError, match="no longer exists"):
        price_rule_move(rule=gone, direction="up", by=editor())


@pytest.mark.django_db
def test_an_unknown_direction_is_a_programming_error():
    target = rule("Only", 1)

    with pytest.raises(ValueError, match="direction"):
        price_rule_move(rule=target, direction="left", by=editor())


# --- two staff at once ---------------------------------------------------------------------------------


@pytest.fixture
def slow_writes(monkeypatch):
    """Every bulk write of positions waits a moment first (a slow request), so moves that were not locked
    against each other would overlap: each would write what it read before the others' writes."""
    write = QuerySet.bulk_update

    def slowly(self, *args, **kwargs):
        time.sleep(0.3)
        return write(self, *args, **kwargs)

    monkeypatch.setattr(QuerySet, "bulk_update", slowly)


def _move_neighbours_at_once() -> Counter:
    # six rules numbered 1..6, and staff moving neighbours at the same instant
    rules = [rule(f"R{n}", n) for n in range(1, 7)]
    by = editor()
    moves = [(rules[1], "up"), (rules[2], "up"), (rules[3], "down"), (rules[4], "up")]
    calls = [
        (lambda target=target, direction=direction: price_rule_move(rule=target, direction=direction, by=by))
        for target, direction in moves
    ]
    return run_together(calls, expected=(PriceRuleMoveRefusedError,), success="moved")


@pytest.mark.django_db(transaction=True)
def test_staff_moving_at_the_same_time_never_leave_duplicate_or_lost_positions(slow_writes):
    outcomes = _move_neighbours_at_once()

    # then every move went through, one after the other, each from the order the one before left
    assert outcomes == {"moved": 4}
    assert sorted(positions().values()) == [1, 2, 3, 4, 5, 6]
    assert AuditEntry.objects.filter(action="price_rule.moved").count() == 4


@pytest.mark.django_db(transaction=True)
def test_control_without_the_lock_moves_at_the_same_time_duplicate_positions(slow_writes, monkeypatch):
    # the lock taken away: every move reads the same order and writes its own swap over the others'
    monkeypatch.setattr(QuerySet, "select_for_update", lambda self, *args, **kwargs: self)

    assert _move_neighbours_at_once() == {"moved": 4}

    assert sorted(positions().values()) != [1, 2, 3, 4, 5, 6]
