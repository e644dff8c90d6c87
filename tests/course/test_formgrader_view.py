"""What students write stays text in the autograded notebook, rendered the way formgrader renders it (nbconvert's
HTML exporter with formgrader's template), and in nbgrader's own generated feedback: no live tag, event handler
or script link of the student's, no escape sequence. Checked in the HTML, and in headless chromium, where the
payloads would mark the page if they ran (they do, rendered from the submission as it came).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pytest
from course_helpers import base_course, cli, submit  # noqa: F401 - base_course is a fixture
from test_hostile_text import HOSTILE_CODE, RAW, RUN, TIMESTAMP, solution, with_mse

MARK = "data-pwned"  # what the payloads (RUN) set on the page's root element, if they ever run


# ---- the autograded notebook, as formgrader shows it ------------------------------------------------------


def hostile_notebook() -> bytes:
    """The solution, plus every way a notebook can carry HTML or script: markdown (tags, event handlers,
    javascript: links plain and spelled in references, autolinks), a raw cell of an HTML mimetype, outputs of
    HTML, JavaScript, SVG and markdown, cell tags, an invalid cell id and execution count, widget state in the
    notebook's metadata, an HTML attachment; and an mse_loss whose error holds escapes and tags."""
    notebook = json.loads(nbformat.writes(with_mse(HOSTILE_CODE)))
    markdown = [f"<script>{RUN}</script>", f'<img src=x onerror="{RUN}">', f"[click me](javascript:{RUN})",
                "[click me](java&#115;cript:void(document.documentElement.setAttribute('data-pwned','1')))",
                f"<a href='javascript:{RUN}'>x</a>", f"<svg onload=\"{RUN}\"></svg>",
                f"<iframe srcdoc=\"<script>parent.{RUN}</script>\"></iframe>", "<style>body{display:none}</style>",
                "<javascript:void(0)>", "![x](attachment:page.html)", "\x1b[32mpassed\x1b[0m"]
    for number, text in enumerate(markdown):
        cell = {"cell_type": "markdown", "id": f"md-{number}", "metadata": {}, "source": text}
        if "attachment" in text:
            cell["attachments"] = {"page.html": {"text/html": f"<script>{RUN}</script>"}}
        notebook["cells"].append(cell)
    notebook["cells"].append({"cell_type": "raw", "id": "raw-html", "metadata": {"raw_mimetype": "text/html"},
                              "source": f"<script>{RUN}</script>"})
    notebook["cells"].append({
        "cell_type": "code", "id": 'x" onmouseover="a', "execution_count": 1,
        "metadata": {"tags": [f'" onmouseover="{RUN}'], "jupyter": {"source_hidden": True}},
        "source": "print('hi')",
        "outputs": [
            {"output_type": "display_data", "metadata": {}, "data": {
                "text/html": f"<script>{RUN}</script>", "application/javascript": RUN,
                "image/svg+xml": f'<svg xmlns="http://www.w3.org/2000/svg" onload="{RUN}"/>',
                "text/markdown": f"<img src=x onerror=\"{RUN}\">"}},
            {"output_type": "stream", "name": "stdout", "text": "\x1b[32mpassed\x1b[0m"},
        ]})
    notebook["metadata"]["widgets"] = {"application/vnd.jupyter.widget-state+json": {
        "state": {"x": {"model_name": "HTMLModel", "state": {"value": f"</script><script>{RUN}</script>"}}},
        "version_major": 2, "version_minor": 0}}
    return json.dumps(notebook).encode()


def formgrader_html(notebook: Path) -> str:
    """The notebook as formgrader's submission page renders it (nbgrader's FormgradeExtension: nbconvert's
    HTMLExporter with its 'formgrade' template)."""
    from nbconvert.exporters import HTMLExporter
    from nbgrader.server_extensions.formgrader import handlers
    from traitlets.config import Config

    config = Config()
    config.HTMLExporter.template_name = "formgrade"
    config.HTMLExporter.extra_template_basedirs = [handlers.template_path]
    resources = {"assignment_id": "mini", "notebook_id": "mini", "submission_id": "s", "index": 0, "total": 1,
                 "base_url": "", "student": "sneaky", "last_name": "", "first_name": "", "notebook_path": "x"}
    return HTMLExporter(config=config).from_filename(str(notebook), resources=resources)[0]


