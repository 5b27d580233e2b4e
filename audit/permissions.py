from __future__ import annotations

from typing import Any

from rest_framework.permissions import BasePermission
from rest_framework.request import Request


class IsAuditor(BasePermission):
    """Admins of the portal: Django-admin users allowed to view the trail (superusers are). Clinic roles,
    clinic admins included, are not: the trail spans every clinic."""

    message = "Only portal admins can read the audit trail."

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        return bool(user.is_authenticated and user.is_staff and user.has_perm("audit.view_auditevent"))
