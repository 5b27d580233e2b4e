"""The OpenAPI schema's error answers, added to every operation in one place: the views document what
they answer themselves (400, 403, 412, ...); the answers every authenticated or addressed operation can
give were missing (a client generated from the schema knew no 401, and no 404 for another clinic's ids)."""

from __future__ import annotations

from typing import Any

ERROR = {"type": "object", "properties": {"detail": {"type": "string"}}, "required": ["detail"]}
UNAUTHENTICATED = "No valid token or session (the token expired, or was revoked by a password change)"
NOT_FOUND = "No such object in the caller's clinic: another clinic's objects answer this too"
OPEN = ("/api/v1/auth/token/",)


def document_errors(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """drf-spectacular postprocessing hook: 401 on every operation but the token's, 404 on every operation
    with an id in its path, 429 on the token's (the lockout); each as `{"detail": ...}`."""
    result.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR
    for path, operations in result.get("paths", {}).items():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            if path in OPEN:
                _add(responses, "429", "Too many failed logins for this username: locked out for a while")
                continue
            _add(responses, "401", UNAUTHENTICATED)
            if "{" in path:
                _add(responses, "404", NOT_FOUND)
    return result


def _add(responses: dict[str, Any], status: str, description: str) -> None:
    body = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    responses.setdefault(status, {"description": description, "content": body})
