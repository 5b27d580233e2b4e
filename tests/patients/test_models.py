from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction

from patients.models import Membership, Patient
from tests.factories import PatientFactory

pytestmark = pytest.mark.django_db


def test_the_database_refuses_a_duplicate_record_number_in_one_clinic(patient) -> None:
    with pytest.raises(IntegrityError), transaction.atomic():
        Patient.objects.create(
            clinic=patient.clinic,
            medical_record_number=patient.medical_record_number,
            first_name="Other",
            last_name="Person",
            date_of_birth=patient.date_of_birth,
        )


def test_the_same_record_number_is_allowed_in_another_clinic(patient, other_clinic) -> None:
    twin = PatientFactory.create(clinic=other_clinic, medical_record_number=patient.medical_record_number)
    assert twin.pk != patient.pk


def test_the_database_refuses_an_unknown_role(owner, clinic) -> None:
    with pytest.raises(IntegrityError), transaction.atomic():
        Membership.objects.filter(user=owner).update(role="janitor")
