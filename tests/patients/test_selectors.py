"""Who the selectors let through: the doctor check the pages, the API and the review services share."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import PermissionDenied

from patients.selectors import doctor_membership_for

pytestmark = pytest.mark.django_db


def test_a_doctor_gets_their_membership(colleague, clinic) -> None:
    membership = doctor_membership_for(colleague, refusal="Doctors only.")
    assert (membership.user, membership.clinic) == (colleague, clinic)


@pytest.mark.parametrize("who", ["owner", "clinic_admin", "superuser", "anonymous"])
def test_anyone_but_a_doctor_is_refused_in_the_callers_words(who: str, request: pytest.FixtureRequest) -> None:
    user = AnonymousUser() if who == "anonymous" else request.getfixturevalue(who)
    with pytest.raises(PermissionDenied) as refused:
        doctor_membership_for(user, refusal="The worklist is for doctors.")
    assert str(refused.value) == "The worklist is for doctors."
