from __future__ import annotations

import io

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from PIL import Image

from screening.models import Examination, EyeImage, Prediction

pytestmark = pytest.mark.django_db


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4), (120, 40, 20)).save(buffer, format="PNG")
    return buffer.getvalue()


def _eye(examination: Examination, side: str, digest: str) -> EyeImage:
    eye = EyeImage(examination=examination, side=side, sha256=digest, format="PNG")
    # Assigning a stored name makes the ImageField read the dimensions from storage.
    eye.file = default_storage.save(f"test/{digest}.png", ContentFile(_png()))
    eye.save()
    return eye


def test_the_database_refuses_a_second_right_eye_for_one_examination(patient) -> None:
    exam = Examination.objects.create(patient=patient)
    _eye(exam, "right", "a" * 64)
    with pytest.raises(IntegrityError), transaction.atomic():
        _eye(exam, "right", "b" * 64)


def test_the_database_refuses_a_second_prediction_for_one_eye_and_model_version(patient) -> None:
    eye = _eye(Examination.objects.create(patient=patient), "left", "c" * 64)
    fields = {
        "model_version": "vit-1",
        "checkpoint_sha256": "d" * 64,
        "predicted_class": 0,
        "confidence_no_dr": 0.8,
        "confidence_mild": 0.15,
        "confidence_proliferative": 0.05,
    }
    Prediction.objects.create(eye_image=eye, **fields)
    with pytest.raises(IntegrityError), transaction.atomic():
        Prediction.objects.create(eye_image=eye, **fields)


def test_the_database_refuses_a_confidence_outside_zero_to_one(patient) -> None:
    eye = _eye(Examination.objects.create(patient=patient), "left", "e" * 64)
    with pytest.raises(IntegrityError), transaction.atomic():
        Prediction.objects.create(
            eye_image=eye,
            model_version="vit-1",
            checkpoint_sha256="f" * 64,
            predicted_class=1,
            confidence_no_dr=-0.1,
            confidence_mild=1.0,
            confidence_proliferative=0.1,
        )


def test_the_database_refuses_an_unknown_status(patient) -> None:
    exam = Examination.objects.create(patient=patient)
    with pytest.raises(IntegrityError), transaction.atomic():
        Examination.objects.filter(pk=exam.pk).update(status="lost")


def test_the_seed_score_is_the_photographs_own_confidence_when_stored() -> None:
    from tests.examination_data import prediction_for

    eye = EyeImage(side="right")
    # Graded with the other eye: the pooled confidence of Mild is 0.6, the photograph alone gave 0.9.
    paired = prediction_for(eye, grade=1, score=0.6)
    paired.seed_score = 0.9
    assert paired.score == 0.9
    # Stored before pairing existed: the confidence of the predicted class, as the seed rule always read it.
    assert prediction_for(eye, grade=1, score=0.6).score == 0.6


def test_the_seed_rule_reads_each_eyes_own_score(owner, patient) -> None:
    from screening.selectors import referral_for
    from tests.examination_data import graded_examination

    examination = graded_examination(patient=patient, grades=(1, 1), created_by=owner)
    predictions = {p.eye_image.side: p for p in Prediction.objects.filter(eye_image__examination=examination)}
    for side, own in (("right", 0.95), ("left", 0.55)):
        Prediction.objects.filter(pk=predictions[side].pk).update(seed_score=own)
    examination = Examination.objects.get(pk=examination.pk)
    # The pooled confidences of the two eyes are equal (0.8 each) but the photographs alone differ by 0.4.
    assert referral_for(examination)["warning"] is False
    Prediction.objects.filter(eye_image__examination=examination).update(seed_score=None)
    assert referral_for(Examination.objects.get(pk=examination.pk))["warning"] is True
