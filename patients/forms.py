from __future__ import annotations

import unicodedata

from django import forms

from .models import Patient

# Characters no one can see, pasted in with a record number from another system (a zero-width space, a
# byte-order mark, a soft hyphen): "QA\u200b-7" and "QA-7" look the same on every page but are two
# record numbers, so the clinic would hold two records of one patient. A record number needs none.
INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp"})
# In names only the controls and the bidirectional overrides, embeddings and isolates are refused: they
# make a page show other letters than those stored ("\u202eevil" reads "live"). Other format characters
# belong to names (the zero-width non-joiner of Persian and Indic scripts).
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def _refuse(value: str, bad: list[str]) -> str:
    if bad:
        raise forms.ValidationError(
            f"Contains a character that does not show (U+{ord(bad[0]):04X}), probably pasted in with it: "
            "type it again.",
            code="invisible",
        )
    return value


def _visible_identifier(value: str) -> str:
    return _refuse(value, [c for c in value if unicodedata.category(c) in INVISIBLE_CATEGORIES])


def _visible_name(value: str) -> str:
    return _refuse(value, [c for c in value if c in BIDI_CONTROLS or unicodedata.category(c) in {"Cc", "Zl", "Zp"}])


class PatientForm(forms.ModelForm):
    class Meta:
        model = Patient
        fields = ["medical_record_number", "first_name", "last_name", "date_of_birth", "sex"]
        # An <input type="date"> only reads ISO dates; the en-gb locale would render 17/05/1960, which a
        # browser shows as an empty field when the edit form is pre-filled.
        widgets = {"date_of_birth": forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")}

    def clean_medical_record_number(self) -> str:
        return _visible_identifier(self.cleaned_data["medical_record_number"])

    def clean_first_name(self) -> str:
        return _visible_name(self.cleaned_data["first_name"])

    def clean_last_name(self) -> str:
        return _visible_name(self.cleaned_data["last_name"])


class PatientUpdateForm(PatientForm):
    """The registration form, plus which version of the record the page showed.

    The form sends every field back, also those the user did not touch: without the version, a
    colleague's correction saved meanwhile would be silently reverted to what this page had loaded.
    """

    version = forms.CharField(widget=forms.HiddenInput, required=False)
