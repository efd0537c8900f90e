"""Plans (SPEC §7, seeds 001 and 000): memberships with a monthly booking allowance, the time bands that
allowance is counted in, the contracts members hold, and the rules that grant tickets on contract, on the
1st of every month and for the allowance left unused — each grant recorded once per (contract, rule,
month)."""

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from core import limits
from core.models import TimeStampedModel
from inventory.models import WEEKDAY_CHOICES


class TimeBand(TimeStampedModel):
    """予約可能時間帯: a named set of windows (フルタイム, モーニング) on some weekdays (7 = 祝, a Japanese
    national holiday), defined once by staff and used by plans to count their monthly allowance."""

    name = models.CharField(_("name"), max_length=50, unique=True)
    weekdays = ArrayField(
        models.PositiveSmallIntegerField(choices=WEEKDAY_CHOICES), verbose_name=_("weekdays"), size=8
    )
    display_order = models.PositiveIntegerField(
        _("display order"), default=1, validators=limits.at_most(limits.MAX_DISPLAY_ORDER)
    )

    class Meta:
        verbose_name = _("time band")
        verbose_name_plural = _("time bands")
        ordering = ["display_order", "id"]

    def __str__(self) -> str:
        return self.name


class TimeBandWindow(models.Model):
    """One window of a band: a booking whose start time is in [starts_at, ends_at) is in the band."""

    band = models.ForeignKey(TimeBand, on_delete=models.CASCADE, related_name="windows")
    starts_at = models.TimeField(pgettext_lazy("time of day", "from"))
    ends_at = models.TimeField(pgettext_lazy("time of day", "until"))

    class Meta:
        verbose_name = _("time window")
        verbose_name_plural = _("time windows")
        ordering = ["starts_at", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(ends_at__gt=F("starts_at")), name="time_band_window_order"),
        ]

    def __str__(self) -> str:
        return f"{self.starts_at:%H:%M}–{self.ends_at:%H:%M}"


