"""Writing the audit trail. Every access to patient data goes through record_event()."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AnonymousUser, User
from django.http import HttpRequest

from dr_portal.client_address import client_address

from .models import AuditEvent


def client_ip(request: HttpRequest | None) -> str | None:
    # The address the throttles and the lockout count by: the socket's, or what the trusted proxies
    # (TRUSTED_PROXY_COUNT) say the client's was; never a header the client wrote.
    if request is None:
        return None
    return client_address(request)


def record_event(
    *,
    action: str,
    request: HttpRequest | None = None,
    actor: User | AnonymousUser | None = None,
    username: str = "",
    obj: Any = None,
    patient: Any = None,
    detail: dict[str, Any] | None = None,
) -> AuditEvent:
    """Insert one audit event: who (actor), what (action, object), which patient, from where."""
    if actor is None and request is not None:
        actor = getattr(request, "user", None)
    user = actor if actor is not None and actor.is_authenticated else None
    if patient is None and obj is not None:
        patient = patient_of(obj)
    return AuditEvent.objects.create(
        actor=user,
        username=_without_nul(username or (user.get_username() if user else "")),
        action=action,
        object_type=obj._meta.model_name if obj is not None else "",
        object_id=str(obj.pk) if obj is not None else "",
        patient=patient,
        clinic_id=_event_clinic(patient, obj, user),
        ip_address=client_ip(request),
        user_agent=_without_nul(request.META.get("HTTP_USER_AGENT", "")[:400] if request is not None else ""),
        detail=_without_nul(detail or {}),
    )


def search_detail(text: str, count: int | None) -> dict[str, Any]:
    """What the trail keeps of a search: that one was made and how many records it matched, never the text
    typed. The trail can be neither edited nor erased, and the text is a patient's name or record number
    as often as not (a keyed hash of it would be no better: names are few enough to hash them all)."""
    return {"searched": bool(text.strip()), "count": count}


def _without_nul(value: Any) -> Any:
    """The value with NUL bytes dropped from every string in it: PostgreSQL's text and jsonb cannot hold
    one, and an audit event must not fail (and take its request down) over what a client typed."""
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, dict):
        return {_without_nul(key): _without_nul(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_without_nul(item) for item in value]
    return value


def _event_clinic(patient: Any, obj: Any, user: User | None) -> int | None:
    """The patient's clinic; else the object's own (a membership), or the account's that the object is;
    else the acting user's."""
    if patient is not None:
        return getattr(patient, "clinic_id", None)
    if obj is not None and (own := getattr(obj, "clinic_id", None)) is not None:
        return int(own)
    if obj is not None and obj._meta.model_name == "user" and (clinic := _clinic_of(obj)) is not None:
        return clinic
    return _clinic_of(user)


def _clinic_of(user: User | None) -> int | None:
    """The clinic of the user's membership, if any: an event about no one patient (a patient list, the
    worklist, a login) then still shows under its clinic when the trail is filtered by clinic."""
    membership = getattr(user, "membership", None) if user is not None else None
    return membership.clinic_id if membership is not None else None


def patient_of(obj: Any) -> Any:
    """The patient an object belongs to, following the examination chain (None for other objects)."""
    if obj._meta.model_name == "patient":
        return obj
    for attr in ("patient", "examination", "eye_image"):
        related = getattr(obj, attr, None)
        if related is not None:
            return patient_of(related)
    return None
