"""Staff admin of payments, one module per concept: products, orders (and refunds), Stripe events."""

from payments.admin import events, orders, products  # noqa: F401 - registers the model admins
