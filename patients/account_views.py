"""Clinic admins' pages for their clinic's accounts, and the role-aware home page."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import PasswordChangeForm
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse_lazy
from django.views.decorators.http import require_POST

from audit.services import record_event
from dr_portal.authenticated import AuthenticatedHttpRequest
from dr_portal.form_errors import add_errors
from dr_portal.throttling import throttle_posts

from . import accounts
from .account_forms import AccountCreateForm, AccountUpdateForm
from .selectors import membership_for

# The login form, its POSTs limited per client address (LOGIN_THROTTLE_RATE): the lockout stops guessing at
# one account; this bounds how many passwords one address tries across accounts.
login = throttle_posts("login", "logins")(auth_views.LoginView.as_view(redirect_authenticated_user=True))


def home(request: HttpRequest) -> HttpResponse:
    """Where "/" and a fresh login land: clinic admins on their accounts, everybody else on patients."""
    if not request.user.is_authenticated:
        return redirect("login")
    membership = membership_for(request.user)
    if membership is not None and membership.can_manage_clinic:
        return redirect("patients:accounts")
    if membership is None and request.user.is_staff:
        return redirect("admin:index")
    return redirect("patients:list")


@login_required
def account_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    memberships = accounts.clinic_account_list(admin=request.user)
    record_event(action="account.list", request=request)
    return render(request, "patients/accounts.html", {"memberships": memberships})


@login_required
def account_create(request: AuthenticatedHttpRequest) -> HttpResponse:
    accounts.admin_membership_for(request.user)  # 403 before any form is shown
    form = AccountCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            # One transaction with its event: an account the trail cannot record is not kept.
            with transaction.atomic():
                user = accounts.clinic_account_create(
                    admin=request.user,
                    username=data["username"],
                    email=data["email"],
                    role=data["role"],
                    password=data["password"],
                )
                detail = {"username": data["username"], "role": data["role"]}
                record_event(action="account.create", request=request, obj=user, detail=detail)
        except ValidationError as exc:
            add_errors(form, exc)
        else:
            messages.success(request, f"Account {user.get_username()} created.")
            return redirect("patients:accounts")
    return render(request, "patients/account_form.html", {"form": form, "title": "New account"})


@login_required
def account_update(request: AuthenticatedHttpRequest, user_id: int) -> HttpResponse:
    account = accounts.clinic_account_get(admin=request.user, user_id=user_id)
    initial = {"role": account.role, "is_active": account.user.is_active}
    form = AccountUpdateForm(request.POST or None, initial=initial, user=account.user)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            # One transaction with its event: a change of role or password is not kept untraced.
            with transaction.atomic():
                changed = accounts.clinic_account_update(
                    admin=request.user,
                    account=account,
                    role=data["role"],
                    is_active=data["is_active"],
                    password=data["new_password"],
                )
                if changed:
                    detail = {"changed": changed, "role": account.role, "is_active": account.user.is_active}
                    record_event(action="account.update", request=request, obj=account.user, detail=detail)
        except ValidationError as exc:
            add_errors(form, exc)
        else:
            if changed:
                messages.success(request, f"Account {account.user.get_username()} updated.")
            return redirect("patients:accounts")
    title = f"Account {account.user.get_username()}"
    return render(request, "patients/account_form.html", {"form": form, "title": title, "account": account})


@require_POST
def session_keepalive(request: HttpRequest) -> HttpResponse:
    """ "Stay signed in" on the idle-timeout warning: the request itself renews the session (it is saved on
    every request), and the answer says for how long. JSON, never a redirect to the login page, so the page
    can say that the session has already ended."""
    if not request.user.is_authenticated:
        return JsonResponse({"detail": "The session has ended: sign in again."}, status=401)
    return JsonResponse({"seconds_left": int(settings.SESSION_COOKIE_AGE)})


class PasswordChange(auth_views.PasswordChangeView):
    """Every user changes their own password: the old one first, then the new one twice, checked by the
    password validators. The session stays signed in (Django updates its hash); the user's API tokens are
    revoked, so a token issued before the change stops working too. Audited as `password.change`."""

    template_name = "registration/password_change_form.html"
    success_url = reverse_lazy("home")

    def form_valid(self, form: PasswordChangeForm) -> HttpResponse:
        with transaction.atomic():
            response = super().form_valid(form)
            revoked = accounts.api_tokens_revoke(user=form.user)
            record_event(action="password.change", request=self.request, detail={"api_tokens_revoked": revoked})
        messages.success(self.request, "Your password was changed.")
        return response


class Logout(auth_views.LogoutView):
    """Logging out is a POST (the menu's button). A typed or bookmarked GET of the address answered an empty
    405, a blank page: it now offers the button, or the login page to someone already signed out."""

    http_method_names = ["get", "post", "options"]

    def get(self, request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
        if not request.user.is_authenticated:
            return redirect("login")
        return render(request, "registration/logout_confirm.html")
