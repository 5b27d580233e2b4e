"""The Django admin site: for active superusers only, whatever model permissions a user's groups carry.

The role groups carry model permissions for the portal's own checks, so a clinic user whom someone marked
"staff status" would reach Django's default admin with them: every clinic's patients, third-party admins
(django-axes' attempts, API tokens), and through the user admin their own superuser flag. The site
refuses them before any model admin is asked, ours and third parties' alike.
"""

from __future__ import annotations

from django.contrib import admin
from django.contrib.admin.apps import AdminConfig
from django.http import HttpRequest


class PortalAdminSite(admin.AdminSite):
    site_header = "DR Portal administration"
    site_title = "DR Portal admin"

    def has_permission(self, request: HttpRequest) -> bool:
        user = request.user
        return bool(user.is_active and user.is_superuser)


class PortalAdminConfig(AdminConfig):
    default_site = "dr_portal.admin_site.PortalAdminSite"
