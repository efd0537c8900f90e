from inventory.models import Store

STORES = [
    {
        "name": "渋谷店",
        "address": "東京都渋谷区道玄坂1-2-3 デモビル5F",
        "phone": "03-1234-5678",
        "opening_hours": "10:00〜20:00(火曜定休)",
        "display_order": 1,
    },
    {
        "name": "横浜店",
        "address": "神奈川県横浜市西区みなとみらい2-3-4",
        "phone": "045-123-4567",
        "opening_hours": "平日 11:00〜21:00 / 土日祝 10:00〜19:00",
        "display_order": 2,
    },
]


def load(stdout) -> None:
    for data in STORES:
        # get_or_create, not update_or_create: a staff edit to a demo store survives the next `make run`.
        Store.objects.get_or_create(name=data["name"], defaults=data)
    stdout.write(f"Stores       {', '.join(store['name'] for store in STORES)}")
