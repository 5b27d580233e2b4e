"""DICOM fundus photographs (pydicom): what an uploaded DICOM file must be, what it says, and its pixels.

Accepted (DICOM PS3.4): Ophthalmic Photography 8 Bit Image Storage and VL Photographic Image Storage, one
colour frame (RGB or YBR) of 8-bit samples, uncompressed or in a transfer syntax that pydicom decodes with
what is installed (JPEG baseline through Pillow, RLE lossless). The file must be a DICOM Part 10 file (the
128-byte preamble and "DICM"): that is how it is told from a JPEG or PNG, by content, never by its name.

What the file says must agree with where it was put (PS3.3 C.7.6.2 and C.8.17): Image Laterality
(0020,0062), else Laterality (0020,0060), must name the zone's eye; Patient ID (0010,0020), when present,
must be the patient's record number (services.examination_create checks that, knowing the patient).
"""

from __future__ import annotations

import datetime as dt
import io
import warnings
from dataclasses import dataclass
from typing import Any, BinaryIO

import numpy as np
from django.core.exceptions import ValidationError
from PIL import Image
from pydicom import dcmread
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.pixels.decoders.base import get_decoder
from pydicom.uid import (
    UID,
    MediaStorageDirectoryStorage,
    OphthalmicPhotography8BitImageStorage,
    VLPhotographicImageStorage,
)

FORMAT = "DICOM"
CONTENT_TYPE = "application/dicom"
ACCEPTED_SOP_CLASSES = (OphthalmicPhotography8BitImageStorage, VLPhotographicImageStorage)
COLOUR = ("RGB", "YBR_FULL", "YBR_FULL_422")
# DICOM's code string for each of our sides (PS3.3 C.7.6.2.1.1): R right, L left; B both eyes in one image.
SIDE_CODES = {"right": "R", "left": "L"}
SIDE_OF_CODE = {code: side for side, code in SIDE_CODES.items()}
# A file cut short ends the reading with this warning, and pydicom then drops the element it was reading
# (the photograph's pixel data, most of the time) instead of failing: taken as the damage it is.
TRUNCATION_WARNINGS = ("end of file", "truncat")
PREAMBLE_LENGTH = 128
UNDEFINED_LENGTH = 0xFFFFFFFF
# What pydicom and its decoders raise on a damaged file: a header that is not DICOM, an element cut short, a
# value that does not parse, pixel data of the wrong length or that its decoder refuses.
DECODING_ERRORS: tuple[type[Exception], ...] = (
    *(InvalidDicomError, EOFError, OSError, ValueError, KeyError, AttributeError, TypeError),
    *(IndexError, NotImplementedError, RuntimeError, UnicodeDecodeError),
)


@dataclass(frozen=True)
class DicomHeader:
    """What a DICOM photograph says about itself, as plain values ("" where it says nothing)."""

    sop_class_uid: str
    patient_id: str
    study_uid: str
    laterality: str  # "R", "L", "B", ... as written; "" when neither attribute is present
    family_name: str = ""
    given_name: str = ""
    birth_date: dt.date | None = None
    sex: str = ""  # M, F, O as written

    @property
    def side(self) -> str | None:
        """ "right" or "left" when the file names one eye, else None."""
        return SIDE_OF_CODE.get(self.laterality)


def is_dicom(raw: bytes) -> bool:
    """Whether the bytes are a DICOM Part 10 file (preamble, then the "DICM" prefix)."""
    return raw[PREAMBLE_LENGTH : PREAMBLE_LENGTH + 4] == b"DICM"


@dataclass(frozen=True)
class DicomPhotograph:
    """A DICOM file that passed the DICOM checks, not decoded yet: the caller checks its size first, so a
    huge frame is refused without allocating its pixels (as Pillow's header is read before its pixels)."""

    dataset: Dataset
    header: DicomHeader
    eye: str

    @property
    def width(self) -> int:
        return int(self.dataset.get("Columns", 0) or 0)

    @property
    def height(self) -> int:
        return int(self.dataset.get("Rows", 0) or 0)

    def decode(self) -> Image.Image:
        """The photograph's pixels (RGB); ValidationError naming the eye when they cannot be decoded."""
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return _pixels(self.dataset)
        except DECODING_ERRORS:
            raise _refusal(
                self.eye, "has pixel data that cannot be decoded: it is damaged or truncated", "invalid_dicom"
            ) from None


