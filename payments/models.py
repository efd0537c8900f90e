from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from core import limits
from core.models import TimeStampedModel
from payments import registry


class Product(TimeStampedModel):
    """商品 / SKU: something sold for money, one-time (単品) or monthly (定期)."""

    class Kind(models.TextChoices):
        ONE_TIME = "one_time", _("One-time")
        MONTHLY = "monthly", _("Monthly")

    sku = models.CharField(_("SKU"), max_length=50, unique=True)
    name = models.CharField(_("product name"), max_length=120)
    kind = models.CharField(_("kind"), max_length=10, choices=Kind, default=Kind.ONE_TIME)
    price_yen = models.PositiveIntegerField(
        _("price (yen, tax included)"), validators=limits.at_most(limits.MAX_YEN)
    )
    points_payable = models.BooleanField(_("points can pay for it"), default=True)
    is_fee = models.BooleanField(_("fee line (enrollment fee)"), default=False)
    is_active = models.BooleanField(_("on sale"), default=True)
    points_per_unit = models.PositiveIntegerField(
        _("purchase points per unit"),
        null=True,
        blank=True,
        validators=limits.at_most(limits.MAX_POINTS_PER_UNIT),
        help_text=_("Overrides the shop's base rate."),
    )
    points_rate_pct = models.PositiveSmallIntegerField(
        _("purchase points rate (%)"),
        null=True,
        blank=True,
        validators=limits.at_most(limits.MAX_PERCENT),
        help_text=_("Overrides the shop's base rate."),
    )

    class Meta:
        verbose_name = _("product")
        verbose_name_plural = _("products")
        ordering = ["sku"]
        constraints = [
            models.CheckConstraint(
                condition=Q(points_per_unit__isnull=True) | Q(points_rate_pct__isnull=True),
                name="product_one_points_rule",
            ),
            models.CheckConstraint(
                condition=Q(points_rate_pct__isnull=True) | Q(points_rate_pct__lte=100),
                name="product_rate_pct_le_100",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} [{self.sku}]"

    def clean(self):
        """The product's own rules, then the rules of the apps that use it (payments.registry's product
        rules: a ticket's product stays one-time, a free trial's costs 0 yen), so editing the product
        cannot break what a ticket or plan requires of it."""
        errors: dict[str, list] = {}
        if self.points_per_unit is not None and self.points_rate_pct is not None:
            errors["points_rate_pct"] = [
                ValidationError(_("Set either fixed points per unit or a rate, not both."), code="both")
            ]
        for field, messages in registry.product_rule_errors(product=self).items():
            errors.setdefault(field, []).extend(messages)
        if errors:
            raise ValidationError(errors)


class Order(TimeStampedModel):
    """受注: what a member buys in one checkout. Amounts are integer yen, tax included; each discount step
    of the price pipeline (price rule → member discount → coupon → points) has its own field."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending payment")
        PAID = "paid", _("Paid")
        CANCELLED = "cancelled", _("Cancelled")
        PARTIALLY_CANCELLED = "partially_cancelled", _("Partially cancelled")
        REFUNDED = "refunded", _("Refunded")

    # Money taken and what the order delivered still standing: paid, or paid and partly refunded (a partial
    # cancellation, which leaves what was delivered and the points as they were).
    PAID_STATUSES = (Status.PAID, Status.PARTIALLY_CANCELLED)

    class Method(models.TextChoices):
        CARD = "card", _("Card")
        COUNTER = "counter", _("At the counter")
        FREE = "free", _("Free")

    member = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("member"), on_delete=models.PROTECT, related_name="orders"
    )
    status = models.CharField(
        _("status"), max_length=20, choices=Status, default=Status.PENDING, db_index=True
    )
    payment_method = models.CharField(_("payment method"), max_length=10, choices=Method)
    subtotal_yen = models.PositiveIntegerField(_("subtotal (yen)"), default=0)
    price_rule_discount_yen = models.PositiveIntegerField(_("price rule discount (yen)"), default=0)
    member_discount_yen = models.PositiveIntegerField(_("member discount (yen)"), default=0)
    coupon_discount_yen = models.PositiveIntegerField(_("coupon discount (yen)"), default=0)
    points_used = models.PositiveIntegerField(_("points used"), default=0)
    total_yen = models.PositiveIntegerField(_("total (yen)"), default=0)
    refunded_yen = models.PositiveIntegerField(_("refunded (yen)"), default=0)
    points_to_earn = models.PositiveIntegerField(
        _("points to earn"),
        default=0,
        help_text=_("Purchase points paying it earns, shown before it is paid (not part of the total)."),
    )
    paid_at = models.DateTimeField(_("paid at"), null=True, blank=True)
    cancelled_at = models.DateTimeField(_("cancelled at"), null=True, blank=True)
    refund_needed = models.BooleanField(
        _("refund needed (要返金)"),
        default=False,
        db_index=True,
        help_text=_("The member cancelled and the shop's policy leaves the refund to staff."),
    )
    stripe_checkout_session_id = models.CharField(
        _("Stripe Checkout Session"), max_length=255, blank=True, db_index=True
    )
    stripe_payment_intent_id = models.CharField(
        _("Stripe PaymentIntent"), max_length=255, blank=True, db_index=True
    )

    class Meta:
        verbose_name = _("order")
        verbose_name_plural = _("orders")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(
                    total_yen=F("subtotal_yen")
                    - F("price_rule_discount_yen")
                    - F("member_discount_yen")
                    - F("coupon_discount_yen")
                    - F("points_used")
                ),
                name="order_total_is_subtotal_less_discounts",
            ),
            models.CheckConstraint(
                condition=Q(refunded_yen__lte=F("total_yen")), name="order_refund_within_total"
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.pk}"


class OrderLine(models.Model):
    class Kind(models.TextChoices):
        PRODUCT = "product", _("Product")
        RESERVATION = "reservation", _("Reservation")

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines")
    kind = models.CharField(_("kind"), max_length=20, choices=Kind)
    product = models.ForeignKey(
        Product, verbose_name=_("product"), on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    reservation = models.ForeignKey(
        "inventory.Reservation",
        verbose_name=_("reservation"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="order_lines",
    )
    description = models.CharField(_("description"), max_length=200)
    quantity = models.PositiveIntegerField(
        _("quantity"), default=1, validators=limits.at_most(limits.MAX_COUNT)
    )
    unit_price_yen = models.PositiveIntegerField(
        _("unit price (yen)"), validators=limits.at_most(limits.MAX_YEN)
    )
    # The price rule's discount on this line (promotions' step 10): a week's own, kept for when the week is
    # cancelled alone. The order's price_rule_discount_yen is their sum.
    price_rule_discount_yen = models.PositiveIntegerField(
        _("price rule discount (yen)"), default=0, validators=limits.at_most(limits.MAX_YEN)
    )
    fulfilled_at = models.DateTimeField(_("fulfilled at"), null=True, blank=True)

    class Meta:
        verbose_name = _("order line")
        verbose_name_plural = _("order lines")
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gte=1), name="order_line_quantity_positive"),
            models.CheckConstraint(
                condition=(Q(kind="product") & Q(product__isnull=False))
                | (Q(kind="reservation") & Q(reservation__isnull=False)),
                name="order_line_kind_matches_reference",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.description} × {self.quantity}"

    @property
    def total_yen(self) -> int:
        return self.unit_price_yen * self.quantity


class StripeEvent(models.Model):
    """Every Stripe webhook event received, stored once by its id: the unique key makes processing
    exactly-once (the effect is written in the same transaction as this row)."""

    event_id = models.CharField(_("event id"), max_length=255, unique=True)
    type = models.CharField(_("type"), max_length=100, db_index=True)
    livemode = models.BooleanField(default=False)
    stripe_created = models.DateTimeField(_("created at Stripe"))
    payload = models.JSONField()
    received_at = models.DateTimeField(_("received at"), auto_now_add=True)
    order = models.ForeignKey(
        Order, on_delete=models.SET_NULL, null=True, blank=True, related_name="stripe_events"
    )
    result = models.CharField(_("result"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("Stripe event")
        verbose_name_plural = _("Stripe events")
        ordering = ["-received_at", "-id"]

    def __str__(self) -> str:
        return f"{self.type} {self.event_id}"


class PaymentSettings(TimeStampedModel):
    """The shop's payment settings (one row): the cancellation refund policy (SPEC §5), whether members may
    pay at the counter, and whether members see their member discount before paying (SPEC §3, §9)."""

    class RefundPolicy(models.TextChoices):
        AUTOMATIC = "automatic", _("Refund in full automatically")
        STAFF_DECIDES = "staff", _("Staff decide (the order is flagged 要返金)")

    refund_policy = models.CharField(
        _("refund when a member cancels a card-paid booking before the deadline"),
        max_length=10,
        choices=RefundPolicy,
        default=RefundPolicy.AUTOMATIC,
    )
    counter_payment_enabled = models.BooleanField(
        _("members may choose to pay at the counter"),
        default=True,
        help_text=_("Each item can also switch paying at the counter off for itself."),
    )
    show_member_discount = models.BooleanField(
        _("members see their member discount"),
        default=True,
        help_text=_(
            "When hidden, members see prices already net of their discount; what is shown always equals "
            "what is charged."
        ),
    )

    class Meta:
        verbose_name = _("payment settings")
        verbose_name_plural = _("payment settings")
        constraints = [
            models.CheckConstraint(condition=Q(id=1), name="payment_settings_single_row"),
        ]

    def __str__(self) -> str:
        return str(_("Payment settings"))

    @classmethod
    def current(cls) -> "PaymentSettings":
        row, _created = cls.objects.get_or_create(pk=1)
        return row


class Payment(TimeStampedModel):
    """Money coming in for an order (pretix's OrderPayment). The row exists, committed, before the provider
    is called; its id is the idempotency key; the outcome is written by a second short transaction or by the
    webhook, whichever comes first."""

    class State(models.TextChoices):
        CREATED = "created", _("Created")
        PENDING = "pending", _("Pending")
        SUCCEEDED = "succeeded", _("Succeeded")
        FAILED = "failed", _("Failed")
        CANCELLED = "cancelled", _("Cancelled")

    class Provider(models.TextChoices):
        STRIPE = "stripe", _("Card (Stripe)")
        TEST_GATEWAY = "test_gateway", _("Card (test gateway)")
        COUNTER = "counter", _("At the counter")

    class CounterHow(models.TextChoices):
        CASH = "cash", _("Cash")
        CARD_TERMINAL = "card_terminal", _("Card terminal")
        OTHER = "other", _("Other")

    order = models.ForeignKey(
        Order, verbose_name=_("order"), on_delete=models.PROTECT, related_name="payments"
    )
    provider = models.CharField(_("provider"), max_length=20, choices=Provider)
    state = models.CharField(_("state"), max_length=10, choices=State, default=State.CREATED, db_index=True)
    amount_yen = models.PositiveIntegerField(_("amount (yen)"))
    stripe_checkout_session_id = models.CharField(
        _("Stripe Checkout Session"), max_length=255, blank=True, db_index=True
    )
    stripe_payment_intent_id = models.CharField(
        _("Stripe PaymentIntent"), max_length=255, blank=True, db_index=True
    )
    counter_how = models.CharField(_("received as"), max_length=20, choices=CounterHow, blank=True)
    received_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("received by"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    succeeded_at = models.DateTimeField(_("succeeded at"), null=True, blank=True)
    error = models.CharField(_("error"), max_length=300, blank=True)

    class Meta:
        verbose_name = _("payment")
        verbose_name_plural = _("payments")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(amount_yen__gte=0), name="payment_amount_not_negative"),
            # One payment received per order: a second succeeded row would be money taken twice.
            models.UniqueConstraint(
                fields=["order"], condition=Q(state="succeeded"), name="payment_one_succeeded_per_order"
            ),
        ]

    def __str__(self) -> str:
        provider, state = self.get_provider_display(), self.get_state_display()
        return f"#{self.order_id} {provider} ¥{self.amount_yen:,} ({state})"


class Refund(TimeStampedModel):
    """Money given back on an order (pretix's OrderRefund): a row before it is a call. Created → pending
    (the provider was asked) → succeeded / failed; `external` for a refund made in Stripe's dashboard, and
    `superseded` for ours when Stripe had already refunded the charge another way (nothing was sent)."""

    class State(models.TextChoices):
        CREATED = "created", _("Created")
        PENDING = "pending", _("Pending")
        SUCCEEDED = "succeeded", _("Succeeded")
        FAILED = "failed", _("Failed")
        EXTERNAL = "external", _("Made in the Stripe dashboard")
        SUPERSEDED = "superseded", _("Superseded (already refunded another way)")

    class Source(models.TextChoices):
        STAFF = "staff", _("Staff")
        MEMBER_CANCEL = "member_cancel", _("Member's cancellation")
        UNCLAIMED = "unclaimed", _("Payment the order could not take")
        DASHBOARD = "dashboard", _("Stripe dashboard")

    # The states in which the money has left, or is on its way (counted against what is left to refund).
    COUNTED_STATES = (State.CREATED, State.PENDING, State.SUCCEEDED, State.EXTERNAL)
    DONE_STATES = (State.SUCCEEDED, State.EXTERNAL)
    OPEN_STATES = (State.CREATED, State.PENDING)

    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="refunds")
    payment = models.ForeignKey(
        Payment, on_delete=models.PROTECT, null=True, blank=True, related_name="refunds"
    )
    state = models.CharField(_("state"), max_length=10, choices=State, default=State.CREATED, db_index=True)
    source = models.CharField(_("source"), max_length=20, choices=Source, default=Source.STAFF)
    amount_yen = models.PositiveIntegerField(_("amount (yen)"))
    reason = models.CharField(_("reason"), max_length=200)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("requested by"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    stripe_refund_id = models.CharField(_("Stripe refund"), max_length=255, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    error = models.CharField(_("error"), max_length=300, blank=True)

    class Meta:
        verbose_name = _("refund")
        verbose_name_plural = _("refunds")
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=Q(amount_yen__gte=1), name="refund_amount_positive"),
            # A refund at Stripe is recorded once, whichever path (our call, the webhook) sees it first.
            models.UniqueConstraint(
                fields=["stripe_refund_id"], condition=~Q(stripe_refund_id=""), name="refund_stripe_id_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.order_id} ¥{self.amount_yen:,}"

    @property
    def idempotency_key(self) -> str:
        return f"refund-{self.pk}"
