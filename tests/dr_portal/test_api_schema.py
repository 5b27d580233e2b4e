"""The OpenAPI schema documents the error answers every operation can give, as `{"detail": ...}`."""

from __future__ import annotations

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db


@pytest.fixture
def schema(api_schema: dict) -> dict:
    return api_schema


def test_the_schema_and_its_page_answer_signed_in_users_only(owner) -> None:
    api = APIClient()
    schema = api.get("/api/v1/schema/")
    assert (schema.status_code, schema.json()) == (401, {"detail": "Authentication credentials were not provided."})
    page = api.get("/api/v1/docs/")
    assert page.status_code == 302 and page["Location"] == "/accounts/login/?next=/api/v1/docs/"
    # A token (an integrating system) or a session (a person on the page) reads both.
    api.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=owner).key}")
    assert api.get("/api/v1/schema/").status_code == 200
    api.credentials()
    api.force_login(owner)
    assert api.get("/api/v1/docs/").status_code == 200 and api.get("/api/v1/schema/").status_code == 200


def test_every_operation_but_the_tokens_documents_401(schema: dict) -> None:
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            documented = set(operation["responses"])
            if path == "/api/v1/auth/token/":
                assert "401" not in documented and "429" in documented
            else:
                assert "401" in documented, (method, path)


def test_operations_on_an_id_document_404(schema: dict) -> None:
    retrieve = schema["paths"]["/api/v1/examinations/{examination_id}/"]["get"]["responses"]
    assert retrieve["404"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}
    assert "404" not in schema["paths"]["/api/v1/patients/"]["get"]["responses"]
    assert schema["components"]["schemas"]["Error"]["required"] == ["detail"]


def test_a_views_own_description_is_kept(schema: dict) -> None:
    # The eye image view documents its own 404; the hook adds only what is missing.
    responses = schema["paths"]["/api/v1/examinations/{examination_id}/eyes/{side}/image/"]["get"]["responses"]
    assert responses["404"]["description"].startswith("No such examination or side")
