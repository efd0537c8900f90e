# Whether members see their member discount is now one shop-wide setting
# (payments.PaymentSettings.show_member_discount), not a flag per member.

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("members", "0001_initial"),
    ]

    operations = [
        migrations.RemoveField(
            model_name="member",
            name="member_discount_visible",
        ),
    ]
