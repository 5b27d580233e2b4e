"""factory-boy factories for the domain models."""

from __future__ import annotations

import datetime as dt

import factory
from django.contrib.auth.models import Group, User

from patients.models import ROLE_GROUPS, Clinic, Membership, Patient, Role

PASSWORD = "a-test-password-2026"


class ClinicFactory(factory.django.DjangoModelFactory[Clinic]):
    class Meta:
        model = Clinic
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"Clinic {n}")


class UserFactory(factory.django.DjangoModelFactory[User]):
    class Meta:
        model = User
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def save_password(obj: User, create: bool, extracted: object, **kwargs: object) -> None:
        if create:
            obj.save()


def member(*, clinic: Clinic, role: str = Role.STAFF, username: str | None = None) -> User:
    """A user in a clinic with a role (and the role's group), as the provisioning service makes them."""
    user = UserFactory.create(**({"username": username} if username else {}))
    Membership.objects.create(user=user, clinic=clinic, role=role)
    user.groups.add(Group.objects.get_or_create(name=ROLE_GROUPS[role])[0])
    return user


class PatientFactory(factory.django.DjangoModelFactory[Patient]):
    class Meta:
        model = Patient

    clinic = factory.SubFactory(ClinicFactory)
    medical_record_number = factory.Sequence(lambda n: f"MRN-{n:05d}")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    date_of_birth = dt.date(1960, 5, 17)
    sex = "F"
