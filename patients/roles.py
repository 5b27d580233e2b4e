"""The permissions each role's group carries. Used by the data migration and by tests."""

from __future__ import annotations

# (app_label, codename) pairs. Staff register and upload; doctors also review; clinic admins manage accounts.
STAFF_PERMISSIONS: list[tuple[str, str]] = [
    ("patients", "view_patient"),
    ("patients", "add_patient"),
    ("patients", "change_patient"),
    ("screening", "view_examination"),
    ("screening", "add_examination"),
    ("screening", "view_eyeimage"),
    ("screening", "view_prediction"),
    ("screening", "view_review"),
]
ROLE_PERMISSIONS: dict[str, list[tuple[str, str]]] = {
    "Staff": STAFF_PERMISSIONS,
    "Doctor": [*STAFF_PERMISSIONS, ("screening", "add_review"), ("screening", "change_review")],
    "Clinic admin": [
        ("patients", "view_patient"),
        ("patients", "view_membership"),
        ("patients", "add_membership"),
        ("patients", "change_membership"),
        ("auth", "view_user"),
        ("auth", "add_user"),
        ("auth", "change_user"),
        ("screening", "view_examination"),
    ],
}
