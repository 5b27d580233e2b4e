"""Accessibility, in Debian's chromium against the live portal: a member of staff who works with the
keyboard alone or with a screen reader must be able to do the whole job (WCAG 2.2 AA). What is checked is
what such a user meets: the accessibility tree's roles, names, descriptions and states (Playwright's
get_by_role and get_by_label), where the keyboard focus goes after Tab, Enter and Space, and colours as
the browser computed them.

One browser for the module (a fresh context per test) keeps the file quick.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator

import pytest
from django.urls import reverse

from screening.models import Examination, Status
from tests.examination_data import graded_examination

from .conftest import RIGHT, launch_chromium, log_in

pytestmark = pytest.mark.browser

WARNING = "We hope that you will see a specialized ophthalmologist"


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    # As browser_page does: Playwright's sync API runs an event loop in this thread, and Django refuses
    # the tests' database calls unless told that the loop serves no async code.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    from playwright.sync_api import sync_playwright

    try:
        with sync_playwright() as playwright:
            chromium = launch_chromium(playwright)
            try:
                yield chromium
            finally:
                chromium.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def page(browser) -> Iterator[object]:
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    try:
        yield context.new_page()
    finally:
        context.close()


def _signed_in(page, live_server, user, password: str) -> str:
    log_in(page, live_server.url, user.username, password)
    page.wait_for_url(lambda url: "/accounts/login/" not in url)
    return live_server.url


# The text of the elements an element's aria-describedby names: what a screen reader reads after its name.
DESCRIPTION = """(element) => (element.getAttribute("aria-describedby") || "").split(/\\s+/).filter(Boolean)
  .map((id) => {
    const named = document.getElementById(id);
    return named ? named.textContent.trim() : "MISSING " + id;
  })
  .join(" | ")"""

ACTIVE = "() => document.activeElement && (document.activeElement.id || document.activeElement.tagName)"


def _tab_to(page, element_id: str, presses: int = 25) -> None:
    for _ in range(presses):
        page.keyboard.press("Tab")
        if page.evaluate(ACTIVE) == element_id:
            return
    raise AssertionError(f"Tab never reached #{element_id}")


def _wait_for(page, condition, seconds: float = 10) -> None:
    """Wait for a condition on Playwright's events: they are delivered while the page is waited on."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        page.wait_for_timeout(50)


# --- every page ---------------------------------------------------------------------------------------

PAGE_FACTS = """() => ({
  lang: document.documentElement.lang,
  title: document.title,
  h1: document.querySelectorAll("h1").length,
  banner: document.querySelectorAll("body > header").length,
  main: document.querySelectorAll("main").length,
  navs: [...document.querySelectorAll("nav")].map((nav) => nav.getAttribute("aria-label") || ""),
  thWithoutScope: [...document.querySelectorAll("th:not([scope])")].map((th) => th.textContent.trim()),
  emptyTh: [...document.querySelectorAll("th")].filter((th) => !th.textContent.trim()).length,
  unlabelled: [...document.querySelectorAll("input:not([type=hidden]), select, textarea")]
    .filter((field) => !(field.labels && field.labels.length) && !field.getAttribute("aria-label")
                       && !field.getAttribute("aria-labelledby")
                       && !(field.type === "submit" && field.value.trim()))  // a submit input is named by its value
    .map((field) => field.outerHTML),
  brokenReferences: [...document.querySelectorAll("[aria-describedby], [aria-labelledby]")]
    .flatMap((element) => ((element.getAttribute("aria-describedby") || "") + " "
                           + (element.getAttribute("aria-labelledby") || "")).split(/\\s+/).filter(Boolean))
    .filter((id) => !document.getElementById(id)),
})"""


