"""Validation of an uploaded fundus photograph: what it must be before anything is stored.

JPEG, PNG or DICOM only (by content, never by file name; DICOM's own checks in screening/dicom.py), a
byte cap and a pixel cap (checked on the header, before decoding, so a decompression bomb is refused
without allocating its pixels), fully decodable (a truncated file is refused), EXIF orientation applied.
The result carries the bytes to store, their SHA-256, so what is hashed is exactly what is kept, and the
SHA-256 of the pixels they decode to.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass
from typing import cast

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from PIL import Image, ImageOps, UnidentifiedImageError

from ml.preprocess import WIDE_GREY_MODES, grey_to_8_bits

from . import dicom

ALLOWED_FORMATS = ("JPEG", "PNG")
# A form field sent twice (page or API) is refused in these words.
SENT_TWICE = "Send this field once: it was sent more than once."
# Pillow names a JPEG that carries a Multi-Picture (MPF) segment "MPO": phones and many cameras write one
# (a preview, a depth or gain map after the photograph). The file is a JPEG, its first picture the
# photograph, and every browser shows it as one: it is accepted and stored as a JPEG.
JPEG_ALIASES = {"MPO": "JPEG"}
EXIF_ORIENTATION = 0x0112
# A pair is called "the same photograph" below this mean absolute difference (0-255 grey) of 32x32
# thumbnails. Measured on 80 real pairs: a photograph against its own resized, re-encoded copy 0.1-0.2;
# a patient's right eye against the mirrored left eye 3.6 at the least (the two eyes are near mirror
# images of each other, so the bar must sit well below that).
SAME_PHOTO_MAX_DIFF = 1.5


@dataclass(frozen=True)
class CheckedImage:
    content: bytes
    sha256: str
    pixel_sha256: str  # of the stored file's decoded pixels (pixel_sha256())
    format: str
    width: int
    height: int
    image: Image.Image  # decoded, orientation applied, RGB
    dicom: dicom.DicomHeader | None = None  # what a DICOM file says of itself (None for JPEG and PNG)


def check_upload(upload: UploadedFile[bytes] | None, *, eye: str) -> CheckedImage:
    """Decode and check one upload; raises ValidationError with a message naming the eye."""
    if upload is None:
        raise ValidationError(f"Choose a photograph of the {eye} eye.", code="required")
    if not upload.size:
        raise ValidationError(f"The {eye} eye's file is empty.", code="empty")
    if upload.size > settings.UPLOAD_MAX_BYTES:
        limit = settings.UPLOAD_MAX_BYTES // (1024 * 1024)
        raise ValidationError(f"The {eye} eye's file is larger than {limit} MB.", code="too_large")
    upload.seek(0)
    raw = upload.read()
    if dicom.is_dicom(raw):
        return _check_dicom(raw, eye=eye)
    image = _decode(raw, eye=eye)
    fmt = JPEG_ALIASES.get(image.format or "", image.format or "PNG")
    stored = image
    if image.getexif().get(EXIF_ORIENTATION, 1) not in (0, 1):
        # Store the photograph upright: the grader, the heatmap and the doctor all see the same pixels.
        stored = ImageOps.exif_transpose(image)
    if image.mode in WIDE_GREY_MODES:
        # Stored as 8 bits: the worker reads the stored file with the same convert("RGB") that clips.
        stored = grey_to_8_bits(stored)
    elif _is_transparent(image):
        stored = _on_black(stored)
    if stored is not image:
        raw = _encode(stored, fmt)
    rgb = stored.convert("RGB")
    # The pixels of the file as stored (and graded): a re-encoded JPEG's differ a little from those encoded.
    pixels = rgb if stored is image else Image.open(io.BytesIO(raw))
    return CheckedImage(raw, hashlib.sha256(raw).hexdigest(), pixel_sha256(pixels), fmt, rgb.width, rgb.height, rgb)


def pixel_sha256(image: Image.Image) -> str:
    """SHA-256 of a photograph's decoded pixels (as RGB) and its size: the same for every file of one
    picture, whatever its metadata (EXIF, comments, padding) or container (a JPEG's pixels saved as PNG).
    The file's own SHA-256 differed for a re-saved copy, which then passed the already-filed check."""
    rgb = image.convert("RGB")
    digest = hashlib.sha256(f"RGB {rgb.width}x{rgb.height}\n".encode())
    digest.update(rgb.tobytes())
    return digest.hexdigest()


def _check_dicom(raw: bytes, *, eye: str) -> CheckedImage:
    """A DICOM photograph: its own checks, the same pixel cap (on its header, before decoding), its decoded
    pixels for the checks and the grading; the file itself is what is kept and hashed."""
    photograph = dicom.open_dicom(raw, eye=eye)
    if photograph.width * photograph.height > settings.UPLOAD_MAX_PIXELS:
        raise _too_many_pixels(eye, photograph.width, photograph.height)
    rgb = photograph.decode()
    digest = hashlib.sha256(raw).hexdigest()
    # The pixel hash as for any photograph: the same picture as a JPEG and as DICOM is one photograph.
    return CheckedImage(
        raw, digest, pixel_sha256(rgb), dicom.FORMAT, rgb.width, rgb.height, rgb, dicom=photograph.header
    )


def _is_transparent(image: Image.Image) -> bool:
    """Whether some pixel is (partly) transparent: an alpha channel or a transparent palette entry in use."""
    if not image.has_transparency_data:
        return False
    lowest, _ = cast("tuple[int, int]", image.convert("RGBA").getchannel("A").getextrema())  # one 8-bit band
    return lowest < 255


def _on_black(image: Image.Image) -> Image.Image:
    """The image laid on black, as RGB. convert("RGB") would drop the alpha and bring back whatever colour
    lies under the transparent pixels (often white around a cropped fundus), which the viewer never sees:
    the check called such a photograph cut off and overexposed, and the model graded those pixels. Black
    is what a fundus camera records around the field."""
    rgba = image.convert("RGBA")
    flat = Image.new("RGB", rgba.size, (0, 0, 0))
    flat.paste(rgba, mask=rgba.getchannel("A"))
    return flat


def _decode(raw: bytes, *, eye: str) -> Image.Image:
    unreadable = ValidationError(
        f"The {eye} eye's file is not a readable JPEG, PNG or DICOM photograph.", code="invalid_image"
    )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(raw))
            if JPEG_ALIASES.get(image.format or "", image.format) not in ALLOWED_FORMATS:
                raise ValidationError(
                    f"The {eye} eye's file is a {image.format} image; only JPEG, PNG and DICOM are accepted.",
                    code="invalid_format",
                )
            if image.width * image.height > settings.UPLOAD_MAX_PIXELS:
                raise _too_many_pixels(eye, image.width, image.height)
            image.load()  # a truncated or corrupt file fails here, not later in the worker
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise _too_many_pixels(eye, None, None) from None
    except ValidationError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError):
        raise unreadable from None
    return image


