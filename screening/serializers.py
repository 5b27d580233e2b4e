"""Small input and output serializers for the screening API. ExaminationOutputSerializer is the one writer
of DESIGN.md's examination document: it renders an examination from the selectors' reads, and describes the
shape for the schema."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, cast

from django.http import HttpRequest
from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.request import Request

from . import selectors
from .answers import DOCTOR, MODEL
from .models import (
    AMEND_REASON_MAX_LENGTH,
    REFERRAL_OUTCOME_MAX_LENGTH,
    VOID_REASON_MAX_LENGTH,
    Examination,
    Grade,
    ReviewGrade,
    Status,
)
from .referral import RECOMMENDATION_LABELS
from .validation import SENT_TWICE

_BIGINT = 2**63 - 1


class ExaminationCreateInputSerializer(serializers.Serializer[Any]):
    patient = serializers.IntegerField(min_value=1, max_value=_BIGINT)
    # An empty file is let through to the upload service, which checks both eyes and reports every problem
    # at once in its own words: refused here, it hid the other eye's problem.
    right_eye = serializers.FileField(
        allow_empty_file=True,
        help_text="JPEG, PNG or DICOM (ophthalmic or VL photographic image) fundus photograph of the right eye",
    )
    left_eye = serializers.FileField(
        allow_empty_file=True,
        help_text="JPEG, PNG or DICOM (ophthalmic or VL photographic image) fundus photograph of the left eye",
    )
    notes = serializers.CharField(required=False, allow_blank=True, max_length=5000, default="")

    def to_internal_value(self, data: Any) -> Any:
        # A form field sent twice (two right_eye parts, two patients) is ambiguous, and DRF would silently
        # take the last one: a photograph filed under the wrong eye or patient. Refused instead.
        if hasattr(data, "getlist"):
            names = cast("Iterable[str]", self.fields)  # its names (djangorestframework-stubs says fields)
            repeated = {name: [SENT_TWICE] for name in names if len(data.getlist(name)) > 1}
            if repeated:
                raise serializers.ValidationError(repeated)
        return super().to_internal_value(data)


# The API's key for a doctor's "Ungradable" (stored as models.ReviewGrade.UNGRADABLE): a word beside the
# classes' numbers, so that no client reads it as a severity.
UNGRADABLE_KEY = "Ungradable"


# Described by hand: the generator names an enum by sorting its values, which a number and a word cannot be.
@extend_schema_field(
    {
        "oneOf": [
            {"type": "integer", "enum": [grade.value for grade in Grade]},
            {"type": "string", "enum": [UNGRADABLE_KEY]},
        ]
    }
)
class ReviewGradeField(serializers.ChoiceField):
    """A doctor's grade of an eye: a class (0, 1, 2, as the eyes' grades) or "Ungradable"."""

    def __init__(self, **kwargs: Any) -> None:
        choices = [*Grade.choices, (UNGRADABLE_KEY, "Ungradable photograph")]
        kwargs.setdefault(
            "help_text", '0 No DR, 1 Mild, 2 Proliferative, or "Ungradable" (the photograph cannot be graded)'
        )
        super().__init__(choices=choices, **kwargs)

    def to_internal_value(self, data: Any) -> Any:
        value = super().to_internal_value(data)
        return ReviewGrade.UNGRADABLE.value if value == UNGRADABLE_KEY else value

    def to_representation(self, value: Any) -> Any:
        return UNGRADABLE_KEY if value == ReviewGrade.UNGRADABLE else super().to_representation(value)


class ReviewCreateInputSerializer(serializers.Serializer[Any]):
    right_grade = ReviewGradeField()
    left_grade = ReviewGradeField()
    notes = serializers.CharField(required=False, allow_blank=True, max_length=5000, default="")


class ReviewAmendInputSerializer(serializers.Serializer[Any]):
    right_grade = ReviewGradeField()
    left_grade = ReviewGradeField()
    # Required (blank allowed): the body is the whole new version, so leaving notes out cannot erase them
    # by accident.
    notes = serializers.CharField(
        allow_blank=True, max_length=5000, help_text="The notes as they should now read (blank for none)"
    )
    # Blank passes here on purpose: the service refuses it, in the same words as the web page.
    reason = serializers.CharField(
        allow_blank=True,
        help_text=f"Why the review is amended (a slip, a second look at the photographs); required, "
        f"at most {AMEND_REASON_MAX_LENGTH} characters",
    )
    revisions_seen = serializers.IntegerField(
        required=False,
        min_value=0,
        help_text="How many earlier versions (review.revisions) the client saw; when given and a colleague "
        "amended the review since, the amendment is refused (400) and nothing changes",
    )


class ReferralCloseInputSerializer(serializers.Serializer[Any]):
    # Blank passes here on purpose: the service refuses it, in the same words as the web page.
    outcome = serializers.CharField(
        allow_blank=True,
        help_text=f"What became of the referral (seen at the eye clinic, treated, discharged to screening); "
        f"required, at most {REFERRAL_OUTCOME_MAX_LENGTH} characters",
    )


class ReferralClosureOutputSerializer(serializers.Serializer[Any]):
    examination = serializers.IntegerField(source="examination_id", help_text="The examination it closed through")
    closed_by = serializers.CharField(source="closed_by.username")
    closed_at = serializers.DateTimeField()
    outcome = serializers.CharField()


class VoidInputSerializer(serializers.Serializer[Any]):
    # Blank passes here on purpose: the service refuses it, in the same words as the web page.
    reason = serializers.CharField(
        allow_blank=True,
        help_text=f"Why the examination was entered in error (wrong patient, wrong photographs); required, "
        f"at most {VOID_REASON_MAX_LENGTH} characters",
    )


class ConfidencesSerializer(serializers.Serializer[Any]):
    """One confidence per class, keyed by the class label ("No DR", "Mild", "Proliferative")."""

    def get_fields(self) -> dict[str, serializers.Field[Any, Any, Any, Any]]:
        # The labels are not Python identifiers, so the fields cannot be declared as attributes.
        return {label: serializers.FloatField(min_value=0.0, max_value=1.0) for label in Grade.labels}


class EyeAloneSerializer(serializers.Serializer[Any]):
    grade = serializers.ChoiceField(choices=Grade.choices)
    # A field named like DRF's own Field.label attribute, which the stubs type as text: the API's key stays.
    label = serializers.CharField()  # type: ignore[assignment]
    score = serializers.FloatField(min_value=0.0, max_value=1.0, help_text="the confidence of that grade")
    changed = serializers.BooleanField(help_text="the other eye changed this eye's grade")


class EyeOutputSerializer(serializers.Serializer[Any]):
    grade = serializers.ChoiceField(choices=Grade.choices, allow_null=True)
    label = serializers.CharField(allow_null=True)  # type: ignore[assignment]  # as EyeAloneSerializer.label
    confidences = ConfidencesSerializer(allow_null=True)
    graded_with_other_eye = serializers.BooleanField(
        allow_null=True,
        help_text="The confidences weigh the examination's other photograph too (docs/model/MODEL_CARD.md); "
        "null until graded",
    )
    alone = EyeAloneSerializer(
        allow_null=True,
        help_text="Graded together with the other eye: what this photograph alone was given (null otherwise)",
    )
    gradable = serializers.BooleanField(allow_null=True)
    quality_reasons = serializers.ListField(
        child=serializers.CharField(), help_text="Why the photograph is ungradable (empty when it is gradable)"
    )
    image_url = serializers.URLField(
        allow_null=True, help_text="The photograph (token or session auth, audited); null if none"
    )
    heatmap_url = serializers.URLField(
        allow_null=True, help_text="The heatmap overlay as JPEG (token or session auth, audited); null until graded"
    )


class EyesOutputSerializer(serializers.Serializer[Any]):
    right = EyeOutputSerializer()
    left = EyeOutputSerializer()


# The recommendation's keys, one choice set for the referral's and the answer's (settings' ENUM_NAME_OVERRIDES
# names it once in the schema: RecommendationEnum).
RECOMMENDATION_CHOICES = list(RECOMMENDATION_LABELS.items())


class ReferralOutputSerializer(serializers.Serializer[Any]):
    warning = serializers.BooleanField()
    message = serializers.CharField(allow_null=True)
    recommendation = serializers.ChoiceField(choices=RECOMMENDATION_CHOICES, allow_null=True)


class AnswerSuggestionSerializer(serializers.Serializer[Any]):
    key = serializers.ChoiceField(choices=RECOMMENDATION_CHOICES)
    label = serializers.CharField()  # type: ignore[assignment]  # as EyeAloneSerializer.label
    reason = serializers.CharField(
        help_text='One line: the eyes that decided it, e.g. "Right eye: Severe NPDR or PDR (ICDR 3-4)"'
    )


class AnswerOutputSerializer(AnswerSuggestionSerializer):
    # A field named like DRF's own Field.source attribute (as EyeAloneSerializer.label): the API's key stays.
    source = serializers.ChoiceField(  # type: ignore[assignment]
        choices=[(DOCTOR, "the doctor's decision (signed off)"), (MODEL, "the model's suggestion (not reviewed)")]
    )
    model_suggestion = AnswerSuggestionSerializer(
        allow_null=True,
        help_text="The model's answer, whatever the source (the answer itself while source is model); null if none",
    )


class ReviewRevisionOutputSerializer(serializers.Serializer[Any]):
    """A version of the review that an amendment replaced, as it was signed off."""

    right_grade = ReviewGradeField()
    left_grade = ReviewGradeField()
    notes = serializers.CharField(allow_blank=True)
    signed_by = serializers.IntegerField(
        source="doctor_id", help_text="The doctor who had signed these values off, by id"
    )
    signed_off_at = serializers.DateTimeField()
    amended_by = serializers.IntegerField(source="amended_by_id", help_text="The doctor who replaced them, by id")
    amended_at = serializers.DateTimeField()
    reason = serializers.CharField(help_text="Why they were replaced")


class ReviewOutputSerializer(serializers.Serializer[Any]):
    doctor = serializers.IntegerField(help_text="Who signed the current grades off (after an amendment: who amended)")
    right_grade = ReviewGradeField()
    left_grade = ReviewGradeField()
    notes = serializers.CharField(allow_blank=True)
    signed_off_at = serializers.DateTimeField()
    recommendation = serializers.CharField(
        allow_null=True, help_text="refer / rescreen_12_months / retake, by the doctor's grades (they decide)"
    )
    amended_at = serializers.DateTimeField(allow_null=True, help_text="When the review was last amended, if ever")
    revisions = ReviewRevisionOutputSerializer(many=True, help_text="The versions amendments replaced, oldest first")


# DESIGN.md's examination document, written from an examination with its results prefetched
# (selectors.with_results) and the request in the context (for absolute file URLs). The API answers with it;
# a page or export that needs the same document renders it here too. (A comment, not a docstring: the schema
# would publish a docstring as the object's description.)
class ExaminationOutputSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    patient = serializers.IntegerField()
    status = serializers.ChoiceField(choices=Status.choices)
    created_at = serializers.DateTimeField()
    completed_at = serializers.DateTimeField(allow_null=True)
    model_version = serializers.CharField(allow_null=True)
    error = serializers.CharField(allow_null=True)
    notes = serializers.CharField(allow_blank=True)
    eyes = EyesOutputSerializer()
    referral = ReferralOutputSerializer()
    answer = AnswerOutputSerializer(
        allow_null=True,
        help_text="The one answer: the doctor's decision once signed off, else the model's; null until graded",
    )
    review = ReviewOutputSerializer(allow_null=True)
    pair_warning = serializers.CharField(
        allow_null=True,
        help_text="The upload's warning that both photographs are one, or one the other's mirror image; null if none",
    )
    voided = serializers.BooleanField(
        help_text="Entered in error: kept in the record, counted nowhere (worklist, recall, statistics)"
    )
    voided_at = serializers.DateTimeField(allow_null=True)
    voided_by = serializers.IntegerField(allow_null=True, help_text="The user who marked it, by id")
    void_reason = serializers.CharField(allow_blank=True)

    def to_representation(self, instance: Examination) -> dict[str, Any]:
        return super().to_representation(_document(instance, self.context["request"]))


def _document(examination: Examination, request: HttpRequest | Request) -> dict[str, Any]:
    """The document's values, from the screening selectors' summary of the examination."""
    summary = selectors.examination_summary(examination)
    review = summary["review"]
    return {
        "id": examination.pk,
        "patient": examination.patient_id,
        "status": examination.status,
        "created_at": examination.created_at,
        "completed_at": examination.completed_at,
        "model_version": summary["model_version"],
        "error": examination.error or None,
        "notes": examination.notes,
        "eyes": {
            side: _eye(eye, request, {"examination_id": examination.pk, "side": side})
            for side, eye in summary["eyes"].items()
        },
        "referral": summary["referral"],
        "answer": None if summary["answer"] is None else summary["answer"].as_json(),
        "review": None
        if review is None
        else {
            "doctor": review.doctor_id,
            "right_grade": review.right_grade,
            "left_grade": review.left_grade,
            "notes": review.notes,
            "signed_off_at": review.signed_off_at,
            "recommendation": summary["doctor_recommendation"],
            "amended_at": review.amended_at,
            "revisions": summary["revisions"],
        },
        "pair_warning": summary["pair_warning"],
        "voided": examination.voided_at is not None,
        "voided_at": examination.voided_at,
        "voided_by": examination.voided_by_id,
        "void_reason": examination.void_reason,
    }


def _eye(eye: dict[str, Any], request: HttpRequest | Request, where: dict[str, Any]) -> dict[str, Any]:
    def absolute(url: str | None) -> str | None:
        return request.build_absolute_uri(url) if url else None

    return {
        "grade": eye["grade"],
        "label": eye["label"],
        "confidences": eye["confidences"],
        "graded_with_other_eye": eye["graded_with_other_eye"],
        "alone": eye["alone"],
        "gradable": eye["gradable"],
        "quality_reasons": eye["quality_reasons"],
        # The API's own file endpoints, which take its token as well as a session (the pages' do not).
        "image_url": absolute(eye["image_url"] and reverse("api:eye_image", kwargs=where)),
        "heatmap_url": absolute(eye["heatmap_url"] and reverse("api:heatmap", kwargs=where)),
    }
