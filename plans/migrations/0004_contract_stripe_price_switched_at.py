from django.db import migrations, models
from django.db.models import F


def changes_made_before(apps, schema_editor):
    """Every plan change made before this migration had its price switched at Stripe at once, when it was
    made: mark them switched, so the daily job does not switch them again."""
    PlanContract = apps.get_model("plans", "PlanContract")
    PlanContract.objects.filter(previous__isnull=False, stripe_price_switched_at__isnull=True).exclude(
        stripe_subscription_id=""
    ).update(stripe_price_switched_at=F("created_at"))


class Migration(migrations.Migration):

    dependencies = [
        ('plans', '0003_monthly_counter_orders'),
    ]

    operations = [
        migrations.AddField(
            model_name='plancontract',
            name='stripe_price_switched_at',
            field=models.DateTimeField(blank=True, help_text="A plan change: when Stripe's subscription started billing this plan's monthly price.", null=True, verbose_name='Stripe price switched at'),
        ),
        migrations.RunPython(changes_made_before, migrations.RunPython.noop, elidable=True),
    ]
