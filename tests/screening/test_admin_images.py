"""The Django admin's links to a photograph or heatmap open the file through an audited view of the admin's
own, not a /media/ address that nothing serves (before, every such link answered 404)."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from audit.models import AuditEvent
from screening.models import Prediction
from tests.examination_data import graded_examination

pytestmark = pytest.mark.django_db


def _links(html: str) -> list[str]:
    return re.findall(r'href="([^"]+/(?:photograph|heatmap)/)"', html)


def _body(response) -> bytes:
    return b"".join(response.streaming_content)


def test_the_examination_page_links_each_photograph_through_the_audited_view(client, superuser, patient) -> None:
    examination = graded_examination(patient=patient)
    client.force_login(superuser)
    html = client.get(reverse("admin:screening_examination_change", args=[examination.pk])).content.decode()
    assert "/media/" not in html
    eyes = {eye.side: eye for eye in examination.images.all()}
    expected = [reverse("admin:screening_eyeimage_photograph", args=[eyes[side].pk]) for side in ("right", "left")]
    assert sorted(_links(html)) == sorted(expected)

    response = client.get(expected[0])
    assert response.status_code == 200 and response["Content-Type"] == "image/png"
    with eyes["right"].file.open("rb") as stored:
        assert _body(response) == stored.read()
    assert "private" in response["Cache-Control"]  # never kept by a proxy
    event = AuditEvent.objects.filter(action="eye_image.view").get()
    assert (event.actor, event.object_id, event.detail) == (
        superuser,
        str(eyes["right"].pk),
        {"side": "right", "via": "admin"},
    )
    assert event.patient_id == patient.pk


def test_the_photograph_and_prediction_pages_link_their_files_through_the_audited_views(
    client, superuser, patient
) -> None:
    examination = graded_examination(patient=patient)
    eye = examination.images.get(side="left")
    prediction = Prediction.objects.get(eye_image=eye)
    client.force_login(superuser)

    html = client.get(reverse("admin:screening_eyeimage_change", args=[eye.pk])).content.decode()
    assert "/media/" not in html
    assert _links(html) == [reverse("admin:screening_eyeimage_photograph", args=[eye.pk])]

    html = client.get(reverse("admin:screening_prediction_change", args=[prediction.pk])).content.decode()
    assert "/media/" not in html
    heatmap = reverse("admin:screening_prediction_heatmap", args=[prediction.pk])
    assert _links(html) == [heatmap]
    response = client.get(heatmap)
    assert response.status_code == 200 and response["Content-Type"] == "image/jpeg"
    with prediction.heatmap.open("rb") as stored:
        assert _body(response) == stored.read()
    event = AuditEvent.objects.filter(action="heatmap.view").get()
    assert event.detail == {"side": "left", "prediction": prediction.pk, "via": "admin"}


def test_the_admins_file_views_are_for_the_admin_only_and_answer_404_for_no_such_record(
    client, owner, superuser, patient
) -> None:
    examination = graded_examination(patient=patient)
    eye = examination.images.get(side="right")
    url = reverse("admin:screening_eyeimage_photograph", args=[eye.pk])
    client.force_login(owner)  # a member of the clinic, not a superuser: the admin is not theirs
    response = client.get(url)
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    client.force_login(superuser)
    for missing in ("999999", "not-a-number"):
        assert client.get(f"/admin/screening/eyeimage/{missing}/photograph/").status_code == 404
        assert client.get(f"/admin/screening/prediction/{missing}/heatmap/").status_code == 404
    assert not AuditEvent.objects.filter(action__in=["eye_image.view", "heatmap.view"]).exists()
