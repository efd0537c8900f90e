from django import template

register = template.Library()


@register.filter
def yen(value) -> str:
    """Integer yen for display: 1234 → ¥1,234; -500 → -¥500. Empty stays empty."""
    if value is None or value == "":
        return ""
    try:
        amount = int(value)
    except (TypeError, ValueError):
        return str(value)
    sign = "-" if amount < 0 else ""
    return f"{sign}¥{abs(amount):,}"
