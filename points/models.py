"""Points (SPEC §8, seed 004 ebisumart ポイント): the shop's point settings, each member's cached balance,
the append-only ledger of every change, the lots (what is left of each grant, with its expiry) and the
allocations (which lots a use, an expiry or a take-back drew from), so a reversal restores exactly.

Invariants (`manage.py check_ledgers`, points.selectors.ledger_report):
- an account's balance is the sum of its entries' deltas and the sum of its lots' remaining;
- a lot's remaining is its amount minus what allocations drew from it.
Expiry dates are inclusive JST dates: points expiring on D are usable through D and expire on D + 1."""

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from core import limits
from core.models import TimeStampedModel

MAX_POINTS = 100_000_000  # a balance, a grant or an adjustment: one hundred million points
MAX_PERIOD_MONTHS = 120


class PointSettings(TimeStampedModel):
    """ポイント情報 (one row): how members earn, spend and lose points."""

    class ReviewRule(models.TextChoices):
        NONE = "none", _("No points for reviews")
        WITHOUT_APPROVAL = "without_approval", _("Points when posted (no approval)")  # 承認なし
        AFTER_APPROVAL = "after_approval", _("Points when staff approve")  # 承認あり

    class UsageMode(models.IntegerChoices):
        # ポイント利用区分 (seed 004)
        ALL = 1, _("Points can pay for every product")
        NONE_WHEN_MIXED = 2, _("No points when the cart mixes point-payable and other products")
        PAYABLE_ONLY_NO_FEES = 3, _("Point-payable products only; fees cannot be paid with points")
        PAYABLE_ONLY_WITH_FEES = 4, _("Point-payable products only; fees can be paid with points")

    class ExpiryMethod(models.TextChoices):
        PER_RECORD = "per_record", _("Per record (each grant expires on its own)")  # レコード単位
        WHOLE_BALANCE = "whole_balance", _("Whole balance (one date, moved on every grant or use)")

    base_rate_percent = models.PositiveIntegerField(
        _("base rate (%)"),
        default=1,
        validators=limits.at_most(limits.MAX_PERCENT),
        help_text=_("Points per 100 yen of each line, rounded down, unless the product sets its own."),
    )
    signup_points = models.PositiveIntegerField(
        _("sign-up points"),
        default=0,
        validators=limits.at_most(limits.MAX_POINTS_PER_UNIT),
        help_text=_("Granted at the member's first login. 0: none."),
    )
    review_rule = models.CharField(
        _("review points"), max_length=20, choices=ReviewRule, default=ReviewRule.NONE
    )
    review_points = models.PositiveIntegerField(
        _("points per review"), default=0, validators=limits.at_most(limits.MAX_POINTS_PER_UNIT)
    )
    usage_mode = models.PositiveSmallIntegerField(
        _("point usage"),
        choices=UsageMode,
        default=UsageMode.ALL,
        validators=limits.between(1, 4),
    )
    expiry_method = models.CharField(
        _("expiry method"),
        max_length=20,
        choices=ExpiryMethod,
        default=ExpiryMethod.PER_RECORD,
        help_text=_("Switching it later is an explicit command (it says what it will do first)."),
    )
    period_months = models.PositiveIntegerField(
        _("validity (months)"),
        default=12,
        validators=limits.between(1, MAX_PERIOD_MONTHS),
        help_text=_(
            "A new period never changes expiry dates already set; it applies from the next grant or use."
        ),
    )

    class Meta:
        verbose_name = _("point settings")
        verbose_name_plural = _("point settings")
        constraints = [
            models.CheckConstraint(condition=Q(id=1), name="point_settings_single_row"),
            models.CheckConstraint(
                condition=Q(usage_mode__gte=1, usage_mode__lte=4), name="point_usage_mode_1_4"
            ),
            models.CheckConstraint(condition=Q(period_months__gte=1), name="point_settings_period_ge_1"),
        ]

    def __str__(self) -> str:
        return str(_("Point settings"))

    @classmethod
    def current(cls) -> "PointSettings":
        row, _created = cls.objects.get_or_create(pk=1)
        return row


class PointAccount(TimeStampedModel):
    """A member's points: the cached balance (the sum of the ledger, written in the same transaction as each
    entry) and, for the whole-balance expiry method, the one date the whole balance expires after."""

    member = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        verbose_name=_("member"),
        on_delete=models.PROTECT,
        related_name="point_account",
    )
    balance = models.IntegerField(_("points"), default=0, validators=limits.between(0, MAX_POINTS))
    expires_on = models.DateField(
        _("balance valid through"),
        null=True,
        blank=True,
        help_text=_("Whole-balance expiry only. Inclusive, JST."),
    )

    class Meta:
        verbose_name = _("point account")
        verbose_name_plural = _("point accounts")
        constraints = [
            # The last line: no code path may leave a member with a negative balance.
            models.CheckConstraint(condition=Q(balance__gte=0), name="point_account_balance_ge_0"),
        ]

    def __str__(self) -> str:
        return f"{self.member} ({self.balance} pt)"