def test_every_page_has_a_language_one_h1_landmarks_a_skip_link_and_labelled_fields(
    page, live_server, colleague, patient, password
) -> None:
    examination = graded_examination(patient=patient, grades=(2, 1))
    page.goto(f"{live_server.url}{reverse('login')}")
    pages = {"login": page.url}
    base = _signed_in(page, live_server, colleague, password)
    pages |= {
        "patients": base + reverse("patients:list"),
        "patient": base + reverse("patients:detail", args=[patient.pk]),
        "patient edit": base + reverse("patients:update", args=[patient.pk]),
        "upload": base + reverse("screening:upload", args=[patient.pk]),
        "result": base + reverse("screening:detail", args=[examination.pk]),
        "worklist": base + reverse("screening:worklist"),
        "statistics": base + reverse("screening:statistics"),
        "password": base + reverse("password_change"),
        "not found": base + "/no/such/page/",
    }
    for name, url in pages.items():
        if name == "login":
            page.context.clear_cookies()
        page.goto(url)
        facts = page.evaluate(PAGE_FACTS)
        assert facts["lang"] == "en", name
        assert facts["h1"] == 1, name
        # The title names the page before the portal: "Worklist · DR Portal".
        assert re.fullmatch(r".+ · DR Portal", facts["title"]) and not facts["title"].startswith("DR Portal"), name
        assert facts["banner"] == 1 and facts["main"] == 1, name
        # Several navigation landmarks must be told apart by name.
        assert all(facts["navs"]) and len(set(facts["navs"])) == len(facts["navs"]), (name, facts["navs"])
        assert facts["thWithoutScope"] == [] and facts["emptyTh"] == 0, (name, facts["thWithoutScope"])
        assert facts["unlabelled"] == [], (name, facts["unlabelled"])
        assert facts["brokenReferences"] == [], (name, facts["brokenReferences"])
        # The first Tab shows a skip link; Enter puts the focus on the main content, past the header. (The
        # login page puts the focus in its username box first: back up from there to the top.)
        if page.evaluate(ACTIVE) == "BODY":
            page.keyboard.press("Tab")
        else:
            for _ in range(15):
                page.keyboard.press("Shift+Tab")
                if page.evaluate("() => document.activeElement.className") == "skip-link":
                    break
        skip = page.get_by_role("link", name="Skip to main content")
        assert page.evaluate("() => document.activeElement.textContent.trim()") == "Skip to main content", name
        box = skip.bounding_box()
        assert box is not None and box["y"] >= 0 and box["width"] > 10, name  # on screen while focused
        page.keyboard.press("Enter")
        assert page.evaluate("() => document.activeElement.tagName") == "MAIN", name
        if name == "login":
            _signed_in(page, live_server, colleague, password)


# Every visible text against the background it sits on, and every field's edge against the background
# round it, from the colours chromium computed. Text: 4.5:1 (3:1 when large); fields: 3:1 (1.4.11).
CONTRAST = """() => {
  const rgba = (value) => {
    const m = value.match(/[\\d.]+/g).map(Number);
    return [m[0], m[1], m[2], m.length > 3 ? m[3] : 1];
  };
  const luminance = ([r, g, b]) => {
    const f = (c) => { c /= 255; return c <= 0.03928 ? c / 12.92 : Math.pow((c + 0.055) / 1.055, 2.4); };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const ratio = (a, b) => {
    const [x, y] = [luminance(a), luminance(b)].sort((p, q) => q - p);
    return (x + 0.05) / (y + 0.05);
  };
  const background = (element) => {
    for (let e = element; e; e = e.parentElement) {
      const colour = rgba(getComputedStyle(e).backgroundColor);
      if (colour[3] > 0) return colour;
    }
    return [255, 255, 255, 1];
  };
  const shown = (e) => {
    const r = e.getBoundingClientRect();
    return r.width > 1 && r.height > 1 && e.checkVisibility();
  };
  const failures = [];
  for (const element of document.querySelectorAll("body *")) {
    if (["SCRIPT", "STYLE", "OPTION", "TITLE"].includes(element.tagName) || !shown(element)) continue;
    const own = [...element.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
    const style = getComputedStyle(element);
    if (own) {
      const size = parseFloat(style.fontSize);
      const large = size >= 24 || (size >= 18.66 && Number(style.fontWeight) >= 700);
      const value = ratio(rgba(style.color), background(element));
      const text = element.textContent.trim().slice(0, 30);
      if (value < (large ? 3 : 4.5)) failures.push(`text ${element.tagName} "${text}" ${value.toFixed(2)}`);
    }
    const field = element.matches(
      "input:not([type=file]):not([type=radio]):not([type=checkbox]), select, textarea, .zone");
    if (field) {
      const value = ratio(rgba(style.borderTopColor), background(element.parentElement));
      if (value < 3) failures.push(`edge ${element.tagName}#${element.id} ${value.toFixed(2)}`);
    }
  }
  return failures;
}"""


