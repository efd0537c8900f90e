from django import forms
from django.contrib.auth import password_validation
from django.contrib.auth.forms import AuthenticationForm, PasswordResetForm, SetPasswordForm
from django.template.loader import render_to_string
from django.utils.translation import gettext_lazy as _

from core.auth_forms import UsernameLengthMixin
from core.tasks import send_email
from members.models import Member
from members.normalise import NormalisedEmailField, NormalisedUsernameField, normalise_email
from members.services import member_password_reset_done


class SignUpForm(forms.ModelForm):
    email = NormalisedEmailField(
        label=_("E-mail address"), max_length=254, widget=forms.EmailInput(attrs={"autocomplete": "email"})
    )
    password1 = forms.CharField(
        label=_("Password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=password_validation.password_validators_help_text_html(),
    )
    password2 = forms.CharField(
        label=_("Password (again)"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    class Meta:
        model = Member
        # Not "email": the model's unique checks would tell whether the address is registered, which
        # sign-up never does (issue 12, item 3); member_sign_up e-mails the owner instead.
        fields = ("name", "name_kana", "phone")
        widgets = {
            "name": forms.TextInput(attrs={"autocomplete": "name", "placeholder": "山田 花子"}),
            "name_kana": forms.TextInput(attrs={"placeholder": "ヤマダ ハナコ"}),
            "phone": forms.TextInput(attrs={"autocomplete": "tel", "placeholder": "090-1234-5678"}),
        }

    field_order = ("email", "name", "name_kana", "phone", "password1", "password2")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in ("name", "name_kana", "phone"):
            self.fields[name].required = True

    def clean(self):
        cleaned = super().clean()
        password1, password2 = cleaned.get("password1"), cleaned.get("password2")
        if password1 and password2 and password1 != password2:
            self.add_error("password2", _("The two passwords do not match."))
        elif password1:
            candidate = Member(
                email=cleaned.get("email", ""),
                name=cleaned.get("name", ""),
                name_kana=cleaned.get("name_kana", ""),
            )
            try:
                password_validation.validate_password(password1, candidate)
            except forms.ValidationError as error:
                self.add_error("password1", error)
        return cleaned


class LoginForm(UsernameLengthMixin, AuthenticationForm):
    """Log in with e-mail and password; an unverified address is refused with a way forward. The address
    is normalised (members/normalise.py) before authentication, as axes and the backend do too."""

    username = NormalisedUsernameField(widget=forms.EmailInput(attrs={"autofocus": True}))

    error_messages = {
        **AuthenticationForm.error_messages,
        "invalid_login": _("The e-mail address or password is not correct."),
        "unverified": _(
            "Your e-mail address is not verified yet. Open the link in the e-mail we sent you, "
            "or request a new one below."
        ),
    }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["username"].label = _("E-mail address")

    def confirm_login_allowed(self, user):
        super().confirm_login_allowed(user)
        if not user.is_staff and not user.email_verified:
            raise forms.ValidationError(self.error_messages["unverified"], code="unverified")


class ResendVerificationForm(forms.Form):
    email = NormalisedEmailField(label=_("E-mail address"))


class QueuedPasswordResetForm(PasswordResetForm):
    """Django's reset form, but the e-mail is sent by the Celery worker after commit, and also to members
    without a usable password: a customer staff registered on the phone (member_register_by_staff) has
    none and sets their first one here. Django's form skips them (it is meant for accounts whose password
    is managed elsewhere, e.g. LDAP, which this shop has none of). The address may be typed in any case or
    width (members/normalise.py)."""

    email = NormalisedEmailField(
        label=_("E-mail address"), max_length=254, widget=forms.EmailInput(attrs={"autocomplete": "email"})
    )

    def get_users(self, email):
        return Member.objects.filter(email=normalise_email(email), is_active=True)

    def send_mail(
        self,
        subject_template_name,
        email_template_name,
        context,
        from_email,
        to_email,
        html_email_template_name=None,
    ):
        subject = "".join(render_to_string(subject_template_name, context).splitlines()).strip()
        body = render_to_string(email_template_name, context)
        send_email.delay_on_commit(subject=subject, body=body, to=[to_email])


class ResetSetPasswordForm(SetPasswordForm):
    """The new password from the e-mailed reset link; following the link proves the address."""

    def save(self, commit=True):
        user = super().save(commit=commit)
        if commit:
            member_password_reset_done(member=user)
        return user


class ProfileForm(forms.ModelForm):
    class Meta:
        model = Member
        fields = ("name", "name_kana", "phone")
