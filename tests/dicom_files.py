"""DICOM files built with pydicom from real fundus photographs, as a fundus camera writes them: the
Ophthalmic Photography 8 Bit (or VL Photographic) SOP class, the eye's laterality, the patient's ID and
the study's UID; and the malformed kinds the upload must refuse (no pixel data, a DICOMDIR, ...)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.fileset import FileSet
from pydicom.uid import (
    ExplicitVRLittleEndian,
    JPEGBaseline8Bit,
    OphthalmicPhotography8BitImageStorage,
    generate_uid,
)

SIDE_CODES = {"right": "R", "left": "L"}


def dicom_photograph(
    photograph: Path | Image.Image,
    *,
    laterality: str | None = "R",
    patient_id: str | None = "MRN-00001",
    study_uid: str | None = None,
    sop_class: str = OphthalmicPhotography8BitImageStorage,
    jpeg: bool = False,
    patient_name: str = "Doe^Jane",
    **attributes: Any,
) -> bytes:
    """A DICOM Part 10 file of the photograph: uncompressed RGB, or JPEG baseline (YBR_FULL_422) with `jpeg`.
    `laterality` goes into Image Laterality (0020,0062); `attributes` set or override any other element."""
    image = photograph if isinstance(photograph, Image.Image) else Image.open(photograph)
    dataset = _dataset(sop_class, JPEGBaseline8Bit if jpeg else ExplicitVRLittleEndian)
    dataset.update(_identity(patient_id, study_uid or generate_uid(), patient_name))
    if laterality is not None:
        dataset.ImageLaterality = laterality
    _set_pixels(dataset, image.convert("RGB"), jpeg=jpeg)
    for name, value in attributes.items():
        if value is None:
            delattr(dataset, name)
        else:
            setattr(dataset, name, value)
    return _file_bytes(dataset)


def dicom_upload(content: bytes, name: str = "photograph.dcm") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type="application/dicom")


def dicomdir(folder: Path, member: bytes) -> bytes:
    """The DICOMDIR pydicom's FileSet writes for a folder holding one photograph."""
    from pydicom import dcmread

    fileset = FileSet()
    fileset.add(dcmread(io.BytesIO(member)))
    fileset.write(folder)
    return (folder / "DICOMDIR").read_bytes()


def _dataset(sop_class: str, transfer_syntax: str) -> Dataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = transfer_syntax
    dataset = Dataset()
    dataset.file_meta = meta
    dataset.SOPClassUID = sop_class
    dataset.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    dataset.Modality = "OP"
    return dataset


def _identity(patient_id: str | None, study_uid: str, patient_name: str) -> Dataset:
    identity = Dataset()
    if patient_id is not None:
        identity.PatientID = patient_id
    identity.PatientName = patient_name
    identity.PatientBirthDate = "19600517"
    identity.PatientSex = "F"
    identity.StudyInstanceUID = study_uid
    identity.SeriesInstanceUID = generate_uid()
    identity.StudyDate, identity.StudyTime, identity.StudyID = "20260301", "091500", "1"
    identity.SeriesNumber, identity.InstanceNumber = 1, 1
    return identity


def _set_pixels(dataset: Dataset, image: Image.Image, *, jpeg: bool) -> None:
    dataset.Rows, dataset.Columns = image.height, image.width
    dataset.SamplesPerPixel = 3
    dataset.BitsAllocated, dataset.BitsStored, dataset.HighBit = 8, 8, 7
    dataset.PixelRepresentation = 0
    dataset.PlanarConfiguration = 0
    if jpeg:
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=95)
        dataset.PhotometricInterpretation = "YBR_FULL_422"
        dataset.PixelData = encapsulate([buffer.getvalue()])
        dataset["PixelData"].VR = "OB"
    else:
        dataset.PhotometricInterpretation = "RGB"
        dataset.PixelData = np.asarray(image, dtype=np.uint8).tobytes()
        dataset["PixelData"].VR = "OB"


def _file_bytes(dataset: Dataset) -> bytes:
    buffer = io.BytesIO()
    dataset.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()