def test_text_and_field_edges_have_enough_contrast(page, live_server, owner, patient, password) -> None:
    examination = graded_examination(patient=patient, grades=(2, 1))
    base = _signed_in(page, live_server, owner, password)
    for url in (
        reverse("patients:list"),
        reverse("patients:detail", args=[patient.pk]),
        reverse("patients:update", args=[patient.pk]),
        reverse("screening:detail", args=[examination.pk]),
        reverse("screening:upload", args=[patient.pk]),
    ):
        page.goto(base + url)
        assert page.evaluate(CONTRAST) == [], url
    page.click("#predict-button")  # the errors too
    page.wait_for_selector("#right_eye-errors")
    assert page.evaluate(CONTRAST) == []


# --- the upload page ----------------------------------------------------------------------------------


def test_the_upload_zones_are_named_focused_visibly_and_open_the_file_chooser_from_the_keyboard(
    page, live_server, owner, patient, password
) -> None:
    # Listening from the start: Playwright turns chromium's file-chooser interception on and off as
    # listeners come and go, asynchronously, so a chooser opened just after expect_file_chooser() began
    # was now and then missed.
    choosers: list[object] = []
    page.on("filechooser", lambda chooser: choosers.append(chooser))
    base = _signed_in(page, live_server, owner, password)
    page.goto(base + reverse("screening:upload", args=[patient.pk]))
    # Named by the zone's title, not by all its text ("Right Click or drop ...", heard as a right-click);
    # the hint is the description.
    right = page.get_by_role("button", name="Right eye", exact=True)
    left = page.get_by_role("button", name="Left eye", exact=True)
    assert right.count() == 1 and left.count() == 1
    assert right.evaluate(DESCRIPTION) == "Click or drop a JPEG, PNG or DICOM photograph of the right eye"

    _tab_to(page, "id_right_eye")
    zone = page.locator("#zone-right_eye")
    outline = zone.evaluate("(z) => [getComputedStyle(z).outlineStyle, parseFloat(getComputedStyle(z).outlineWidth)]")
    assert outline[0] == "solid" and outline[1] >= 2, outline  # the whole zone shows the focus
    page.keyboard.press("Enter")
    _wait_for(page, lambda: len(choosers) == 1)
    choosers[0].set_files(str(RIGHT))  # type: ignore[attr-defined]
    page.locator("#zone-right_eye [data-preview]").wait_for(state="visible")
    assert right.evaluate(DESCRIPTION) == RIGHT.name  # the chosen file is read out

    _tab_to(page, "id_left_eye")
    assert zone.evaluate("(z) => getComputedStyle(z).outlineStyle") == "none"  # the focus has moved on
    page.keyboard.press(" ")
    _wait_for(page, lambda: len(choosers) == 2)


def test_upload_errors_are_tied_to_their_fields_and_take_the_focus(page, live_server, owner, patient, password) -> None:
    base = _signed_in(page, live_server, owner, password)
    page.goto(base + reverse("screening:upload", args=[patient.pk]))
    _tab_to(page, "predict-button")
    page.keyboard.press("Enter")
    page.wait_for_selector("#right_eye-errors")
    # The focus lands on the first field to correct, which says it is invalid and why.
    assert page.evaluate(ACTIVE) == "id_right_eye"
    for side in ("right", "left"):
        field = page.get_by_role("button", name=f"{side.capitalize()} eye", exact=True)
        assert field.get_attribute("aria-invalid") == "true"
        assert field.evaluate(DESCRIPTION).startswith(f"Choose a photograph of the {side} eye.")


