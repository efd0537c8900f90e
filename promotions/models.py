"""Promotions (SPEC §9, seed 002 SuperSaaS クーポン/プロモーション): coupons and their redemptions.

A coupon's `used_count` is the cached count of its standing redemptions; it changes only by a single
conditional UPDATE (promotions.redemption), and the CHECK below is the database's last word on the limit.
Redemptions are history: a cancellation that gives the use back sets `released_at`, never deletes."""

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from core import limits
from core.models import TimeStampedModel
from inventory.models import WEEKDAY_CHOICES
from promotions.codes import MAX_CODE_LENGTH, validate_code


class Coupon(TimeStampedModel):
    """クーポン: a code a member enters at checkout for a percent or yen discount."""

    class DiscountKind(models.TextChoices):
        PERCENT = "percent", _("Percent off")
        YEN = "yen", _("Yen off")

    code = models.CharField(
        _("code"),
        max_length=MAX_CODE_LENGTH,
        unique=True,
        validators=[validate_code],
        help_text=_("Half-width letters and digits; case does not matter (stored upper-case)."),
    )
    description = models.CharField(
        _("description"), max_length=200, blank=True, help_text=_("For staff only; members never see it.")
    )
    valid_from = models.DateTimeField(
        _("valid from"), null=True, blank=True, help_text=_("Empty: valid from now on.")
    )
    valid_until = models.DateTimeField(
        _("valid until"),
        null=True,
        blank=True,
        help_text=_("Not valid from this moment on (a coupon until 10:00 works at 9:59:59). Empty: no end."),
    )
    usage_limit = models.PositiveIntegerField(
        _("usage limit"),
        null=True,
        blank=True,
        validators=limits.at_most(limits.MAX_COUNT * 1000),
        help_text=_("How many times it can be used in all. 1: once. 0 or empty: no limit."),
    )
    per_member_limit = models.PositiveIntegerField(
        _("per-member limit"),
        null=True,
        blank=True,
        validators=limits.at_most(limits.MAX_COUNT),
        help_text=_("How many times one member can use it. 0 or empty: no limit."),
    )
    discount_kind = models.CharField(
        _("discount kind"), max_length=10, choices=DiscountKind, default=DiscountKind.PERCENT
    )
    discount_value = models.PositiveIntegerField(
        _("discount"),
        validators=limits.at_most(limits.MAX_YEN),
        help_text=_("Percent (0–100; 100 makes the booking free, 0 marks a give-away) or yen."),
    )
    items = models.ManyToManyField(
        "inventory.Item", verbose_name=_("items"), blank=True, related_name="coupons"
    )
    categories = models.ManyToManyField(
        "inventory.Category", verbose_name=_("categories"), blank=True, related_name="coupons"
    )
    gives_back_on_cancel = models.BooleanField(
        _("cancelling gives the use back"),
        default=False,
        help_text=_(
            "Off: a cancelled booking still counts as a use (members cannot recover uses by cancelling)."
        ),
    )
    used_count = models.PositiveIntegerField(
        _("times used"), default=0, editable=False, validators=limits.at_most(limits.MAX_COUNT * 1000)
    )
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("coupon")
        verbose_name_plural = _("coupons")
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(
                condition=Q(usage_limit__isnull=True)
                | Q(usage_limit=0)
                | Q(used_count__lte=F("usage_limit")),
                name="coupon_used_within_limit",
            ),
            models.CheckConstraint(
                condition=~Q(discount_kind="percent") | Q(discount_value__lte=limits.MAX_PERCENT),
                name="coupon_percent_at_most_100",
            ),
            models.CheckConstraint(
                condition=Q(discount_kind__in=["percent", "yen"]), name="coupon_discount_kind_valid"
            ),
            models.CheckConstraint(
                condition=Q(valid_from__isnull=True)
                | Q(valid_until__isnull=True)
                | Q(valid_until__gt=F("valid_from")),
                name="coupon_window_ends_after_start",
            ),
        ]

    def __str__(self) -> str:
        return self.code

    @property
    def is_limited(self) -> bool:
        return bool(self.usage_limit)

    @property
    def uses_left(self) -> int | None:
        """None: unlimited."""
        return max(self.usage_limit - self.used_count, 0) if self.usage_limit else None

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        from promotions.codes import normalise_code

        self.code = normalise_code(self.code)
        errors = {}
        if (
            self.discount_kind == self.DiscountKind.PERCENT
            and (self.discount_value or 0) > limits.MAX_PERCENT
        ):
            errors["discount_value"] = _("A percentage is at most 100.")
        if self.valid_from and self.valid_until and self.valid_until <= self.valid_from:
            errors["valid_until"] = _("The end must be after the start.")
        if errors:
            raise ValidationError(errors)


