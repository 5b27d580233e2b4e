"""Examinations (a right and a left photograph), the model's predictions and the doctors' reviews."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from patients.models import Patient


class Grade(models.IntegerChoices):
    NO_DR = 0, "No DR"
    MILD = 1, "Mild"
    PROLIFERATIVE = 2, "Proliferative"


class ReviewGrade(models.IntegerChoices):
    """What a doctor may sign off for an eye: the model's three classes, or that the photograph cannot be graded.

    Ungradable is stored as 9, outside the classes' 0-2 (and outside ICDR's 0-4, so no one reads it as a
    severity); the API calls it "Ungradable" (serializers.py)."""

    NO_DR = Grade.NO_DR.value, Grade.NO_DR.label
    MILD = Grade.MILD.value, Grade.MILD.label
    PROLIFERATIVE = Grade.PROLIFERATIVE.value, Grade.PROLIFERATIVE.label
    UNGRADABLE = 9, "Ungradable"


class Side(models.TextChoices):
    RIGHT = "right", "Right"
    LEFT = "left", "Left"


# The order every page, document and batch takes the two eyes in.
SIDES = (Side.RIGHT, Side.LEFT)


class Status(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


VOID_REASON_MAX_LENGTH = 500
AMEND_REASON_MAX_LENGTH = 500


class ExaminationQuerySet(models.QuerySet["Examination"]):
    def counted(self) -> ExaminationQuerySet:
        """The examinations that count clinically: those not marked "entered in error" (voided).

        A voided examination stays in the record (history, API, admin) but no worklist, recall, newest
        examination or statistic may read it.
        """
        return self.filter(voided_at__isnull=True)


class Examination(models.Model):
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="examinations")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    error = models.TextField(blank=True, default="")
    notes = models.TextField(blank=True, default="")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="examinations_created", null=True, blank=True
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    # The number of the current grading attempt, and its fencing token: each claim by a worker adds one
    # (grading/attempts.py), and attempt N writes (heartbeat, predictions and `done`, or `failed`) only while
    # the examination is still running attempt N. The reconciler caps it (RECONCILE_MAX_ATTEMPTS).
    attempts = models.PositiveIntegerField(default=0)
    # The current attempt's last sign of life, refreshed by its worker every GRADING_HEARTBEAT_SECONDS: the
    # reconciler hands a running examination whose heartbeat is older than RECONCILE_RUNNING_AFTER_SECONDS on.
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    # The Celery task (one message and its retries) that claimed the current attempt: when a task's last try
    # dies with its pool process, the worker's main process fails the examination only if that task still holds it.
    attempt_task_id = models.CharField(max_length=255, blank=True, default="")
    # When the grading task was last sent: the reconciler measures a queued examination's wait from
    # here (or from created_at), so it re-sends a lost message once per timeout, not on every pass.
    enqueued_at = models.DateTimeField(null=True, blank=True)
    # "Entered in error": the wrong patient or the wrong photographs. Clinical records are never deleted;
    # the examination, its photographs, predictions and review are kept, marked, and no longer counted.
    voided_at = models.DateTimeField(null=True, blank=True)
    voided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="examinations_voided", null=True, blank=True
    )
    void_reason = models.TextField(blank=True, default="", max_length=VOID_REASON_MAX_LENGTH)

    objects = ExaminationQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=models.Q(status__in=Status.values), name="examination_status_valid"),
            # A void always says when, by whom and why: no half-marked record.
            models.CheckConstraint(
                condition=models.Q(voided_at__isnull=True, voided_by__isnull=True, void_reason="")
                | (models.Q(voided_at__isnull=False, voided_by__isnull=False) & ~models.Q(void_reason="")),
                name="examination_void_complete",
            ),
        ]
        indexes = [models.Index(fields=["status", "created_at"])]

    def __str__(self) -> str:
        return f"Examination {self.pk} of {self.patient} ({self.status})"

    @property
    def voided(self) -> bool:
        return self.voided_at is not None


def eye_image_path(instance: EyeImage, filename: str) -> str:
    # Named by hash, not by the uploader's file name: no patient data in paths, no collisions.
    ext = {"JPEG": "jpg", "PNG": "png", "DICOM": "dcm"}.get(instance.format, "bin")
    return f"eyes/{instance.sha256[:2]}/{instance.sha256}.{ext}"


class EyeImage(models.Model):
    examination = models.ForeignKey(Examination, on_delete=models.CASCADE, related_name="images")
    side = models.CharField(max_length=5, choices=Side.choices)
    file = models.ImageField(upload_to=eye_image_path, width_field="width", height_field="height")
    sha256 = models.CharField(max_length=64)
    # The picture, not the file: one photograph re-saved with other metadata has another sha256 but this
    # same hash (screening.validation.pixel_sha256). Indexed: the already-filed check looks it up.
    pixel_sha256 = models.CharField(max_length=64, blank=True, default="", db_index=True)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    format = models.CharField(max_length=10)
    gradable = models.BooleanField(null=True, blank=True, help_text="Result of the automatic quality check")
    quality = models.JSONField(default=dict, blank=True, help_text="Quality measures and the reasons for a failure")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["examination_id", "side"]
        constraints = [
            models.UniqueConstraint(fields=["examination", "side"], name="eye_image_one_per_side"),
            models.CheckConstraint(condition=models.Q(side__in=Side.values), name="eye_image_side_valid"),
            # DICOM: the camera's original file is kept as it came (screening/dicom.py decodes it).
            models.CheckConstraint(
                condition=models.Q(format__in=["JPEG", "PNG", "DICOM"]), name="eye_image_format_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_side_display()} eye of examination {self.examination_id}"


class Prediction(models.Model):
    eye_image = models.ForeignKey(EyeImage, on_delete=models.CASCADE, related_name="predictions")
    model_version = models.CharField(max_length=100)
    checkpoint_sha256 = models.CharField(max_length=64)
    predicted_class = models.PositiveSmallIntegerField(choices=Grade.choices)
    confidence_no_dr = models.FloatField()
    confidence_mild = models.FloatField()
    confidence_proliferative = models.FloatField()
    heatmap = models.ImageField(upload_to="heatmaps/", blank=True)
    # The confidence of the class the model gave this photograph on its own, before the other eye's
    # probabilities were pooled in (ml/pairing.py): the seed rule's score. Null for predictions stored
    # before pairing existed, whose confidences are that already.
    seed_score = models.FloatField(null=True, blank=True)
    # The class the photograph alone was given: with the eyes graded together it may differ from
    # predicted_class, and the page then says so. Null for predictions stored before.
    single_eye_class = models.PositiveSmallIntegerField(choices=Grade.choices, null=True, blank=True)
    # Graded together with the examination's other eye: the confidences weigh both photographs.
    graded_with_other_eye = models.BooleanField(default=False)
    inference_seconds = models.FloatField(default=0.0)
    # The grading attempt that wrote it (Examination.attempts then); null for predictions stored before attempts
    # were numbered.
    attempt = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["eye_image", "model_version"], name="prediction_one_per_eye_and_model"),
            models.CheckConstraint(condition=models.Q(predicted_class__in=Grade.values), name="prediction_class_valid"),
            models.CheckConstraint(
                condition=models.Q(confidence_no_dr__gte=0, confidence_no_dr__lte=1)
                & models.Q(confidence_mild__gte=0, confidence_mild__lte=1)
                & models.Q(confidence_proliferative__gte=0, confidence_proliferative__lte=1),
                name="prediction_confidences_in_unit_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_predicted_class_display()} for {self.eye_image}"

    @property
    def confidences(self) -> dict[str, float]:
        return {
            Grade.NO_DR.label: self.confidence_no_dr,
            Grade.MILD.label: self.confidence_mild,
            Grade.PROLIFERATIVE.label: self.confidence_proliferative,
        }

    @property
    def score(self) -> float:
        """The seed's evaluation score: the confidence of the class the model gave this eye's photograph.

        Read from the photograph alone: pooled with the other eye, the two eyes' confidences come close by
        construction, and the seed rule (scores less than 0.1 apart) fired for 550 of 566 test examinations
        instead of 355 (docs/model/MODEL_CARD.md)."""
        if self.seed_score is not None:
            return self.seed_score
        return list(self.confidences.values())[self.predicted_class]


class Review(models.Model):
    """A doctor's sign-off: the corrected grade of each eye, kept beside the model's, never over it.

    Always the current version: an amendment (reviews.review_amend) keeps the replaced one as a
    ReviewRevision and writes the new values here."""

    examination = models.OneToOneField(Examination, on_delete=models.PROTECT, related_name="review")
    doctor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="reviews")
    right_grade = models.PositiveSmallIntegerField(choices=ReviewGrade.choices)
    left_grade = models.PositiveSmallIntegerField(choices=ReviewGrade.choices)
    notes = models.TextField(blank=True, default="")
    # Who signed the CURRENT grades and when: after an amendment, the amending doctor and the amendment's
    # time (each replaced version, with its own signer, is a ReviewRevision).
    signed_off_at = models.DateTimeField()
    amended_at = models.DateTimeField(null=True, blank=True, help_text="When the grades were last amended")

    class Meta:
        ordering = ["-signed_off_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(right_grade__in=ReviewGrade.values) & models.Q(left_grade__in=ReviewGrade.values),
                name="review_grades_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"Review of examination {self.examination_id} by {self.doctor}"


class ReviewRevision(models.Model):
    """A version of a review that an amendment replaced: the grades and notes as they were signed off,
    with who signed them, plus who replaced them, when and why. Append-only (the database refuses UPDATE
    and DELETE: migration 0004); the Review row always holds the current version, so every reader
    (recall, statistics, worklist, pages, API) uses the amended grades without knowing about revisions."""

    review = models.ForeignKey(Review, on_delete=models.PROTECT, related_name="revisions")
    right_grade = models.PositiveSmallIntegerField(choices=ReviewGrade.choices)
    left_grade = models.PositiveSmallIntegerField(choices=ReviewGrade.choices)
    notes = models.TextField(blank=True, default="")
    doctor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="review_revisions_signed",
        help_text="Who had signed these values off",
    )
    signed_off_at = models.DateTimeField()
    amended_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="review_amendments")
    amended_at = models.DateTimeField()
    reason = models.TextField(max_length=AMEND_REASON_MAX_LENGTH)

    class Meta:
        ordering = ["amended_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(right_grade__in=ReviewGrade.values) & models.Q(left_grade__in=ReviewGrade.values),
                name="review_revision_grades_valid",
            ),
            # An amendment always says why: no silent change of a clinical decision.
            models.CheckConstraint(condition=~models.Q(reason=""), name="review_revision_reason_given"),
        ]

    def __str__(self) -> str:
        return f"Earlier version of review {self.review_id}, replaced {self.amended_at:%Y-%m-%d %H:%M}"


REFERRAL_OUTCOME_MAX_LENGTH = 500


class ReferralClosure(models.Model):
    """A doctor's closing of a patient's open referral (the patient was seen by the eye service, or the
    referral is otherwise settled), with a short outcome note.

    It closes the patient's referring examinations up to and including `examination` (by their time); a
    referral made by a later examination is open again. Only a doctor closes a referral: no newer
    examination does, least of all an unreviewed "No DR" one (selectors.open_referrals)."""

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="referral_closures")
    examination = models.ForeignKey(
        Examination,
        on_delete=models.PROTECT,
        related_name="referral_closures",
        help_text="The newest referring examination this closure closes (and every earlier one)",
    )
    closed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="referral_closures")
    closed_at = models.DateTimeField()
    outcome = models.TextField(max_length=REFERRAL_OUTCOME_MAX_LENGTH)

    class Meta:
        ordering = ["-closed_at", "-id"]
        indexes = [models.Index(fields=["patient", "closed_at"])]
        constraints = [
            # A closure always says what became of the referral.
            models.CheckConstraint(condition=~models.Q(outcome=""), name="referral_closure_outcome_given"),
        ]

    def __str__(self) -> str:
        return f"Referral of patient {self.patient_id} closed {self.closed_at:%Y-%m-%d %H:%M}"
