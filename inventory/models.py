from datetime import timedelta

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Length
from django.db.models.lookups import LessThanOrEqual
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core import limits
from core.models import TimeStampedModel
from core.sanitize import sanitize_html

WEEKDAY_CHOICES = [
    (0, _("Mon")),
    (1, _("Tue")),
    (2, _("Wed")),
    (3, _("Thu")),
    (4, _("Fri")),
    (5, _("Sat")),
    (6, _("Sun")),
    (7, _("Holiday")),  # 祝: Japanese national holidays, from the holidays package
]


class Store(TimeStampedModel):
    """A shop location. Items belong to one store."""

    name = models.CharField(_("name"), max_length=100, unique=True)
    address = models.CharField(_("address"), max_length=255, blank=True)
    phone = models.CharField(_("phone"), max_length=20, blank=True)
    opening_hours = models.TextField(
        _("opening hours"),
        blank=True,
        help_text=_("Shown to members as written, e.g. 10:00〜20:00 (closed on Tuesdays)."),
    )
    display_order = models.PositiveIntegerField(
        _("display order"), default=1, validators=limits.at_most(limits.MAX_DISPLAY_ORDER)
    )
    is_public = models.BooleanField(
        _("public"), default=True, help_text=_("Hidden from the member site when off.")
    )
    staff = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        verbose_name=_("staff of this store"),
        blank=True,
        related_name="staff_stores",
        limit_choices_to={"is_staff": True},
        help_text=_(
            "Staff who work here see this store's bookings on the staff home and in the reservation list. "
            "A staff member named at no store (and every superuser) sees every store."
        ),
    )

    class Meta:
        verbose_name = _("store")
        verbose_name_plural = _("stores")
        ordering = ["display_order", "id"]

    def __str__(self) -> str:
        return self.name


class Category(TimeStampedModel):
    """分類: groups items on the member site."""

    name = models.CharField(_("name"), max_length=100, unique=True)
    display_order = models.PositiveIntegerField(
        _("display order"), default=1, validators=limits.at_most(limits.MAX_DISPLAY_ORDER)
    )

    class Meta:
        verbose_name = _("category")
        verbose_name_plural = _("categories")
        ordering = ["display_order", "id"]

    def __str__(self) -> str:
        return self.name


class Season(TimeStampedModel):
    """A named date range from the general settings (e.g. ハイシーズン 2025-07-01|2025-08-31), inclusive."""

    name = models.CharField(_("name"), max_length=50)
    start_date = models.DateField(_("first day"))
    end_date = models.DateField(_("last day"))

    class Meta:
        verbose_name = _("season")
        verbose_name_plural = _("seasons")
        ordering = ["start_date", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(end_date__gte=F("start_date")), name="season_end_after_start"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.start_date:%Y-%m-%d}|{self.end_date:%Y-%m-%d})"


class ReservationSettings(TimeStampedModel):
    """予約設定: the general settings (item is empty) or one item's own settings (個別予約設定)."""

    class Schedule(models.TextChoices):
        REGULAR = "regular", _("Regular (the weekly acceptance hours)")
        IRREGULAR = "irregular", _("Irregular (only days staff open)")

    item = models.OneToOneField(
        "inventory.Item",
        verbose_name=_("item"),
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="own_settings",
    )
    schedule = models.CharField(
        _("acceptance schedule"), max_length=10, choices=Schedule, default=Schedule.REGULAR
    )
    time_step_minutes = models.PositiveIntegerField(
        _("time step (minutes)"), default=30, validators=limits.between(5, limits.MINUTES_PER_DAY)
    )
    min_minutes = models.PositiveIntegerField(
        _("minimum length (minutes)"), default=30, validators=limits.at_most(limits.MINUTES_PER_DAY)
    )
    max_minutes = models.PositiveIntegerField(
        _("maximum length (minutes)"),
        default=0,
        validators=limits.at_most(limits.MINUTES_PER_DAY),
        help_text=_("0 means no limit."),
    )
    book_ahead_days = models.PositiveIntegerField(
        _("bookable days ahead"),
        default=60,
        validators=limits.at_most(limits.MAX_DAYS),
        help_text=_("How far ahead bookings open. 0 means no limit."),
    )
    booking_deadline_minutes = models.PositiveIntegerField(
        _("booking deadline (minutes before start)"),
        default=0,
        validators=limits.at_most(limits.MAX_DEADLINE_MINUTES),
    )
    cancel_deadline_minutes = models.PositiveIntegerField(
        _("cancellation deadline (minutes before start)"),
        default=24 * 60,
        validators=limits.at_most(limits.MAX_DEADLINE_MINUTES),
    )
    tentative_hold_minutes = models.PositiveIntegerField(
        _("unpaid tentative reservations are released after (minutes)"),
        default=30,
        validators=limits.between(1, limits.MAX_HOLD_MINUTES),
    )
    approval_required = models.BooleanField(
        _("bookings need staff approval"),
        default=False,
        help_text=_(
            "承認制: a member's booking waits, with its places held, until staff approve or decline it. "
            "Card bookings are paid after approval, through a payment link e-mailed to the member."
        ),
    )
    approval_hours = models.PositiveIntegerField(
        _("declined automatically when not approved within (hours)"),
        default=48,
        validators=[MinValueValidator(1), MaxValueValidator(24 * 90)],
        help_text=_(
            "A booking still waiting is declined at this time after the request, or at its booking "
            "deadline when that comes first."
        ),
    )

    class Meta:
        verbose_name = _("reservation settings")
        verbose_name_plural = _("reservation settings")
        constraints = [
            # NULLS NOT DISTINCT (PostgreSQL 15+): at most one general row (item empty).
            models.UniqueConstraint(fields=["item"], name="one_settings_row_per_item", nulls_distinct=False),
            models.CheckConstraint(
                condition=Q(max_minutes=0) | Q(max_minutes__gte=F("min_minutes")),
                name="settings_max_at_least_min",
            ),
        ]

    def __str__(self) -> str:
        return str(_("General reservation settings")) if self.item_id is None else f"{self.item}"

    @classmethod
    def general(cls) -> "ReservationSettings":
        settings_row, _created = cls.objects.get_or_create(item=None)
        return settings_row


