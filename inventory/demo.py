"""Demo stores, settings, items and a few reservations for `make run`.

Idempotent: rows are found by a natural key and only created when missing (get_or_create, never
update_or_create), so a staff edit to demo data survives the next `make run`. An item's prices, events
and images are only created together with the item.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from django.utils import timezone

from core.exceptions import DomainError
from core.periods import JST
from inventory import services
from inventory.models import (
    AcceptanceHours,
    Category,
    Item,
    PriceUnit,
    RepeatingEvent,
    Reservation,
    ReservationSettings,
    Season,
    Store,
    WeekdayPriceRule,
)

STORES = [
    {
        "name": "渋谷店",
        "address": "東京都渋谷区道玄坂1-2-3 デモビル5F",
        "phone": "03-1234-5678",
        "opening_hours": "10:00〜20:00(火曜定休)",
        "display_order": 1,
    },
    {
        "name": "横浜店",
        "address": "神奈川県横浜市西区みなとみらい2-3-4",
        "phone": "045-123-4567",
        "opening_hours": "平日 11:00〜21:00 / 土日祝 10:00〜19:00",
        "display_order": 2,
    },
]

CATEGORIES = ["レンタル用品", "会議室", "レッスン"]

HIGH_SEASON = {"name": "ハイシーズン", "start_date": date(2026, 7, 1), "end_date": date(2026, 8, 31)}

MON, TUE, WED, THU, FRI, SAT, SUN, HOLIDAY = range(8)
EVERY_DAY = [MON, TUE, WED, THU, FRI, SAT, SUN, HOLIDAY]
WEEKEND_AND_HOLIDAYS = [SAT, SUN, HOLIDAY]

RENTAL_CODE = "RENT-TENT-4"
ROOM_CODE = "ROOM-A"
LESSON_CODE = "LESSON-YOGA"
STUDIO_CODE = "STUDIO-PHOTO"


def load(stdout) -> None:
    stores = {}
    for data in STORES:
        # get_or_create, not update_or_create: a staff edit to a demo store survives the next `make run`.
        stores[data["name"]], _created = Store.objects.get_or_create(name=data["name"], defaults=data)
    stdout.write(f"Stores       {', '.join(store['name'] for store in STORES)}")

    _general_settings()
    categories = {}
    for order, name in enumerate(CATEGORIES, start=1):
        categories[name], _created = Category.objects.get_or_create(
            name=name, defaults={"display_order": order}
        )
    season, _created = Season.objects.get_or_create(
        name=HIGH_SEASON["name"],
        defaults={"start_date": HIGH_SEASON["start_date"], "end_date": HIGH_SEASON["end_date"]},
    )
    rental = _rental_item(stores["渋谷店"], categories["レンタル用品"])
    _room_item(stores["渋谷店"], categories["会議室"], season)
    lesson = _lesson_item(stores["横浜店"], categories["レッスン"])
    studio = _studio_item(stores["横浜店"], categories["会議室"])
    stdout.write(f"Items        {RENTAL_CODE}, {ROOM_CODE}, {LESSON_CODE}, {STUDIO_CODE} (承認制)")
    _demo_reservations(stdout, rental, lesson, studio)
    _demo_past_booking(stdout, rental)


def _demo_past_booking(stdout, rental: Item) -> None:
    """A booking of the demo member last week, completed, so the member site offers "Write a review" and
    the review admin has something to approve. Made through the services at last week's time; idempotent
    (only when the member has no completed booking)."""
    from members.demo import MEMBER_EMAIL
    from members.models import Member

    member = Member.objects.filter(email=MEMBER_EMAIL).first()
    if (
        member is None
        or Reservation.objects.filter(member=member, status=Reservation.Status.COMPLETED).exists()
    ):
        return
    day = timezone.localdate() - timedelta(days=7)
    try:
        reservation = services.reservation_create(
            member=member,
            by=None,
            system="demo_data",
            item=rental,
            starts_at=_at(day, time(10)),
            ends_at=_at(day, time(12)),
            payment_method="counter",
            channel=Reservation.Channel.ADMIN,
            now=_at(day - timedelta(days=3), time(9)),
        )
        if reservation.status == Reservation.Status.TENTATIVE:
            services.reservation_confirm(reservation=reservation, by=None, system="demo_data")
        services.reservation_complete(reservation=reservation, by=None, system="demo_data")
    except DomainError as error:
        stdout.write(f"Reservation  skipped the completed booking of {day:%Y-%m-%d}: {error}")
    else:
        stdout.write(f"Reservation  #{reservation.pk} {rental.name} {day:%Y-%m-%d} completed, to review")


def _general_settings() -> ReservationSettings:
    """一般設定 › 予約設定: every day and 祝 10:00–20:00 in 30-minute steps, at least 60 minutes."""
    general, _created = ReservationSettings.objects.get_or_create(
        item=None,
        defaults={"time_step_minutes": 30, "min_minutes": 60, "max_minutes": 0},
    )
    if not general.hours.exists():
        AcceptanceHours.objects.bulk_create(
            AcceptanceHours(settings=general, weekday=weekday, opens_at=time(10), closes_at=time(20))
            for weekday in EVERY_DAY
        )
    return general


def _rental_item(store: Store, category: Category) -> Item:
    """Seed 003's per-time-unit example: {1 hour: 1,000 yen, 3 hours: 2,000 yen}."""
    item, created = Item.objects.get_or_create(
        code=RENTAL_CODE,
        defaults={
            "store": store,
            "category": category,
            "name": "キャンプテント(4人用)",
            "stock": 3,
            "display_order": 1,
            "catchphrase": "手ぶらでキャンプ、設営かんたん",
            "summary": (
                "4人まで使えるドーム型テントです。ペグ・ハンマー・グランドシート付き。"
                "1時間単位で借りられ、3時間パックがお得です。"
            ),
            "free_area": "<h3>セット内容</h3><ul><li>テント本体</li><li>ペグ 12本</li><li>ハンマー</li></ul>",
            "display_price": "1時間 1,000円 / 3時間 2,000円",
            "price_type": Item.PriceType.PER_UNIT,
            "reservation_type": Item.ReservationType.FREE,
        },
    )
    if created:
        PriceUnit.objects.bulk_create(
            [
                PriceUnit(item=item, minutes=60, price_yen=1000),
                PriceUnit(item=item, minutes=180, price_yen=2000),
            ]
        )
    return item


