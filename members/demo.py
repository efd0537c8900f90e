"""Demo logins for `make run`. Passwords are fixed and printed: this data is for local demos only."""

from django.conf import settings
from django.utils import timezone

from members.models import Member

STAFF_EMAIL = "staff@example.com"
STAFF_PASSWORD = "demo-staff-pass"  # noqa: S105 - demo data, printed on purpose
MEMBER_EMAIL = "member@example.com"
MEMBER_PASSWORD = "demo-member-pass"  # noqa: S105


def _upsert(email: str, password: str, **fields) -> Member:
    member, created = Member.objects.get_or_create(email=email, defaults=fields)
    if created:
        member.set_password(password)
        member.save(update_fields=["password"])
    return member


def load(stdout) -> None:
    now = timezone.now()
    _upsert(
        STAFF_EMAIL,
        STAFF_PASSWORD,
        name="店舗スタッフ",
        name_kana="テンポスタッフ",
        is_staff=True,
        is_superuser=True,
        email_verified_at=now,
    )
    _upsert(
        MEMBER_EMAIL,
        MEMBER_PASSWORD,
        name="山田 花子",
        name_kana="ヤマダ ハナコ",
        phone="090-1234-5678",
        member_discount_pct=5,
        email_verified_at=now,
    )
    base = settings.SITE_URL.rstrip("/")
    stdout.write(f"Staff admin  {base}/admin/          login: {STAFF_EMAIL} / {STAFF_PASSWORD}")
    stdout.write(f"Member site  {base}/members/login/  login: {MEMBER_EMAIL} / {MEMBER_PASSWORD}")
