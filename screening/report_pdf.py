"""The examination's report as a PDF: the print page itself (templates/screening/result.html, with its print
styles and the record's own blocks) laid out by WeasyPrint, with static/css/report-pdf.css for the page (A4,
the examination and page numbers in the margins, the photographs small enough for both eyes to share a page).

The photographs and heatmaps are private: the PDF embeds them straight from storage, through the same
clinic-scoped selectors as the pages (ReportFetcher), never from a public URL; the stylesheets come from the
static files. Nothing else is fetched: no network at run time.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.staticfiles import finders
from django.contrib.staticfiles.storage import staticfiles_storage
from django.http import Http404, HttpRequest
from django.template.loader import render_to_string
from django.urls import Resolver404, resolve
from PIL import ImageFile
from weasyprint import HTML
from weasyprint.urls import URLFetcher, URLFetcherResponse

from patients.selectors import membership_for

from . import files, selectors
from .models import Examination, Status

# Importing WeasyPrint turns Pillow's LOAD_TRUNCATED_IMAGES on for the whole process (weasyprint/images.py),
# and a truncated photograph would then decode, padded with grey, and pass the upload check
# (screening/validation.py), which relies on Pillow refusing it. Turned off again: the report embeds only
# photographs that passed that check.
ImageFile.LOAD_TRUNCATED_IMAGES = False

CONTENT_TYPE = "application/pdf"
PDF_STYLESHEET = "css/report-pdf.css"
REPORTABLE = (Status.DONE,)
NOT_GRADED = "Examination {id} has not been graded ({status}): there is no report to print yet."


class NotReportable(Exception):
    """The examination has no result to report (queued, running or failed)."""


def report_pdf(*, request: HttpRequest, examination: Examination, context: dict[str, Any]) -> bytes:
    """The examination's print page as a PDF. `context` is the result page's own (views build it), so the
    PDF shows what the printed page shows. Raises NotReportable before a grading has finished."""
    if examination.status not in REPORTABLE:
        raise NotReportable(NOT_GRADED.format(id=examination.pk, status=examination.get_status_display().lower()))
    page = render_to_string("screening/result.html", _page_context(request, context))
    # Linked last in the page's head: an author stylesheet after the page's own, so its rules win where
    # they differ (WeasyPrint's `stylesheets` argument is a user stylesheet, which the page's rules beat).
    link = f'<link rel="stylesheet" href="{staticfiles_storage.url(PDF_STYLESHEET)}">'
    html = page.replace("</head>", f"{link}</head>", 1)
    document = HTML(string=html, base_url=request.build_absolute_uri("/"), url_fetcher=ReportFetcher(request))
    return bytes(document.write_pdf())


def report_filename(examination: Examination) -> str:
    # No patient data in a file name: it ends up in download folders and mail attachments.
    return f"dr-report-examination-{examination.pk}.pdf"


def _page_context(request: HttpRequest, context: dict[str, Any]) -> dict[str, Any]:
    """What the context processors give the page, given here instead of rendering with the request: that
    would also use up the messages waiting for the user's next page and set a CSRF cookie on the answer."""
    return {**context, "user": request.user, "membership": membership_for(request.user), "request": request}


class ReportFetcher(URLFetcher):
    """WeasyPrint's fetcher for the report: the examination's photographs and heatmaps from storage (as the
    requesting user may see them: their clinic only) and the portal's static stylesheets; nothing else."""

    def __init__(self, request: HttpRequest) -> None:
        super().__init__()
        self.request = request

    def fetch(self, url: str, headers: Any = None) -> URLFetcherResponse:
        path = urlsplit(url).path
        static_prefix = "/" + settings.STATIC_URL.lstrip("/")
        if path.startswith(static_prefix):
            return URLFetcherResponse(url, _static_file(path.removeprefix(static_prefix)), {"Content-Type": "text/css"})
        content, content_type = self._examination_file(path)
        return URLFetcherResponse(url, content, {"Content-Type": content_type})

    def _examination_file(self, path: str) -> tuple[bytes, str]:
        try:
            match = resolve(path)
        except Resolver404:
            raise ValueError(f"The report embeds only the examination's own files, not {path}") from None
        if match.view_name not in ("screening:eye_image", "screening:heatmap"):
            raise ValueError(f"The report embeds only the examination's own files, not {path}")
        eye = selectors.eye_image_get(user=self.request.user, **match.kwargs)
        if match.view_name == "screening:eye_image":
            return files.viewable_photograph(eye)
        prediction = selectors.latest_prediction(eye)
        if prediction is None or not prediction.heatmap:
            raise Http404("No heatmap yet")
        with prediction.heatmap.open("rb") as handle:
            return bytes(handle.read()), "image/jpeg"


def _static_file(name: str) -> bytes:
    """A static file by its URL name: found in the source folders (as runserver serves it), else among the
    collected files, where production's names carry their hash."""
    found = finders.find(name)
    if found:
        with open(found if isinstance(found, str) else found[0], "rb") as handle:
            return handle.read()
    if settings.STATIC_ROOT and staticfiles_storage.exists(name):
        with staticfiles_storage.open(name) as handle:
            return bytes(handle.read())
    raise ValueError(f"No static file {name}")
