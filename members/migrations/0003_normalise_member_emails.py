"""Store every member's e-mail address in the one spelling the code now looks up (issue 12, item 2):
NFKC, then lower case, without surrounding blanks (members/normalise.py; copied here so that a later
change there does not change what this migration did).

Collisions: the unique index on lower(email) already kept two rows from differing only in case, but two
rows may still differ only in width (ＡＢＣ@example.com and abc@example.com, possible only for rows
made outside the forms). Such a row is skipped, left as it is, and named on the console; the row that
already has the normalised spelling keeps the login, and staff decide (merge, or give the other row a
new address in the admin) before its owner can log in again. Nothing is deleted or merged here.
Reversing does nothing: the old spellings are not kept, and the normalised ones work with the old code."""

import unicodedata

from django.db import migrations


def _normalise(value: str) -> str:
    return unicodedata.normalize("NFKC", value).strip().lower()


def normalise_emails(apps, schema_editor):
    Member = apps.get_model("members", "Member")
    for member in Member.objects.order_by("pk").only("pk", "email"):
        email = _normalise(member.email)
        if email == member.email:
            continue
        if Member.objects.filter(email=email).exclude(pk=member.pk).exists():
            print(  # the operator running migrate must see which rows need staff
                f"\n  members 0003: member {member.pk} not changed: {email!r} belongs to another member"
            )
            continue
        Member.objects.filter(pk=member.pk).update(email=email)


class Migration(migrations.Migration):
    dependencies = [
        ("members", "0002_remove_member_member_discount_visible"),
    ]

    operations = [
        migrations.RunPython(normalise_emails, migrations.RunPython.noop, elidable=True),
    ]
