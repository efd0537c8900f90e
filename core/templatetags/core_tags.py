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


@register.filter
def num(value) -> str:
    """A count for display with thousands separators: 1500 → 1,500. Not a number: shown as it is."""
    try:
        return f"{int(value):,}"
    except (TypeError, ValueError):
        return "" if value is None else str(value)


@register.filter
def signed(value) -> str:
    """A change for display, signed, with thousands separators: 1500 → +1,500; -500 → -500; 0 → 0."""
    try:
        amount = int(value)
    except (TypeError, ValueError):
        return "" if value is None else str(value)
    return f"{amount:+,}" if amount else "0"