class Plan(TimeStampedModel):
    """プラン (プランマスタ; ecforce's メンバーシップ契約チケット). The monthly product is billed every month
    from the month after the contract month; the contract-month product pays for the contract month; the
    enrollment fee is charged at every new contract (also after cancelling), never at a plan change."""

    class AllowanceMode(models.TextChoices):
        PER_BAND = "per_band", _("Per time band")
        TOTAL = "total", _("One total across bands (月間全体)")

    name = models.CharField(_("plan name"), max_length=100)
    is_visible = models.BooleanField(_("shown on the member site"), default=True)
    monthly_product = models.OneToOneField(
        "payments.Product",
        verbose_name=_("monthly product (定期)"),
        on_delete=models.PROTECT,
        related_name="plan",
        help_text=_("A monthly product: its price is billed every month from the month after the contract."),
    )
    contract_month_product = models.ForeignKey(
        "payments.Product",
        verbose_name=_("contract-month product (契約月分)"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text=_("A one-time product charged with the first payment, for the month the contract starts."),
    )
    enrollment_fee_product = models.ForeignKey(
        "payments.Product",
        verbose_name=_("enrollment fee product (入会金)"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text=_(
            "A one-time product charged at every new contract, also after cancelling; never at a plan change."
        ),
    )
    stores = models.ManyToManyField(
        "inventory.Store", verbose_name=_("bookable stores"), blank=True, related_name="plans"
    )
    items = models.ManyToManyField(
        "inventory.Item", verbose_name=_("usable items"), blank=True, related_name="plans"
    )
    allowance_mode = models.CharField(
        _("monthly allowance"), max_length=10, choices=AllowanceMode, default=AllowanceMode.PER_BAND
    )
    total_allowance = models.PositiveIntegerField(
        _("bookings per month (total)"),
        null=True,
        blank=True,
        validators=limits.at_most(limits.MAX_COUNT),
        help_text=_("With one total across bands: how many bookings a month, whatever the band."),
    )
    max_concurrent = models.PositiveIntegerField(
        _("concurrent bookings limit"),
        default=0,
        validators=limits.at_most(limits.MAX_COUNT),
        help_text=_("Places booked with this plan and not yet taken place; 0: no limit."),
    )
    max_concurrent_per_day = models.PositiveIntegerField(
        _("concurrent bookings per day limit"),
        default=0,
        validators=limits.at_most(limits.MAX_COUNT),
        help_text=_("Places booked with this plan on one day; 0: no limit."),
    )
    display_order = models.PositiveIntegerField(
        _("display order"), default=1, validators=limits.at_most(limits.MAX_DISPLAY_ORDER)
    )

    class Meta:
        verbose_name = _("plan")
        verbose_name_plural = _("plans")
        ordering = ["display_order", "id"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(allowance_mode="total") | Q(total_allowance__isnull=False),
                name="plan_total_mode_has_total",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class PlanBandAllowance(models.Model):
    """予約可能数 for one band of a per-band plan: how many bookings a month start in the band. A booking
    takes from the first band, in `position` order, whose window holds its start time and that has some
    left."""

    plan = models.ForeignKey(Plan, on_delete=models.CASCADE, related_name="band_allowances")
    band = models.ForeignKey(
        TimeBand, verbose_name=_("time band"), on_delete=models.PROTECT, related_name="+"
    )
    allowance = models.PositiveIntegerField(
        _("bookings per month"), validators=limits.at_most(limits.MAX_COUNT)
    )
    position = models.PositiveIntegerField(
        _("order"), default=1, validators=limits.at_most(limits.MAX_DISPLAY_ORDER)
    )

    class Meta:
        verbose_name = _("band allowance")
        verbose_name_plural = _("band allowances")
        ordering = ["position", "id"]
        constraints = [models.UniqueConstraint(fields=["plan", "band"], name="plan_band_allowance_once")]

    def __str__(self) -> str:
        return f"{self.band}: {self.allowance}"


class GrantRule(models.Model):
    """One row of the plan's チケット自動付与 tab: a ticket type and how many, when (on a new contract made on
    the member site, on the 1st of every month, or for the allowance left last month), how long the
    granted ticket is valid, and with which plans it stays usable."""

    class Kind(models.TextChoices):
        ON_CONTRACT = "contract", _("On a new contract (新規契約時)")
        MONTHLY = "monthly", _("On the 1st of every month (毎月の定期付与)")
        CARRY_OVER = "carry_over", _("Last month's unused allowance (前月残り予約回数の繰越)")

    class ExpiryUnit(models.TextChoices):
        DAYS = "days", _("days (the grant day is day 1)")
        MONTHS = "months", _("months (to the end of a month)")

    class Restriction(models.TextChoices):
        NONE = "none", _("No restriction (制限無し)")
        ANY_PLAN = "any_plan", _("While the member has any plan (全てのプラン)")
        THIS_PLAN = "this_plan", _("This plan only (本プランのみ)")
        THIS_AND_SELECTED = "selected", _("This plan and the selected plans (本プラン + 対象プラン)")

    plan = models.ForeignKey(Plan, on_delete=models.CASCADE, related_name="grant_rules")
    kind = models.CharField(_("when"), max_length=10, choices=Kind)
    ticket_type = models.ForeignKey(
        "tickets.TicketType", verbose_name=_("ticket"), on_delete=models.PROTECT, related_name="+"
    )
    quantity = models.PositiveIntegerField(
        _("quantity (付与枚数)"),
        null=True,
        blank=True,
        validators=limits.between(1, limits.MAX_COUNT),
        help_text=_("Carry-over: the most to grant; empty grants all that was left (残り回数全て)."),
    )
    carry_band = models.ForeignKey(
        TimeBand,
        verbose_name=_("time band carried over"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text=_("Carry-over of a per-band plan: the band whose unused allowance is granted."),
    )
    carry_total = models.BooleanField(
        _("carry over the monthly total (月間全体)"),
        default=False,
        help_text=_("Carry-over of a plan with one total: the total's unused allowance is granted."),
    )
    expiry_amount = models.PositiveIntegerField(_("valid for"), validators=limits.between(1, limits.MAX_DAYS))
    expiry_unit = models.CharField(_("unit"), max_length=10, choices=ExpiryUnit, default=ExpiryUnit.DAYS)
    restriction = models.CharField(
        _("usable with plans (利用可能プラン)"), max_length=10, choices=Restriction, default=Restriction.NONE
    )
    allowed_plans = models.ManyToManyField(
        Plan, verbose_name=_("selected plans"), blank=True, related_name="+"
    )
    position = models.PositiveIntegerField(
        _("order"), default=1, validators=limits.at_most(limits.MAX_DISPLAY_ORDER)
    )

    class Meta:
        verbose_name = _("ticket grant rule")
        verbose_name_plural = _("ticket grant rules")
        ordering = ["kind", "position", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind="carry_over") | Q(quantity__gte=1), name="grant_rule_quantity_ge_1"
            ),
            models.CheckConstraint(
                condition=~Q(kind="carry_over") | (Q(carry_band__isnull=True) ^ Q(carry_total=False)),
                name="grant_rule_carry_band_or_total",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.ticket_type}"


class PlanContract(TimeStampedModel):
    """A member's contract of a plan. `contracted_on` is the day it was made (its month is the start month
    of the grants); `starts_on` (適用開始日) may be later; `ends_on` is the last day it is in force (a
    cancellation ends it at a month end). A plan change ends one contract and starts another that names it
    as `previous`: it is not a new contract (no enrollment fee, no on-contract grant)."""

    class Channel(models.TextChoices):
        SITE = "site", _("Member site")
        ADMIN = "admin", _("Admin")

    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting for the first payment")
        ACTIVE = "active", _("Active")
        PAST_DUE = "past_due", _("Payment failed (past due)")
        ENDED = "ended", _("Ended")

    member = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("member"),
        on_delete=models.PROTECT,
        related_name="plan_contracts",
    )
    plan = models.ForeignKey(Plan, verbose_name=_("plan"), on_delete=models.PROTECT, related_name="contracts")
    contracted_on = models.DateField(_("contracted on"))
    starts_on = models.DateField(_("starts on (適用開始日)"))
    ends_on = models.DateField(
        _("ends on"), null=True, blank=True, help_text=_("Inclusive. Empty: open-ended.")
    )
    channel = models.CharField(_("channel"), max_length=10, choices=Channel)
    status = models.CharField(
        _("status"), max_length=10, choices=Status, default=Status.PENDING, db_index=True
    )
    previous = models.OneToOneField(
        "self",
        verbose_name=_("changed from"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="next",
    )
    stripe_subscription_id = models.CharField(
        _("Stripe subscription"), max_length=255, blank=True, db_index=True
    )
    first_order = models.ForeignKey(
        "payments.Order",
        verbose_name=_("first order"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="plan_contracts",
        help_text=_(
            "The order of the first payment: the enrollment fee and the contract-month fee (a plan change "
            "has none). Paying it starts the contract."
        ),
    )
    # A plan change's new contract: when Stripe's subscription was switched to its monthly price. Stripe bills
    # on the 1st, so a change whose first 1st in force is further than next month's 1st is switched later, by
    # the daily job (plans.price_switches); empty until then (and for a contract with no subscription).
    stripe_price_switched_at = models.DateTimeField(
        _("Stripe price switched at"),
        null=True,
        blank=True,
        help_text=_("A plan change: when Stripe's subscription started billing this plan's monthly price."),
    )

    class Meta:
        verbose_name = _("plan contract")
        verbose_name_plural = _("plan contracts")
        ordering = ["-contracted_on", "-id"]
        indexes = [models.Index(fields=["plan", "status"], name="plan_contract_plan_status_idx")]
        constraints = [
            models.CheckConstraint(
                condition=Q(starts_on__gte=F("contracted_on")), name="plan_contract_starts_after"
            ),
            models.CheckConstraint(
                condition=Q(ends_on__isnull=True) | Q(ends_on__gte=F("contracted_on")),
                name="plan_contract_ends_after",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.plan} ({self.member})"

    def is_live_on(self, day) -> bool:
        """In force on `day` and not past due (allowance bookings are refused while a payment failed)."""
        return (
            self.status == self.Status.ACTIVE
            and self.starts_on <= day
            and (self.ends_on is None or day <= self.ends_on)
        )


class PlanGrant(models.Model):
    """A grant made: once per (contract, rule, month), enforced by the unique constraint whatever runs the
    grants and however often. `month` is the first day of the month it is for. `quantity` is how many
    tickets it gave (a carry-over with nothing left gives none and has no ticket)."""

    contract = models.ForeignKey(PlanContract, on_delete=models.PROTECT, related_name="grants")
    rule = models.ForeignKey(GrantRule, on_delete=models.PROTECT, related_name="grants")
    month = models.DateField(_("month"))
    quantity = models.PositiveIntegerField(_("quantity"))
    member_ticket = models.OneToOneField(
        "tickets.MemberTicket",
        verbose_name=_("ticket"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="plan_grant",
    )
    job = models.ForeignKey(
        "core.Job", verbose_name=_("job"), on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    granted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("granted by"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text=_("The staff member who ticked it for an admin contract; empty for a job's grant."),
    )
    created_at = models.DateTimeField(_("granted at"), db_index=True)

    class Meta:
        verbose_name = _("plan grant")
        verbose_name_plural = _("plan grants")
        ordering = ["-month", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["contract", "rule", "month"], name="plan_grant_once_per_month"),
            models.CheckConstraint(condition=Q(month__day=1), name="plan_grant_month_is_first_day"),
        ]

    def __str__(self) -> str:
        return f"{self.rule} {self.month:%Y-%m} → {self.contract}"


class AllowanceUsage(models.Model):
    """How much of a contract's allowance is used in a month, per band (`band` empty: the plan's total): a
    cache of the sum of its ledger entries, written in the same transaction as each entry
    (`manage.py check_ledgers` compares them). The row a booking takes from is locked while it does."""

    contract = models.ForeignKey(PlanContract, on_delete=models.PROTECT, related_name="allowance_usages")
    month = models.DateField(_("month"))
    band = models.ForeignKey(TimeBand, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    used = models.PositiveIntegerField(_("used"), default=0)

    class Meta:
        verbose_name = _("allowance used")
        verbose_name_plural = _("allowance used")
        constraints = [
            models.UniqueConstraint(
                fields=["contract", "month", "band"], name="allowance_usage_once", nulls_distinct=False
            ),
            models.CheckConstraint(condition=Q(month__day=1), name="allowance_usage_month_is_first_day"),
        ]

    def __str__(self) -> str:
        return f"{self.contract} {self.month:%Y-%m} {self.band or '—'}: {self.used}"


class AllowanceEntry(models.Model):
    """One change to a month's allowance used. Append-only: a booking paid with the plan takes one (`used`,
    -1), its cancellation gives it back (`restored`, +1); a no-show keeps it used."""

    class Kind(models.TextChoices):
        USED = "used", _("Used")
        RESTORED = "restored", _("Restored")

    usage = models.ForeignKey(AllowanceUsage, on_delete=models.PROTECT, related_name="entries")
    kind = models.CharField(_("kind"), max_length=10, choices=Kind)
    delta = models.IntegerField(_("change"))
    reservation = models.ForeignKey(
        "inventory.Reservation", on_delete=models.PROTECT, related_name="allowance_entries"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(_("at"), db_index=True)

    class Meta:
        verbose_name = _("allowance history entry")
        verbose_name_plural = _("allowance history")
        ordering = ["id"]
        constraints = [
            # A booking takes its place once and gives it back at most once.
            models.UniqueConstraint(
                fields=["reservation", "kind"], name="allowance_entry_once_per_reservation"
            ),
            models.CheckConstraint(
                condition=Q(kind="used", delta=-1) | Q(kind="restored", delta=1),
                name="allowance_entry_delta_matches_kind",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.delta:+d}"


class PlanMonthlyOrder(models.Model):
    """The pending counter order of one month of a contract paid at the counter (an admin contract without a
    card subscription): made once per (contract, month) by the 1st-of-the-month job, for staff to mark
    received. The contract month is paid by the contract's first order, so its first monthly order is for
    the month after."""

    contract = models.ForeignKey(PlanContract, on_delete=models.PROTECT, related_name="monthly_orders")
    month = models.DateField(_("month"))
    order = models.OneToOneField(
        "payments.Order", verbose_name=_("order"), on_delete=models.PROTECT, related_name="plan_month"
    )
    created_at = models.DateTimeField(_("made at"))

    class Meta:
        verbose_name = _("monthly counter order")
        verbose_name_plural = _("monthly counter orders")
        ordering = ["-month", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["contract", "month"], name="plan_monthly_order_once"),
            models.CheckConstraint(condition=Q(month__day=1), name="plan_monthly_order_month_is_first_day"),
        ]

    def __str__(self) -> str:
        return f"{self.contract} {self.month:%Y-%m} → #{self.order_id}"
