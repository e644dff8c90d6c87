"""Student text made plain: whatever a student's code or notebook says reaches an instructor's terminal, a JSON
file, a notebook or a web page only as printable text.

``plain`` keeps tabs and newlines and writes every other control character as a visible escape (``\\x1b``), so an
ANSI or OSC sequence cannot colour, move or retitle a terminal, nor paint a "passed" through nbconvert's ANSI
filter; ``\\r`` (which overwrites a terminal line) and the bidirectional overrides that reorder what is shown
(U+202A-202E, U+2066-2069) are escaped too, and a lone surrogate, which no UTF-8 file, database or terminal can
hold, becomes U+FFFD. ``inert_markdown`` keeps a student's markdown readable but unable to open an HTML tag.
"""

from __future__ import annotations

import re

# C0 controls but tab and newline, DEL, the C1 controls (U+009B is a one-character CSI), bidirectional
# embeddings, overrides and isolates and the Arabic letter mark, the byte-order mark, lone surrogates.
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff\ud800-\udfff]")
# Where HTML (or a CommonMark autolink) could begin: "<" before a letter, "/", "!" or "?".
_TAG_START = re.compile(r"<(?=[A-Za-z/!?])")
# Where a character reference could begin ("&#106;", "&lt;", with or without ";"): it would let any text, a tag or a
# "javascript:" among them, be spelled without its characters (and markdown engines decode them more than once).
_REFERENCE_START = re.compile(r"&(?=[#A-Za-z])")
# The colon of a "...script:" scheme (javascript, vbscript), letters apart or backslash-escaped as they may be:
# markdown renders [x](javascript:...) as a live link, and a browser drops tabs and newlines inside a URL.
_SCRIPT_SCHEME = re.compile(r"(?i)(s[\s\\]*c[\s\\]*r[\s\\]*i[\s\\]*p[\s\\]*t[\s\\]*):")
# Look-alikes that open nothing: FULLWIDTH LESS-THAN SIGN, AMPERSAND and COLON.
TAG_OPENER_STAND_IN, REFERENCE_STAND_IN, COLON_STAND_IN = "\uff1c", "\uff06", "\uff1a"
TRUNCATED = " … (truncated)"


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    if 0xD800 <= code <= 0xDFFF:
        return "\ufffd"
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def plain(text: str, limit: int | None = None) -> str:
    """``text`` as printable plain text of at most ``limit`` characters (a marker says where it was cut)."""
    if type(text) is not str:
        raise TypeError(f"expected text, got {type(text).__name__}")
    cut = limit is not None and len(text) > limit
    if cut:
        text = text[:limit]
    if not text.isprintable():  # (printable text, most of it: no control, format character or surrogate)
        if "\r" in text:
            text = text.replace("\r\n", "\n")
        if _UNSAFE.search(text) is not None:
            text = _UNSAFE.sub(_escape, text)
            if limit is not None and len(text) > limit:  # escapes are longer than what they stand for
                text, cut = text[:limit], True
    return text + TRUNCATED if cut else text


def inert_markdown(text: str) -> str:
    """A student's markdown, plain (see ``plain``) and unable to produce anything live, whatever markdown engine
    renders it: every "<" that could open a tag, a comment or an autolink becomes a look-alike, every "&" that
    could start a character reference too (so nothing can be spelled in references), and so does the colon of a
    "...script:" scheme. The words, the formatting and the math stay."""
    text = _TAG_START.sub(TAG_OPENER_STAND_IN, plain(text))
    text = _REFERENCE_START.sub(REFERENCE_STAND_IN, text)
    return _SCRIPT_SCHEME.sub(lambda match: match.group(1) + COLON_STAND_IN, text)


def fenced(text: str, info: str = "text") -> str:
    """``text`` as a markdown code block that shows it verbatim: the fence is longer than any run of backticks
    in it, so nothing inside can close it."""
    text = plain(text)
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{info}\n{text}\n{fence}"
