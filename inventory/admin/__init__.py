"""Staff admin of inventory (店舗管理 › アイテム管理 and friends), one module per concept."""

from inventory.admin import items, reservations, reviews, setup  # noqa: F401 - registers the model admins
