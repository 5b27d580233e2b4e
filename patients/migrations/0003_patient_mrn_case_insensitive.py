"""Record numbers unique per clinic without regard to case ("QA-7" and "qa-7" are one patient)."""

from django.db import migrations, models
from django.db.models.functions import Lower


def refuse_case_duplicates(apps, schema_editor):
    # The new constraint would fail with a bare IntegrityError; name the records to merge instead.
    Patient = apps.get_model("patients", "Patient")
    clashes = (
        Patient.objects.annotate(number=Lower("medical_record_number"))
        .values("clinic_id", "number")
        .annotate(count=models.Count("id"))
        .filter(count__gt=1)
    )
    if clashes:
        listed = ", ".join(f"clinic {row['clinic_id']}: {row['number']!r}" for row in clashes[:20])
        raise RuntimeError(
            "These record numbers are registered more than once, differing only in upper and lower case. "
            f"Correct the duplicates' record numbers before migrating: {listed}"
        )


class Migration(migrations.Migration):
    dependencies = [("patients", "0002_role_groups")]

    operations = [
        migrations.RunPython(refuse_case_duplicates, migrations.RunPython.noop),
        migrations.RemoveConstraint(model_name="patient", name="patient_mrn_unique_per_clinic"),
        migrations.AddConstraint(
            model_name="patient",
            constraint=models.UniqueConstraint(
                Lower("medical_record_number"), models.F("clinic"), name="patient_mrn_unique_per_clinic_ci"
            ),
        ),
    ]
