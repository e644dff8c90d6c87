"""The students' page at / in headless Chromium (Debian's, driven by Playwright): sign in with a token, upload a
notebook through the page, watch its status change while it grades, see the score and the feedback page; what
a student wrote (a file name, printed output) stays text; no console error, no dialog."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest
from service_helpers import Served, issue_tokens, notebooks, with_cell

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]


@pytest.fixture
def page(tmp_path: Path) -> Iterator[object]:
    playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright is in the dev extras")
    if not CHROMIUM.is_file():
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    with playwright_api.sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS, headless=True)
        try:
            context = browser.new_context()
            page = context.new_page()
            page.problems = []  # type: ignore[attr-defined]
            page.on("console", lambda message: message.type == "error" and page.problems.append(
                f"console: {message.text}"))
            page.on("pageerror", lambda error: page.problems.append(f"page error: {error}"))
            page.on("dialog", lambda dialog: (page.problems.append(f"dialog: {dialog.message}"), dialog.dismiss()))
            yield page
        finally:
            browser.close()


def test_sign_in_upload_watch_it_grade_and_read_the_feedback(served: Served, page, tmp_path: Path) -> None:  # noqa: ANN001
    from playwright.sync_api import expect

    token = issue_tokens(served.course, "maria")["maria"]
    page.goto(served.server.url + "/")
    expect(page.locator("#main")).to_be_hidden()
    page.fill("#token", token)
    page.click("#signin-button")
    expect(page.locator("#who")).to_have_text("Signed in as maria")
    page.select_option("#assignment", "mini")
    expect(page.locator("#terms")).to_contain_text("50 graded submissions used in the last 24 hours")

    # a submission that takes seconds to grade (its mse runs into the question's time limit): the page shows it
    slow = tmp_path / "slow.ipynb"
    nbformat.write(notebooks()["hostile-infinite-loop"], slow)
    page.set_input_files("#notebook", str(slow))
    page.click("#submit-button")
    status = page.locator("#history tbody tr").first.locator("td.status")
    expect(status).to_have_text("grading", timeout=120_000)
    expect(status).to_have_text("graded", timeout=120_000)
    expect(page.locator("#history tbody tr").first.locator("td.score")).to_have_text("3 / 5")

    # a correct one, through the file input and the form; the score appears, then the feedback page
    good = tmp_path / "mini.ipynb"
    nbformat.write(notebooks()["solution"], good)
    page.set_input_files("#notebook", str(good))
    page.click("#submit-button")
    expect(page.locator("#message")).to_have_text("Graded: 5 / 5", timeout=120_000)
    rows = page.locator("#history tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.first.locator("td.score")).to_have_text("5 / 5")
    expect(rows.first.locator("td.status")).to_have_text("graded")
    rows.first.get_by_role("button", name="Feedback").click()
    frame = page.frame_locator("#feedback")
    expect(frame.locator("h1")).to_have_text("mini: 5 / 5")
    expect(frame.locator("details.question")).to_have_count(3)  # one per question
    assert page.problems == []  # type: ignore[attr-defined]


def test_what_a_student_wrote_stays_text_in_the_page(served: Served, page, tmp_path: Path) -> None:  # noqa: ANN001
    from playwright.sync_api import expect

    token = issue_tokens(served.course, "nadia")["nadia"]
    printing = with_cell(notebooks()["solution"], "worked_solution",
                         "loss_value = 42.25\nprint('<script>alert(\"printed\")</script><img src=x onerror=alert(2)>')")
    hostile_name = tmp_path / "<img src=x onerror=alert(1)>.ipynb"
    nbformat.write(printing, hostile_name)
    page.goto(served.server.url + "/")
    page.fill("#token", token)
    page.click("#signin-button")
    page.select_option("#assignment", "mini")
    page.set_input_files("#notebook", str(hostile_name))
    page.click("#submit-button")
    expect(page.locator("#message")).to_have_text("Graded: 5 / 5", timeout=120_000)
    page.locator("#history tbody tr").first.get_by_role("button", name="Feedback").click()
    frame = page.frame_locator("#feedback")
    printed = frame.locator("pre").last
    expect(printed).to_contain_text('<script>alert("printed")</script><img src=x onerror=alert(2)>')
    assert frame.locator("script").count() == 0 and frame.locator("img").count() == 0
    assert page.locator("img").count() == 0
    # the file name went through the page as text as well (the upload message named it)
    page.set_input_files("#notebook", str(hostile_name))
    page.evaluate("document.getElementById('upload-form').requestSubmit()")
    expect(page.locator("#message")).to_have_text("Graded: 5 / 5", timeout=120_000)
    assert page.locator("img").count() == 0
    assert page.problems == []  # type: ignore[attr-defined]