# --- the result page ----------------------------------------------------------------------------------


def test_the_grading_status_is_a_polite_live_region(page, live_server, owner, patient, password) -> None:
    examination = Examination.objects.create(patient=patient, status=Status.QUEUED, created_by=owner)
    base = _signed_in(page, live_server, owner, password)
    page.goto(base + reverse("screening:detail", args=[examination.pk]))
    status = page.locator("#progress").get_by_role("status").first
    assert status.inner_text() == "Queued for grading…"
    assert page.get_by_role("progressbar", name="Queued for grading…").count() == 1
    # The page rewrites the status as the grading moves on: inside the live region, so it is announced.
    Examination.objects.filter(pk=examination.pk).update(status=Status.RUNNING)
    page.wait_for_function("() => document.getElementById('progress-message').textContent === 'Grading both eyes…'")
    assert status.get_attribute("role") == "status"


def test_the_result_page_states_confidences_heatmaps_and_the_warning_in_words(
    page, live_server, owner, patient, password
) -> None:
    examination = graded_examination(patient=patient, grades=(2, 1))  # 0.8 each: the seed warning
    base = _signed_in(page, live_server, owner, password)
    page.goto(base + reverse("screening:detail", args=[examination.pk]))
    right = page.locator("#eye-right")

    # The bars: each named by its grade, worth its percentage, in a table that says what it lists.
    assert page.get_by_role("table", name="The model's confidence in each grade, right eye").count() == 1
    bar = right.get_by_role("meter", name="Severe NPDR or PDR (ICDR 3-4)", exact=True)
    assert bar.count() == 1 and bar.get_attribute("aria-valuetext") == "80%"

    # The images say which eye and what they are.
    assert page.get_by_role("img", name="Right eye photograph").is_visible()
    assert page.get_by_role("img", name="Left eye photograph").is_visible()

    # The heatmap button: named for what a press will do, its state in aria-expanded; keyboard-operated.
    toggle = page.get_by_role("button", name="Show heatmap of the right eye", exact=True)
    assert toggle.count() == 1 and toggle.get_attribute("aria-expanded") == "false"
    toggle.focus()
    page.keyboard.press(" ")
    hide = page.get_by_role("button", name="Hide heatmap of the right eye", exact=True)
    assert hide.count() == 1 and hide.get_attribute("aria-expanded") == "true"
    assert page.get_by_role("img", name="Right eye heatmap overlay").is_visible()
    assert page.get_by_role("img", name="Right eye photograph").is_visible()  # beside it, not replaced
    page.keyboard.press("Enter")
    assert toggle.get_attribute("aria-expanded") == "false"
    assert page.get_by_role("img", name="Right eye heatmap overlay").is_hidden()

    # The seed rule's note is a note in words, not an alarm: no alert role, no warning colour.
    assert page.get_by_role("alert").filter(has_text=WARNING).count() == 0
    note = page.locator("#seed-note")
    assert note.is_visible() and note.inner_text().startswith("Note on the model's confidences:")


def test_the_review_form_labels_every_field(page, live_server, colleague, patient, password) -> None:
    examination = graded_examination(patient=patient, grades=(2, 1))
    base = _signed_in(page, live_server, colleague, password)
    page.goto(base + reverse("screening:detail", args=[examination.pk]))
    review = page.locator("#review")
    assert review.get_by_role("group", name="Right eye").get_by_role("radio").count() == 4  # with Ungradable
    assert review.get_by_role("textbox", name="Notes", exact=True).count() == 1


# --- tables and the chart -----------------------------------------------------------------------------


