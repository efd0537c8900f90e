from django import template

from core.attention import waiting_for

register = template.Library()


@register.inclusion_tag("admin/core/attention.html", takes_context=True)
def attention_list(context) -> dict:
    """The admin home's "needs attention" box for the staff user of the request."""
    return {"waiting": waiting_for(context["request"].user)}