def _room_item(store: Store, category: Category, season: Season) -> Item:
    """Seed 003's weekday example, configured the correct way: high-season rules first, then weekday
    and weekend/祝 rules for the rest of the year, so no day falls through to 0 yen."""
    item, created = Item.objects.get_or_create(
        code=ROOM_CODE,
        defaults={
            "store": store,
            "category": category,
            "name": "会議室A(6名)",
            "stock": 1,
            "display_order": 2,
            "catchphrase": "駅近、プロジェクター完備の会議室",
            "summary": (
                "6名まで使える会議室です。プロジェクター・ホワイトボード・Wi-Fiを無料でご利用いただけます。"
            ),
            "display_price": "平日 2,000円〜 / 日",
            "price_type": Item.PriceType.PER_WEEKDAY,
            "reservation_type": Item.ReservationType.FREE,
        },
    )
    if created:
        rules = [
            (WEEKEND_AND_HOLIDAYS, "ハイシーズン土日料金", 4000, season),
            (EVERY_DAY, "ハイシーズン平日料金", 3000, season),
            ([MON, TUE, WED, THU, FRI], "平日料金", 2000, None),
            (WEEKEND_AND_HOLIDAYS, "土日祝料金", 2500, None),
        ]
        WeekdayPriceRule.objects.bulk_create(
            WeekdayPriceRule(
                item=item, position=position, weekdays=days, label=label, price_yen=price, season=rule_season
            )
            for position, (days, label, price, rule_season) in enumerate(rules, start=1)
        )
    return item


