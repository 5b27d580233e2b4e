"""DRF permissions for the clinic roles. Object-level scoping is the selectors' job (404 outside the
clinic); these answer the earlier question: may this user touch patient data at all?"""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from .selectors import clinical_membership_for


class IsClinicalMember(BasePermission):
    """Staff and doctors. Clinic admins manage accounts and superusers use the Django admin: 403."""

    message = "Only clinic staff and doctors can see patient data."

    def has_permission(self, request: Request, view: Any) -> bool:
        return clinical_membership_for(request.user) is not None
