"""Admin widgets that survive hostile input."""

from __future__ import annotations

from django.contrib.admin.widgets import AutocompleteSelect, AutocompleteSelectMultiple
from django.core.exceptions import ValidationError


class SafeAutocompleteSelect(AutocompleteSelect):
    """Django's autocomplete select, which re-shows a form after an error by querying the related model
    with the submitted value as it is: a value that is no valid key (`item=abc`, `?item=1.5`) raised
    ValueError there (500). Such a value is dropped here; the form itself already says it is invalid."""

    def optgroups(self, name, value, attr=None):
        return super().optgroups(name, valid_keys(self.field, value), attr)


class SafeAutocompleteSelectMultiple(AutocompleteSelectMultiple):
    """SafeAutocompleteSelect for a many-to-many field (a coupon's items or categories)."""

    def optgroups(self, name, value, attr=None):
        return super().optgroups(name, valid_keys(self.field, value), attr)


def valid_keys(field, values) -> list:
    """The submitted `values` that are valid keys of the model `field` points to (its to_field, else its
    primary key); the others are dropped."""
    remote = field.remote_field
    target = remote.model._meta.get_field(getattr(remote, "field_name", None) or remote.model._meta.pk.name)
    valid = []
    for item in values:
        try:
            target.to_python(item)
        except (ValidationError, TypeError, ValueError):
            continue
        valid.append(item)
    return valid
