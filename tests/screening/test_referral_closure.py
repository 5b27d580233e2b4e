"""Open referrals and the recall: a patient referred (by the doctor's grades where reviewed, else the
model's) and not yet closed by a doctor is never "due in 12 months"; a doctor closes the referral with an
outcome, audited; staff cannot."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEvent
from patients.models import Patient
from screening import closures, reviews
from screening.models import Examination, ReferralClosure
from screening.referral import ExaminationFacts, EyeResult, open_referrals
from screening.selectors import due_for_rescreening
from tests.examination_data import graded_examination
from tests.factories import PatientFactory

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=timezone.get_fixed_timezone(0))


# --- the rule ------------------------------------------------------------------------------------------


def _facts(days_ago: int, grades: tuple[int, int], review: tuple[int, int] | None = None, pk: int = 0):
    facts = ExaminationFacts(1, NOW - timedelta(days=days_ago), "done", examination_id=pk or days_ago)
    facts.eyes = {"right": EyeResult(grades[0], None, True), "left": EyeResult(grades[1], None, True)}
    if review is not None:
        facts.review = {"right": review[0], "left": review[1]}
    return facts


def test_a_referring_examination_is_an_open_referral_until_closed() -> None:
    referring = _facts(10, (2, 2))
    assert open_referrals([referring], None) == [referring]
    assert open_referrals([referring], referring.created_at) == []  # closed through it


def test_a_newer_unreviewed_no_dr_examination_does_not_close_an_older_referral() -> None:
    confirmed = _facts(10, (2, 2), review=(2, 2))
    newer = _facts(0, (0, 0))
    assert open_referrals([confirmed, newer], None) == [confirmed]


def test_the_doctors_grades_decide_where_reviewed() -> None:
    # The model said refer, the doctor said No DR: no referral. And the other way round.
    assert open_referrals([_facts(5, (1, 0), review=(0, 0))], None) == []
    corrected = _facts(5, (0, 0), review=(0, 1))
    assert open_referrals([corrected], None) == [corrected]


def test_a_referral_made_after_the_closure_is_open_again_and_listed_oldest_first() -> None:
    first, second, third = _facts(30, (1, 1)), _facts(20, (2, 0)), _facts(10, (0, 2))
    assert open_referrals([third, first, second], first.created_at) == [second, third]


def test_retake_and_ungraded_examinations_are_no_referral() -> None:
    retake = _facts(5, (2, 2))
    retake.eyes["left"] = EyeResult(2, None, False)
    queued = ExaminationFacts(1, NOW, "queued", examination_id=99)
    assert open_referrals([retake, queued], None) == []


# --- the recall and the pages --------------------------------------------------------------------------


def _exam(patient, grades: tuple[int, int], days_ago: int) -> Examination:
    examination = graded_examination(patient=patient, grades=grades)
    Examination.objects.filter(pk=examination.pk).update(created_at=timezone.now() - timedelta(days=days_ago))
    examination.refresh_from_db()
    return examination


def _page(client, patient) -> str:
    return client.get(reverse("patients:detail", kwargs={"patient_id": patient.pk})).content.decode()


def _close_url(patient) -> str:
    return reverse("screening:referral_close", kwargs={"patient_id": patient.pk})


def test_the_issues_case_confirmed_referral_then_unreviewed_no_dr_is_not_due(client, owner, colleague, patient) -> None:
    referred = _exam(patient, (2, 2), days_ago=400)
    reviews.review_create(user=colleague, examination=referred, right_grade=2, left_grade=2)
    _exam(patient, (0, 0), days_ago=399)  # a newer, unreviewed "No DR", a year ago: would be due now
    clinic_patients = Patient.objects.filter(clinic=patient.clinic)
    assert list(due_for_rescreening(patients=clinic_patients)) == []
    client.force_login(owner)
    page = _page(client, patient)
    assert "Next screening due" not in page
    assert f"Referral open since {referred.created_at:%Y-%m-%d}" in page
    assert f'data-patient="{patient.pk}"' not in client.get(reverse("patients:list"), {"due": "1"}).content.decode()


def test_a_doctor_closes_the_referral_and_the_patient_is_due_again(client, owner, colleague, patient) -> None:
    referred = _exam(patient, (2, 2), days_ago=400)
    newer = _exam(patient, (0, 0), days_ago=399)
    client.force_login(colleague)
    form = client.get(reverse("patients:detail", kwargs={"patient_id": patient.pk})).context["referral_close_form"]
    assert form.initial == {"through": referred.pk, "back": "patient"}
    response = client.post(
        _close_url(patient), {"through": referred.pk, "back": "patient", "outcome": "Seen at the eye clinic: laser."}
    )
    assert response.status_code == 302 and response.url == reverse("patients:detail", kwargs={"patient_id": patient.pk})
    closure = ReferralClosure.objects.get()
    assert (closure.patient, closure.examination, closure.closed_by) == (patient, referred, colleague)
    assert closure.outcome == "Seen at the eye clinic: laser." and closure.closed_at is not None
    event = AuditEvent.objects.get(action="referral.close")
    assert (event.actor, event.object_id, event.patient_id) == (colleague, str(closure.pk), patient.pk)
    assert event.detail == {"through": referred.pk, "examinations": [referred.pk]}  # no free text
    page = _page(client, patient)
    assert "Referral open since" not in page
    assert f"Next screening due {(newer.created_at + timedelta(days=365)):%Y-%m-%d}" in page
    assert "Last referral closed" in page and "Seen at the eye clinic: laser." in page
    assert list(due_for_rescreening(patients=Patient.objects.filter(pk=patient.pk))) == [patient]


def test_a_referral_made_after_the_page_was_shown_stays_open(colleague, patient) -> None:
    first = _exam(patient, (1, 1), days_ago=20)
    later = _exam(patient, (2, 1), days_ago=1)
    closures.referral_close(user=colleague, patient=patient, through=first.pk, outcome="Seen, no treatment.")
    from screening.selectors import open_referrals_by_patient

    still = open_referrals_by_patient(patients=Patient.objects.filter(pk=patient.pk))[patient.pk]
    assert [facts.examination_id for facts in still] == [later.pk]


def test_closing_through_the_newest_closes_every_earlier_referral(colleague, patient) -> None:
    _exam(patient, (1, 1), days_ago=20)
    newest = _exam(patient, (2, 1), days_ago=1)
    closures.referral_close(user=colleague, patient=patient, through=newest.pk, outcome="Under the eye clinic's care.")
    from screening.selectors import open_referrals_by_patient

    assert open_referrals_by_patient(patients=Patient.objects.filter(pk=patient.pk)) == {}


def test_the_outcome_is_required_and_bounded_and_a_closed_referral_cannot_be_closed_again(colleague, patient) -> None:
    referred = _exam(patient, (1, 0), days_ago=5)
    with pytest.raises(ValidationError) as caught:
        closures.referral_close(user=colleague, patient=patient, through=referred.pk, outcome="   ")
    assert caught.value.message_dict == {"outcome": [closures.OUTCOME_REQUIRED]}
    with pytest.raises(ValidationError, match="Keep the outcome to 500 characters"):
        closures.referral_close(user=colleague, patient=patient, through=referred.pk, outcome="x" * 501)
    closures.referral_close(user=colleague, patient=patient, through=referred.pk, outcome="Seen.")
    with pytest.raises(ValidationError, match="This referral is not open"):
        closures.referral_close(user=colleague, patient=patient, through=referred.pk, outcome="Seen again.")
    assert ReferralClosure.objects.count() == 1


def test_an_examination_that_is_no_referral_cannot_be_closed(colleague, patient) -> None:
    normal = _exam(patient, (0, 0), days_ago=5)
    with pytest.raises(ValidationError, match="This referral is not open"):
        closures.referral_close(user=colleague, patient=patient, through=normal.pk, outcome="Seen.")
    assert not ReferralClosure.objects.exists()


def test_only_doctors_of_the_clinic_close_referrals(owner, outsider, patient) -> None:
    referred = _exam(patient, (1, 0), days_ago=5)
    with pytest.raises(PermissionDenied, match="Only doctors close referrals"):
        closures.referral_close(user=owner, patient=patient, through=referred.pk, outcome="Seen.")
    with pytest.raises(PermissionDenied):
        closures.referral_close(user=outsider, patient=patient, through=referred.pk, outcome="Seen.")
    assert not ReferralClosure.objects.exists()


def test_staff_get_403_and_another_clinic_404_and_staff_see_no_close_form(client, owner, outsider, patient) -> None:
    referred = _exam(patient, (1, 0), days_ago=5)
    data = {"through": referred.pk, "back": "patient", "outcome": "Seen."}
    client.force_login(owner)
    assert client.post(_close_url(patient), data).status_code == 403
    page = client.get(reverse("patients:detail", kwargs={"patient_id": patient.pk}))
    assert page.context["referral_close_form"] is None and "Referral open since" in page.content.decode()
    assert "Close the referral" not in page.content.decode()
    assert client.get(reverse("screening:detail", args=[referred.pk])).context["referral_close_form"] is None
    client.force_login(outsider)
    assert client.post(_close_url(patient), data).status_code == 404
    assert not ReferralClosure.objects.exists()


def test_a_doctor_closes_the_referral_from_the_examination_page(client, colleague, patient) -> None:
    referred = _exam(patient, (2, 0), days_ago=3)
    client.force_login(colleague)
    detail = reverse("screening:detail", args=[referred.pk])
    page = client.get(detail)
    assert page.context["referral_open"] and "Close the referral" in page.content.decode()
    response = client.post(
        _close_url(patient), {"through": referred.pk, "back": "examination", "outcome": "Seen: PRP laser."}, follow=True
    )
    assert response.redirect_chain == [(detail, 302)]
    html = response.content.decode()
    assert "Referral closed" in html and "by colleague" in html and "Seen: PRP laser." in html
    assert "Close the referral" not in html


def test_a_refused_closure_says_why_on_the_page(client, colleague, patient) -> None:
    referred = _exam(patient, (2, 0), days_ago=3)
    client.force_login(colleague)
    response = client.post(_close_url(patient), {"through": referred.pk, "back": "patient", "outcome": ""}, follow=True)
    assert closures.OUTCOME_REQUIRED in response.content.decode()
    garbled = client.post(_close_url(patient), {"through": "x", "outcome": "Seen."}, follow=True)
    assert "could not be read back" in garbled.content.decode()
    assert not ReferralClosure.objects.exists()
    # A GET (the login page's "next") goes back to the patient page.
    assert client.get(_close_url(patient)).url == reverse("patients:detail", kwargs={"patient_id": patient.pk})


def test_another_patients_referral_cannot_be_closed_through_this_patients_url(
    client, colleague, patient, clinic
) -> None:
    other = PatientFactory.create(clinic=clinic)
    referred = _exam(other, (2, 0), days_ago=3)
    client.force_login(colleague)
    # Another patient's examination named under this patient: not one of this patient's open referrals.
    client.post(_close_url(patient), {"through": referred.pk, "back": "patient", "outcome": "Seen."})
    assert not ReferralClosure.objects.exists()
