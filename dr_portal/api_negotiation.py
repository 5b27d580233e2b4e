"""Content negotiation for the API's views that answer a file (a photograph, DICOM, a PDF, a FHIR Bundle)."""

from __future__ import annotations

from collections.abc import Iterable

from rest_framework.exceptions import NotAcceptable
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request


class FileNegotiation(DefaultContentNegotiation):
    """Such a view sets its answer's content type itself, and DRF's renderers only ever render its errors.
    A client that asks for the file's type (Accept: application/dicom, application/pdf,
    application/fhir+json, image/jpeg) was refused with 406 before the view ran, because no renderer
    produces it; it gets the file, and any error as JSON."""

    def select_renderer(
        self, request: Request, renderers: Iterable[BaseRenderer], format_suffix: str | None = None
    ) -> tuple[BaseRenderer, str]:
        renderers = list(renderers)
        try:
            renderer, media_type = super().select_renderer(request, renderers, format_suffix)
        except NotAcceptable:
            return renderers[0], renderers[0].media_type
        return renderer, str(media_type)
