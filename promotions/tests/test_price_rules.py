"""Price rules (SPEC §9): the first active rule by position, whose conditions all match the booked
time (JST) and item applies; percent = floor, yen capped at the amount; the preview says why; the linter
names rules that can never match; the step prices a real booking's order as the confirm page showed it.
The clock is frozen at Tuesday 2027-06-01 09:00 JST; 2027-06-07 is a Monday, 2027-07-19 (海の日) a Monday
holiday."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import translation

from core.periods import JST
from inventory.tests.factories import CategoryFactory, ItemFactory, ReservationSettingsFactory, jst
from members.tests.factories import MemberFactory
from payments.models import Order
from promotions.models import PriceRule, PriceRuleUse
from promotions.price_rules import (
    PriceRuleUses,
    discount_yen,
    matching_rule,
    opening_hours_problem,
    rules_warnings,
)

pytestmark = pytest.mark.django_db

NOW = datetime(2027, 6, 1, 9, 0, tzinfo=JST)
HOLIDAY_MON = date(2027, 7, 19)
MON, TUE, SAT, SUN, HOL = 0, 1, 5, 6, 7
MONDAY = date(2027, 6, 7)


@pytest.fixture(autouse=True)
def frozen_clock(time_machine):
    time_machine.move_to(NOW, tick=False)


@pytest.fixture(autouse=True)
def english():
    with translation.override("en"):
        yield


def rule(name="rule", position=1, *, items=(), categories=(), **fields) -> PriceRule:
    fields.setdefault("kind", PriceRule.Kind.PERCENT)
    fields.setdefault("percent", 10)
    made = PriceRule.objects.create(name=name, position=position, **fields)
    made.items.set(items)
    made.categories.set(categories)
    return made


@pytest.fixture
def item():
    return ItemFactory(name="会議室")


# --- matching ------------------------------------------------------------------------------------------


def test_first_matching_rule_by_position_wins(item):
    # given two rules that both match, the lower position first, and an inactive one above both
    rule("inactive", 0, is_active=False)
    second = rule("second", 5)
    first = rule("first", 2)
    # when / then
    found, checks = matching_rule(item, jst(MONDAY, "10:00"))
    assert found == first
    assert [check.rule for check in checks] == [first]
    second.position = 1
    second.save()
    assert matching_rule(item, jst(MONDAY, "10:00"))[0] == second


def test_no_rule_no_discount(item):
    assert matching_rule(item, jst(MONDAY, "10:00")) == (None, [])


def test_range_from_inclusive_until_exclusive(item):
    rule(starts_from=jst(MONDAY, "10:00"), starts_until=jst(MONDAY, "12:00"))
    assert matching_rule(item, jst(MONDAY, "09:59"))[0] is None
    assert matching_rule(item, jst(MONDAY, "10:00"))[0] is not None
    assert matching_rule(item, datetime(2027, 6, 7, 11, 59, 59, 999999, tzinfo=JST))[0] is not None
    assert matching_rule(item, jst(MONDAY, "12:00"))[0] is None


def test_the_booked_time_counts_in_jst_not_the_ordering_time(item):
    # given a rule for bookings on Mondays, and "now" a Tuesday
    rule(weekdays=[MON])
    # a booking at Monday 08:00 JST is Sunday 23:00 UTC: still a Monday booking
    starts = jst(MONDAY, "08:00").astimezone(UTC)
    assert starts.weekday() == SUN
    assert matching_rule(item, starts)[0] is not None


def test_weekdays_and_a_holiday_counts_as_holiday_not_its_weekday(item):
    monday = rule("mondays", 1, weekdays=[MON])
    assert matching_rule(item, jst(MONDAY, "10:00"))[0] == monday
    assert matching_rule(item, jst(date(2027, 6, 8), "10:00"))[0] is None
    # 2027-07-19 (海の日) is a Monday holiday: it is 祝, not Monday
    found, checks = matching_rule(item, jst(HOLIDAY_MON, "10:00"))
    assert found is None
    assert "national holiday" in checks[0].reasons[0]
    holiday = rule("holidays", 2, weekdays=[SAT, SUN, HOL])
    assert matching_rule(item, jst(HOLIDAY_MON, "10:00"))[0] == holiday


def test_time_of_day_from_inclusive_until_exclusive(item):
    rule(time_from=time(10, 0), time_until=time(12, 0))
    assert matching_rule(item, jst(MONDAY, "09:59"))[0] is None
    assert matching_rule(item, jst(MONDAY, "10:00"))[0] is not None
    assert matching_rule(item, jst(MONDAY, "11:59"))[0] is not None
    assert matching_rule(item, jst(MONDAY, "12:00"))[0] is None


def test_scope_items_or_categories(item):
    other_category = CategoryFactory(name="other")
    other = ItemFactory(category=other_category)
    by_item = rule("by item", 1, items=[item])
    by_category = rule("by category", 2, categories=[other_category])
    assert matching_rule(item, jst(MONDAY, "10:00"))[0] == by_item
    assert matching_rule(other, jst(MONDAY, "10:00"))[0] == by_category
    assert matching_rule(ItemFactory(), jst(MONDAY, "10:00"))[0] is None


def test_matching_explains_why_earlier_rules_did_not_match(item):
    rule("weekends", 1, weekdays=[SAT, SUN])
    rule("evenings", 2, time_from=time(18, 0))
    morning = rule("mornings", 3, time_until=time(12, 0), weekdays=[MON])
    found, checks = matching_rule(item, jst(MONDAY, "10:00"))
    assert found == morning
    assert [check.matched for check in checks] == [False, False, True]
    assert checks[0].reasons == ("the day is Mon, not one of Sat, Sun",)
    assert checks[1].reasons == ("starts at 10:00, before 18:00",)
    assert checks[2].reasons == ("the day is Mon, one of Mon", "starts at 10:00, before 12:00")


@pytest.mark.parametrize(
    ("kind", "value", "amount", "expected"),
    [
        (PriceRule.Kind.PERCENT, 15, 999, 149),  # floor(149.85)
        (PriceRule.Kind.PERCENT, 100, 2000, 2000),
        (PriceRule.Kind.PERCENT, 0, 2000, 0),
        (PriceRule.Kind.YEN, 500, 2000, 500),
        (PriceRule.Kind.YEN, 5000, 2000, 2000),  # capped: never below 0
        (PriceRule.Kind.YEN, 500, 0, 0),
    ],
)
def test_discount_percent_floor_and_yen_capped(kind, value, amount, expected):
    made = PriceRule(kind=kind, percent=value if kind == PriceRule.Kind.PERCENT else 0, yen=value)
    assert discount_yen(made, amount) == expected


# --- the linter ----------------------------------------------------------------------------------------


def test_warnings_name_rules_that_can_never_match(item):
    past = rule("past", 1, starts_until=datetime(2027, 5, 1, tzinfo=JST))
    empty = rule("empty range", 2, starts_from=jst(MONDAY, "12:00"), starts_until=jst(MONDAY, "10:00"))
    clock = rule("empty time", 3, time_from=time(12, 0), time_until=time(10, 0))
    fine = rule("weekday mornings", 4, weekdays=[MON, TUE], time_until=time(12, 0))
    shadowed = rule("monday mornings", 5, weekdays=[MON], time_until=time(11, 0), items=[item])
    warnings = rules_warnings(now=NOW)
    assert "ended" in warnings[past.pk][0]
    assert "range is empty" in warnings[empty.pk][0]
    assert "time of day is empty" in warnings[clock.pk][0]
    assert fine.pk not in warnings
    assert "“weekday mornings” (order 4)" in warnings[shadowed.pk][0]


def test_a_rule_without_conditions_shadows_every_later_rule(item):
    rule("everything", 1)
    later = [rule("a", 2, weekdays=[SAT]), rule("b", 3, items=[item]), rule("c", 4)]
    warnings = rules_warnings(now=NOW)
    assert set(warnings) == {each.pk for each in later}


def test_narrower_earlier_rule_does_not_shadow_and_inactive_rules_do_not_count(item):
    rule("saturdays", 1, weekdays=[SAT])
    rule("everything, off", 2, is_active=False)
    broader = rule("weekends", 3, weekdays=[SAT, SUN])
    assert broader.pk not in rules_warnings(now=NOW)


# --- the step on a real booking ------------------------------------------------------------------------

BOOKING = {"date": MONDAY.isoformat(), "start_time": "10:00", "end_time": "11:00", "quantity": 1}


@pytest.fixture
def room(settings):
    settings.PAYMENTS_CARD_CHECKOUT = True
    ReservationSettingsFactory()
    return ItemFactory(name="会議室", stock=2, units=[(60, 2000)])


@pytest.fixture
def client(client):
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    return client


def test_card_booking_confirm_price_equals_order_total_and_use_recorded_once(client, room):
    # given a 15 % rule for Monday mornings, one for Tuesdays above it that does not match
    rule("tuesdays", 1, weekdays=[TUE], kind=PriceRule.Kind.YEN, yen=300)
    monday = rule("monday mornings", 2, weekdays=[MON], time_until=time(12, 0), percent=15)
    member = MemberFactory()
    client.force_login(member)
    # when the member looks at the confirm page of a Monday 10:00 booking
    response = client.post(reverse("site:book", args=[room.pk]), {**BOOKING, "step": "confirm"})
    assert response.status_code == 200
    card = next(price for price in response.context["method_prices"] if price.key == "card")
    lines = [(line.label, line.amount_yen) for line in card.charge.lines]
    # then the rule's discount is a line of its own
    assert lines == [("Booking price", 2000), ("Price rule discount", -300)]
    assert card.charge.total_yen == 1700
    # when they book by card
    done = client.post(
        reverse("site:book", args=[room.pk]), {**BOOKING, "step": "book", "payment_method": "card"}
    )
    assert done.status_code == 302
    # then the order charges what was shown, and the rule's use is recorded once
    order = Order.objects.get(member=member)
    assert (order.subtotal_yen, order.price_rule_discount_yen, order.total_yen) == (2000, 300, 1700)
    uses = list(PriceRuleUse.objects.filter(order=order))
    assert [(use.rule, use.discount_yen) for use in uses] == [(monday, 300)]


def test_counter_booking_takes_the_rule_too_and_no_rule_no_use(client, room):
    rule("holidays only", 1, weekdays=[HOL], percent=50)
    member = MemberFactory()
    client.force_login(member)
    client.post(
        reverse("site:book", args=[room.pk]), {**BOOKING, "step": "book", "payment_method": "counter"}
    )
    order = Order.objects.get(member=member)
    assert (order.price_rule_discount_yen, order.total_yen) == (0, 2000)
    assert not PriceRuleUse.objects.exists()


def test_rule_use_is_written_once_even_if_the_listener_runs_again(client, room):
    rule("mondays", 1, weekdays=[MON], kind=PriceRule.Kind.YEN, percent=0, yen=500)
    member = MemberFactory()
    client.force_login(member)
    client.post(reverse("site:book", args=[room.pk]), {**BOOKING, "step": "book", "payment_method": "card"})
    order = Order.objects.get(member=member)
    PriceRuleUses().created(order=order, by=None, system="tests", now=NOW, options={})
    assert list(PriceRuleUse.objects.values_list("order", "discount_yen")) == [(order.pk, 500)]


def test_a_time_window_outside_the_items_acceptance_hours_is_named(room):
    # the room accepts bookings 10:00–18:00 (the general settings)
    evening = rule("evenings", 1, items=[room], time_from=time(19, 0))
    morning = rule("mornings", 2, items=[room], time_from=time(9, 0), time_until=time(11, 0))
    assert "can never apply" in opening_hours_problem(evening)
    assert opening_hours_problem(morning) is None
    assert opening_hours_problem(rule("anything", 3, items=[room])) is None
