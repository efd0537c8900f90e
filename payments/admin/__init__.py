"""Staff admin of payments, one module per concept: products, orders (and refunds; counter sales in
counter.py), Stripe events, the shop's payment settings."""

from payments.admin import events, orders, products, settings  # noqa: F401 - registers the model admins
