"""A photograph or heatmap of an examination as a file response, audited: for the web pages (session) and
the API (token or session), which share the rules: the user's clinic only (404 otherwise), every read on the
audit trail, kept by the browser for this session's page but never by a proxy."""

from __future__ import annotations

from typing import Any

from django.http import FileResponse, Http404, HttpRequest

from audit.services import record_event

from . import selectors

CONTENT_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png"}


def eye_image_response(request: HttpRequest, examination_id: int, side: str, detail: dict[str, Any]) -> FileResponse:
    eye = selectors.eye_image_get(user=request.user, examination_id=examination_id, side=side)
    record_event(action="eye_image.view", request=request, obj=eye, detail={"side": side, **detail})
    return _file_response(eye.file, CONTENT_TYPES.get(eye.format, "application/octet-stream"))


def heatmap_response(request: HttpRequest, examination_id: int, side: str, detail: dict[str, Any]) -> FileResponse:
    eye = selectors.eye_image_get(user=request.user, examination_id=examination_id, side=side)
    prediction = selectors.latest_prediction(eye)
    if prediction is None or not prediction.heatmap:
        raise Http404("No heatmap yet")
    record_event(
        action="heatmap.view", request=request, obj=eye, detail={"side": side, "prediction": prediction.pk, **detail}
    )
    return _file_response(prediction.heatmap, "image/jpeg")


def _file_response(field_file: object, content_type: str) -> FileResponse:
    try:
        handle = field_file.open("rb")  # type: ignore[attr-defined]
    except FileNotFoundError:
        raise Http404("The file is missing from storage") from None
    response = FileResponse(handle, content_type=content_type)
    # Patient photographs: the browser may keep them for this session's page, proxies never.
    response["Cache-Control"] = "private, max-age=300"
    return response
