"""The hash of each photograph's decoded pixels (EyeImage.pixel_sha256), filled in for the photographs
already stored, so that the already-filed check compares pictures, not files, for them too."""

from __future__ import annotations

from typing import Any

from django.db import migrations, models
from PIL import Image

from screening.validation import pixel_sha256


def fill_pixel_hashes(apps: Any, schema_editor: Any) -> None:
    EyeImage = apps.get_model("screening", "EyeImage")
    # Whole rows: with the width and height deferred, the image field would load them one query per row.
    for eye in EyeImage.objects.filter(pixel_sha256="").iterator(chunk_size=200):
        try:
            with eye.file.open("rb") as stored, Image.open(stored) as image:
                digest = pixel_sha256(image)
        except (OSError, ValueError, SyntaxError):
            # A file gone or unreadable: left empty, so it matches no upload (as before it matched by file).
            continue
        EyeImage.objects.filter(pk=eye.pk).update(pixel_sha256=digest)


class Migration(migrations.Migration):
    dependencies = [
        ("screening", "0005_prediction_pairing"),
    ]

    operations = [
        migrations.AddField(
            model_name="eyeimage",
            name="pixel_sha256",
            field=models.CharField(blank=True, db_index=True, default="", max_length=64),
        ),
        migrations.RunPython(fill_pixel_hashes, migrations.RunPython.noop, elidable=True),
    ]
