"""Through Debian's chromium (Playwright): log in, choose the patient, fill the Right zone by clicking
(file chooser) and the Left zone by dropping a file, "Grade these photographs", wait for the grades, look
at the heatmaps, print; then mark the examination entered in error."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from screening.grade_descriptions import DESCRIPTIONS

from .conftest import LEFT, RIGHT, log_in

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).resolve().parent.parent.parent / "test-artifacts"

DROP = """([selector, name, b64]) => {
  const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  const transfer = new DataTransfer();
  transfer.items.add(new File([bytes], name, { type: "image/jpeg" }));
  const zone = document.querySelector(selector);
  for (const type of ["dragenter", "dragover", "drop"]) {
    zone.dispatchEvent(new DragEvent(type, { bubbles: true, cancelable: true, dataTransfer: transfer }));
  }
}"""


def test_a_staff_member_uploads_both_eyes_and_sees_the_grades_and_heatmaps(
    grading_worker, live_server, browser_page, owner, patient, password
) -> None:
    page = browser_page
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    # Content-Security-Policy refusals are console errors, not page errors. Failed loads are checked by
    # status below, where the URL is known (the page's icon included: the browser asks for no other).
    page.on(
        "console",
        lambda m: errors.append(m.text) if m.type == "error" and not m.text.startswith("Failed to load") else None,
    )
    page.on(
        "response",
        lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 400 else None,
    )

    log_in(page, live_server.url, owner.username, password)
    page.goto(f"{live_server.url}/patients/")
    page.click(f"text={patient.last_name}, {patient.first_name}")
    page.click("text=New examination")

    with page.expect_file_chooser() as chooser:
        page.click("#zone-right_eye")
    chooser.value.set_files(str(RIGHT))
    page.evaluate(DROP, ["#zone-left_eye", LEFT.name, base64.b64encode(LEFT.read_bytes()).decode()])
    for side in ("right", "left"):
        preview = page.locator(f"#zone-{side}_eye [data-preview]")
        preview.wait_for(state="visible")
        assert preview.evaluate("img => img.complete && img.naturalWidth > 0"), f"no preview in the {side} zone"
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "screening-upload.png"), full_page=True)
    page.click("#predict-button")

    # The result page polls the status endpoint and reloads itself once the worker has graded both eyes.
    page.wait_for_selector("#graded-at", timeout=90_000)
    labels = page.locator("[data-label]").all_inner_texts()
    assert len(labels) == 2 and all(label in DESCRIPTIONS.values() for label in labels)
    # The model's version is for whoever looks into a result: folded under "Technical details".
    version = page.locator("#model-version")
    assert version.is_hidden()
    page.click("#technical-details summary")
    assert version.is_visible() and version.inner_text()
    assert page.locator("meter").count() == 6
    for side in ("right", "left"):
        page.click(f"#eye-{side} [data-toggle-heatmap]")
        heatmap = page.locator(f"#eye-{side} [data-heatmap]")
        heatmap.wait_for(state="visible")
        assert heatmap.evaluate("img => img.complete && img.naturalWidth > 0"), f"{side} heatmap did not load"
    page.screenshot(path=str(ARTIFACTS / "screening-result.png"), full_page=True)
    # Printed, the page is the paper record: who the patient is, both photographs and both heatmaps,
    # and no navigation or buttons.
    page.emulate_media(media="print")
    assert page.locator("#print-identity").is_visible()
    assert patient.medical_record_number in page.locator("#print-identity").inner_text()
    assert page.locator("[data-photo]:visible").count() == 2 and page.locator("[data-heatmap]:visible").count() == 2
    assert page.locator("button:visible").count() == 0 and page.locator(".topbar nav").is_hidden()
    page.screenshot(path=str(ARTIFACTS / "screening-result-print.png"), full_page=True)
    page.emulate_media(media="screen")

    page.click(f"text={patient.last_name}, {patient.first_name}")
    assert page.locator("#history tbody tr").count() == 1
    assert page.locator(".grade-chart circle.dot").count() == 2
    page.screenshot(path=str(ARTIFACTS / "screening-patient.png"), full_page=True)

    # Entered in error: folded away under the result until asked for, then kept in the history, marked.
    page.click("#history tbody tr >> text=Open")
    reason = page.locator("#void textarea")
    assert reason.is_hidden()
    page.click("#void summary")
    reason.fill("Photographs of another patient")
    page.click("#void button[type=submit]")
    assert "Photographs of another patient" in page.locator(".void-banner, .banner, main").first.inner_text()
    page.click(f"text={patient.last_name}, {patient.first_name}")
    assert "entered in error" in page.locator("#history tbody tr").first.inner_text()
    assert page.locator(".grade-chart circle.dot").count() == 0
    assert errors == []


def test_a_doctor_signs_off_and_amends_a_review_in_the_browser(
    live_server, browser_page, colleague, patient, password
) -> None:
    from tests.examination_data import graded_examination

    examination = graded_examination(patient=patient, grades=(2, 1))
    page = browser_page
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on(
        "console",
        lambda m: errors.append(m.text) if m.type == "error" and not m.text.startswith("Failed to load") else None,
    )
    log_in(page, live_server.url, colleague.username, password)
    page.goto(f"{live_server.url}/screening/examinations/{examination.pk}/")

    # Nothing is chosen for the doctor (automation bias): every radio starts unchecked, and the choices say
    # what each class covers, with Ungradable beside them.
    review = page.locator("#review")
    radios = review.get_by_role("radio")
    assert radios.count() == 8
    assert review.locator("input[type=radio]:checked").count() == 0
    right = review.get_by_role("group", name="Right eye")
    assert [label.strip() for label in right.locator("label").all_inner_texts()] == [
        "No DR (ICDR 0)",
        "Mild-moderate NPDR (ICDR 1-2)",
        "Severe NPDR or PDR (ICDR 3-4)",
        "Ungradable photograph",
    ]
    # Signing off without grading is refused beside the fields, and nothing is signed.
    page.click("#review button[type=submit]")
    assert review.locator(".field-error").count() == 2
    assert review.locator("input[type=radio]:checked").count() == 0
    # Graded by hand, then amended: folded away until asked for, pre-filled with the signed-off grades.
    right.get_by_label("Severe NPDR or PDR (ICDR 3-4)").check()
    review.get_by_role("group", name="Left eye").get_by_label("Mild-moderate NPDR (ICDR 1-2)").check()
    page.click("#review button[type=submit]")
    assert page.locator("#answer").get_attribute("data-source") == "doctor"
    amend_grade = page.locator("#id_amend_right_grade")
    assert amend_grade.is_hidden()
    page.click("#amend summary")
    assert amend_grade.input_value() == "2"
    amend_grade.select_option("1")
    page.fill("#id_amend_reason", "Second look: no new vessels")
    page.click("#amend button[type=submit]")

    assert "Amended" in page.locator("#review-amended").inner_text()
    assert "Second look: no new vessels" in page.locator("#review-revisions").inner_text()
    page.screenshot(path=str(ARTIFACTS / "screening-review-amended.png"), full_page=True)
    assert errors == []
