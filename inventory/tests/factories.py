"""factory_boy factories for inventory. Shared by every app's tests, so keep them general.

Dates default to "next week" from the (possibly time-machined) local date, so a factory call never makes
something in the past by accident. Factories write rows directly: they do not run the booking checks.
Use `inventory.services` when a test is about booking itself.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import factory
from django.db.models import F
from django.utils import timezone

from core.periods import JST
from inventory.models import (
    AcceptanceHours,
    AcceptanceOverride,
    Category,
    IrregularEvent,
    Item,
    ItemImage,
    PriceUnit,
    RepeatingEvent,
    Reservation,
    ReservationSettings,
    Season,
    Slot,
    Store,
    WeekdayPriceRule,
)
from members.tests.factories import MemberFactory

EVERY_DAY = tuple(range(8))  # Mon–Sun and 7 (national holidays)


def next_week(days: int = 7) -> date:
    return timezone.localdate() + timedelta(days=days)


def jst(d: date, t: time | str) -> datetime:
    """An aware JST datetime: jst(date(2027, 6, 7), "10:00")."""
    if isinstance(t, str):
        t = time.fromisoformat(t)
    return datetime.combine(d, t, tzinfo=JST)


class StoreFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Store
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"店舗 {n}")
    address = "東京都渋谷区神南1-2-3"
    phone = "03-1234-5678"
    opening_hours = "10:00〜18:00"
    display_order = factory.Sequence(lambda n: n + 1)
    is_public = True


class CategoryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Category
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"分類 {n}")
    display_order = factory.Sequence(lambda n: n + 1)


class SeasonFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Season

    name = "ハイシーズン"
    start_date = factory.LazyFunction(lambda: next_week(0))
    end_date = factory.LazyAttribute(lambda o: o.start_date + timedelta(days=30))


class ItemFactory(factory.django.DjangoModelFactory):
    """A public free-type item, 0 yen, stock 1. Traits: `fixed`, `private`, `per_unit`, `per_weekday`.

    `units=[(60, 1000), (180, 2000)]` adds time unit prices (and makes the item per_unit);
    `rules=[{"weekdays": [5, 6], "label": "週末", "price_yen": 3000}, ...]` adds weekday rules in order
    (and makes it per_weekday).
    """

    class Meta:
        model = Item
        skip_postgeneration_save = True

    class Params:
        fixed = factory.Trait(reservation_type=Item.ReservationType.FIXED)
        private = factory.Trait(is_public=False)
        per_unit = factory.Trait(price_type=Item.PriceType.PER_UNIT)
        per_weekday = factory.Trait(price_type=Item.PriceType.PER_WEEKDAY)

    store = factory.SubFactory(StoreFactory)
    category = factory.SubFactory(CategoryFactory)
    is_public = True
    display_order = factory.Sequence(lambda n: n + 1)
    code = factory.Sequence(lambda n: f"ITEM-{n:05d}")
    name = factory.Sequence(lambda n: f"アイテム {n}")
    stock = 1
    catchphrase = "手ぶらで気軽にアウトドア"
    summary = "初めての方にもおすすめの人気アイテムです。"
    display_price = "1時間 1,000円〜"
    price_type = Item.PriceType.NONE
    reservation_type = Item.ReservationType.FREE

    @factory.post_generation
    def units(self, create, extracted, **kwargs):
        if not create or not extracted:
            return
        for minutes, price_yen in extracted:
            PriceUnit.objects.create(item=self, minutes=minutes, price_yen=price_yen)
        if self.price_type != Item.PriceType.PER_UNIT:
            self.price_type = Item.PriceType.PER_UNIT
            self.save(update_fields=["price_type"])

    @factory.post_generation
    def rules(self, create, extracted, **kwargs):
        if not create or not extracted:
            return
        for position, rule in enumerate(extracted, start=1):
            WeekdayPriceRule.objects.create(item=self, position=position, **rule)
        if self.price_type != Item.PriceType.PER_WEEKDAY:
            self.price_type = Item.PriceType.PER_WEEKDAY
            self.save(update_fields=["price_type"])


class ItemImageFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ItemImage

    item = factory.SubFactory(ItemFactory)
    image = factory.django.ImageField(width=8, height=8, color="green")
    caption = ""
    display_order = factory.Sequence(lambda n: n + 1)


class PriceUnitFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PriceUnit

    item = factory.SubFactory(ItemFactory, per_unit=True)
    minutes = 60
    price_yen = 1000


class WeekdayPriceRuleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = WeekdayPriceRule

    item = factory.SubFactory(ItemFactory, per_weekday=True)
    position = factory.Sequence(lambda n: n + 1)
    weekdays = factory.LazyFunction(lambda: list(EVERY_DAY))
    label = "通常料金"
    price_yen = 3000
    season = None


class ReservationSettingsFactory(factory.django.DjangoModelFactory):
    """The general settings (item=None, the default) or one item's own settings (個別予約設定).

    There is only ever one row per item (and one general row), so this updates the existing row with
    the given values rather than failing. Given an item, it also switches the item to its own settings.

    `hours` sets the acceptance hours, replacing any there were: the default opens every day and
    holiday 10:00–18:00; pass `{0: ("09:00", "17:00"), 7: ...}` for chosen weekdays, or `{}` for none.
    """

    class Meta:
        model = ReservationSettings
        skip_postgeneration_save = True

    item = None
    schedule = ReservationSettings.Schedule.REGULAR
    time_step_minutes = 30
    min_minutes = 30
    max_minutes = 0
    book_ahead_days = 60
    booking_deadline_minutes = 0
    cancel_deadline_minutes = 24 * 60
    tentative_hold_minutes = 30

    @classmethod
    def _create(cls, model_class, *args, item=None, **kwargs):
        row, _created = model_class.objects.update_or_create(item=item, defaults=kwargs)
        if item is not None and not item.uses_own_settings:
            item.uses_own_settings = True
            item.save(update_fields=["uses_own_settings"])
        return row

    @factory.post_generation
    def hours(self, create, extracted, **kwargs):
        if not create:
            return
        if extracted is None:
            extracted = dict.fromkeys(EVERY_DAY, ("10:00", "18:00"))
        self.hours.all().delete()
        for weekday, (opens_at, closes_at) in extracted.items():
            AcceptanceHours.objects.create(
                settings=self,
                weekday=weekday,
                opens_at=time.fromisoformat(opens_at) if isinstance(opens_at, str) else opens_at,
                closes_at=time.fromisoformat(closes_at) if isinstance(closes_at, str) else closes_at,
            )


class AcceptanceHoursFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AcceptanceHours
        django_get_or_create = ("settings", "weekday")

    settings = factory.SubFactory(ReservationSettingsFactory, hours={})
    weekday = 0
    opens_at = time(10)
    closes_at = time(18)


class RepeatingEventFactory(factory.django.DjangoModelFactory):
    """A weekly slot (Monday 10:00–11:00 by default) of a fixed-type item; capacity empty = the stock."""

    class Meta:
        model = RepeatingEvent

    item = factory.SubFactory(ItemFactory, fixed=True)
    weekday = 0
    starts_at = time(10)
    ends_at = time(11)
    capacity = None
    valid_from = None
    valid_until = None


class IrregularEventFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = IrregularEvent

    item = factory.SubFactory(ItemFactory, fixed=True)
    date = factory.LazyFunction(next_week)
    starts_at = time(10)
    ends_at = time(11)
    capacity = None


class AcceptanceOverrideFactory(factory.django.DjangoModelFactory):
    """手動受付設定: closes a day next week for the store (or only `item`). kind="open" opens one."""

    class Meta:
        model = AcceptanceOverride

    item = None
    store = factory.Maybe(
        "item",
        yes_declaration=factory.SelfAttribute("item.store"),
        no_declaration=factory.SubFactory(StoreFactory),
    )
    kind = AcceptanceOverride.Kind.CLOSED
    start_date = factory.LazyFunction(next_week)
    end_date = factory.SelfAttribute("start_date")
    note = ""


class SlotFactory(factory.django.DjangoModelFactory):
    """A slot row as the booking service makes it on the first booking of an occurrence."""

    class Meta:
        model = Slot
        django_get_or_create = ("item", "starts_at", "ends_at")

    item = factory.SubFactory(ItemFactory, fixed=True)
    starts_at = factory.LazyFunction(lambda: jst(next_week(), "10:00"))
    ends_at = factory.LazyAttribute(lambda o: o.starts_at + timedelta(hours=1))
    capacity = factory.SelfAttribute("item.stock")
    booked = 0


class ReservationFactory(factory.django.DjangoModelFactory):
    """A confirmed 0-yen reservation next week 10:00–11:00 JST, written directly (no booking checks).

    A live reservation given a `slot` adds its quantity to the slot's `booked`, as the service does,
    so the slot counter stays in step. Traits: `tentative`, `cancelled`, `completed`, `no_show`.
    """

    class Meta:
        model = Reservation

    class Params:
        tentative = factory.Trait(
            status=Reservation.Status.TENTATIVE,
            confirmed_at=None,
            hold_until=factory.LazyFunction(lambda: timezone.now() + timedelta(minutes=30)),
        )
        cancelled = factory.Trait(
            status=Reservation.Status.CANCELLED,
            cancelled_at=factory.LazyFunction(timezone.now),
            cancel_reason="都合が悪くなったため",
        )
        completed = factory.Trait(
            status=Reservation.Status.COMPLETED, completed_at=factory.LazyFunction(timezone.now)
        )
        no_show = factory.Trait(status=Reservation.Status.NO_SHOW)

    member = factory.SubFactory(MemberFactory)
    item = factory.SubFactory(ItemFactory)
    store = factory.SelfAttribute("item.store")
    slot = None
    starts_at = factory.LazyFunction(lambda: jst(next_week(), "10:00"))
    ends_at = factory.LazyAttribute(lambda o: o.starts_at + timedelta(hours=1))
    quantity = 1
    status = Reservation.Status.CONFIRMED
    price_yen = 0
    price_breakdown = factory.LazyAttribute(
        lambda o: {
            "unit_price_yen": o.price_yen // o.quantity,
            "quantity": o.quantity,
            "total_yen": o.price_yen,
            "price_type": o.item.price_type,
            "lines": [],
        }
    )
    payment_method = factory.LazyAttribute(lambda o: "free" if o.price_yen == 0 else "counter")
    channel = Reservation.Channel.SITE
    confirmed_at = factory.LazyFunction(timezone.now)

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        reservation = super()._create(model_class, *args, **kwargs)
        if reservation.slot_id and reservation.is_live:
            Slot.objects.filter(pk=reservation.slot_id).update(booked=F("booked") + reservation.quantity)
            reservation.slot.refresh_from_db(fields=["booked"])
        return reservation