class PointEntry(models.Model):
    """One change to a member's points (ポイント履歴). Append-only: never deleted; only its comment (and the
    expiry staff set) may be edited later, through a service."""

    class Kind(models.TextChoices):
        SIGNUP = "signup", _("Sign-up points")  # 会員登録ポイント付与
        PURCHASE = "purchase", _("Purchase points")  # 注文・入金ポイント付与
        REVIEW = "review", _("Review points")  # レビューポイント付与
        USE = "use", _("Used")  # ポイント利用
        EXPIRED = "expired", _("Expired")  # 失効
        GRANT_REVERSAL = "grant_reversal", _("Purchase points taken back")  # 注文・入金ポイント付与取消
        REVIEW_REVERSAL = "review_reversal", _("Review points taken back")  # レビューポイント付与取消
        USE_REVERSAL = "use_reversal", _("Use given back")  # ポイント利用取消
        OTHER = "other", _("Other")  # その他 (a manual entry)

    GRANT_KINDS = (Kind.SIGNUP, Kind.PURCHASE, Kind.REVIEW)
    # The kinds that never move the whole balance's date (seed 004, SPEC §8).
    DATE_NEUTRAL_KINDS = (
        Kind.EXPIRED,
        Kind.GRANT_REVERSAL,
        Kind.REVIEW_REVERSAL,
        Kind.USE_REVERSAL,
        Kind.OTHER,
    )

    member = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("member"),
        on_delete=models.PROTECT,
        related_name="point_entries",
    )
    kind = models.CharField(_("kind"), max_length=20, choices=Kind)
    delta = models.IntegerField(_("change"), validators=limits.between(-MAX_POINTS, MAX_POINTS))
    balance_after = models.IntegerField(_("points after"), validators=limits.between(0, MAX_POINTS))
    expires_on = models.DateField(
        _("valid through"),
        null=True,
        blank=True,
        help_text=_(
            "The expiry this entry set: its lot's (per record) or the whole balance's. Inclusive, JST."
        ),
    )
    previous_expires_on = models.DateField(
        _("balance valid through before"),
        null=True,
        blank=True,
        help_text=_(
            "Whole-balance expiry: the date before this entry moved it (a cancelled use puts it back)."
        ),
    )
    order = models.ForeignKey(
        "payments.Order",
        verbose_name=_("order"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="point_entries",
    )
    review_type = models.ForeignKey(
        ContentType, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    review_id = models.PositiveBigIntegerField(null=True, blank=True, validators=limits.at_most(2**63 - 1))
    reverses = models.ForeignKey(
        "self",
        verbose_name=_("reverses"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="reversals",
    )
    expired_lot = models.ForeignKey(
        "points.PointLot", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("by"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    system = models.CharField(_("system job"), max_length=50, blank=True)
    reason = models.CharField(_("reason"), max_length=200, blank=True)
    comment = models.CharField(_("comment"), max_length=200, blank=True)
    created_at = models.DateTimeField(_("at"), db_index=True)

    class Meta:
        verbose_name = _("point history entry")
        verbose_name_plural = _("point history")
        ordering = ["id"]
        indexes = [models.Index(fields=["member", "created_at"], name="point_entry_member_idx")]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind__in=["signup", "purchase", "review", "use_reversal"], delta__gte=1)
                | Q(kind__in=["use", "expired", "grant_reversal", "review_reversal"], delta__lte=-1)
                | (Q(kind="other") & ~Q(delta=0)),
                name="point_entry_delta_matches_kind",
            ),
            models.CheckConstraint(condition=Q(balance_after__gte=0), name="point_entry_balance_after_ge_0"),
            # Idempotency: sign-up points once per member, purchase points once per order, review points
            # once per review, each use given back and each grant taken back at most once, each lot expired
            # at most once. (A whole balance may expire again on the same date: points an "other" entry adds
            # leave the date where it is. The account's lock and a re-check after it keep a run from
            # expiring it twice.)
            models.UniqueConstraint(
                fields=["member"], condition=Q(kind="signup"), name="point_entry_one_signup"
            ),
            models.UniqueConstraint(
                fields=["order"], condition=Q(kind="purchase"), name="point_entry_one_purchase_grant"
            ),
            models.UniqueConstraint(
                fields=["review_type", "review_id"],
                condition=Q(kind="review"),
                name="point_entry_one_review_grant",
            ),
            models.UniqueConstraint(
                fields=["reverses"],
                condition=Q(kind__in=["use_reversal", "grant_reversal", "review_reversal"]),
                name="point_entry_reversed_once",
            ),
            models.UniqueConstraint(
                fields=["expired_lot"], condition=Q(kind="expired"), name="point_entry_lot_expired_once"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.delta:+d}"


class PointLot(models.Model):
    """What is left of one grant (or of points given back): spent from the lot that expires first."""

    member = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("member"),
        on_delete=models.PROTECT,
        related_name="point_lots",
    )
    entry = models.OneToOneField(
        PointEntry, verbose_name=_("granted by"), on_delete=models.PROTECT, related_name="lot"
    )
    amount = models.IntegerField(_("points granted"), validators=limits.between(1, MAX_POINTS))
    remaining = models.IntegerField(_("points left"), validators=limits.between(0, MAX_POINTS))
    expires_on = models.DateField(
        _("valid through"), null=True, blank=True, help_text=_("Inclusive, JST. Empty: no date of its own.")
    )

    class Meta:
        verbose_name = _("point lot")
        verbose_name_plural = _("point lots")
        ordering = ["id"]
        indexes = [
            models.Index(fields=["expires_on"], condition=Q(remaining__gt=0), name="point_lot_due_idx"),
            models.Index(fields=["member", "expires_on"], name="point_lot_member_idx"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gte=1), name="point_lot_amount_ge_1"),
            models.CheckConstraint(
                condition=Q(remaining__gte=0) & Q(remaining__lte=F("amount")),
                name="point_lot_remaining_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.remaining}/{self.amount} pt"


class PointAllocation(models.Model):
    """How many points one decreasing entry (a use, an expiry, a take-back, a manual minus) drew from one
    lot."""

    entry = models.ForeignKey(PointEntry, on_delete=models.PROTECT, related_name="allocations")
    lot = models.ForeignKey(PointLot, on_delete=models.PROTECT, related_name="allocations")
    amount = models.IntegerField(_("points"), validators=limits.between(1, MAX_POINTS))

    class Meta:
        verbose_name = _("point allocation")
        verbose_name_plural = _("point allocations")
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gte=1), name="point_allocation_amount_ge_1"),
            models.UniqueConstraint(fields=["entry", "lot"], name="point_allocation_once_per_lot"),
        ]

    def __str__(self) -> str:
        return f"{self.amount} pt"


