"""The feedback page and the cohort report in headless Chromium (Debian's, driven by Playwright, a fresh profile,
every request but the page's own file refused): screenshots taken, no console error, no page error, no dialog,
nothing fetched; a submission that prints `<script>` and raises an `<img onerror>` shows them as text and runs
neither; plots are drawn; a student's row in the report leads to their feedback page."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from course_helpers import cli
from insight_helpers import MARKUP, PRINTED, RAISED, Graded, graded_class

from dlgrade import report
from dlgrade.grading import CaseResult, QuestionResult, SubmissionResult
from dlgrade.insight.figures import Figure

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]
SHOTS = 30_000  # bytes: a screenshot of a rendered page is more than a blank image


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> Graded:
    return graded_class(tmp_path_factory)


@pytest.fixture
def page(tmp_path: Path) -> Iterator[object]:
    playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright is in the dev extras")
    if not CHROMIUM.is_file():
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    with playwright_api.sync_playwright() as driver:
        context = driver.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=str(CHROMIUM), args=FLAGS, headless=True,
            viewport={"width": 1100, "height": 900})
        try:
            page = context.new_page()
            page.problems = []  # type: ignore[attr-defined]
            page.fetched = []  # type: ignore[attr-defined]
            page.on("console", lambda message: message.type in ("error", "warning") and page.problems.append(
                f"console {message.type}: {message.text}"))
            page.on("pageerror", lambda error: page.problems.append(f"page error: {error}"))
            page.on("dialog", lambda dialog: (page.problems.append(f"dialog: {dialog.message}"), dialog.dismiss()))

            def only_files(route) -> None:  # noqa: ANN001
                if route.request.url.startswith("file://"):
                    route.continue_()
                else:
                    page.fetched.append(route.request.url)
                    route.abort()

            page.route("**/*", only_files)
            yield page
        finally:
            context.close()


def _shot(page, path: Path) -> None:  # noqa: ANN001
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > SHOTS


def test_a_submission_that_prints_script_and_raises_markup_stays_text(graded: Graded, page,  # noqa: ANN001
                                                                      tmp_path: Path) -> None:
    from playwright.sync_api import expect

    feedback = graded.course / "feedback" / MARKUP / "losses" / "losses.html"
    page.goto(feedback.as_uri())
    expect(page.locator("h1")).to_contain_text("losses:")
    expect(page.locator("pre").filter(has_text=PRINTED)).to_have_count(1)  # what it printed, as text
    assert page.get_by_text(RAISED, exact=False).count() >= 1  # the error it raised, as text
    assert page.evaluate("typeof window.__pwned") == "undefined"
    assert page.locator("img").count() == 0 and page.locator("script").count() == 0
    assert page.locator("b", has_text="bold?").count() == 0
    _shot(page, tmp_path / "feedback-markup.png")
    assert page.problems == [] and page.fetched == []  # type: ignore[attr-defined]


def test_the_report_renders_links_to_each_feedback_page_and_keeps_student_code_as_text(graded: Graded, page,  # noqa: ANN001
                                                                                    tmp_path: Path) -> None:
    from playwright.sync_api import expect

    out = tmp_path / "report.html"
    assert cli("report", "losses", "--course", graded.course, "--out", out).code == 0
    page.goto(out.as_uri())
    expect(page.locator("h1")).to_have_text("losses: class report")
    chart = page.locator("svg.chart")  # the grades' histogram
    expect(chart).to_have_count(1)
    box = chart.bounding_box()
    assert box is not None and box["width"] > 300 and box["height"] > 100
    bars = page.locator(".bar")  # one bar of outcomes per question, drawn in proportion
    expect(bars).to_have_count(12)
    parts = bars.first.locator("span")
    widths = [parts.nth(i).bounding_box()["width"] for i in range(parts.count())]
    assert sum(widths) == pytest.approx(bars.first.bounding_box()["width"], abs=2) and min(widths) > 0
    # the markup student's l1 is a cluster of its own: its cell (with the print of a script tag) shown as text
    cell = page.locator("pre", has_text="print('<script>window.__pwned = 1</script>")
    expect(cell).to_have_count(1)
    assert page.evaluate("typeof window.__pwned") == "undefined"
    _shot(page, tmp_path / "report.png")
    page.locator("table a", has_text="mse-half-factor-2").click()
    expect(page.locator("h1")).to_contain_text("losses:")
    assert page.url.endswith("/feedback/mse-half-factor-2/losses/losses.html")
    expect(page.locator("p.diag")).to_contain_text("½(x − y)²")
    assert page.problems == [] and page.fetched == []  # type: ignore[attr-defined]


def test_plots_are_drawn_and_passed_questions_unfold(page, tmp_path: Path) -> None:  # noqa: ANN001
    from playwright.sync_api import expect

    line = Figure("line", "output", (5,), (0.0, 1.0, None, 9.0, 16.0), (0.0, 1.0, 4.0, 9.0, 16.5))
    grid = Figure("heatmap", "output[0] (dW)", (3, 4), tuple(float(i) for i in range(12)), (0.0,) * 12)
    curve = Figure("curve", "loss per epoch", (4,), (2.0, 1.9, 1.85, 1.84), (2.0, 1.5, 1.1, 0.8))
    questions = (
        QuestionResult("grad", "grad", 0.0, 2.0, "failed", "0/2 cases passed.", None, (
            CaseResult("public case 1", True, False, "failed", "differ", inputs="x", yours="y", expected="z",
                       figure=line),
            CaseResult("public case 2", True, False, "failed", "differ", inputs="x", yours="y", expected="z",
                       figure=grid))),
        QuestionResult("train_loop", "train", 1.0, 4.0, "failed", "1/4 cases passed.", None, (
            CaseResult("public case 1", True, False, "failed", "differ", figure=curve),)),
        QuestionResult("mse", "mse_loss", 2.0, 2.0, "passed", "3/3 cases passed.", None, (
            CaseResult("public case 1", True, True, "passed", "correct"),)),
    )
    path = tmp_path / "plots.html"
    path.write_text(report.to_html(SubmissionResult("a", "x", questions, (), "", ("bubblewrap",), 1.0, 0.5, "v")))
    page.goto(path.as_uri())
    figures = page.locator("figure.plot")
    expect(figures).to_have_count(3)
    for index in range(3):
        box = figures.nth(index).locator("svg").bounding_box()
        assert box is not None and box["width"] > 100 and box["height"] > 40
    expect(page.locator("figure.plot").nth(0).locator("polyline.yours")).to_have_count(2)  # a gap at the nan
    expect(page.locator("figure.plot").nth(1).locator("rect[width]")).to_have_count(12 + 1)
    passed = page.locator("details.question.passed")
    assert passed.get_attribute("open") is None
    expect(passed.locator("text=public case 1")).to_be_hidden()
    passed.locator(":scope > summary").click()
    assert passed.get_attribute("open") is not None
    _shot(page, tmp_path / "plots.png")
    assert page.problems == [] and page.fetched == []  # type: ignore[attr-defined]
