"""Promotions admin: each concept in its own module, imported here so the admin site finds it."""

from promotions import admin_coupons, admin_price_rules  # noqa: F401
