"""A service's ValidationError shown on the page's form: the pages' counterpart of api_exceptions.py. Services
validate and word every problem; forms only collect the input."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.forms import BaseForm


def add_errors(form: BaseForm, error: ValidationError) -> None:
    """Each message beside its field; one for a field the form does not have, or for none, above the form."""
    if hasattr(error, "error_dict"):
        for field, field_errors in error.message_dict.items():
            form.add_error(field if field in form.fields else None, field_errors)
    else:
        form.add_error(None, error.messages)
