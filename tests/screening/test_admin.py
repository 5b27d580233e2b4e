"""The Django admin shows a review's earlier versions read-only and changes no signed-off grade."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.test import RequestFactory
from django.urls import reverse

from screening import reviews
from screening.admin import ReviewRevisionInline
from screening.models import Review, ReviewRevision
from tests.examination_data import graded_examination

pytestmark = pytest.mark.django_db


def _amended(patient, doctor) -> Review:
    examination = graded_examination(patient=patient, grades=(0, 0))
    reviews.review_create(user=doctor, examination=examination, right_grade=0, left_grade=0)
    return reviews.review_amend(
        user=doctor, examination=examination, right_grade=1, left_grade=0, notes="", reason="Missed a haemorrhage."
    )


def test_the_review_page_lists_the_earlier_versions_and_offers_no_way_to_change_them(
    client, superuser, colleague, patient
) -> None:
    review = _amended(patient, colleague)
    client.force_login(superuser)
    response = client.get(reverse("admin:screening_review_change", args=[review.pk]))
    assert response.status_code == 200
    html = response.content.decode()
    assert "Missed a haemorrhage." in html
    # Neither the current grades nor the versions are form fields; no version can be added or deleted.
    assert 'name="right_grade"' not in html and 'name="revisions-0-reason"' not in html
    assert "revisions-0-DELETE" not in html
    request = RequestFactory().get("/")
    request.user = superuser
    inline = ReviewRevisionInline(Review, admin.site)
    assert not any(
        check(request, review)
        for check in (inline.has_add_permission, inline.has_change_permission, inline.has_delete_permission)
    )


def test_posting_the_review_form_in_the_admin_leaves_the_signed_off_grades_as_they_are(
    client, superuser, colleague, patient
) -> None:
    review = _amended(patient, colleague)
    client.force_login(superuser)
    url = reverse("admin:screening_review_change", args=[review.pk])
    revision = ReviewRevision.objects.get()
    management = {"revisions-TOTAL_FORMS": 1, "revisions-INITIAL_FORMS": 1, "revisions-0-id": revision.pk}
    edits = {"right_grade": 2, "left_grade": 2, "notes": "edited", "revisions-0-reason": "Rewritten."}
    response = client.post(url, {"examination": review.examination_id, **management, **edits})
    assert response.status_code == 302  # saved, with the read-only fields left out
    stored = Review.objects.get(pk=review.pk)
    assert (stored.right_grade, stored.left_grade, stored.notes) == (1, 0, "")
    assert ReviewRevision.objects.get().reason == "Missed a haemorrhage."


def test_a_referral_closure_is_shown_read_only_in_the_admin(admin_client, colleague, patient) -> None:
    from screening import closures

    referred = graded_examination(patient=patient, grades=(2, 0))
    closure = closures.referral_close(user=colleague, patient=patient, through=referred.pk, outcome="Seen, laser.")
    page = admin_client.get(reverse("admin:screening_referralclosure_change", args=[closure.pk]))
    assert page.status_code == 200
    html = page.content.decode()
    assert "Seen, laser." in html and 'name="outcome"' not in html  # shown, not editable
    posted = admin_client.post(reverse("admin:screening_referralclosure_change", args=[closure.pk]), {"outcome": "x"})
    assert posted.status_code == 403
    closure.refresh_from_db()
    assert closure.outcome == "Seen, laser."
    assert admin_client.get(reverse("admin:screening_referralclosure_add")).status_code == 403