class CouponRedemption(models.Model):
    """One use of a coupon by one order. Kept as history: giving the use back sets released_at."""

    coupon = models.ForeignKey(
        Coupon, verbose_name=_("coupon"), on_delete=models.PROTECT, related_name="redemptions"
    )
    order = models.ForeignKey(
        "payments.Order", verbose_name=_("order"), on_delete=models.PROTECT, related_name="coupon_redemptions"
    )
    member = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("member"),
        on_delete=models.PROTECT,
        related_name="coupon_redemptions",
    )
    discount_yen = models.PositiveIntegerField(
        _("discount (yen)"), default=0, validators=limits.at_most(limits.MAX_YEN)
    )
    redeemed_at = models.DateTimeField(_("redeemed at"), db_index=True)
    released_at = models.DateTimeField(
        _("use given back at"),
        null=True,
        blank=True,
        help_text=_("Set when a cancellation gave the use back."),
    )

    class Meta:
        verbose_name = _("coupon redemption")
        verbose_name_plural = _("coupon redemptions")
        ordering = ["-redeemed_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["order", "coupon"], name="coupon_redemption_once_per_order"),
            models.CheckConstraint(
                condition=Q(released_at__isnull=True) | Q(released_at__gte=F("redeemed_at")),
                name="coupon_redemption_released_after_redeemed",
            ),
        ]
        indexes = [models.Index(fields=["coupon", "member"], name="coupon_redemption_member_idx")]

    def __str__(self) -> str:
        return f"{self.coupon} / #{self.order_id}"

    @property
    def is_standing(self) -> bool:
        return self.released_at is None


# --- Price rules (価格のルール, SPEC §9) -------------------------------------------------------------------


class PriceRule(TimeStampedModel):
    """A discount by the BOOKED time (the reservation's start, JST) and item: checked by position, the first
    active rule whose conditions all match applies (promotions.price_rules.matching_rule). An empty
    condition matches anything."""

    class Kind(models.TextChoices):
        PERCENT = "percent", _("Percent off")
        YEN = "yen", _("Yen off")

    name = models.CharField(_("name"), max_length=100)
    position = models.PositiveIntegerField(
        _("order"), default=1, validators=limits.at_most(limits.MAX_DISPLAY_ORDER)
    )
    is_active = models.BooleanField(_("active"), default=True)
    starts_from = models.DateTimeField(
        _("bookings starting from"), null=True, blank=True, help_text=_("Empty: no start limit.")
    )
    starts_until = models.DateTimeField(
        _("bookings starting before"),
        null=True,
        blank=True,
        help_text=_("Empty: no end limit. A booking starting exactly at this time does not match."),
    )
    weekdays = ArrayField(
        models.PositiveSmallIntegerField(choices=WEEKDAY_CHOICES),
        verbose_name=_("weekdays"),
        size=8,
        default=list,
        blank=True,
        help_text=_("None ticked: every day. A national holiday matches Holiday (祝), not its weekday."),
    )
    time_from = models.TimeField(_("start time from"), null=True, blank=True)
    time_until = models.TimeField(
        _("start time before"),
        null=True,
        blank=True,
        help_text=_("Of the booking's start time; a booking starting exactly at this time does not match."),
    )
    items = models.ManyToManyField("inventory.Item", verbose_name=_("items"), blank=True, related_name="+")
    categories = models.ManyToManyField(
        "inventory.Category", verbose_name=_("categories"), blank=True, related_name="+"
    )
    kind = models.CharField(_("discount type"), max_length=10, choices=Kind.choices, default=Kind.PERCENT)
    percent = models.PositiveSmallIntegerField(
        _("percent off"), default=0, validators=limits.at_most(limits.MAX_PERCENT)
    )
    yen = models.PositiveIntegerField(_("yen off"), default=0, validators=limits.at_most(limits.MAX_YEN))

    class Meta:
        verbose_name = _("price rule")
        verbose_name_plural = _("price rules")
        ordering = ["position", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(percent__lte=100), name="promotions_price_rule_percent_lte_100"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class PriceRuleUse(models.Model):
    """Which rule priced an order and by how much (the staff panel and the order's history)."""

    order = models.ForeignKey(
        "payments.Order", verbose_name=_("order"), on_delete=models.CASCADE, related_name="price_rule_uses"
    )
    rule = models.ForeignKey(
        PriceRule, verbose_name=_("price rule"), on_delete=models.PROTECT, related_name="uses"
    )
    discount_yen = models.PositiveIntegerField(_("discount (yen)"))
    at = models.DateTimeField(_("at"))

    class Meta:
        verbose_name = _("price rule use")
        verbose_name_plural = _("price rule uses")
        ordering = ["-at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["order", "rule"], name="promotions_price_rule_use_once"),
        ]

    def __str__(self) -> str:
        return f"{self.rule} → #{self.order_id}: ¥{self.discount_yen:,}"
