"""Demo data of points for `make run`: the demo member starts with points to spend (their sign-up points and
a welcome bonus), so the booking confirmation offers them and "Point history" has something to show.
Idempotent: a member who has their sign-up points already gets nothing more (the demo orders paid before
this runs may have earned purchase points: those are not sign-up points)."""

from __future__ import annotations

from members.models import Member
from points.models import PointEntry
from points.services import points_grant

DEMO_SYSTEM = "load_demo_data"


def load(stdout) -> None:
    from members.demo import MEMBER_EMAIL  # members loads its demo data first (INSTALLED_APPS order)

    member = Member.objects.filter(email=MEMBER_EMAIL).first()
    if member is None or PointEntry.objects.filter(member=member, kind=PointEntry.Kind.SIGNUP).exists():
        return
    points_grant(
        member=member,
        amount=1500,
        kind=PointEntry.Kind.SIGNUP,
        by=None,
        system=DEMO_SYSTEM,
        reason="Demo: sign-up points",
    )
    stdout.write(f"Points       1,500 for {member.email}")
