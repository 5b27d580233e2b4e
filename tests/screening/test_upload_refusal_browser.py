"""In Debian's chromium: an upload whose one eye is refused (not a fundus photograph) keeps the other,
valid eye's file in its zone, so Predict sends it again with the corrected eye; nothing is filed until
both are right."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from PIL import Image

from screening.models import Examination

from .conftest import LEFT, RIGHT, log_in

pytestmark = pytest.mark.browser

ZONES = """() => [...document.querySelectorAll("[data-zone]")].map((zone) => ({
  files: [...zone.querySelector("input[type=file]").files].map((file) => file.name),
  filled: zone.classList.contains("filled"),
  invalid: zone.classList.contains("invalid"),
  name: zone.querySelector("[data-name]").textContent,
}))"""


def _watch(page) -> list[str]:
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" and "400" not in m.text else None)
    return errors


def test_the_valid_eye_is_kept_when_the_other_is_refused_and_sent_again(
    live_server, browser_page, owner, patient, password, tmp_path: Path
) -> None:
    blank = tmp_path / "scan.png"
    Image.new("RGB", (800, 600), (255, 255, 255)).save(blank)
    page = browser_page
    errors = _watch(page)
    log_in(page, live_server.url, owner.username, password)
    page.goto(f"{live_server.url}/screening/patients/{patient.pk}/new/")
    page.set_input_files("#id_right_eye", str(RIGHT))
    page.set_input_files("#id_left_eye", str(blank))
    page.fill("#id_notes", "Second visit")
    page.click("#predict-button")

    page.wait_for_selector("#left_eye-errors")
    assert "Not a fundus photograph" in page.inner_text("#left_eye-errors")
    right, left = page.evaluate(ZONES)
    assert right == {"files": [RIGHT.name], "filled": True, "invalid": False, "name": RIGHT.name}
    assert left == {"files": [], "filled": False, "invalid": True, "name": ""}
    assert "Kept from your last try" in page.inner_text("#zone-right_eye >> xpath=..")
    assert page.input_value("#id_notes") == "Second visit"
    # The keyboard starts at the field to correct, as on a page the server sent.
    assert page.evaluate("document.activeElement.id") == "id_left_eye"
    assert page.is_enabled("#predict-button")
    assert Examination.objects.count() == 0

    # Only the refused eye is chosen again: the kept right photograph goes with it.
    page.set_input_files("#id_left_eye", str(LEFT))
    page.click("#predict-button")
    page.wait_for_url("**/screening/examinations/**")
    examination = Examination.objects.get()
    assert examination.images.get(side="right").sha256 == hashlib.sha256(RIGHT.read_bytes()).hexdigest()
    assert examination.images.get(side="left").sha256 == hashlib.sha256(LEFT.read_bytes()).hexdigest()
    assert examination.notes == "Second visit"
    assert errors == []


def test_one_file_for_both_eyes_is_refused_under_both_zones_and_neither_is_kept(
    live_server, browser_page, owner, patient, password
) -> None:
    page = browser_page
    errors = _watch(page)
    log_in(page, live_server.url, owner.username, password)
    page.goto(f"{live_server.url}/screening/patients/{patient.pk}/new/")
    page.set_input_files("#id_right_eye", str(RIGHT))
    page.set_input_files("#id_left_eye", str(RIGHT))
    page.click("#predict-button")
    page.wait_for_selector("#right_eye-errors")
    for side in ("right", "left"):
        assert "The same file was chosen for both eyes" in page.inner_text(f"#{side}_eye-errors")
    assert [zone["files"] for zone in page.evaluate(ZONES)] == [[], []]
    assert Examination.objects.count() == 0
    assert errors == []
