"""A photograph or heatmap of an examination as a file response, audited: for the web pages (session) and
the API (token or session), which share the rules: the user's clinic only (404 otherwise), every read on the
audit trail, kept by the browser for this session's page but never by a proxy."""

from __future__ import annotations

import io
from typing import Any

from django.http import FileResponse, Http404, HttpRequest

from audit.services import record_event

from . import dicom, selectors
from .models import EyeImage, Prediction

CONTENT_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png", dicom.FORMAT: dicom.CONTENT_TYPE}


def eye_image_response(request: HttpRequest, examination_id: int, side: str, detail: dict[str, Any]) -> FileResponse:
    """The photograph as a browser shows it; a DICOM photograph as a JPEG of its pixels, or as the camera's
    original file to a client that asks for DICOM (Accept: application/dicom, as DICOMweb clients do)."""
    eye = selectors.eye_image_get(user=request.user, examination_id=examination_id, side=side)
    return photograph_response(request, eye, detail)


def photograph_response(request: HttpRequest, eye: EyeImage, detail: dict[str, Any]) -> FileResponse:
    """The photograph of `eye`, audited, for a caller that has already decided the user may see it (the
    clinic's views above; the Django admin, superusers only)."""
    original = eye.format == dicom.FORMAT and dicom.CONTENT_TYPE in request.headers.get("Accept", "")
    if original:
        detail = {**detail, "original": True}
    record_event(action="eye_image.view", request=request, obj=eye, detail={"side": eye.side, **detail})
    if eye.format == dicom.FORMAT and not original:
        return _private(FileResponse(io.BytesIO(viewable_photograph(eye)[0]), content_type="image/jpeg"))
    return _file_response(eye.file, CONTENT_TYPES.get(eye.format, "application/octet-stream"))


def viewable_photograph(eye: EyeImage) -> tuple[bytes, str]:
    """The photograph's bytes and content type as a browser or a PDF shows it: the stored JPEG or PNG, or a
    DICOM photograph's pixels as a JPEG (no browser shows DICOM). Http404 when the file is missing."""
    try:
        with eye.file.open("rb") as handle:
            if eye.format != dicom.FORMAT:
                return handle.read(), CONTENT_TYPES.get(eye.format, "application/octet-stream")
            image = dicom.stored_photograph(handle.read())
    except FileNotFoundError:
        raise Http404("The file is missing from storage") from None
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=92)
    return buffer.getvalue(), "image/jpeg"


def heatmap_response(request: HttpRequest, examination_id: int, side: str, detail: dict[str, Any]) -> FileResponse:
    eye = selectors.eye_image_get(user=request.user, examination_id=examination_id, side=side)
    prediction = selectors.latest_prediction(eye)
    if prediction is None:
        raise Http404("No heatmap yet")
    return prediction_heatmap_response(request, prediction, detail)


def prediction_heatmap_response(request: HttpRequest, prediction: Prediction, detail: dict[str, Any]) -> FileResponse:
    """The heatmap of `prediction`, audited, for a caller that has already decided the user may see it."""
    if not prediction.heatmap:
        raise Http404("No heatmap")
    eye = prediction.eye_image
    detail = {"side": eye.side, "prediction": prediction.pk, **detail}
    record_event(action="heatmap.view", request=request, obj=eye, detail=detail)
    return _file_response(prediction.heatmap, "image/jpeg")


def _file_response(field_file: object, content_type: str) -> FileResponse:
    try:
        handle = field_file.open("rb")  # type: ignore[attr-defined]
    except FileNotFoundError:
        raise Http404("The file is missing from storage") from None
    return _private(FileResponse(handle, content_type=content_type))


def _private(response: FileResponse) -> FileResponse:
    # Patient photographs: the browser may keep them for this session's page, proxies never.
    response["Cache-Control"] = "private, max-age=300"
    return response
