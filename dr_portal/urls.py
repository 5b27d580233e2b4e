"""URL wiring only."""

from __future__ import annotations

from django.contrib import admin
from django.templatetags.static import static
from django.urls import include, path, register_converter
from django.utils.functional import lazy
from django.views.generic import RedirectView

from dr_portal.converters import IdConverter
from patients import account_views

# Before the includes below build their routes: `<id:...>` is how every route takes a database id.
register_converter(IdConverter, "id")

urlpatterns = [
    path("", account_views.home, name="home"),
    path("accounts/login/", account_views.login, name="login"),
    path("accounts/logout/", account_views.Logout.as_view(), name="logout"),
    path("accounts/password/", account_views.PasswordChange.as_view(), name="password_change"),
    path("accounts/session/keepalive/", account_views.session_keepalive, name="session_keepalive"),
    path("patients/", include("patients.urls")),
    path("screening/", include("screening.urls")),
    path("api/v1/", include("dr_portal.api_urls")),
    path("admin/", admin.site.urls),
    # Pages that link no icon (the Django admin's) make the browser ask for this one: a 404 each time.
    # Resolved per request, not at import: the production storage's manifest need not exist yet then.
    path("favicon.ico", RedirectView.as_view(url=lazy(static, str)("favicon.svg"))),
]

handler400 = "dr_portal.errors.bad_request"
handler403 = "dr_portal.errors.permission_denied"
handler404 = "dr_portal.errors.page_not_found"
handler500 = "dr_portal.errors.server_error"