def test_the_history_and_worklist_say_in_text_what_the_eye_sees(
    page, live_server, colleague, patient, password
) -> None:
    graded_examination(patient=patient, grades=(2, 1))
    base = _signed_in(page, live_server, colleague, password)
    page.goto(base + reverse("patients:detail", args=[patient.pk]))
    # The chart's text alternative: the table of every grade it draws.
    chart = page.get_by_role("img", name=re.compile("grade over time"))
    assert "table of examinations below" in chart.evaluate(DESCRIPTION)
    # The "see note" badge's message, which sat in a title (a mouse tooltip), is text in the row.
    row = page.locator("#history tbody tr").first
    assert WARNING in row.text_content()
    # ... and it opens from the keyboard (or a tap), where a tooltip needed a mouse.
    note = row.locator("details.seed-note")
    note.locator("summary").focus()
    page.keyboard.press("Enter")
    assert note.get_attribute("open") is not None and row.locator(".seed-note-text").is_visible()
    assert page.get_by_role("columnheader", name="Open").count() == 1

    page.goto(base + reverse("screening:worklist"))
    row = page.locator(".worklist tbody tr").first
    assert row.get_by_role("cell").first.text_content().startswith("Referable: ")  # the red edge, in words
    assert page.get_by_role("columnheader").count() == 6


# --- other forms --------------------------------------------------------------------------------------


def test_login_password_and_account_errors_and_help_are_tied_to_their_fields(
    page, live_server, owner, clinic_admin, password
) -> None:
    base = live_server.url
    log_in(page, base, "nobody-here", "not the password")
    username = page.get_by_label("Username")
    assert page.evaluate(ACTIVE) == "id_username" and username.get_attribute("aria-invalid") == "true"
    assert username.evaluate(DESCRIPTION).startswith("Please enter a correct username and password.")

    _signed_in(page, live_server, owner, password)
    page.goto(base + reverse("password_change"))
    page.fill("#id_old_password", "not the password")
    page.fill("#id_new_password1", "another-passphrase-2026")
    page.fill("#id_new_password2", "a-different-one-2026")
    page.click("main button[type=submit]")
    page.wait_for_selector(".field-error")
    old = page.get_by_label("Current password")
    assert page.evaluate(ACTIVE) == "id_old_password" and old.get_attribute("aria-invalid") == "true"
    assert "incorrect" in old.evaluate(DESCRIPTION)
    again = page.get_by_label("New password again")
    assert again.get_attribute("aria-invalid") == "true" and again.evaluate(DESCRIPTION)
    assert page.get_by_label("New password", exact=True).evaluate(DESCRIPTION).startswith("At least 12 characters")

    page.context.clear_cookies()
    _signed_in(page, live_server, clinic_admin, password)
    page.goto(base + reverse("patients:account_update", args=[owner.pk]))
    help_text = page.get_by_label("New password").evaluate(DESCRIPTION)
    assert help_text == "Leave empty to keep the current password."


def test_on_a_phone_wide_screen_no_page_scrolls_sideways(browser, live_server, colleague, patient, password) -> None:
    # 375 px: the header ran off the right edge and the tables widened the page to 600-740 px.
    for number in range(3):
        graded_examination(patient=patient, grades=(number % 3, 0))
    context = browser.new_context(viewport={"width": 375, "height": 800})
    try:
        page = context.new_page()
        base = _signed_in(page, live_server, colleague, password)
        for url in (reverse("patients:list"), reverse("screening:worklist"), reverse("screening:statistics"),
                    reverse("patients:detail", args=[patient.pk])):  # fmt: skip
            page.goto(base + url)
            assert page.evaluate("document.documentElement.scrollWidth") <= 375, url
            # The wide table scrolls in its own region, which a keyboard user reaches and a screen reader names.
            region = page.locator(".table-scroll").first
            assert region.get_attribute("tabindex") == "0" and region.get_attribute("aria-label")
    finally:
        context.close()