def _too_many_pixels(eye: str, width: int | None, height: int | None) -> ValidationError:
    size = f" ({width} x {height})" if width and height else ""
    limit = settings.UPLOAD_MAX_PIXELS / 1_000_000
    return ValidationError(
        f"The {eye} eye's image is too large{size}: at most {limit:g} megapixels are accepted.",
        code="too_many_pixels",
    )


def _encode(image: Image.Image, fmt: str) -> bytes:
    buffer = io.BytesIO()
    if fmt == "JPEG":
        image.convert("RGB").save(buffer, "JPEG", quality=95)
    else:
        image.save(buffer, "PNG")
    return buffer.getvalue()


def pair_warning(right: CheckedImage, left: CheckedImage) -> str | None:
    """A warning when the two eyes are the same photograph or one is the other's mirror image."""
    if right.sha256 == left.sha256:
        return "The right and left photographs are the same file."
    a = _thumbnail(right.image)
    b = _thumbnail(left.image)
    if _diff(a, b) < SAME_PHOTO_MAX_DIFF:
        return "The right and left photographs look like the same photograph."
    if _diff(a, ImageOps.mirror(b)) < SAME_PHOTO_MAX_DIFF:
        return "The left photograph looks like a mirror image of the right one, not a photograph of the left eye."
    return None


def _thumbnail(image: Image.Image) -> Image.Image:
    return image.convert("L").resize((32, 32), Image.Resampling.BILINEAR, reducing_gap=2.0)


def _diff(a: Image.Image, b: Image.Image) -> float:
    pa, pb = a.tobytes(), b.tobytes()
    return sum(abs(x - y) for x, y in zip(pa, pb, strict=True)) / len(pa)
