"""Non-interactive provisioning: a clinic (created if missing) and a user in it with a role."""

from __future__ import annotations

import os
import sys
from argparse import ArgumentParser
from typing import Any, cast

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.core.validators import validate_email
from django.db import models

from patients.models import Clinic, Role
from patients.services import clinic_user_create


class Command(BaseCommand):
    help = (
        "Create a clinic (if it does not exist) and a user in it with a role. The password comes from the "
        "DR_PASSWORD environment variable or, with --password-stdin, from standard input."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--clinic", required=True, help="Clinic name; created if it does not exist")
        parser.add_argument("--role", required=True, choices=Role.values)
        parser.add_argument("--username", required=True)
        parser.add_argument("--email", default="")
        parser.add_argument("--password-stdin", action="store_true", help="Read the password from standard input")

    def handle(self, *args: Any, **options: Any) -> None:
        _check_lengths_and_email(options)
        password = self._password(options["password_stdin"])
        try:
            user, clinic, clinic_created = clinic_user_create(
                clinic_name=options["clinic"],
                role=options["role"],
                username=options["username"],
                password=password,
                email=options["email"],
            )
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from exc
        if clinic_created:
            self.stdout.write(f"Created clinic {clinic.name!r}.")
        self.stdout.write(self.style.SUCCESS(f"Created user {user.get_username()!r} as {options['role']} in {clinic}."))

    def _password(self, from_stdin: bool) -> str:
        password = sys.stdin.readline().rstrip("\r\n") if from_stdin else os.environ.get("DR_PASSWORD", "")
        if not password:
            raise CommandError("No password: set DR_PASSWORD or pass --password-stdin and write it to standard input.")
        return password


def _check_lengths_and_email(options: dict[str, Any]) -> None:
    """What the database would refuse with a traceback (a name over its column), or store unchecked (an
    e-mail address that is none), refused first in words."""
    user_model = get_user_model()
    for option, model, field in (("clinic", Clinic, "name"), ("username", user_model, "username")):
        column = cast("models.CharField[str, str]", model._meta.get_field(field))
        limit = cast(int, column.max_length)  # both are CharFields, whose max_length is always set
        if len(options[option].strip()) > limit:
            raise CommandError(f"The {option} is {len(options[option].strip())} characters long; at most {limit}.")
    if options["email"]:
        try:
            validate_email(options["email"])
        except ValidationError as exc:
            raise CommandError(f"{options['email']!r}: {' '.join(exc.messages)}") from exc
