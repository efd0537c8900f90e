"""Each order line keeps its own price rule discount (issue 15: cancelling one week of a repeat booking takes
off that week's discount, not a share of another week's). Orders written before keep theirs shared across
their lines in proportion, which is what payments.pricing.line_shares assumes when the lines hold none."""

import django.core.validators
from django.db import migrations, models


def single_line_orders(apps, schema_editor):
    """An order of one line: its whole rule discount is that line's, exactly."""
    Order = apps.get_model("payments", "Order")
    OrderLine = apps.get_model("payments", "OrderLine")
    for order in Order.objects.filter(price_rule_discount_yen__gt=0).iterator():
        lines = list(OrderLine.objects.filter(order=order))
        if len(lines) == 1:
            OrderLine.objects.filter(pk=lines[0].pk).update(price_rule_discount_yen=order.price_rule_discount_yen)


class Migration(migrations.Migration):
    dependencies = [
        ("payments", "0007_order_points_to_earn"),
    ]

    operations = [
        migrations.AddField(
            model_name="orderline",
            name="price_rule_discount_yen",
            field=models.PositiveIntegerField(
                default=0,
                validators=[django.core.validators.MaxValueValidator(10000000)],
                verbose_name="price rule discount (yen)",
            ),
        ),
        migrations.RunPython(single_line_orders, migrations.RunPython.noop),
    ]
