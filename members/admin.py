from django.contrib import admin
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm
from django.utils.translation import gettext_lazy as _

from members.models import Member
from members.normalise import NormalisedEmailField
from members.staff_links import member_links


class MemberCreationForm(AdminUserCreationForm):
    class Meta:
        model = Member
        fields = ("email", "name")
        field_classes = {"email": NormalisedEmailField}  # any case or width; stored as members/normalise.py


class MemberChangeForm(UserChangeForm):
    class Meta:
        model = Member
        fields = "__all__"
        field_classes = {"email": NormalisedEmailField}


@admin.register(Member)
class MemberAdmin(UserAdmin):
    form = MemberChangeForm
    add_form = MemberCreationForm
    ordering = ("-date_joined",)
    list_display = (
        "email",
        "name",
        "name_kana",
        "phone",
        "member_discount_pct",
        "email_verified_at",
        "is_staff",
    )
    list_filter = ("is_staff", "is_active")
    search_fields = ("email", "name", "name_kana", "phone")
    readonly_fields = ("last_login", "date_joined")
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        (_("Profile"), {"fields": ("name", "name_kana", "phone")}),
        # Whether members see their discount is one shop-wide setting (payment settings), not per member.
        (_("Member discount"), {"fields": ("member_discount_pct",)}),
        (_("Status"), {"fields": ("is_active", "email_verified_at", "last_login", "date_joined")}),
        (_("Staff rights"), {"fields": ("is_staff", "is_superuser", "groups", "user_permissions")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "name", "password1", "password2")}),)

    change_form_template = "admin/members/member/change_form.html"

    def change_view(self, request, object_id, form_url="", extra_context=None):
        # What the higher apps keep about the member (members.staff_links), as links above the form.
        is_id = object_id.isascii() and object_id.isdigit()
        extra = {"member_links": member_links(request.user, int(object_id)) if is_id else []}
        return super().change_view(request, object_id, form_url, {**extra, **(extra_context or {})})

    def has_delete_permission(self, request, obj=None):
        # Nobody deletes their own account here: the deletion's audit entry names them as who acted, and
        # the trail never loses its actors (it answered 500). Another staff member can, or deactivate it.
        if obj is not None and obj.pk == request.user.pk:
            return False
        return super().has_delete_permission(request, obj)
