"""The upload page refuses a field sent twice, as the API does: the form silently took the last of two
right_eye parts, so a hand-made request could file one photograph as both eyes."""

from __future__ import annotations

import pytest
from django.urls import reverse

from screening.models import Examination

from .conftest import LEFT, RIGHT, upload

pytestmark = pytest.mark.django_db


def test_a_photograph_field_sent_twice_is_refused_beside_it(client, owner, patient) -> None:
    client.force_login(owner)
    url = reverse("screening:upload", args=[patient.pk])
    response = client.post(url, {"right_eye": [upload(RIGHT), upload(LEFT)], "left_eye": upload(LEFT), "notes": ""})
    assert response.status_code == 400
    assert response.context["form"].errors["right_eye"] == ["Send this field once: it was sent more than once."]
    assert not Examination.objects.exists()


def test_notes_sent_twice_are_refused_too(client, owner, patient) -> None:
    client.force_login(owner)
    url = reverse("screening:upload", args=[patient.pk])
    data = {"right_eye": upload(RIGHT), "left_eye": upload(LEFT), "notes": ["first", "second"]}
    assert client.post(url, data).status_code == 400
    assert not Examination.objects.exists()


def test_the_photograph_inputs_are_named_by_their_zone_title_without_javascript(client, owner, patient) -> None:
    client.force_login(owner)
    page = client.get(reverse("screening:upload", args=[patient.pk])).content.decode()
    for name in ("right_eye", "left_eye"):
        assert f'aria-labelledby="{name}-title"' in page
        assert f'id="{name}-title"' in page
