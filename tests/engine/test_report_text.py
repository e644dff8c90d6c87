"""The writers of a graded submission (results JSON, the feedback page, Gradescope's results) keep student text
plain and escaped whatever the result holds, even built by hand around the sandbox's boundary: tags, quotes,
escape sequences and a lone surrogate in every text field."""

from __future__ import annotations

import json
from pathlib import Path

from test_student_text import RAW, Tags

from dlgrade import report
from dlgrade.grading import CaseResult, QuestionResult, SubmissionResult
from dlgrade.interop.gradescope import gradescope_results
from dlgrade.suite import Mistake

EVIL = "\ud800\x1b[32mpassed\x1b[0m\u202e <script>alert(1)</script><img src=x onerror=alert(2)>\"' &amp;"


def hostile_result() -> SubmissionResult:
    case = CaseResult(label=f"public case 1: {EVIL}", public=True, passed=False, status="failed", message=EVIL,
                      mistake="forgot_mean", inputs=EVIL, yours=EVIL, expected=EVIL)
    question = QuestionResult("mse", "mse_loss", 0.0, 2.0, "failed", f"0/1 cases passed.\n{EVIL}",
                              Mistake("forgot_mean", f"you {EVIL}", lambda: 0, ""), (case,))
    return SubmissionResult("mini", f"/tmp/{EVIL}.ipynb", (question,), notes=(EVIL,), output=EVIL,
                            sandbox=("bubblewrap",), execution_time=0.5, student_time=0.1, suite_version="v")


def test_the_feedback_page_escapes_every_student_text(tmp_path: Path) -> None:
    report.write_html(hostile_result(), tmp_path / "feedback.html")
    page = (tmp_path / "feedback.html").read_bytes().decode("utf-8")
    assert not RAW.search(page)
    elements = Tags()
    elements.feed(page)
    assert not {"script", "img"} & {tag for tag, _ in elements.tags}
    assert not [name for _, attrs in elements.tags for name, _ in attrs if name.startswith("on")]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "&amp;amp;" in page
    assert "\\x1b[32mpassed\\x1b[0m\\u202e" in page  # the escapes, shown as text


def test_results_json_and_gradescopes_are_strict_plain_text(tmp_path: Path) -> None:
    result = hostile_result()
    report.write_json(result, tmp_path / "results.json")
    data = json.loads((tmp_path / "results.json").read_text(encoding="utf-8"),
                      parse_constant=lambda name: (_ for _ in ()).throw(AssertionError(name)))
    texts = [data["output"], data["tests"][0]["output"], *data["tests"][0]["diagnosis"]["cases"]]
    assert texts and not any(RAW.search(text) for text in texts)
    graded = gradescope_results(data)
    assert graded["output_format"] == graded["test_output_format"] == "text"  # never simple_format or html
    assert all(test["output_format"] == "text" for test in graded["tests"])
    json.dumps(graded, allow_nan=False)
