from __future__ import annotations

import numpy as np
import pytest
from django.urls import reverse
from django.utils import timezone

from screening import reviews, services
from screening.models import Examination, Status
from screening.statistics import agreement, clinic_statistics
from tests.examination_data import graded_examination
from tests.factories import PatientFactory

pytestmark = pytest.mark.django_db


def test_agreement_of_hand_built_grades_matches_known_values() -> None:
    # (model, doctor) per eye: 4 agree, 2 disagree.
    pairs = [(0, 0), (0, 0), (1, 1), (2, 2), (1, 0), (0, 2)]
    result = agreement(pairs)
    assert result["eyes"] == 6
    # Rows are the doctor's grade, columns the model's.
    assert result["matrix"] == [[2, 1, 0], [0, 1, 0], [1, 0, 1]]
    assert result["agreement"] == pytest.approx(4 / 6) and result["agreed"] == 4
    observed = np.array(result["matrix"])
    weights = np.array([[(i - j) ** 2 / 4 for j in range(3)] for i in range(3)])
    expected = np.outer(observed.sum(1), observed.sum(0)) / observed.sum()
    assert result["kappa"] == pytest.approx(1 - (weights * observed).sum() / (weights * expected).sum())
    # Doctor-referable eyes (grade >= 1): (1,1), (2,2), (0,2) -> the model found 2 of 3.
    assert result["sensitivity"] == pytest.approx(2 / 3)
    # Doctor-clear eyes: (0,0), (0,0), (1,0) -> the model cleared 2 of 3.
    assert result["specificity"] == pytest.approx(2 / 3)


def test_agreement_without_reviews_is_empty() -> None:
    assert agreement([])["eyes"] == 0


def test_kappa_is_none_when_every_eye_has_one_grade() -> None:
    result = agreement([(1, 1), (1, 1)])
    assert result["kappa"] is None and result["agreement"] == 1.0


def test_clinic_statistics_count_outcomes_and_reviews_of_this_clinic_only(
    owner, colleague, patient, other_clinic
) -> None:
    normal = graded_examination(patient=patient, grades=(0, 0), created_by=owner)
    referable = graded_examination(patient=patient, grades=(1, 0), created_by=owner)
    ungradable = graded_examination(patient=patient, grades=(0, 0), created_by=owner)
    ungradable.images.filter(side="left").update(gradable=False)
    failed = graded_examination(patient=patient, grades=(0, 0), created_by=owner)
    Examination.objects.filter(pk=failed.pk).update(status=Status.FAILED)
    graded_examination(patient=PatientFactory.create(clinic=other_clinic), grades=(2, 2))
    # The doctor agrees with one eye of each reviewed examination and corrects the other.
    reviews.review_create(user=colleague, examination=normal, right_grade=0, left_grade=1)
    reviews.review_create(user=colleague, examination=referable, right_grade=1, left_grade=1)

    figures = clinic_statistics(clinic_id=patient.clinic_id)

    totals = figures["totals"]
    assert (totals.examinations, totals.graded, totals.failed, totals.reviewed) == (4, 3, 1, 2)
    assert totals.refer_share == pytest.approx(1 / 3)
    assert totals.rescreen_share == pytest.approx(1 / 3)
    assert totals.retake_share == pytest.approx(1 / 3)
    assert [row.month for row in figures["months"]] == [timezone.now().date().replace(day=1)]
    # Reviewed eyes: (model 0, doctor 0), (0, 1), (1, 1), (0, 1).
    assert figures["agreement"]["eyes"] == 4
    assert figures["agreement"]["agreement"] == pytest.approx(2 / 4)
    assert figures["agreement"]["sensitivity"] == pytest.approx(1 / 3)
    assert figures["agreement"]["specificity"] == 1.0


def test_the_statistics_page_shows_the_figures_to_doctors(client, owner, colleague, patient) -> None:
    examination = graded_examination(patient=patient, grades=(1, 0), created_by=owner)
    reviews.review_create(user=colleague, examination=examination, right_grade=1, left_grade=0)
    client.force_login(colleague)
    html = client.get(reverse("screening:statistics")).content.decode()
    assert "On the <strong>2</strong> eyes a doctor reviewed" in html
    # Both eyes agreed; every share with its 95% interval, and 2 eyes are a small sample.
    assert '<strong>2</strong> (<span id="agreement-share">100%, 95% CI 34 to 100%' in html
    assert (
        '<strong>1</strong> of the 1 referable eyes (<span id="sensitivity">100% sensitivity, 95% CI 21 to 100%' in html
    )
    assert 'id="small-sample"' in html
    assert f'data-month="{timezone.now():%Y-%m}"' in html
    assert f'<th scope="row">{timezone.now():%Y-%m}</th>' in html  # each month heads its row for screen readers
    # Outcomes as percentages, as the page's other figures (0.00 / 1.00 before); none retaken: 0%.
    assert "<td>100%</td><td>0%</td>" in html and "<td>0.00</td>" not in html
    client.force_login(owner)
    assert client.get(reverse("screening:statistics")).status_code == 403


