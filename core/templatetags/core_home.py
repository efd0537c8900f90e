from django import template

from core.home import render_panels

register = template.Library()


@register.simple_tag(takes_context=True)
def staff_home_panels(context):
    """The staff home's panels (core.home) for the staff user of the request."""
    return render_panels(context["request"])
