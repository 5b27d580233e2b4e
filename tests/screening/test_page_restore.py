"""The upload page brought back by the browser, in Debian's chromium: from the back/forward cache after
Predict, or with files in the inputs that no "change" event announced. The zones must show what the
inputs hold, and Predict must be usable again (it stayed disabled, "Uploading…", before)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from screening.models import Examination

from .conftest import LEFT, RIGHT, launch_chromium, log_in

pytestmark = pytest.mark.browser

# What each zone shows and what each input holds, and Predict's state: the page as the user sees it.
STATE = """() => ({
  zones: [...document.querySelectorAll("[data-zone]")].map((zone) => ({
    files: zone.querySelector("input[type=file]").files.length,
    filled: zone.classList.contains("filled"),
    hint: !zone.querySelector("[data-hint]").hidden,
    name: zone.querySelector("[data-name]").textContent,
  })),
  predict: { disabled: document.getElementById("predict-button").disabled,
             label: document.getElementById("predict-button").textContent.trim() },
})"""

# Files put into the inputs behind the page's back (no "change" event), as a browser that restores field
# values does, and Predict left as a submission leaves it.
ATTACH_SILENTLY = """async ([b64right, b64left]) => {
  const inputs = document.querySelectorAll("input[type=file]");
  [b64right, b64left].forEach((b64, i) => {
    const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    const transfer = new DataTransfer();
    transfer.items.add(new File([bytes], ["right.jpg", "left.jpg"][i], { type: "image/jpeg" }));
    inputs[i].files = transfer.files;
  });
  const button = document.getElementById("predict-button");
  button.disabled = true;
  button.textContent = "Uploading…";
}"""

EMPTY = {"files": 0, "filled": False, "hint": True, "name": ""}
ENABLED = {"disabled": False, "label": "Grade these photographs"}


def _filled(name: str) -> dict[str, object]:
    return {"files": 1, "filled": True, "hint": False, "name": name}


def _b64(path: Path) -> str:
    import base64

    return base64.b64encode(path.read_bytes()).decode()


@pytest.fixture
def chromium(monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    """A browser with the back/forward cache on: Playwright turns it off by default
    (--disable-back-forward-cache), and real users' chromium keeps it on."""
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # see conftest.browser_page
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = launch_chromium(playwright, ignore_default_args=["--disable-back-forward-cache"])
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def upload_page(live_server, chromium, owner, patient, password):
    page = chromium.new_page(viewport={"width": 1280, "height": 1000})
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    log_in(page, live_server.url, owner.username, password)
    page.goto(f"{live_server.url}/screening/patients/{patient.pk}/new/")
    yield page
    assert errors == []


def _wait_for_previews(page) -> None:
    for side in ("right", "left"):
        preview = page.locator(f"#zone-{side}_eye [data-preview]")
        preview.wait_for(state="visible")
        assert preview.evaluate("img => img.complete && img.naturalWidth > 0"), f"no preview in the {side} zone"


def test_back_from_the_result_page_out_of_the_back_forward_cache(upload_page) -> None:
    page = upload_page
    page.set_input_files("#id_right_eye", str(RIGHT))
    page.set_input_files("#id_left_eye", str(LEFT))
    page.evaluate("window.leftForTheResult = true")
    page.click("#predict-button")
    page.wait_for_url("**/screening/examinations/**")

    # A page taken out of the cache fires "pageshow", not "load", which go_back waits for by default.
    page.go_back(wait_until="commit")
    page.wait_for_selector("#predict-button")
    if not page.evaluate("window.leftForTheResult === true"):
        pytest.fail("chromium reloaded the upload page instead of restoring it from the back/forward cache")
    # The page as it was when Predict was pressed, photographs included; before, Predict stayed
    # disabled, "Uploading…", until the page was reloaded by hand.
    _wait_for_previews(page)
    assert page.evaluate(STATE) == {"zones": [_filled(RIGHT.name), _filled(LEFT.name)], "predict": ENABLED}
    page.click("#clear-button")
    assert page.evaluate(STATE) == {"zones": [EMPTY, EMPTY], "predict": ENABLED}
    assert Examination.objects.count() == 1


def test_a_restored_page_is_redrawn_from_its_inputs(upload_page) -> None:
    page = upload_page
    page.evaluate(ATTACH_SILENTLY, [_b64(RIGHT), _b64(LEFT)])
    assert page.evaluate(STATE)["zones"] == [{**EMPTY, "files": 1}, {**EMPTY, "files": 1}]  # the fault

    # As chromium fires it on a page taken out of the back/forward cache.
    page.evaluate("window.dispatchEvent(new PageTransitionEvent('pageshow', { persisted: true }))")
    _wait_for_previews(page)
    assert page.evaluate(STATE) == {"zones": [_filled("right.jpg"), _filled("left.jpg")], "predict": ENABLED}

    # And the other way round: inputs emptied behind the page's back leave no preview behind.
    page.evaluate("document.querySelectorAll('input[type=file]').forEach((input) => { input.value = ''; })")
    page.evaluate("window.dispatchEvent(new PageTransitionEvent('pageshow', { persisted: true }))")
    assert page.evaluate(STATE) == {"zones": [EMPTY, EMPTY], "predict": ENABLED}
    assert page.locator("[data-preview]:visible").count() == 0


def test_files_already_in_the_inputs_when_the_script_starts_are_shown(upload_page) -> None:
    # Field values a browser restores on load can be there before upload.js runs, with no "change"
    # event after it: hold the script back, attach the files, then let it run.
    page = upload_page
    src = page.evaluate("document.querySelector('script[src*=\"upload\"]').src")
    page.route("**/upload*.js", lambda route: route.abort())
    page.reload()
    page.wait_for_selector("#predict-button")
    page.set_input_files("#id_right_eye", str(RIGHT))
    page.set_input_files("#id_left_eye", str(LEFT))
    assert page.evaluate(STATE)["zones"] == [{**EMPTY, "files": 1}, {**EMPTY, "files": 1}]
    page.unroute("**/upload*.js")
    page.add_script_tag(url=src)  # from the portal's origin, as the Content-Security-Policy requires
    _wait_for_previews(page)
    assert page.evaluate(STATE) == {"zones": [_filled(RIGHT.name), _filled(LEFT.name)], "predict": ENABLED}
