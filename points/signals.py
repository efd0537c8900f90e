"""Sign-up points (会員登録ポイント, SPEC §8): granted at a member's first login, once, whatever logs them in
(the member site, a password reset that logs in). Staff accounts get none. The shop's setting decides how
many; 0 grants nothing. Exactly once: the unique constraint on a member's sign-up entry stands behind the
check, so two first logins at once grant once."""

from __future__ import annotations

import logging

from django.db import IntegrityError

from core.exceptions import DomainError
from points.models import PointEntry, PointSettings
from points.services import points_grant

logger = logging.getLogger(__name__)

SYSTEM = "points.signup"


def grant_signup_points(sender, request, user, **kwargs) -> None:
    """The user_logged_in receiver. A login never fails because of points: a refusal is logged."""
    if user.is_staff or not getattr(user, "pk", None):
        return
    amount = PointSettings.current().signup_points
    if not amount or PointEntry.objects.filter(member=user, kind=PointEntry.Kind.SIGNUP).exists():
        return
    try:
        points_grant(member=user, amount=amount, kind=PointEntry.Kind.SIGNUP, by=None, system=SYSTEM)
    except IntegrityError:
        return  # another first login of the same member granted them a moment ago
    except DomainError as error:
        logger.warning("Sign-up points for member #%s refused: %s", user.pk, error)
