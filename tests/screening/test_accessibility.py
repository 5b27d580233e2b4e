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
from collections.abc import Iterator

import pytest
from django.urls import reverse

from tests.examination_data import graded_examination

from .conftest import launch_chromium, log_in

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
def page(browser) -> Iterator[object]:  # type: ignore[no-untyped-def]
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    try:
        yield context.new_page()
    finally:
        context.close()


def _signed_in(page, live_server, user, password: str) -> str:  # type: ignore[no-untyped-def]
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


def _tab_to(page, element_id: str, presses: int = 25) -> None:  # type: ignore[no-untyped-def]
    for _ in range(presses):
        page.keyboard.press("Tab")
        if page.evaluate(ACTIVE) == element_id:
            return
    raise AssertionError(f"Tab never reached #{element_id}")


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
                       && !field.getAttribute("aria-labelledby"))
    .map((field) => field.outerHTML),
  brokenReferences: [...document.querySelectorAll("[aria-describedby], [aria-labelledby]")]
    .flatMap((element) => ((element.getAttribute("aria-describedby") || "") + " "
                           + (element.getAttribute("aria-labelledby") || "")).split(/\\s+/).filter(Boolean))
    .filter((id) => !document.getElementById(id)),
})"""


def test_every_page_has_a_language_one_h1_landmarks_a_skip_link_and_labelled_fields(
    page, live_server, colleague, patient, password
) -> None:  # type: ignore[no-untyped-def]
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
def test_the_review_form_labels_every_field(page, live_server, colleague, patient, password) -> None:  # type: ignore[no-untyped-def]
    examination = graded_examination(patient=patient, grades=(2, 1))
    base = _signed_in(page, live_server, colleague, password)
    page.goto(base + reverse("screening:detail", args=[examination.pk]))
    review = page.locator("#review")
    assert review.get_by_role("group", name="Right eye").get_by_role("radio").count() == 3
    assert review.get_by_role("textbox", name="Notes", exact=True).count() == 1


# --- tables and the chart -----------------------------------------------------------------------------


def test_the_history_and_worklist_say_in_text_what_the_eye_sees(
    page, live_server, colleague, patient, password
) -> None:  # type: ignore[no-untyped-def]
    graded_examination(patient=patient, grades=(2, 1))
    base = _signed_in(page, live_server, colleague, password)
    page.goto(base + reverse("patients:detail", args=[patient.pk]))
    # The chart's text alternative: the table of every grade it draws.
    chart = page.get_by_role("img", name=re.compile("grade over time"))
    assert "table of examinations below" in chart.evaluate(DESCRIPTION)
    # The "see note" badge's message, which sat in a title (a mouse tooltip), is text in the row.
    row = page.locator("#history tbody tr").first
    assert WARNING in row.text_content()
    assert page.get_by_role("columnheader", name="Open").count() == 1

    page.goto(base + reverse("screening:worklist"))
    row = page.locator(".worklist tbody tr").first
    assert row.get_by_role("cell").first.text_content().startswith("Referable: ")  # the red edge, in words
    assert page.get_by_role("columnheader").count() == 6
