"""Members' own account changes. Sign-up and e-mail verification are done by the visitor themself, so
their audit entries name the member as who acted (there is no one else to pass as `by`)."""

from django.contrib.auth.hashers import make_password
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.encoding import force_bytes, force_str
from django.utils.http import urlsafe_base64_decode, urlsafe_base64_encode

from core.audit import audit_log
from core.emails import queue_templated_email
from members.exceptions import InvalidVerificationLinkError, StaffEmailAlreadyRegisteredError
from members.models import Member
from members.normalise import normalise_email
from members.tokens import email_verification_token


def verification_path(member: Member) -> str:
    uidb64 = urlsafe_base64_encode(force_bytes(member.pk))
    return reverse("members:verify_email", args=[uidb64, email_verification_token.make_token(member)])


def member_send_verification(*, member: Member, base_url: str) -> None:
    """Queue the e-mail with the verification link (sent by the worker after commit)."""
    queue_templated_email(
        template="members/verify_email",
        context={"member": member, "url": base_url.rstrip("/") + verification_path(member)},
        to=[member.email],
    )


def member_send_sign_up_attempt_notice(*, member: Member, base_url: str) -> None:
    """Tell the owner of an address that someone tried to sign up with it, with the ways in that they
    have: log in, or reset the password (sent by the worker after commit, like the verification)."""
    base_url = base_url.rstrip("/")
    queue_templated_email(
        template="members/sign_up_attempted",
        context={
            "member": member,
            "login_url": base_url + reverse("members:login"),
            "password_reset_url": base_url + reverse("members:password_reset"),
        },
        to=[member.email],
    )


@transaction.atomic
def member_sign_up(
    *, email: str, password: str, name: str, name_kana: str = "", phone: str = "", base_url: str
) -> Member | None:
    """Create an unverified member and send the verification e-mail. Login waits for verification.

    An address that is already registered is never told to the visitor (issue 12, item 3): nothing is
    created, the owner of the address is e-mailed instead, and None is returned, which the view answers
    exactly as a new sign-up. The password is hashed either way so the time taken does not tell either."""
    email = normalise_email(email)
    existing = Member.objects.filter(email=email).first()
    if existing is None:
        try:
            with transaction.atomic():
                member = Member.objects.create_user(
                    email=email, password=password, name=name, name_kana=name_kana, phone=phone
                )
        except IntegrityError:  # a concurrent sign-up with the same address won the race
            existing = Member.objects.filter(email=email).first()
            if existing is None:
                raise
        else:
            audit_log(action="member.signed_up", obj=member, by=member, payload={"email": member.email})
            member_send_verification(member=member, base_url=base_url)
            return member
    make_password(password)
    if existing.is_active:  # a closed account has no way in to offer; it is not told either
        member_send_sign_up_attempt_notice(member=existing, base_url=base_url)
    return None


@transaction.atomic
def member_verify_email(*, uidb64: str, token: str, now=None) -> Member:
    """Mark the address verified when the link is genuine and fresh. Idempotent for a verified member."""
    try:
        pk = int(force_str(urlsafe_base64_decode(uidb64)))
    except (TypeError, ValueError, OverflowError):
        raise InvalidVerificationLinkError from None
    member = Member.objects.select_for_update().filter(pk=pk).first()
    if member is None:
        raise InvalidVerificationLinkError
    if member.email_verified:
        return member
    if not email_verification_token.check_token(member, token):
        raise InvalidVerificationLinkError
    member.email_verified_at = now or timezone.now()
    member.save(update_fields=["email_verified_at"])
    audit_log(action="member.email_verified", obj=member, by=member, now=member.email_verified_at, payload={})
    return member


@transaction.atomic
def member_register_by_staff(*, by, email: str, name: str, name_kana: str = "", phone: str = "") -> Member:
    """A customer registered by staff taking a phone or walk-in booking: no password (an unusable one), so
    nobody can log in as them until they set one through the password reset, whose e-mailed link also
    proves the address (member_password_reset_done marks it verified). Staff, unlike a visitor signing up,
    are told plainly when the address is already registered: they can then pick that member instead."""
    email = normalise_email(email)
    if Member.objects.filter(email=email).exists():
        raise StaffEmailAlreadyRegisteredError(field="email")
    try:
        with transaction.atomic():
            member = Member.objects.create_user(
                email=email,
                password=None,
                name=name.strip(),
                name_kana=name_kana.strip(),
                phone=phone.strip(),
            )
    except IntegrityError as exc:  # registered by someone else meanwhile
        raise StaffEmailAlreadyRegisteredError(field="email") from exc
    audit_log(
        action="member.registered_by_staff",
        obj=member,
        by=by,
        payload={
            "email": member.email,
            "name": member.name,
            "name_kana": member.name_kana,
            "phone": member.phone,
        },
    )
    return member


@transaction.atomic
def member_password_reset_done(*, member: Member, now=None) -> Member:
    """A password set through the e-mailed reset link: the link reached the address, so it is verified (a
    customer staff registered on the phone can log in from then on). Idempotent for a verified member."""
    member = Member.objects.select_for_update().get(pk=member.pk)
    if member.email_verified:
        return member
    member.email_verified_at = now or timezone.now()
    member.save(update_fields=["email_verified_at"])
    audit_log(
        action="member.email_verified",
        obj=member,
        by=member,
        now=member.email_verified_at,
        payload={"via": "password_reset"},
    )
    return member


PROFILE_FIELDS = ("name", "name_kana", "phone")


@transaction.atomic
def member_profile_update(*, member: Member, by, name: str, name_kana: str, phone: str) -> Member:
    """The member's own name, kana and phone (my page › profile). Records what changed, old → new."""
    member = Member.objects.select_for_update().get(pk=member.pk)
    new = {"name": name, "name_kana": name_kana, "phone": phone}
    changes = {
        field: [getattr(member, field), value]
        for field, value in new.items()
        if getattr(member, field) != value
    }
    if not changes:
        return member
    for field, value in new.items():
        setattr(member, field, value)
    member.save(update_fields=list(changes))
    audit_log(action="member.profile_changed", obj=member, by=by, payload={"changes": changes})
    return member