def _lesson_item(store: Store, category: Category) -> Item:
    """A fixed-type lesson: Mon/Wed/Fri 10:00–11:00 and 18:00–19:00, 8 places, 2,500 yen a lesson (or one
    use of a yoga ticket: tickets' demo)."""
    item, created = Item.objects.get_or_create(
        code=LESSON_CODE,
        defaults={
            "store": store,
            "category": category,
            "name": "はじめてのヨガ",
            "stock": 8,
            "display_order": 3,
            "catchphrase": "初心者歓迎、60分でリフレッシュ",
            "summary": (
                "はじめての方向けのヨガレッスンです。マットは無料でお貸しします。"
                "動きやすい服装でお越しください。"
            ),
            "display_price": "1回 2,500円（ヨガ回数券・体験チケットが使えます）",
            "price_type": Item.PriceType.PER_UNIT,
            "reservation_type": Item.ReservationType.FIXED,
        },
    )
    if created:
        PriceUnit.objects.create(item=item, minutes=60, price_yen=2500)
        RepeatingEvent.objects.bulk_create(
            RepeatingEvent(
                item=item, weekday=weekday, starts_at=time(start), ends_at=time(start + 1), capacity=8
            )
            for weekday in (MON, WED, FRI)
            for start in (10, 18)
        )
    return item


def _studio_item(store: Store, category: Category) -> Item:
    """A photo studio under approval (承認制, its own settings): members' bookings wait for staff."""
    item, created = Item.objects.get_or_create(
        code=STUDIO_CODE,
        defaults={
            "store": store,
            "category": category,
            "name": "撮影スタジオ(承認制)",
            "stock": 1,
            "display_order": 4,
            "catchphrase": "自然光の白ホリゾントスタジオ",
            "summary": "ご予約はスタッフが内容を確認してから確定します(承認制)。1時間 3,000円。",
            "display_price": "1時間 3,000円",
            "price_type": Item.PriceType.PER_UNIT,
            "reservation_type": Item.ReservationType.FREE,
        },
    )
    if created:
        PriceUnit.objects.create(item=item, minutes=60, price_yen=3000)
        # Its own settings (個別予約設定): the general hours, under approval, declined after 48 hours.
        own = ReservationSettings.objects.create(
            item=item, time_step_minutes=30, min_minutes=60, approval_required=True, approval_hours=48
        )
        AcceptanceHours.objects.bulk_create(
            AcceptanceHours(settings=own, weekday=weekday, opens_at=time(10), closes_at=time(20))
            for weekday in EVERY_DAY
        )
        Item.objects.filter(pk=item.pk).update(uses_own_settings=True)
        item.refresh_from_db()
    return item


def _demo_reservations(stdout, rental: Item, lesson: Item, studio: Item) -> None:
    """Bookings of the demo member a few days ahead, made through the booking service (one of them a
    request awaiting approval, for the staff home)."""
    from members.demo import MEMBER_EMAIL  # members loads its demo data first (INSTALLED_APPS order)
    from members.models import Member

    member = Member.objects.filter(email=MEMBER_EMAIL).first()
    if member is None or Reservation.objects.filter(member=member).exists():
        return
    today = timezone.localdate()
    rental_day = today + timedelta(days=3)
    lesson_day = next(
        today + timedelta(days=offset)
        for offset in range(2, 9)
        if (today + timedelta(days=offset)).weekday() in (MON, WED, FRI)
    )
    bookings = [
        (rental, rental_day, time(10), time(13), 2, "counter"),
        (lesson, lesson_day, time(10), time(11), 1, "counter"),
        (studio, rental_day, time(14), time(16), 1, "counter"),
    ]
    for item, day, start, end, quantity, method in bookings:
        try:
            reservation = services.reservation_create(
                member=member,
                by=None,
                system="demo_data",
                item=item,
                starts_at=_at(day, start),
                ends_at=_at(day, end),
                quantity=quantity,
                payment_method=method,
            )
        except DomainError as error:
            stdout.write(f"Reservation  skipped {item.code} on {day:%Y-%m-%d}: {error}")
        else:
            stdout.write(f"Reservation  #{reservation.pk} {item.name} {day:%Y-%m-%d} for {member.email}")


def _at(day: date, moment: time) -> datetime:
    return datetime.combine(day, moment, tzinfo=JST)
