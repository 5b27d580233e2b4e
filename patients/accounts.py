"""Clinic admins manage their own clinic's accounts: reads and writes, always scoped to the admin's clinic.

A clinic admin sees and changes only plain clinic accounts of their clinic: never another clinic's, never a
Django-admin (staff or superuser) account, which would be a way up to the whole portal, and never their
own role or active flag, so a clinic cannot lose its last admin by a slip.
"""

from __future__ import annotations

from axes.utils import reset as axes_reset
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser, Group, User
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.http import Http404
from rest_framework.authtoken.models import Token

from .models import ROLE_GROUPS, Membership, Role
from .selectors import membership_for
from .services import clinic_user_create


def admin_membership_for(user: User | AnonymousUser) -> Membership:
    """The clinic admin's membership; PermissionDenied for everybody else."""
    membership = membership_for(user)
    if membership is None or not membership.can_manage_clinic:
        raise PermissionDenied("Only clinic admins manage accounts.")
    return membership


def clinic_account_list(*, admin: User) -> QuerySet[Membership]:
    return _plain_accounts(admin_membership_for(admin).clinic_id)


def _plain_accounts(clinic_id: int) -> QuerySet[Membership]:
    """The clinic's plain accounts: what its admin sees (no Django-admin account, staff or superuser)."""
    return (
        Membership.objects.filter(clinic_id=clinic_id, user__is_staff=False, user__is_superuser=False)
        .select_related("user")
        .order_by("user__username")
    )


def clinic_account_get(*, admin: User, user_id: int) -> Membership:
    """One account of the admin's clinic; 404 for anyone else's, and 404 to a non-admin whatever the id,
    as patients are to those who may not see them, so no account's existence leaks."""
    try:
        return clinic_account_list(admin=admin).get(user_id=user_id)
    except PermissionDenied:
        raise Http404("No such account") from None
    except (Membership.DoesNotExist, ValueError, TypeError):
        raise Http404("No such account") from None


def clinic_account_create(*, admin: User, username: str, role: str, password: str, email: str = "") -> User:
    """A new account in the admin's clinic, through the provisioning service (validators included)."""
    membership = admin_membership_for(admin)
    _check_username_free(username, clinic_id=membership.clinic_id)
    user, _, _ = clinic_user_create(
        clinic_name=membership.clinic.name, role=role, username=username, password=password, email=email
    )
    return user


# Usernames are unique across the portal, so a taken one is refused whoever holds it; only an account the
# admin sees in their own list is named as such. "already exists" for the rest told a clinic admin which
# usernames other clinics and the superusers have: the same words as for a name not allowed at all.
USERNAME_UNAVAILABLE = "This username is not available: choose another."


def _check_username_free(username: str, *, clinic_id: int) -> None:
    taken = get_user_model().objects.filter(username__iexact=username).first()
    if taken is None:
        return
    if _plain_accounts(clinic_id).filter(user=taken).exists():
        raise ValidationError({"username": "An account with this username already exists in your clinic."})
    raise ValidationError({"username": USERNAME_UNAVAILABLE})


@transaction.atomic
def clinic_account_update(
    *, admin: User, account: Membership, role: str, is_active: bool, password: str = ""
) -> list[str]:
    """Change an account's role, active flag and optionally its password. Returns what changed."""
    if account.clinic_id != admin_membership_for(admin).clinic_id:
        raise Http404("No such account")
    if role not in Role.values:
        raise ValidationError({"role": f"Unknown role {role!r}."})
    user = account.user
    if user.pk == admin.pk and (role != account.role or not is_active):
        raise ValidationError("You cannot change your own role or deactivate your own account.")
    changed: list[str] = []
    if role != account.role:
        user.groups.remove(*Group.objects.filter(name__in=ROLE_GROUPS.values()))
        user.groups.add(Group.objects.get_or_create(name=ROLE_GROUPS[role])[0])
        account.role = role
        account.save(update_fields=["role"])
        changed.append("role")
    if is_active != user.is_active:
        user.is_active = is_active
        changed.append("is_active")
    if password:
        validate_password(password, user=user)
        user.set_password(password)
        changed.append("password")
    if changed:
        user.save()
    if "password" in changed:
        password_reset_effects(user=user)
    elif "is_active" in changed:
        # A deactivated account must not keep working through an API token.
        api_tokens_revoke(user=user)
    return changed


def password_reset_effects(*, user: User) -> int:
    """What a password set by someone else (a clinic admin, a superuser in the Django admin) must undo:
    the user's API tokens (a stolen one would keep working) and a lockout (the locked-out page sends users
    to their clinic admin: the new password must work at once). Returns how many tokens were revoked."""
    axes_reset(username=user.get_username())
    return api_tokens_revoke(user=user)


def api_tokens_revoke(*, user: User) -> int:
    """Delete the user's API tokens (how many): a changed password must also cut off a stolen token."""
    deleted, _ = Token.objects.filter(user=user).delete()
    return deleted
