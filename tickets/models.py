"""Tickets (SPEC §6, seed 000): ticket types sold as one-time products, the tickets members hold, and the
append-only ledger of every change to a ticket's uses."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from core import limits
from core.models import TimeStampedModel


class TicketType(TimeStampedModel):
    """チケット (マスタ): 在庫管理 > チケット管理. A limit of 0 means no limit (SPEC §2)."""

    class Kind(models.TextChoices):
        PUNCH_CARD = "punch_card", _("Punch card")  # 回数券
        PAID_TRIAL = "paid_trial", _("Trial ticket (paid)")  # 体験チケット(有料)
        FREE_TRIAL = "free_trial", _("Trial ticket (free)")  # 体験チケット(無料): its product costs 0 yen

    is_visible = models.BooleanField(
        _("shown"), default=True, help_text=_("Shown on the member site and the booking form when on.")
    )
    name = models.CharField(_("ticket name"), max_length=100)
    items = models.ManyToManyField(
        "inventory.Item",
        verbose_name=_("usable items"),
        blank=True,
        related_name="ticket_types",
        help_text=_("The items, lessons and courses this ticket can book (チケット購入可能なプラン)."),
    )
    stores = models.ManyToManyField(
        "inventory.Store",
        verbose_name=_("usable stores"),
        blank=True,
        related_name="ticket_types",
        help_text=_("Leave empty to allow every store."),
    )
    max_concurrent = models.PositiveIntegerField(
        _("max concurrent reservations"),
        default=0,
        validators=limits.at_most(limits.MAX_COUNT),
        help_text=_("Tentative and confirmed reservations made with this ticket at once. 0: no limit."),
    )
    max_concurrent_per_day = models.PositiveIntegerField(
        _("max concurrent reservations per day"),
        default=0,
        validators=limits.at_most(limits.MAX_COUNT),
        help_text=_("Tentative and confirmed reservations made with this ticket on one day. 0: no limit."),
    )
    max_purchases_per_member = models.PositiveIntegerField(
        _("max purchases per member"),
        default=0,
        validators=limits.at_most(limits.MAX_COUNT),
        help_text=_("0: no limit."),
    )
    product = models.OneToOneField(
        "payments.Product",
        verbose_name=_("ticket product"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="ticket_type",
        help_text=_("The one-time product members buy. It cannot be changed once set."),
    )
    kind = models.CharField(_("ticket kind"), max_length=20, choices=Kind, default=Kind.PUNCH_CARD)
    uses = models.PositiveIntegerField(
        _("number of uses"), default=1, validators=limits.at_most(limits.MAX_COUNT)
    )
    validity_days = models.PositiveIntegerField(
        _("validity (days)"),
        default=0,
        validators=limits.at_most(limits.MAX_DAYS),
        help_text=_("Days from the purchase, the purchase day being day 1. 0: no limit."),
    )
    display_order = models.PositiveIntegerField(
        _("display order"), default=1, validators=limits.at_most(limits.MAX_DISPLAY_ORDER)
    )

    class Meta:
        verbose_name = _("ticket type")
        verbose_name_plural = _("ticket types")
        ordering = ["display_order", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(display_order__gte=1), name="ticket_type_display_order_ge_1"),
            models.CheckConstraint(condition=Q(uses__gte=1), name="ticket_type_uses_ge_1"),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self):
        """Every rule of the ticket form (seed 000), shared by the admin form, the CSV import and the
        services: the messages say which field is wrong and why. Reads the stored product and the ticket
        type that holds this product (a query each); `rule_errors` is the same rules for callers that
        read those for many ticket types at once (the CSV import)."""
        previous = None
        if self.pk:
            previous = TicketType.objects.filter(pk=self.pk).values_list("product_id", flat=True).first()
        holder = None
        if self.product_id is not None:
            holder = (
                TicketType.objects.filter(product_id=self.product_id)
                .exclude(pk=self.pk)
                .values_list("pk", flat=True)
                .first()
            )
        errors = self.rule_errors(stored_product_id=previous, product_holder_id=holder)
        if errors:
            raise ValidationError(errors)

    def rule_errors(self, *, stored_product_id: int | None, product_holder_id: int | None) -> dict[str, str]:
        """The rules of `clean` on values already read: `stored_product_id` is this ticket type's product
        in the database (None when new or unset) and `product_holder_id` the other ticket type that holds
        this product (None when none does). Returns {field: message}, empty when every rule holds."""
        errors: dict[str, str] = {}
        if self.display_order is not None and self.display_order < 1:
            errors["display_order"] = _("The display order must be 1 or more.")
        if self.uses is not None and self.uses < 1:
            errors["uses"] = _("A ticket needs at least 1 use.")
        if stored_product_id is not None and stored_product_id != self.product_id:
            errors["product"] = _("The ticket product cannot be changed once it is set.")
        product = self.product if self.product_id else None
        if product is not None and "product" not in errors:
            broken = self.product_rule_error(product)
            if broken is not None:
                errors["product"] = broken[1]
            elif product_holder_id is not None and product_holder_id != self.pk:
                errors["product"] = _("This product is already the product of another ticket.")
        return errors

    def product_rule_error(self, product) -> tuple[str, str] | None:
        """What this ticket requires of its product (seed 000), whichever side is edited: None when
        `product` keeps it, else (the product's field that breaks it, why). The ticket form reports it on
        its product field (`rule_errors`); the product form on the product's own field (tickets.rules)."""
        from payments.models import Product

        if product.kind != Product.Kind.ONE_TIME:
            return "kind", _("Only a one-time product can be sold as a ticket (a monthly product is a plan).")
        if product.price_yen is None:
            return None  # the product form reports the missing price itself
        if self.kind == self.Kind.FREE_TRIAL and product.price_yen != 0:
            return "price_yen", _("A free trial ticket needs a product that costs 0 yen.")
        if self.kind == self.Kind.PAID_TRIAL and product.price_yen == 0:
            return "price_yen", _("A paid trial ticket needs a product that costs more than 0 yen.")
        return None

    @property
    def has_usage_limit(self) -> bool:
        """利用制限 (the list's yes/no column): the ticket expires some days after purchase."""
        return self.validity_days > 0


class MemberTicket(TimeStampedModel):
    """A ticket in a member's wallet. `uses_left` is a cache of the sum of its ledger entries, written in
    the same transaction as each entry (`manage.py check_ledgers` compares them)."""

    class Source(models.TextChoices):
        PURCHASE = "purchase", _("Purchase")
        MANUAL = "manual", _("Handed out by staff")  # 管理サイトから配布
        GRANT = "grant", _("Plan grant")

    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        EXPIRED = "expired", _("Expired")
        REVOKED = "revoked", _("Taken back")

    member = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("member"), on_delete=models.PROTECT, related_name="tickets"
    )
    ticket_type = models.ForeignKey(
        TicketType, verbose_name=_("ticket type"), on_delete=models.PROTECT, related_name="member_tickets"
    )
    status = models.CharField(_("status"), max_length=10, choices=Status, default=Status.ACTIVE)
    uses_total = models.PositiveIntegerField(_("uses (total)"), validators=limits.at_most(limits.MAX_COUNT))
    uses_left = models.PositiveIntegerField(_("uses left"), validators=limits.at_most(limits.MAX_COUNT))
    valid_from = models.DateField(_("valid from"))
    valid_through = models.DateField(
        _("valid through"), null=True, blank=True, help_text=_("Inclusive, JST. Empty: no limit.")
    )
    stores = models.ManyToManyField(
        "inventory.Store",
        verbose_name=_("usable stores"),
        blank=True,
        related_name="+",
        help_text=_("Kept from the ticket type (or the plan) when issued. Empty: every store."),
    )
    source = models.CharField(_("source"), max_length=10, choices=Source)
    order_line = models.OneToOneField(
        "payments.OrderLine",
        verbose_name=_("order line"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="member_ticket",
    )
    issued_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("issued by"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    note = models.CharField(_("note"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("member ticket")
        verbose_name_plural = _("member tickets")
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["member", "status", "valid_through"], name="member_ticket_wallet_idx")
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(uses_left__lte=F("uses_total")), name="member_ticket_left_le_total"
            ),
            models.CheckConstraint(
                condition=Q(valid_through__isnull=True) | Q(valid_through__gte=F("valid_from")),
                name="member_ticket_valid_range",
            ),
            models.CheckConstraint(
                condition=~Q(source="purchase") | Q(order_line__isnull=False),
                name="member_ticket_purchase_has_order_line",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.ticket_type.name} #{self.pk}"

    def is_valid_on(self, day) -> bool:
        return self.valid_from <= day and (self.valid_through is None or day <= self.valid_through)


class TicketEntry(models.Model):
    """One change to a ticket's uses. Append-only: never updated or deleted."""

    class Kind(models.TextChoices):
        ISSUED = "issued", _("Issued")
        USED = "used", _("Used")
        RESTORED = "restored", _("Restored")
        EXPIRED = "expired", _("Expired")
        MANUAL = "manual", _("Adjusted by staff")
        REVOKED = "revoked", _("Taken back")

    ticket = models.ForeignKey(MemberTicket, on_delete=models.PROTECT, related_name="entries")
    kind = models.CharField(_("kind"), max_length=10, choices=Kind)
    delta = models.IntegerField(_("change"), validators=limits.between(-limits.MAX_COUNT, limits.MAX_COUNT))
    uses_left_after = models.PositiveIntegerField(_("uses left after"))
    reservation = models.ForeignKey(
        "inventory.Reservation",
        verbose_name=_("reservation"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="ticket_entries",
    )
    order_line = models.ForeignKey(
        "payments.OrderLine", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("by"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    reason = models.CharField(_("reason"), max_length=200, blank=True)
    created_at = models.DateTimeField(_("at"), db_index=True)

    class Meta:
        verbose_name = _("ticket history entry")
        verbose_name_plural = _("ticket history")
        ordering = ["id"]  # insertion order: the order the changes happened in
        constraints = [
            # A reservation takes its uses once (one entry of -N for N places, SPEC §6) and gives them back
            # at most once (one entry of +N): a cancellation processed twice cannot restore twice.
            models.UniqueConstraint(
                fields=["reservation", "kind"],
                condition=Q(kind__in=["used", "restored"]),
                name="ticket_entry_one_use_per_reservation",
            ),
            models.CheckConstraint(
                condition=(Q(kind="used", delta__lte=-1) & Q(reservation__isnull=False))
                | (Q(kind="restored", delta__gte=1) & Q(reservation__isnull=False))
                | Q(kind="issued", delta__gte=1)
                | Q(kind__in=["expired", "revoked"], delta__lte=0)
                | (Q(kind="manual") & ~Q(delta=0)),
                name="ticket_entry_delta_matches_kind",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.delta:+d}"
