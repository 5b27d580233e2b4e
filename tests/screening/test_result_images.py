"""The result page's images, in Debian's chromium: a photograph or heatmap opens full size in a viewer with
zoom, through the audited views; the heatmap shows beside the photograph (not instead of it) with a legend
that says what its colours mean, and its button says what a press will do."""

from __future__ import annotations

import pytest
from django.urls import reverse

from audit.models import AuditEvent
from tests.examination_data import graded_examination

from .conftest import open_signed_in
from .test_browser import ARTIFACTS

pytestmark = pytest.mark.browser


@pytest.fixture
def result_page(live_server, browser_page, owner, patient, password):
    examination = graded_examination(patient=patient, grades=(2, 0))
    page = browser_page
    errors = open_signed_in(page, live_server.url, owner, password, reverse("screening:detail", args=[examination.pk]))
    # Content-Security-Policy refusals (an inline style, say) are console errors, not page errors.
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    yield page, examination
    assert errors == []


def _rendered_width(page) -> float:
    return page.locator("#image-viewer [data-viewer-image]").evaluate("img => img.getBoundingClientRect().width")


def test_a_photograph_opens_full_size_and_zooms_in_and_out(result_page) -> None:
    page, examination = result_page
    link = page.locator("#eye-right [data-zoom]").first
    assert link.get_attribute("href") == reverse("screening:eye_image", args=[examination.pk, "right"])
    link.click()

    viewer = page.get_by_role("dialog", name="Right eye photograph")
    viewer.wait_for(state="visible")
    image = viewer.locator("[data-viewer-image]")
    page.wait_for_function("() => document.querySelector('#image-viewer').dataset.scale !== undefined")
    assert image.evaluate("img => img.complete && img.naturalWidth") == 128  # the stored photograph itself
    assert image.get_attribute("src").endswith(reverse("screening:eye_image", args=[examination.pk, "right"]))
    fitted = _rendered_width(page)
    assert fitted > 128  # a small photograph fills the window

    viewer.get_by_role("button", name="Zoom in").click()
    assert _rendered_width(page) == pytest.approx(fitted * 1.5, abs=2)
    assert viewer.locator("[data-viewer-zoom]").inner_text() == f"Zoom {round(fitted * 1.5 / 128 * 100)}%"
    page.keyboard.press("-")
    assert _rendered_width(page) == pytest.approx(fitted, abs=2)
    viewer.get_by_role("button", name="Actual size").click()
    assert _rendered_width(page) == pytest.approx(128, abs=1)
    assert viewer.locator("[data-viewer-zoom]").inner_text() == "Zoom 100%"
    page.mouse.move(640, 500)
    page.mouse.wheel(0, -100)  # the wheel zooms in too
    page.wait_for_function("() => Number(document.querySelector('#image-viewer').dataset.scale) > 1")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "screening-image-viewer.png"))

    page.keyboard.press("Escape")
    viewer.wait_for(state="hidden")
    # Every look at the photograph went through the audited view: the page's and the viewer's.
    assert AuditEvent.objects.filter(action="eye_image.view", object_id=str(examination.images.get(side="right").pk))


def test_the_heatmap_shows_beside_the_photograph_with_its_legend_and_a_button_that_says_what_it_does(
    result_page,
) -> None:
    page, examination = result_page
    right = page.locator("#eye-right")
    toggle = right.get_by_role("button", name="Show heatmap of the right eye", exact=True)
    heatmap = page.get_by_role("img", name="Right eye heatmap overlay")
    photograph = page.get_by_role("img", name="Right eye photograph", exact=True)
    assert heatmap.is_hidden() and toggle.get_attribute("aria-expanded") == "false"
    assert "{#" not in page.content() and "{% comment" not in page.content()  # no template comment shown

    toggle.focus()
    page.keyboard.press("Enter")
    hide = right.get_by_role("button", name="Hide heatmap of the right eye", exact=True)
    assert hide.count() == 1 and hide.get_attribute("aria-expanded") == "true"
    heatmap.wait_for(state="visible")
    assert photograph.is_visible()  # beside it, not instead of it
    photo_box, heatmap_box = photograph.bounding_box(), heatmap.bounding_box()
    assert heatmap_box["x"] >= photo_box["x"] + photo_box["width"] - 1  # to the right, on the same row
    assert abs(heatmap_box["y"] - photo_box["y"]) < 5
    legend = right.locator("[data-legend]")
    assert legend.is_visible()
    text = legend.inner_text()
    assert "Low" in text and "High" in text
    assert "Where the model looked" in text and "not a map of lesions" in text
    # The legend's bar runs from the colour map's low end (dark blue) to its high end (dark red).
    gradient = legend.locator(".legend-bar").evaluate("bar => getComputedStyle(bar).backgroundImage")
    assert gradient.startswith("linear-gradient") and "rgb(0, 0, 127)" in gradient and "rgb(127, 0, 0)" in gradient
    assert page.locator("#eye-left [data-heatmap]").is_hidden()  # each eye its own
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "screening-result-heatmap.png"), full_page=True)

    # The heatmap opens full size too, from its own audited view.
    right.locator(".heatmap-figure [data-zoom]").click()
    viewer = page.get_by_role("dialog", name="Right eye heatmap")
    viewer.wait_for(state="visible")
    src = viewer.locator("[data-viewer-image]").get_attribute("src")
    assert src.endswith(reverse("screening:heatmap", args=[examination.pk, "right"]))
    viewer.get_by_role("button", name="Close").click()
    viewer.wait_for(state="hidden")

    hide.click()
    assert heatmap.is_hidden() and photograph.is_visible()
    assert toggle.get_attribute("aria-expanded") == "false"

    # On paper both are shown, with the legend, and not the viewer.
    page.emulate_media(media="print")
    assert heatmap.is_visible() and legend.is_visible()
    assert page.locator("#image-viewer").is_hidden()