def test_clinic_statistics_run_the_same_queries_for_1_and_6_examinations(owner, colleague, patient) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            clinic_statistics(clinic_id=patient.clinic_id)
        return len(captured)

    first = graded_examination(patient=patient, grades=(1, 0), created_by=owner)
    reviews.review_create(user=colleague, examination=first, right_grade=1, left_grade=0)
    one = queries()
    for grades in [(0, 0), (1, 1), (2, 0), (0, 1), (0, 0)]:
        examination = graded_examination(patient=patient, grades=grades, created_by=owner)
        reviews.review_create(user=colleague, examination=examination, right_grade=0, left_grade=0)
    assert queries() == one


def test_statistics_leave_out_examinations_entered_in_error(client, owner, colleague, patient) -> None:
    kept = graded_examination(patient=patient, grades=(0, 0), created_by=owner)
    reviews.review_create(user=colleague, examination=kept, right_grade=0, left_grade=0)
    wrong = graded_examination(patient=patient, grades=(2, 2), created_by=owner)
    reviews.review_create(user=colleague, examination=wrong, right_grade=0, left_grade=0)
    services.examination_void(user=colleague, examination=wrong, reason="Photographs of another patient.")
    unreviewed = graded_examination(patient=patient, grades=(1, 0), created_by=owner)
    services.examination_void(user=owner, examination=unreviewed, reason="Wrong patient.")

    figures = clinic_statistics(clinic_id=patient.clinic_id)

    totals = figures["totals"]
    assert (totals.examinations, totals.graded, totals.reviewed) == (1, 1, 1)
    assert totals.rescreen_share == 1.0 and totals.refer_share == 0.0
    assert figures["agreement"]["eyes"] == 2 and figures["agreement"]["agreement"] == 1.0
    client.force_login(colleague)
    body = client.get("/api/v1/statistics/").json()
    assert body["totals"]["examinations"] == 1 and body["agreement"]["matrix"] == [[2, 0, 0], [0, 0, 0], [0, 0, 0]]


def test_statistics_compare_the_model_with_the_amended_grades(client, owner, colleague, patient) -> None:
    examination = graded_examination(patient=patient, grades=(0, 0), created_by=owner)
    reviews.review_create(user=colleague, examination=examination, right_grade=0, left_grade=0)
    assert clinic_statistics(clinic_id=patient.clinic_id)["agreement"]["agreed"] == 2

    reviews.review_amend(
        user=colleague, examination=examination, right_grade=1, left_grade=0, notes="", reason="Second look."
    )

    agreement = clinic_statistics(clinic_id=patient.clinic_id)["agreement"]
    # Rows: the doctor's (amended) grade; the model said No DR for both eyes.
    assert agreement["matrix"] == [[1, 0, 0], [1, 0, 0], [0, 0, 0]]
    assert (agreement["eyes"], agreement["agreed"], agreement["referable"], agreement["referable_found"]) == (
        2,
        1,
        1,
        0,
    )
    client.force_login(colleague)
    assert client.get("/api/v1/statistics/").json()["agreement"]["matrix"] == agreement["matrix"]


def test_eyes_a_doctor_found_ungradable_are_left_out_of_the_agreement_and_said_so(
    client, owner, colleague, patient
) -> None:
    from screening.models import ReviewGrade

    examination = graded_examination(patient=patient, grades=(1, 0), created_by=owner)
    reviews.review_create(user=colleague, examination=examination, right_grade=ReviewGrade.UNGRADABLE, left_grade=0)

    figures = clinic_statistics(clinic_id=patient.clinic_id)

    # Only the left eye has a doctor's grade to compare: it agrees; the right is counted apart.
    assert (figures["agreement"]["eyes"], figures["agreement"]["agreed"], figures["agreement"]["ungradable"]) == (
        1,
        1,
        1,
    )
    assert figures["totals"].reviewed == 1
    client.force_login(colleague)
    response = client.get(reverse("screening:statistics"))
    assert response.status_code == 200
    html = response.content.decode()
    assert "On the <strong>1</strong> eyes a doctor reviewed" in html
    assert "1 reviewed eye signed off as Ungradable is left out of these figures" in html
    api = client.get("/api/v1/statistics/")
    assert api.status_code == 200 and api.json()["agreement"]["ungradable"] == 1
