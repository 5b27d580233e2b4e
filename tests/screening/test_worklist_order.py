"""The doctors' worklist: the most urgent first (referable, then the model's worst grade of a gradable eye),
then the longest waiting; patient names link to the patient; "Sign off and next" goes down that order."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from screening import reviews
from screening.models import Examination, EyeImage, Review
from screening.selectors import worklist, worklist_next, worklist_order
from tests.examination_data import graded_examination, prediction_for
from tests.factories import PatientFactory

pytestmark = pytest.mark.django_db


def _waiting(patient, grades: tuple[int, int], hours: float) -> Examination:
    """A graded examination, unreviewed, graded `hours` ago."""
    examination = graded_examination(patient=patient, grades=grades)
    graded = timezone.now() - timedelta(hours=hours)
    Examination.objects.filter(pk=examination.pk).update(completed_at=graded)
    return examination


def _order(user) -> list[int]:
    return [examination.pk for examination in worklist(user=user)]


def test_the_most_severe_come_first_then_the_longest_waiting(colleague, patient) -> None:
    mild_old = _waiting(patient, (1, 0), hours=30)
    healthy_oldest = _waiting(patient, (0, 0), hours=50)
    severe_new = _waiting(patient, (0, 2), hours=1)
    mild_older = _waiting(patient, (0, 1), hours=40)
    severe_old = _waiting(patient, (2, 2), hours=20)
    healthy_new = _waiting(patient, (0, 0), hours=2)
    # Severe NPDR or PDR (by either eye) before mild-moderate before none; within each, graded earliest first.
    expected = [severe_old, severe_new, mild_older, mild_old, healthy_oldest, healthy_new]
    assert _order(colleague) == [examination.pk for examination in expected]
    assert worklist_order(user=colleague) == [examination.pk for examination in expected]


def test_an_ungradable_photographs_grade_does_not_make_it_urgent(colleague, patient) -> None:
    """The model's Proliferative for a photograph it could not read is no finding: that examination
    answers "retake" and waits among the non-referable by its age, not ahead of them."""
    healthy = _waiting(patient, (0, 0), hours=10)
    retake = _waiting(patient, (0, 2), hours=1)
    EyeImage.objects.filter(examination=retake, side="left").update(gradable=False)
    mild = _waiting(patient, (1, 0), hours=1)
    assert _order(colleague) == [mild.pk, healthy.pk, retake.pk]


def test_an_eye_regraded_sorts_by_its_latest_grade(colleague, patient) -> None:
    regraded = _waiting(patient, (2, 0), hours=10)
    severe = _waiting(patient, (2, 0), hours=1)
    right = regraded.images.get(side="right")
    later = prediction_for(right, 1, model_version="regraded")
    later.save()
    assert _order(colleague) == [severe.pk, regraded.pk]


def test_next_is_the_one_after_in_the_order_then_from_the_top_then_none(colleague, patient) -> None:
    first, second, third = (_waiting(patient, (2 - grade, 0), hours=1) for grade in range(3))
    order = worklist_order(user=colleague)
    assert order == [first.pk, second.pk, third.pk]
    # Started at the second: the third follows it; after the third (the last), the first, skipped, is left.
    reviews.review_create(user=colleague, examination=second, right_grade=1, left_grade=0)
    assert worklist_next(user=colleague, order=order, after=second.pk) == third.pk
    reviews.review_create(user=colleague, examination=third, right_grade=0, left_grade=0)
    assert worklist_next(user=colleague, order=order, after=third.pk) == first.pk
    # One a colleague signed off meanwhile is skipped.
    reviews.review_create(user=colleague, examination=first, right_grade=2, left_grade=0)
    assert worklist_next(user=colleague, order=order, after=third.pk) is None


def test_sign_off_and_next_saves_the_review_and_opens_the_next(client, colleague, patient) -> None:
    severe, mild, healthy = (_waiting(patient, grades, hours=1) for grades in ((2, 0), (1, 0), (0, 0)))
    client.force_login(colleague)
    url = reverse("screening:review", kwargs={"examination_id": severe.pk})
    response = client.post(
        url, {"right_grade": "2", "left_grade": "0", "sign_off_next": "Sign off and next"}, follow=True
    )
    assert Review.objects.get(examination=severe).right_grade == 2
    assert response.redirect_chain == [
        (reverse("screening:detail", kwargs={"examination_id": mild.pk}) + "#review", 302)
    ]
    html = response.content.decode()
    assert "Review signed off. This is the next examination on the worklist." in html
    assert 'id="sign-off-next"' in html  # the next one offers the same two buttons
    # The last one: back to the worklist, which says nothing is left.
    for examination in (mild, healthy):
        url = reverse("screening:review", kwargs={"examination_id": examination.pk})
        response = client.post(
            url, {"right_grade": "0", "left_grade": "0", "sign_off_next": "Sign off and next"}, follow=True
        )
    assert response.redirect_chain[-1] == (reverse("screening:worklist"), 302)
    html = response.content.decode()
    assert "Review signed off. Nothing else is waiting for review." in html and "Nothing to review." in html
    assert Review.objects.count() == 3


def test_sign_off_alone_stays_on_the_examination(client, colleague, patient) -> None:
    severe, _mild = _waiting(patient, (2, 0), hours=1), _waiting(patient, (1, 0), hours=1)
    client.force_login(colleague)
    response = client.post(
        reverse("screening:review", kwargs={"examination_id": severe.pk}), {"right_grade": "2", "left_grade": "0"}
    )
    assert response["Location"] == reverse("screening:detail", kwargs={"examination_id": severe.pk})


def test_a_refused_sign_off_and_next_stays_on_the_form_and_saves_nothing(client, colleague, patient) -> None:
    severe, _mild = _waiting(patient, (2, 0), hours=1), _waiting(patient, (1, 0), hours=1)
    client.force_login(colleague)
    url = reverse("screening:review", kwargs={"examination_id": severe.pk})
    response = client.post(url, {"right_grade": "7", "left_grade": "0", "sign_off_next": "Sign off and next"})
    assert response.status_code == 400
    assert response.context["examination"].pk == severe.pk
    assert not Review.objects.exists()


def test_the_worklist_links_each_patient_and_names_the_classes(client, colleague, patient, clinic) -> None:
    other = PatientFactory.create(clinic=clinic, last_name="Okafor", first_name="Ada")
    _waiting(patient, (2, 0), hours=1)
    _waiting(other, (0, 1), hours=1)
    client.force_login(colleague)
    html = client.get(reverse("screening:worklist")).content.decode()
    for person in (patient, other):
        link = f'<a href="{reverse("patients:detail", kwargs={"patient_id": person.pk})}" class="patient-link">'
        assert f"{link}{person.last_name}, {person.first_name}</a>" in html
    assert "<td>Severe NPDR or PDR (ICDR 3-4)" in html and "<td>Mild-moderate NPDR (ICDR 1-2)" in html
    assert "<td>No DR (ICDR 0)" in html and "<td>Proliferative" not in html
