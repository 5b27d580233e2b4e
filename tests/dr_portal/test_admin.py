from __future__ import annotations

import pytest
from django.contrib import admin
from django.urls import reverse

pytestmark = pytest.mark.django_db

MODELS = [model for model in admin.site._registry]


@pytest.mark.parametrize("model", MODELS, ids=lambda m: f"{m._meta.app_label}.{m._meta.model_name}")
def test_every_admin_changelist_and_add_page_loads_for_a_superuser(admin_client, model) -> None:
    info = (model._meta.app_label, model._meta.model_name)
    assert admin_client.get(reverse("admin:{}_{}_changelist".format(*info))).status_code == 200
    model_admin = admin.site._registry[model]
    expected = 200 if model_admin.has_add_permission(_request(admin_client)) else 403
    assert admin_client.get(reverse("admin:{}_{}_add".format(*info))).status_code == expected


def _request(client):
    from django.contrib.auth import get_user_model
    from django.test import RequestFactory

    request = RequestFactory().get("/")
    request.user = get_user_model().objects.get(username="admin")
    return request


def test_the_audit_trail_is_read_only_in_the_admin(admin_client) -> None:
    from audit.models import AuditEvent

    model_admin = admin.site._registry[AuditEvent]
    request = _request(admin_client)
    assert not model_admin.has_add_permission(request)
    assert not model_admin.has_change_permission(request)
    assert not model_admin.has_delete_permission(request)
