from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.urls import reverse_lazy
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from core.exceptions import DomainError
from members.forms import (
    LoginForm,
    ProfileForm,
    QueuedPasswordResetForm,
    ResendVerificationForm,
    ResetSetPasswordForm,
    SignUpForm,
)
from members.models import Member
from members.mypage import profile_facts, sections
from members.services import (
    member_profile_update,
    member_send_verification,
    member_sign_up,
    member_verify_email,
)


def _base_url(request) -> str:
    return request.build_absolute_uri("/")


@require_http_methods(["GET", "POST"])
def sign_up(request):
    if request.user.is_authenticated:
        return redirect("members:mypage")
    form = SignUpForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            member_sign_up(
                email=data["email"],
                password=data["password1"],
                name=data["name"],
                name_kana=data["name_kana"],
                phone=data["phone"],
                base_url=_base_url(request),
            )
        except DomainError as error:
            form.add_error(error.field, error.message)
        else:
            request.session["signup_email"] = data["email"]
            return redirect("members:sign_up_done")
    return render(request, "site/members/sign_up.html", {"form": form})


def sign_up_done(request):
    return render(request, "site/members/sign_up_done.html", {"email": request.session.get("signup_email")})


def verify_email(request, uidb64: str, token: str):
    try:
        member_verify_email(uidb64=uidb64, token=token)
    except DomainError as error:
        return render(request, "site/members/verify_failed.html", {"message": error.message}, status=400)
    messages.success(request, _("Your e-mail address is verified. You can log in now."))
    return redirect("members:login")


@require_http_methods(["GET", "POST"])
def resend_verification(request):
    form = ResendVerificationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        member = Member.objects.filter(
            email=form.cleaned_data["email"], email_verified_at__isnull=True, is_active=True
        ).first()
        if member is not None:
            member_send_verification(member=member, base_url=_base_url(request))
        # The same answer whether or not the address is registered, so it cannot be used to probe.
        messages.info(
            request, _("If that address is waiting for verification, we have sent a new link to it.")
        )
        return redirect("members:login")
    return render(request, "site/members/resend_verification.html", {"form": form})


class LoginView(auth_views.LoginView):
    template_name = "site/members/login.html"
    authentication_form = LoginForm
    redirect_authenticated_user = True


class LogoutView(auth_views.LogoutView):
    """Django's, by POST only; named here so the URLs import every auth view from one place."""


class PasswordResetView(auth_views.PasswordResetView):
    form_class = QueuedPasswordResetForm
    template_name = "site/members/password_reset.html"
    email_template_name = "emails/members/password_reset.txt"
    subject_template_name = "emails/members/password_reset_subject.txt"
    success_url = reverse_lazy("members:password_reset_done")

    @property
    def extra_email_context(self):
        return {"SHOP_NAME": settings.SHOP_NAME}


class PasswordResetDoneView(auth_views.PasswordResetDoneView):
    template_name = "site/members/password_reset_done.html"


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    form_class = ResetSetPasswordForm
    template_name = "site/members/password_reset_confirm.html"
    success_url = reverse_lazy("members:password_reset_complete")


class PasswordResetCompleteView(auth_views.PasswordResetCompleteView):
    template_name = "site/members/password_reset_complete.html"


@login_required
def mypage(request):
    # Always the logged-in member's own record: no id in the URL, so nobody can ask for someone else's.
    return render(
        request,
        "site/members/mypage.html",
        {
            "member": request.user,
            "profile_facts": profile_facts(request.user),
            "mypage_sections": sections(),
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def profile_edit(request):
    form = ProfileForm(request.POST or None, instance=request.user)
    if request.method == "POST" and form.is_valid():
        member_profile_update(member=request.user, by=request.user, **form.cleaned_data)
        messages.success(request, _("Your profile has been updated."))
        return redirect("members:mypage")
    return render(request, "site/members/profile_edit.html", {"form": form})
