from __future__ import annotations

from django import forms

from .models import Patient


class PatientForm(forms.ModelForm[Patient]):
    class Meta:
        model = Patient
        fields = ["medical_record_number", "first_name", "last_name", "date_of_birth", "sex"]
        # An <input type="date"> only reads ISO dates; the en-gb locale would render 17/05/1960, which a
        # browser shows as an empty field when the edit form is pre-filled.
        widgets = {"date_of_birth": forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")}


class PatientUpdateForm(PatientForm):
    """The registration form, plus which version of the record the page showed.

    The form sends every field back, also those the user did not touch: without the version, a
    colleague's correction saved meanwhile would be silently reverted to what this page had loaded.
    """

    version = forms.CharField(widget=forms.HiddenInput, required=False)
