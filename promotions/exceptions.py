from django.utils.translation import gettext_lazy as _

from core.exceptions import DomainError


class CouponError(DomainError):
    """A coupon code refused; shown next to the "coupon" field."""

    default_message = _("This coupon cannot be used.")

    def __init__(self, message=None, *, field: str | None = "coupon"):
        super().__init__(message, field=field)


class CouponUsedUpError(CouponError):
    default_message = _("This coupon has been used up.")


class CouponMemberLimitError(CouponError):
    default_message = _("You have already used this coupon as often as it allows.")


class CouponThrottledError(CouponError):
    default_message = _("Too many unknown coupon codes; try again in 10 minutes.")
