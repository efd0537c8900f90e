from django import forms
from django.contrib.auth import password_validation
from django.contrib.auth.forms import AuthenticationForm, PasswordResetForm, SetPasswordForm
from django.template.loader import render_to_string
from django.utils.translation import gettext_lazy as _

from core.tasks import send_email
from members.exceptions import EmailAlreadyRegisteredError
from members.models import Member
from members.services import member_password_reset_done


class SignUpForm(forms.ModelForm):
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
        fields = ("email", "name", "name_kana", "phone")
        widgets = {
            "email": forms.EmailInput(attrs={"autocomplete": "email"}),
            "name": forms.TextInput(attrs={"autocomplete": "name", "placeholder": "山田 花子"}),
            "name_kana": forms.TextInput(attrs={"placeholder": "ヤマダ ハナコ"}),
            "phone": forms.TextInput(attrs={"autocomplete": "tel", "placeholder": "090-1234-5678"}),
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in ("name", "name_kana", "phone"):
            self.fields[name].required = True

    def clean_email(self) -> str:
        email = Member.objects.normalize_email(self.cleaned_data["email"]).strip().lower()
        if Member.objects.filter(email__iexact=email).exists():
            # Checked here for a message next to the field; member_sign_up checks again under the
            # database's unique constraint for the race between two sign-ups.
            raise forms.ValidationError(EmailAlreadyRegisteredError.default_message, code="duplicate")
        return email

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


class LoginForm(AuthenticationForm):
    """Log in with e-mail and password; an unverified address is refused with a way forward."""

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
        self.fields["username"].widget = forms.EmailInput(attrs={"autofocus": True, "autocomplete": "email"})

    def confirm_login_allowed(self, user):
        super().confirm_login_allowed(user)
        if not user.is_staff and not user.email_verified:
            raise forms.ValidationError(self.error_messages["unverified"], code="unverified")


class ResendVerificationForm(forms.Form):
    email = forms.EmailField(label=_("E-mail address"))


class QueuedPasswordResetForm(PasswordResetForm):
    """Django's reset form, but the e-mail is sent by the Celery worker after commit, and also to members
    without a usable password: a customer staff registered on the phone (member_register_by_staff) has
    none and sets their first one here. Django's form skips them (it is meant for accounts whose password
    is managed elsewhere, e.g. LDAP, which this shop has none of)."""

    def get_users(self, email):
        return Member.objects.filter(email__iexact=email.strip(), is_active=True)

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