class AcceptanceHours(models.Model):
    """受付時間: when bookings are accepted on one weekday (7 = national holidays)."""

    settings = models.ForeignKey(ReservationSettings, on_delete=models.CASCADE, related_name="hours")
    weekday = models.PositiveSmallIntegerField(_("weekday"), choices=WEEKDAY_CHOICES)
    opens_at = models.TimeField(_("opens at"))
    closes_at = models.TimeField(_("closes at"))

    class Meta:
        verbose_name = _("acceptance hours")
        verbose_name_plural = _("acceptance hours")
        ordering = ["weekday"]
        constraints = [
            models.UniqueConstraint(fields=["settings", "weekday"], name="acceptance_hours_one_per_weekday"),
            models.CheckConstraint(
                condition=Q(closes_at__gt=F("opens_at")), name="acceptance_closes_after_open"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_weekday_display()} {self.opens_at:%H:%M}–{self.closes_at:%H:%M}"


class Item(TimeStampedModel):
    """アイテム: something bookable — rental goods, a room, a lesson or a course."""

    class PriceType(models.TextChoices):
        NONE = "none", _("No charge (料金計算しない)")
        PER_UNIT = "per_unit", _("Per time unit (一定時間毎に料金を加算)")
        PER_WEEKDAY = "per_weekday", _("Per weekday (曜日毎に料金設定)")

    class ReservationType(models.TextChoices):
        FREE = "free", _("Free: members choose start and end (自由予約)")
        FIXED = "fixed", _("Fixed slots (固定予約)")

    store = models.ForeignKey(Store, verbose_name=_("store"), on_delete=models.PROTECT, related_name="items")
    category = models.ForeignKey(
        Category,
        verbose_name=_("category"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="items",
    )
    is_public = models.BooleanField(
        _("public"), default=True, help_text=_("Private items are hidden from the member site.")
    )
    display_order = models.PositiveIntegerField(
        _("display order"), default=1, validators=limits.at_most(limits.MAX_DISPLAY_ORDER)
    )
    code = models.CharField(_("item code"), max_length=50, unique=True)
    name = models.CharField(_("item name"), max_length=120)
    stock = models.PositiveIntegerField(
        _("stock"),
        default=1,
        validators=limits.between(1, limits.MAX_COUNT),
        help_text=_("Units that can be out at once."),
    )
    staff_memo = models.TextField(_("staff memo"), blank=True)
    main_image = models.ImageField(_("main image"), upload_to="items/", blank=True)
    catchphrase = models.CharField(
        _("catchphrase"), max_length=60, blank=True, help_text=_("About 30 characters.")
    )
    summary = models.TextField(
        _("summary"), max_length=400, blank=True, help_text=_("About 200 to 300 characters.")
    )
    free_area = models.TextField(
        _("free area (HTML)"),
        blank=True,
        help_text=_("HTML is allowed; scripts and unsafe markup are removed."),
    )
    display_price = models.CharField(
        _("price (display only)"),
        max_length=100,
        blank=True,
        help_text=_("Shown to members as written; never used to calculate a price."),
    )
    price_type = models.CharField(
        _("price calculation"), max_length=12, choices=PriceType, default=PriceType.NONE
    )
    reservation_type = models.CharField(
        _("reservation type"), max_length=6, choices=ReservationType, default=ReservationType.FREE
    )
    uses_own_settings = models.BooleanField(
        _("own reservation settings"),
        default=False,
        help_text=_("Use this item's own reservation settings instead of the general ones (個別予約設定)."),
    )
    counter_payment_allowed = models.BooleanField(
        _("members may pay at the counter for this item"),
        default=True,
        help_text=_(
            "Offered only while the shop's payment settings also allow paying at the counter; switch it off "
            "for items that must be paid in advance."
        ),
    )

    class Meta:
        verbose_name = _("item")
        verbose_name_plural = _("items")
        ordering = ["display_order", "id"]
        constraints = [models.CheckConstraint(condition=Q(stock__gte=1), name="item_stock_at_least_one")]

    def __str__(self) -> str:
        return f"{self.name} [{self.code}]"

    def save(self, *args, **kwargs):
        # Sanitised on save (and again on display): what is stored is already safe.
        self.free_area = sanitize_html(self.free_area)
        super().save(*args, **kwargs)

    def reservation_settings(self) -> ReservationSettings:
        if self.uses_own_settings:
            own = ReservationSettings.objects.filter(item=self).prefetch_related("hours").first()
            if own is not None:
                return own
        return ReservationSettings.objects.prefetch_related("hours").get_or_create(item=None)[0]


class ItemImage(models.Model):
    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="images")
    image = models.ImageField(_("image"), upload_to="items/")
    caption = models.CharField(_("caption"), max_length=100, blank=True)
    display_order = models.PositiveIntegerField(
        _("display order"), default=1, validators=limits.at_most(limits.MAX_DISPLAY_ORDER)
    )

    class Meta:
        verbose_name = _("detail image")
        verbose_name_plural = _("detail images")
        ordering = ["display_order", "id"]

    def __str__(self) -> str:
        return self.caption or self.image.name


class PriceUnit(models.Model):
    """単位時間料金: e.g. 1 hour 1,000 yen. The cheapest combination covering the booking is charged."""

    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="price_units")
    minutes = models.PositiveIntegerField(
        _("length (minutes)"), validators=limits.between(1, limits.MINUTES_PER_DAY)
    )
    price_yen = models.PositiveIntegerField(_("price (yen)"), validators=limits.at_most(limits.MAX_YEN))

    class Meta:
        verbose_name = _("time unit price")
        verbose_name_plural = _("time unit prices")
        ordering = ["minutes"]
        constraints = [
            models.UniqueConstraint(fields=["item", "minutes"], name="price_unit_one_per_length"),
            models.CheckConstraint(condition=Q(minutes__gte=1), name="price_unit_positive_length"),
        ]

    def __str__(self) -> str:
        return f"{self.minutes} min: ¥{self.price_yen:,}"


