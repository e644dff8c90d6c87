"""Text from the sandbox (a student's exception messages, printed output, type names) reaches the instructor only
as plain text: a lone surrogate, ANSI and OSC escape sequences, a carriage return or a bidirectional override in
it neither stops `dlgrade grade` nor reaches the terminal, the results JSON or the feedback page raw."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

from engine_helpers import FIXTURE_ROOT, with_cell

from dlgrade.boundary.text import inert_markdown, plain

# What must never reach a terminal or a file raw: C0 controls but tab and newline, C1 controls (a one-character
# CSI among them), bidirectional overrides, lone surrogates.
RAW = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")

HOSTILE_TEXT = r'''
print("\x1b[2J\x1b]0;owned\x07\x1b]8;;http://evil\x07a link\x1b]8;;\x07 \x9b31m")

class Sneaky(Exception):
    pass
Sneaky.__qualname__ = "Sneaky\ud800\x1b[32m"  # a qualname is any str (a __name__ must encode to UTF-8)
Odd = type("Odd", (), {})
Odd.__qualname__ = "Odd\ud800\x1b[31m\u202e"

def mse_loss(input, target, reduction='mean'):
    if reduction == 'mean':
        raise Sneaky("\ud800 \x1b]0;owned\x07 \x1b[32mpassed\x1b[0m \u202eevil\u202c <script>alert(1)</script>\rok")
    return Odd()
'''


def run(*args: str) -> subprocess.CompletedProcess[bytes]:
    env = os.environ | {"DLGRADE_ROOT": str(FIXTURE_ROOT)}
    return subprocess.run([sys.executable, "-m", "dlgrade.cli", *args], capture_output=True, env=env, timeout=300)


def strings(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [text for key, item in value.items() for text in strings(key) + strings(item)]
    if isinstance(value, list):
        return [text for item in value for text in strings(item)]
    return []


class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))


def test_grade_with_json_html_and_verbose_keeps_student_text_plain(tmp_path: Path, mini) -> None:
    path = with_cell(mini.source, "mse_solution", HOSTILE_TEXT, tmp_path / "mini.ipynb")
    out = run("grade", str(path), "--assignment", "mini", "--json", str(tmp_path / "r.json"),
              "--html", str(tmp_path / "r.html"), "-v")
    assert out.returncode == 0, out.stderr.decode(errors="replace")
    terminal = out.stdout.decode("utf-8")  # strict: a lone surrogate could not even be printed
    assert not RAW.search(terminal) and "\r" not in terminal
    assert "Sneaky\ufffd\\x1b[32m" in terminal  # the escape is shown, as text
    assert "\\x1b[32mpassed\\x1b[0m" in terminal

    def refuse(name: str) -> None:
        raise AssertionError(f"{name} in results JSON")

    results = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"), parse_constant=refuse)
    assert results["score"] == 3.0
    assert not any(RAW.search(text) for text in strings(results))
    assert "Sneaky\ufffd\\x1b[32m" in results["tests"][0]["output"]
    page = (tmp_path / "r.html").read_bytes().decode("utf-8")
    assert not RAW.search(page)
    assert "Odd\ufffd\\x1b[31m\\u202e" in page and "\\x1b]0;owned\\x07" in page
    parser = Tags()
    parser.feed(page)
    assert "script" not in [tag for tag, _ in parser.tags]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_plain_text_escapes_what_a_terminal_or_a_file_would_act_on() -> None:
    assert plain("a\tb\nc") == "a\tb\nc"
    assert plain("\x1b[31mred\x1b[0m") == "\\x1b[31mred\\x1b[0m"
    assert plain("\x1b]0;title\x07") == "\\x1b]0;title\\x07"
    assert plain("\x9b2J \x85") == "\\x9b2J \\x85"
    assert plain("fake\rreal\r\nline") == "fake\\x0dreal\nline"
    assert plain("\u202eevil\u2066") == "\\u202eevil\\u2066"
    assert plain("\ud800x\udfff") == "\ufffdx\ufffd"
    assert plain("x" * 50, 10) == "x" * 10 + " … (truncated)"
    assert plain("\x1b" * 50, 10) == "\\x1b\\x1b\\x" + " … (truncated)"


def test_inert_markdown_opens_no_tag_and_no_script_link() -> None:
    for attack in ("<script>x()</script>", "<img src=x onerror=x()>", "</p><iframe src=//evil>", "<!-- hidden -->",
                   "<javascript:x()>", "&#60;script&#62;", "[a](java&#115;cript:x())", "[a](JavaScript:x())",
                   "[a](javascript\\:x())", "[r]: vbscript:x()", "$\\href{javascript:x()}{a}$"):
        text = inert_markdown(attack)
        assert "<" not in text.replace("< ", "")
        assert not re.search(r"(?i)script\\?:", text) and not re.search(r"&[#A-Za-z]", text), text
    kept = "**bold**, `code`, $x_1 < x_2$, a & b, [a link](https://example.org)"
    assert inert_markdown(kept) == kept