def open_dicom(raw: bytes, *, eye: str) -> DicomPhotograph:
    """Read a DICOM upload and run every check that is DICOM's own (kind, laterality against the zone,
    pixel data present, one colour frame, decodable); raises ValidationError with a message naming the eye."""
    dataset = _read(raw, eye=eye)
    header = header_of(dataset)
    _check_kind(header, eye=eye)
    _check_laterality(dataset, eye=eye)
    _check_pixel_description(dataset, eye=eye)
    return DicomPhotograph(dataset=dataset, header=header, eye=eye)


def read_header(source: str | BinaryIO) -> DicomHeader:
    """What a DICOM file says about itself, without its pixels; raises InvalidDicomError (not DICOM) or
    another of DECODING_ERRORS (damaged)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return header_of(dcmread(source, stop_before_pixels=True))


def header_of(dataset: Dataset) -> DicomHeader:
    name = dataset.get("PatientName")
    codes = _laterality_codes(dataset)
    return DicomHeader(
        sop_class_uid=str(_sop_class(dataset)),
        patient_id=str(dataset.get("PatientID", "") or "").strip(),
        study_uid=str(dataset.get("StudyInstanceUID", "") or "").strip(),
        laterality=codes[0] if codes else "",
        family_name=(name.family_name if name else "").strip(),
        given_name=(name.given_name if name else "").strip(),
        birth_date=_date(str(dataset.get("PatientBirthDate", "") or "")),
        sex=str(dataset.get("PatientSex", "") or "").strip().upper(),
    )


def stored_photograph(content: bytes) -> Image.Image:
    """A stored DICOM photograph's pixels (RGB): what the worker grades and the pages show. It passed
    open_dicom when it was filed; raises one of DECODING_ERRORS if it cannot be read now."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _pixels(dcmread(io.BytesIO(content)))


def _read(raw: bytes, *, eye: str) -> Dataset:
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            dataset = dcmread(io.BytesIO(raw))
    except DECODING_ERRORS:
        raise _refusal(eye, "cannot be read as DICOM: it is damaged or truncated", "invalid_dicom") from None
    if any(word in str(w.message).lower() for w in caught for word in TRUNCATION_WARNINGS) or _cut_short(dataset):
        raise _refusal(eye, "ends in the middle of an element: the file is truncated", "invalid_dicom")
    if not len(dataset):
        raise _refusal(eye, "holds no data elements after its header: it is damaged or truncated", "invalid_dicom")
    return dataset


def _cut_short(dataset: Dataset) -> bool:
    """Whether the last element holds fewer bytes than its header announced: pydicom reads a file cut in
    the middle of a value (the pixel data, most often) without a word, keeping what there was."""
    if not len(dataset):
        return False
    # Elements not yet read by anyone are still raw: their value as the file had it.
    last: DataElement | RawDataElement = dataset.get_item(max(dataset.keys()))
    if not isinstance(last, RawDataElement) or last.length == UNDEFINED_LENGTH:
        return False
    return len(last.value or b"") < last.length


def _check_kind(header: DicomHeader, *, eye: str) -> None:
    if header.sop_class_uid == MediaStorageDirectoryStorage:
        raise _refusal(
            eye,
            "is a DICOMDIR, the index of a DICOM disc or folder, not a photograph: upload the image files it lists",
            "dicomdir",
        )
    if header.sop_class_uid not in ACCEPTED_SOP_CLASSES:
        kind = UID(header.sop_class_uid).name if header.sop_class_uid else "a DICOM object of no stated kind"
        raise _refusal(
            eye,
            f"is {kind}; only Ophthalmic Photography 8 Bit and VL Photographic images are accepted",
            "dicom_kind",
        )


