"""Ids beyond what the database stores answer 404 on every route that takes an id, like any missing id.

On the embedded SQLite such an id raised OverflowError at the selector (a 500, and with DEBUG on the debug
page with its traceback, local variables and settings); PostgreSQL compared it as a number. The routes
are enumerated from the URL configuration, so a new one is covered without a change here.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.urls import Resolver404, URLPattern, URLResolver, get_resolver, resolve
from django.urls.converters import IntConverter
from django.urls.resolvers import RoutePattern

from dr_portal.converters import IdConverter
from tests.embedded_sqlite import run_on_embedded_sqlite

HUGE_IDS = (2**63, 2**64)
# Values for the other parameters, so that only the id is out of range.
OTHER_VALUES = {"side": "right"}
PARAMETER = re.compile(r"<(?:\w+:)?(?P<name>\w+)>")


def id_routes() -> Iterator[tuple[str, dict[str, object]]]:
    """(route, its converters) for every route of the portal with a parameter, the admin's included."""
    yield from _walk(get_resolver(), "", {})


def _walk(resolver: URLResolver, prefix: str, converters: dict[str, object]) -> Iterator[tuple[str, dict[str, object]]]:
    for entry in resolver.url_patterns:
        if not isinstance(entry.pattern, RoutePattern):
            continue  # the admin's catch-all and app-index regexes take no id
        route = prefix + str(entry.pattern)
        found = converters | entry.pattern.converters
        if isinstance(entry, URLResolver):
            yield from _walk(entry, route, found)
        elif isinstance(entry, URLPattern) and found:
            yield route, found


def address(route: str, value: int) -> str:
    """The route's path with every id parameter set to value."""
    return "/" + PARAMETER.sub(lambda match: OTHER_VALUES.get(match["name"], str(value)), route)


def _numeric(converters: dict[str, object]) -> bool:
    return any(isinstance(converter, IntConverter | IdConverter) for converter in converters.values())


def test_every_numeric_route_takes_its_ids_through_the_bounded_converter() -> None:
    numeric = [(route, converters) for route, converters in id_routes() if _numeric(converters)]
    assert len(numeric) >= 15  # the portal's pages and the API: the walk found them
    unbounded = [route for route, converters in numeric if any(type(c) is IntConverter for c in converters.values())]
    assert unbounded == []


@pytest.mark.parametrize("value", HUGE_IDS)
def test_an_id_beyond_the_database_range_matches_no_route(value: int) -> None:
    for route, converters in id_routes():
        if any(isinstance(v, IdConverter) for v in converters.values()):
            with pytest.raises(Resolver404):
                resolve(address(route, value))


def test_the_largest_stored_id_still_matches() -> None:
    assert resolve(f"/patients/{2**63 - 1}/").kwargs == {"patient_id": 2**63 - 1}


# Every route with a parameter, for each huge id, GET and POST, on the embedded default (local settings:
# SQLite, DEBUG on): the portal's as anonymous and as each role, the admin's as the superuser (it answers
# nobody else). Prints the server errors and debug pages, and the statuses the portal's routes gave.
SCRIPT = """
import json
import django
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
from django.contrib.auth import get_user_model
from django.test import Client
from patients import services
from tests.dr_portal.test_huge_ids import HUGE_IDS, address, id_routes
PASSWORD = "a-long-password-123"
users = {"anonymous": None}
for role in ("staff", "doctor", "clinic_admin"):
    users[role] = services.clinic_user_create(clinic_name="Clinic", role=role, username=role, password=PASSWORD)[0]
users["superuser"] = get_user_model().objects.create_superuser("root", "", PASSWORD)
faults, portal = [], {}
for role, user in users.items():
    client = Client(raise_request_exception=False, SERVER_NAME="localhost")
    if user is not None:
        client.force_login(user)
    for route, converters in id_routes():
        if route.startswith("admin/") and role != "superuser":
            continue
        for value in HUGE_IDS:
            path = address(route, value)
            for method in ("get", "post"):
                response = getattr(client, method)(path)
                body = response.content.decode(errors="replace")
                if response.status_code >= 500 or "Traceback" in body:
                    faults.append([role, method, path, response.status_code])
                if user is not None and not route.startswith("admin/"):
                    portal.setdefault(response.status_code, 0)
                    portal[response.status_code] += 1
print(json.dumps({"faults": faults, "portal": sorted(portal)}))
"""


def test_no_route_answers_a_huge_id_with_a_server_error_on_the_embedded_default(tmp_path: Path) -> None:
    outcome = run_on_embedded_sqlite(SCRIPT, tmp_path)
    assert outcome["faults"] == []
    # Signed in, whatever the role and method, the portal's own routes answer a huge id as a missing one.
    assert outcome["portal"] == [404]