class Page(HTMLParser):
    """Elements and attributes of a page, and the text of its scripts."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, tuple[tuple[str, str], ...]]] = []
        self.scripts: list[str] = []
        self._in_script = False
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, tuple((name, value or "") for name, value in attrs)))
        self._in_script = tag == "script"
        if self._in_script:
            self.scripts.append("")

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.scripts[-1] += data


LIVE_TAGS = {"script", "iframe", "frame", "object", "embed", "svg", "style", "form", "base", "meta", "link"}


def findings(html: str) -> list[str]:
    """What of a page could run or restyle it: tags that run or load things, event handlers, script links, scripts
    that mention the payload, and ANSI colours (nbconvert turns escape sequences into coloured spans)."""
    page = Page(html)
    found = [f"<{tag} {dict(attrs)}>" for tag, attrs in page.tags if tag in LIVE_TAGS]
    for tag, attrs in page.tags:
        for name, value in attrs:
            if name.startswith("on"):
                found.append(f"<{tag} {name}={value!r}>")
            if re.match(r"(?i)\s*(javascript|vbscript|data:text/html)", re.sub(r"[\t\n\r]", "", value)):
                found.append(f"<{tag} {name}={value!r}>")
            if name == "class" and "ansi-" in value:
                found.append(f"<{tag} class={value!r}>")
    return found + [f"<script>{script[:80]}" for script in page.scripts if MARK in script]


def live(html: str, baseline: str) -> list[str]:
    """findings() of ``html`` that are not the template's own (those of ``baseline``, the same page rendered from
    the solution's notebook)."""
    known = set(findings(baseline))
    return [found for found in findings(html) if found not in known]


def ran_in_chromium(html: str, folder: Path) -> bool:
    """Whether a payload ran when headless chromium loaded the page (it marks the document's root element)."""
    folder.mkdir(parents=True, exist_ok=True)
    page = folder / "page.html"
    page.write_text(html, encoding="utf-8")
    profile = folder / "chromium-profile"
    done = subprocess.run(
        ["/usr/bin/chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={profile}", "--virtual-time-budget=3000", "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=120)
    root = re.search(r"<html[^>]*>", done.stdout)
    assert root is not None, done.stderr[-2000:]
    return MARK in root.group()


@pytest.fixture(scope="module")
def hostile_course(base_course: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:  # noqa: F811
    root = tmp_path_factory.mktemp("hostile") / "course"
    shutil.copytree(base_course, root)
    submit(root, "sneaky", hostile_notebook(), TIMESTAMP)
    submit(root, "solution", solution(), TIMESTAMP)
    run = cli("autograde", "mini", "--course", root, "--workers", "1")
    assert run.code == 0, run.err
    return root


def test_the_autograded_notebook_as_formgrader_renders_it_holds_nothing_live(hostile_course: Path,
                                                                             tmp_path: Path) -> None:
    baseline = formgrader_html(hostile_course / "autograded" / "solution" / "mini" / "mini.ipynb")
    graded = hostile_course / "autograded" / "sneaky" / "mini" / "mini.ipynb"
    html = formgrader_html(graded)
    assert live(html, baseline) == []
    assert not RAW.search(html) and not RAW.search(graded.read_text(encoding="utf-8"))
    assert "passed" in html and "onerror" in html  # the student's words are there, as text
    nbformat.validate(nbformat.read(graded, as_version=4))


def test_the_payloads_do_not_run_in_chromium_but_would_from_the_submission(hostile_course: Path,
                                                                           tmp_path: Path) -> None:
    # The probe works: rendered from the submission as it came (less its invalid cell id and tag, which nbconvert
    # refuses), the payloads run.
    notebook = json.loads((hostile_course / "submitted" / "sneaky" / "mini" / "mini.ipynb").read_text())
    for cell in notebook["cells"]:
        cell["id"] = re.sub(r"[^A-Za-z0-9_-]", "-", cell["id"])
        cell["metadata"].pop("tags", None)
    (tmp_path / "submitted.ipynb").write_text(json.dumps(notebook))
    assert ran_in_chromium(formgrader_html(tmp_path / "submitted.ipynb"), tmp_path / "submitted")
    graded = formgrader_html(hostile_course / "autograded" / "sneaky" / "mini" / "mini.ipynb")
    assert not ran_in_chromium(graded, tmp_path / "graded")


def test_nbgraders_generated_feedback_holds_nothing_live(hostile_course: Path, tmp_path: Path) -> None:
    """nbgrader's generate_feedback (formgrader's Generate Feedback button runs the same) writes dlgrade's
    feedback page through dlgrade's exporter hook: what a hostile submission printed stays inert text there."""
    root = tmp_path / "course"
    shutil.copytree(hostile_course, root)
    done = subprocess.run([sys.executable, "-m", "nbgrader", "generate_feedback", "mini", "--force"], cwd=root,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    baseline = (root / "feedback" / "solution" / "mini" / "mini.html").read_text(encoding="utf-8")
    html = (root / "feedback" / "sneaky" / "mini" / "mini.html").read_text(encoding="utf-8")
    assert "What your notebook printed" in html and "passed" in html  # dlgrade's page, not a notebook render
    assert live(html, baseline) == []
    assert not RAW.search(html)