class PointShortfall(models.Model):
    """Purchase points that could not all be taken back when their order was undone (seed 004: the member
    had spent them). Written once per order, with how it was settled: staff cancelled without taking them
    back, staff deducted the missing points from the refund in yen, or a refund made in the Stripe dashboard
    (which nothing can stop) took what the balance allowed; the last waits on the staff home until someone
    marks it handled."""

    class Resolution(models.TextChoices):
        KEPT = "kept", _("Cancelled without taking the points back")
        DEDUCTED = "deducted", _("Missing points deducted from the refund")
        FORCED = "forced", _("Refunded in the Stripe dashboard: points missing")

    order = models.OneToOneField(
        "payments.Order", verbose_name=_("order"), on_delete=models.PROTECT, related_name="point_shortfall"
    )
    member = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("member"), on_delete=models.PROTECT, related_name="+"
    )
    grant = models.ForeignKey(
        PointEntry, verbose_name=_("purchase points"), on_delete=models.PROTECT, related_name="shortfalls"
    )
    resolution = models.CharField(_("settled as"), max_length=10, choices=Resolution)
    points_granted = models.PositiveIntegerField(_("points granted"), validators=limits.at_most(MAX_POINTS))
    points_taken = models.PositiveIntegerField(_("points taken back"), validators=limits.at_most(MAX_POINTS))
    points_missing = models.PositiveIntegerField(_("points missing"), validators=limits.at_most(MAX_POINTS))
    deducted_yen = models.PositiveIntegerField(
        _("deducted from the refund (yen)"), default=0, validators=limits.at_most(MAX_POINTS)
    )
    created_at = models.DateTimeField(_("at"))
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("by"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    system = models.CharField(_("system job"), max_length=50, blank=True)
    handled_at = models.DateTimeField(_("handled at"), null=True, blank=True)
    handled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("handled by"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )

    class Meta:
        verbose_name = _("purchase points not taken back")
        verbose_name_plural = _("purchase points not taken back")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(points_missing__gte=1), name="point_shortfall_missing_ge_1"),
            models.CheckConstraint(
                condition=Q(points_taken__lte=F("points_granted") - F("points_missing")),
                name="point_shortfall_taken_within_granted",
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.order_id}: {self.points_missing} pt"