class WeekdayPriceRule(models.Model):
    """曜日毎の料金: checked top to bottom; the first rule matching the day gives its price."""

    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="weekday_rules")
    position = models.PositiveIntegerField(
        _("order"), default=1, validators=limits.at_most(limits.MAX_DISPLAY_ORDER)
    )
    weekdays = ArrayField(
        models.PositiveSmallIntegerField(choices=WEEKDAY_CHOICES), verbose_name=_("weekdays"), size=8
    )
    label = models.CharField(_("label"), max_length=50)
    price_yen = models.PositiveIntegerField(_("price (yen)"), validators=limits.at_most(limits.MAX_YEN))
    season = models.ForeignKey(
        Season, verbose_name=_("season"), on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        verbose_name = _("weekday price rule")
        verbose_name_plural = _("weekday price rules")
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return f"{self.position}. {self.label}: ¥{self.price_yen:,}"


class RepeatingEvent(models.Model):
    """繰り返しイベント: a weekly slot of a fixed-type item, optionally only within a period."""

    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="repeating_events")
    weekday = models.PositiveSmallIntegerField(_("weekday"), choices=WEEKDAY_CHOICES[:7])
    starts_at = models.TimeField(_("start"))
    ends_at = models.TimeField(_("end"))
    capacity = models.PositiveIntegerField(
        _("capacity"),
        null=True,
        blank=True,
        validators=limits.at_most(limits.MAX_COUNT),
        help_text=_("Empty: the stock."),
    )
    valid_from = models.DateField(_("from"), null=True, blank=True)
    valid_until = models.DateField(_("until"), null=True, blank=True)

    class Meta:
        verbose_name = _("repeating event")
        verbose_name_plural = _("repeating events")
        ordering = ["weekday", "starts_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_at__gt=F("starts_at")), name="repeating_event_ends_after_start"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_weekday_display()} {self.starts_at:%H:%M}–{self.ends_at:%H:%M}"


class IrregularEvent(models.Model):
    """不定期イベント: a one-off slot of a fixed-type item."""

    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="irregular_events")
    date = models.DateField(_("date"))
    starts_at = models.TimeField(_("start"))
    ends_at = models.TimeField(_("end"))
    capacity = models.PositiveIntegerField(
        _("capacity"),
        null=True,
        blank=True,
        validators=limits.at_most(limits.MAX_COUNT),
        help_text=_("Empty: the stock."),
    )

    class Meta:
        verbose_name = _("irregular event")
        verbose_name_plural = _("irregular events")
        ordering = ["date", "starts_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_at__gt=F("starts_at")), name="irregular_event_ends_after_start"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.date:%Y-%m-%d} {self.starts_at:%H:%M}–{self.ends_at:%H:%M}"


class AcceptanceOverride(TimeStampedModel):
    """手動受付設定: close dates (臨時休業) for a store or one item, or open dates for irregular items."""

    class Kind(models.TextChoices):
        CLOSED = "closed", _("Closed")
        OPEN = "open", _("Open")

    store = models.ForeignKey(
        Store, verbose_name=_("store"), on_delete=models.CASCADE, related_name="overrides"
    )
    item = models.ForeignKey(
        Item,
        verbose_name=_("item"),
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="overrides",
        help_text=_("Empty: every item of the store."),
    )
    kind = models.CharField(_("kind"), max_length=6, choices=Kind, default=Kind.CLOSED)
    start_date = models.DateField(_("first day"))
    end_date = models.DateField(_("last day"))
    note = models.CharField(_("note"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("manual acceptance")
        verbose_name_plural = _("manual acceptance")
        ordering = ["start_date"]
        constraints = [
            models.CheckConstraint(
                condition=Q(end_date__gte=F("start_date")), name="override_end_after_start"
            ),
        ]


class Slot(models.Model):
    """One occurrence of a fixed-type event, made when first booked. `booked` is kept in step with the
    live reservations by the services; the CHECK constraint is the last line against overselling."""

    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="slots")
    starts_at = models.DateTimeField(_("start"))
    ends_at = models.DateTimeField(_("end"))
    capacity = models.PositiveIntegerField(_("capacity"), validators=limits.at_most(limits.MAX_COUNT))
    booked = models.PositiveIntegerField(_("booked"), default=0)

    class Meta:
        verbose_name = _("slot")
        verbose_name_plural = _("slots")
        ordering = ["starts_at"]
        constraints = [
            models.UniqueConstraint(fields=["item", "starts_at", "ends_at"], name="slot_unique_occurrence"),
            models.CheckConstraint(
                condition=Q(booked__lte=F("capacity")), name="slot_booked_within_capacity"
            ),
        ]

    def __str__(self) -> str:
        starts = timezone.localtime(self.starts_at)
        return f"{self.item.name} {starts:%Y-%m-%d %H:%M} ({self.booked}/{self.capacity})"


class Reservation(TimeStampedModel):
    class Status(models.TextChoices):
        TENTATIVE = "tentative", _("Tentative")
        AWAITING = "awaiting", _("Tentative (awaiting approval)")
        CONFIRMED = "confirmed", _("Confirmed")
        CANCELLED = "cancelled", _("Cancelled")
        NO_SHOW = "no_show", _("No-show")
        COMPLETED = "completed", _("Completed")

    class Channel(models.TextChoices):
        SITE = "site", _("Member site")
        ADMIN = "admin", _("Admin")

    LIVE_STATUSES = (Status.TENTATIVE, Status.AWAITING, Status.CONFIRMED)

    member = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("member"),
        on_delete=models.PROTECT,
        related_name="reservations",
    )
    item = models.ForeignKey(
        Item, verbose_name=_("item"), on_delete=models.PROTECT, related_name="reservations"
    )
    store = models.ForeignKey(Store, verbose_name=_("store"), on_delete=models.PROTECT, related_name="+")
    slot = models.ForeignKey(
        Slot,
        verbose_name=_("slot"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="reservations",
    )
    starts_at = models.DateTimeField(_("start"), db_index=True)
    ends_at = models.DateTimeField(_("end"))
    quantity = models.PositiveIntegerField(
        _("quantity"), default=1, validators=limits.at_most(limits.MAX_COUNT)
    )
    status = models.CharField(
        _("status"), max_length=10, choices=Status, default=Status.TENTATIVE, db_index=True
    )
    price_yen = models.PositiveIntegerField(
        _("price (yen)"), default=0, validators=limits.at_most(limits.MAX_YEN)
    )
    price_breakdown = models.JSONField(_("price breakdown"), default=dict, blank=True)
    payment_method = models.CharField(_("payment method"), max_length=20)
    channel = models.CharField(_("channel"), max_length=5, choices=Channel, default=Channel.SITE)
    hold_until = models.DateTimeField(_("held until"), null=True, blank=True)
    approval_deadline = models.DateTimeField(
        _("declined automatically at"),
        null=True,
        blank=True,
        help_text=_(
            "Awaiting approval only: the earlier of the request time plus the approval hours and "
            "the booking deadline."
        ),
    )
    confirmed_at = models.DateTimeField(_("confirmed at"), null=True, blank=True)
    cancelled_at = models.DateTimeField(_("cancelled at"), null=True, blank=True)
    cancelled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("cancelled by"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    cancel_reason = models.CharField(_("cancel reason"), max_length=200, blank=True)
    completed_at = models.DateTimeField(_("completed at"), null=True, blank=True)
    no_show_at = models.DateTimeField(_("marked as no-show at"), null=True, blank=True)

    class Meta:
        verbose_name = _("reservation")
        verbose_name_plural = _("reservations")
        ordering = ["-starts_at", "-id"]
        indexes = [
            models.Index(fields=["item", "status", "starts_at", "ends_at"], name="reservation_item_live_idx")
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_at__gt=F("starts_at")), name="reservation_ends_after_start"
            ),
            models.CheckConstraint(condition=Q(quantity__gte=1), name="reservation_quantity_positive"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.item.name} {timezone.localtime(self.starts_at):%Y-%m-%d %H:%M}"

    @property
    def is_live(self) -> bool:
        return self.status in self.LIVE_STATUSES

    @property
    def duration(self) -> timedelta:
        return self.ends_at - self.starts_at


REVIEW_TEXT_MAX = 2000  # characters of a review's text, after sanitising


class Review(TimeStampedModel):
    """レビュー (SPEC §4): a member's stars and words about an item they completed a booking of, one per
    reservation. The text is plain text (inventory.reviews.clean_review_text: markup removed on save) and
    is always rendered escaped. Only approved reviews are shown; pending ones wait for staff, rejected ones
    are never shown. Whether a new review waits is the review listeners' answer (inventory.review_hooks)."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Awaiting approval")
        APPROVED = "approved", _("Shown")
        REJECTED = "rejected", _("Rejected")

    member = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("member"), on_delete=models.PROTECT, related_name="reviews"
    )
    item = models.ForeignKey(Item, verbose_name=_("item"), on_delete=models.PROTECT, related_name="reviews")
    reservation = models.ForeignKey(
        Reservation, verbose_name=_("reservation"), on_delete=models.PROTECT, related_name="reviews"
    )
    stars = models.PositiveSmallIntegerField(
        _("stars"), validators=[MinValueValidator(1), MaxValueValidator(5)]
    )
    text = models.TextField(_("review"), max_length=REVIEW_TEXT_MAX)
    status = models.CharField(_("status"), max_length=10, choices=Status, default=Status.PENDING)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("decided by"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)

    class Meta:
        verbose_name = _("review")
        verbose_name_plural = _("reviews")
        ordering = ["-created_at", "-id"]
        indexes = [
            # The item page: its shown reviews, newest first.
            models.Index(fields=["item", "status", "-created_at"], name="review_item_shown_idx"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["reservation"], name="review_one_per_reservation"),
            models.CheckConstraint(condition=Q(stars__gte=1, stars__lte=5), name="review_stars_1_5"),
            models.CheckConstraint(
                condition=Q(status__in=["pending", "approved", "rejected"]), name="review_status_known"
            ),
            models.CheckConstraint(
                condition=LessThanOrEqual(Length("text"), REVIEW_TEXT_MAX), name="review_text_length"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.item.name} ★{self.stars} #{self.pk}"

    @property
    def star_marks(self) -> str:
        return "★" * self.stars + "☆" * (5 - self.stars)
