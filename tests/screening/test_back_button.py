"""The back button after an upload, in Debian's chromium: the upload page must not hold the photographs
just sent while its zones show none (Predict would file the same examination twice, unseen)."""

from __future__ import annotations

import pytest

from screening.models import Examination

from .conftest import LEFT, RIGHT, log_in

pytestmark = pytest.mark.browser


def test_back_after_an_upload_shows_an_empty_form_that_sends_no_photograph(
    live_server,
    browser_page,
    owner,
    patient,
    password,
) -> None:
    page = browser_page
    log_in(page, live_server.url, owner.username, password)
    page.goto(f"{live_server.url}/screening/patients/{patient.pk}/new/")
    page.set_input_files("#id_right_eye", str(RIGHT))
    page.set_input_files("#id_left_eye", str(LEFT))
    page.click("#predict-button")
    page.wait_for_url("**/screening/examinations/**")

    page.go_back()
    page.wait_for_selector("#predict-button")
    # Before, chromium restored both file inputs behind zones that said "Click or drop ...".
    chosen = page.evaluate("[...document.querySelectorAll('input[type=file]')].map((input) => input.files.length)")
    assert chosen == [0, 0]
    page.click("#predict-button")
    page.wait_for_selector("#right_eye-errors")
    assert "Choose a photograph of the right eye." in page.inner_text("#right_eye-errors")
    assert Examination.objects.count() == 1
