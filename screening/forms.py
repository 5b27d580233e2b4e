"""Web forms. They only collect input: the services validate it and say what is wrong, per field."""

from __future__ import annotations

from typing import Any

from django import forms

from .grade_descriptions import REVIEW_CHOICES
from .models import AMEND_REASON_MAX_LENGTH, REFERRAL_OUTCOME_MAX_LENGTH, VOID_REASON_MAX_LENGTH
from .validation import SENT_TWICE


class ExaminationForm(forms.Form):
    # Not `required` here: the service checks presence with the other upload rules, so every problem of
    # both eyes is reported at once, in the same words as through the API.
    right_eye = forms.FileField(label="Right", required=False)
    left_eye = forms.FileField(label="Left", required=False)
    notes = forms.CharField(label="Notes", required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        for name in ("right_eye", "left_eye"):
            # autocomplete off: back from the result page, chromium restored the photographs just sent into
            # the inputs while the zones (drawn by upload.js on a change) showed none; Predict sent them again.
            # aria-labelledby: named "Right eye" by the zone's title even without JavaScript; the label's whole
            # text ("Right Click or drop ...") read like "right-click".
            self.fields[name].widget.attrs.update(
                {
                    "accept": "image/jpeg,image/png,application/dicom,.dcm",
                    "class": "zone-input",
                    "autocomplete": "off",
                    "aria-labelledby": f"{name}-title",
                }
            )

    def clean(self) -> dict[str, Any] | None:
        # As the API does: a field sent twice (two right_eye parts) is ambiguous, and the form would silently
        # take the last one, filing a photograph as the wrong eye. Only a hand-made request sends one.
        for name in self.fields:
            if _count(self.files, name) + _count(self.data, name) > 1:
                self.add_error(name, SENT_TWICE)
        return super().clean()


def _count(values: object, name: str) -> int:
    """How many values a request's form data holds for a name (a plain dict holds one at most)."""
    getlist = getattr(values, "getlist", None)
    if getlist is not None:
        return len(getlist(name))
    return int(name in values)  # type: ignore[operator]


class ReviewForm(forms.Form):
    """A sign-off. Nothing is chosen at first (views._detail_context gives no initial): starting at the
    model's grades made agreeing one click, without looking (automation bias)."""

    right_grade = forms.TypedChoiceField(
        label="Right eye", choices=REVIEW_CHOICES, coerce=int, widget=forms.RadioSelect
    )
    left_grade = forms.TypedChoiceField(label="Left eye", choices=REVIEW_CHOICES, coerce=int, widget=forms.RadioSelect)
    notes = forms.CharField(label="Notes", required=False, max_length=4000, widget=forms.Textarea(attrs={"rows": 3}))


class VoidForm(forms.Form):
    # Not `required` and no max_length here: the service checks both, in the same words as the API's.
    reason = forms.CharField(
        label="Why was it entered in error?",
        required=False,
        widget=forms.Textarea(attrs={"rows": 2, "maxlength": VOID_REASON_MAX_LENGTH}),
        help_text="For example: wrong patient, wrong photographs. Kept with the record.",
    )


class AmendReviewForm(forms.Form):
    """The amended grades and notes, and why. Its ids start `id_amend_`: the page may also carry the void
    form, whose `reason` would otherwise share the id `id_reason`."""

    right_grade = forms.TypedChoiceField(label="Right eye", choices=REVIEW_CHOICES, coerce=int)
    left_grade = forms.TypedChoiceField(label="Left eye", choices=REVIEW_CHOICES, coerce=int)
    notes = forms.CharField(label="Notes", required=False, max_length=4000, widget=forms.Textarea(attrs={"rows": 3}))
    # Not `required` and no max_length here: the service checks both, in the same words as the API's.
    reason = forms.CharField(
        label="Why amend it?",
        required=False,
        widget=forms.Textarea(attrs={"rows": 2, "maxlength": AMEND_REASON_MAX_LENGTH}),
        help_text="For example: a slip when signing off, a second look at the photographs. Kept with the record.",
    )

    # How many earlier versions the page showed: a colleague's amendment since then is not overwritten.
    revisions_seen = forms.IntegerField(widget=forms.HiddenInput, required=False, min_value=0)

    def __init__(self, *args: object, **kwargs: object) -> None:
        kwargs.setdefault("auto_id", "id_amend_%s")
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]


class ReferralCloseForm(forms.Form):
    """Closing a patient's open referral: the outcome, and through which examination (the newest open one the
    page showed: a referral made since stays open). `back` says which page the form was on."""

    # Not `required` and no max_length here: the service checks both, in its own words.
    outcome = forms.CharField(
        label="Outcome",
        required=False,
        widget=forms.Textarea(attrs={"rows": 2, "maxlength": REFERRAL_OUTCOME_MAX_LENGTH}),
        help_text="What became of the referral: for example, seen at the eye clinic, laser treatment, under their "
        "care; or seen, no treatment needed, back to yearly screening. Kept with the record.",
    )
    through = forms.IntegerField(widget=forms.HiddenInput, min_value=1)
    back = forms.ChoiceField(
        choices=[("patient", "patient"), ("examination", "examination")], required=False, widget=forms.HiddenInput
    )