def _check_laterality(dataset: Dataset, *, eye: str) -> None:
    codes = _laterality_codes(dataset)
    if len(set(codes)) > 1:
        raise _refusal(
            eye,
            f"contradicts itself: Image Laterality says {codes[0]}, Laterality says {codes[1]}",
            "dicom_laterality",
        )
    if not codes:
        return  # the file does not say: the zone it was put in does
    code = codes[0]
    if code == "B":
        raise _refusal(eye, "shows both eyes (laterality B); upload one photograph per eye", "dicom_laterality")
    if code not in SIDE_OF_CODE:
        raise _refusal(eye, f"gives the laterality {code!r}, which names neither eye (R or L)", "dicom_laterality")
    if SIDE_OF_CODE[code] != eye:
        other = SIDE_OF_CODE[code]
        raise _refusal(
            eye,
            f"is a photograph of the {other} eye (DICOM laterality {code}): put it in the {other} eye's place",
            "dicom_laterality",
        )


def _check_pixel_description(dataset: Dataset, *, eye: str) -> None:
    if "PixelData" not in dataset:
        raise _refusal(eye, "holds no pixel data: there is no photograph in it", "dicom_no_pixels")
    frames = int(dataset.get("NumberOfFrames", 1) or 1)
    if frames != 1:
        raise _refusal(eye, f"holds {frames} frames; upload one photograph (one frame) per eye", "dicom_frames")
    photometric = str(dataset.get("PhotometricInterpretation", "")).strip()
    if dataset.get("SamplesPerPixel") != 3 or photometric not in COLOUR:
        raise _refusal(
            eye,
            f"is not a colour photograph ({photometric or 'no photometric interpretation'}): the grading model "
            "reads colour (RGB or YBR) fundus photographs",
            "dicom_not_colour",
        )
    if dataset.get("BitsAllocated") != 8:
        raise _refusal(eye, "does not hold 8-bit samples; 8-bit colour photographs are accepted", "dicom_bits")
    syntax = dataset.file_meta.get("TransferSyntaxUID")
    if syntax is None or not get_decoder(syntax).is_available:
        name = UID(syntax).name if syntax else "no stated transfer syntax"
        raise _refusal(
            eye,
            f"is encoded as {name}, which this portal cannot decode: send it uncompressed or as JPEG baseline",
            "dicom_transfer_syntax",
        )


def _pixels(dataset: Dataset) -> Image.Image:
    # pydicom converts YBR to RGB (its default) and undoes the planar configuration.
    array = np.asarray(dataset.pixel_array)
    if array.ndim != 3 or array.shape[2] != 3 or array.dtype != np.uint8:
        raise ValueError(f"expected one 8-bit colour frame, decoded {array.shape} {array.dtype}")
    return Image.fromarray(array, "RGB")


def _sop_class(dataset: Dataset) -> str:
    meta = getattr(dataset, "file_meta", None)
    from_meta = meta.get("MediaStorageSOPClassUID") if meta is not None else None
    return str(from_meta or dataset.get("SOPClassUID", "") or "")


def _laterality_codes(dataset: Dataset) -> list[str]:
    """Image Laterality, then Laterality, as written (upper case), leaving out those absent or empty."""
    values: list[Any] = [dataset.get("ImageLaterality"), dataset.get("Laterality")]
    return [str(value).strip().upper() for value in values if value is not None and str(value).strip()]


def _date(text: str) -> dt.date | None:
    try:
        return dt.datetime.strptime(text.strip(), "%Y%m%d").date()
    except ValueError:
        return None


def _refusal(eye: str, problem: str, code: str) -> ValidationError:
    return ValidationError(f"The {eye} eye's DICOM file {problem}.", code=code)


def patient_id_refusal(header: DicomHeader | None, *, record_number: str, eye: str) -> str | None:
    """Why a DICOM photograph may not be filed under the patient with this record number, or None.

    A file that names no patient (Patient ID empty or absent) is the zone's to place; one that names
    another patient is refused. Compared as the clinic compares record numbers: ignoring case and the
    spaces DICOM pads its values with."""
    if header is None or not header.patient_id:
        return None
    if header.patient_id.strip().casefold() == record_number.strip().casefold():
        return None
    return (
        f"The {eye} eye's DICOM file is of patient ID {header.patient_id!r}, not of this patient (record number "
        f"{record_number}): check that the photograph and the patient belong together."
    )
