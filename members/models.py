from django.contrib.auth.base_user import BaseUserManager
from django.contrib.auth.models import AbstractBaseUser, PermissionsMixin
from django.core.validators import MaxValueValidator, RegexValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from members.normalise import normalise_email

KANA_VALIDATOR = RegexValidator(
    r"^[\u30A0-\u30FF\u3040-\u309F\u30FC\s　]+$",
    _("Enter the name in katakana or hiragana."),
)
PHONE_VALIDATOR = RegexValidator(
    r"^\+?[0-9](?:-?[0-9]){9,14}$",  # 10 to 15 digits; single hyphens between digits
    _("Enter a phone number of 10 to 15 digits (hyphens allowed), e.g. 03-1234-5678."),
)


class MemberManager(BaseUserManager):
    use_in_migrations = True

    @classmethod
    def normalize_email(cls, email: str | None) -> str:
        # The whole address, not only the domain as Django's does: see members/normalise.py.
        return normalise_email(email)

    def _create(self, email: str, password: str | None, **fields) -> "Member":
        if not email:
            raise ValueError("An e-mail address is required")
        member = self.model(email=self.normalize_email(email), **fields)
        member.set_password(password)
        member.save(using=self._db)
        return member

    def create_user(self, email: str, password: str | None = None, **fields) -> "Member":
        fields.setdefault("is_staff", False)
        fields.setdefault("is_superuser", False)
        return self._create(email, password, **fields)

    def create_superuser(self, email: str, password: str | None = None, **fields) -> "Member":
        fields.update(is_staff=True, is_superuser=True)
        fields.setdefault("email_verified_at", timezone.now())
        return self._create(email, password, **fields)

    def get_by_natural_key(self, username):
        # Stored addresses are normalised (migration members 0003 did the old rows), so an exact match on
        # the normalised input finds the account under any case or width, through the unique index.
        return self.get(email=normalise_email(username))


class Member(AbstractBaseUser, PermissionsMixin):
    """Everyone who logs in: members of the shop and, with is_staff, its staff. E-mail is the login."""

    email = models.EmailField(_("e-mail address"), unique=True)
    name = models.CharField(pgettext_lazy("person", "name"), max_length=100)
    name_kana = models.CharField(_("name (kana)"), max_length=100, blank=True, validators=[KANA_VALIDATOR])
    phone = models.CharField(_("phone"), max_length=20, blank=True, validators=[PHONE_VALIDATOR])
    member_discount_pct = models.PositiveSmallIntegerField(
        _("member discount (%)"),
        default=0,
        validators=[MaxValueValidator(100)],
        help_text=_("Applied to card checkouts only; never to bookings paid with points, tickets or a plan."),
    )
    email_verified_at = models.DateTimeField(_("e-mail verified at"), null=True, blank=True)
    is_active = models.BooleanField(_("active"), default=True)
    is_staff = models.BooleanField(_("staff"), default=False)
    date_joined = models.DateTimeField(_("joined at"), default=timezone.now)

    objects = MemberManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS = ["name"]

    class Meta:
        verbose_name = _("member")
        verbose_name_plural = _("members")
        ordering = ["-date_joined"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(member_discount_pct__lte=100), name="member_discount_pct_at_most_100"
            ),
            models.UniqueConstraint(models.functions.Lower("email"), name="member_email_ci_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.name} <{self.email}>" if self.name else self.email

    @classmethod
    def normalize_username(cls, username):
        # AbstractBaseUser.clean() calls this: the admin's add and change forms store the one spelling too.
        return normalise_email(username)

    @property
    def email_verified(self) -> bool:
        return self.email_verified_at is not None

    def get_full_name(self) -> str:
        return self.name

    def get_short_name(self) -> str:
        return self.name
