"""submit(): hand the saved notebook in to the course's grading service (`dlgrade serve`) and print the graded
feedback when it is ready. Standard library only: it ships inside the released dlcheck/ package.

    from dlcheck import submit
    submit()

The token comes from (first found): the ``token`` argument; the DLGRADE_TOKEN environment variable; the file
named by DLGRADE_TOKEN_FILE; a file ``dlgrade-token.json`` beside the notebook, in the folder above it, or in
the home folder (`dlgrade tokens issue --out DIR --server URL` writes one per student: {"server", "token"}; a
file holding just the token works too). The service's address comes from the ``server`` argument,
DLGRADE_SERVER, or that file. `dlgrade submit FILE --assignment ID --server URL` uses the same code.
"""

from __future__ import annotations

import http.client
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import datetime
from pathlib import Path
from typing import Any

__all__ = ["SubmitError", "describe", "find_credentials", "send", "submit", "wait_graded"]

TOKEN_ENV, SERVER_ENV, TOKEN_FILE_ENV = "DLGRADE_TOKEN", "DLGRADE_SERVER", "DLGRADE_TOKEN_FILE"
TOKEN_FILE = "dlgrade-token.json"
FINAL = ("graded", "refused", "failed")


class SubmitError(Exception):
    """The submission could not be made or followed; the message is one line for the student."""


# ---- where things are ----------------------------------------------------------------------------------------


def _read_token_file(path: Path) -> tuple[str | None, str | None]:
    """(server, token) from a token file: JSON {"server", "token"}, or the token alone."""
    try:
        text = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as error:
        raise SubmitError(f"{path}: cannot read the token file ({error})") from None
    try:
        data = json.loads(text)
    except ValueError:
        return None, text.splitlines()[0].strip() if text else None
    if not isinstance(data, dict):
        raise SubmitError(f"{path}: not a token file")
    server, token = data.get("server"), data.get("token")
    for key, value in (("server", server), ("token", token)):
        if value is not None and not isinstance(value, str):
            raise SubmitError(f"{path}: not a token file (its {key} is not text)")
    return server, token


def find_credentials(server: str | None = None, token: str | None = None, near: Path | None = None,
                     token_file: str | os.PathLike[str] | None = None) -> tuple[str, str]:
    """(server URL, token), looked for as the module's docstring says; ``token_file`` (`--token-file`) before
    DLGRADE_TOKEN_FILE. A token file named either way must be there."""
    server = server or os.environ.get(SERVER_ENV) or None
    token = token or os.environ.get(TOKEN_ENV) or None
    if not (server and token):
        named = token_file or os.environ.get(TOKEN_FILE_ENV) or None
        candidates = [Path(named)] if named else []
        if candidates and not candidates[0].is_file():  # named, so a mistake: not a reason to look elsewhere
            raise SubmitError(f"{candidates[0]}: no such token file (named by "
                              f"{'--token-file' if token_file else TOKEN_FILE_ENV})")
        if near is not None:
            candidates += [near / TOKEN_FILE, near.parent / TOKEN_FILE]
        candidates.append(Path.home() / TOKEN_FILE)
        for candidate in candidates:
            if candidate.is_file():
                file_server, file_token = _read_token_file(candidate)
                server, token = server or file_server, token or file_token
                break
    if not token:
        raise SubmitError(f"no token: set {TOKEN_ENV}, or put the {TOKEN_FILE} your instructor gave you beside "
                          "the notebook or in your home folder")
    if not server:
        raise SubmitError(f"no grading service address: set {SERVER_ENV} (e.g. https://grading.example.edu) or "
                          "pass server=...")
    token = token.strip()
    if not all("!" <= char <= "~" for char in token):  # it goes into a header: never a space, a line break, ...
        raise SubmitError("the token is not a dlgrade token (it holds spaces or characters no token has): copy it "
                          "again from what your instructor gave you")
    return server.rstrip("/"), token


def _this_notebook(folder: Path) -> tuple[Path | None, str | None]:
    """The notebook this dlcheck was released with (and its assignment id), as best it can be told."""
    assignment = None
    checks = folder / "checks.json"
    if checks.is_file():
        try:
            assignment = json.loads(checks.read_text(encoding="utf-8")).get("assignment")
        except (OSError, ValueError):
            assignment = None
    session = os.environ.get("JPY_SESSION_NAME", "")  # Jupyter server: the notebook of this kernel
    if session.endswith(".ipynb"):
        for candidate in (Path(session), Path.cwd() / Path(session).name):  # absolute, or relative to its root
            if candidate.is_file():
                return candidate, assignment
    main = sys.modules.get("__main__")
    vscode = getattr(main, "__vsc_ipynb_file__", None)  # VS Code's notebooks say where they are
    if isinstance(vscode, str) and Path(vscode).is_file():
        return Path(vscode), assignment
    if assignment and (folder.parent / f"{assignment}.ipynb").is_file():
        return folder.parent / f"{assignment}.ipynb", assignment
    return None, assignment


# ---- talking to the service ----------------------------------------------------------------------------------


def _request(url: str, token: str, data: bytes | None = None, timeout: float = 60.0) -> dict[str, Any]:
    """The service's JSON answer; SubmitError (one line) for anything else, an unusable address included."""
    service = url.split("/api/")[0]
    try:
        if urllib.parse.urlsplit(service).scheme.lower() not in ("http", "https"):
            raise ValueError("it does not start with https:// or http://")
        request = urllib.request.Request(url, data=data, method="POST" if data is not None else "GET")
    except ValueError as error:  # no scheme, a broken [IPv6] host, ...
        raise SubmitError(f"{service} is not the address of a grading service ({error}); give one such as "
                          "https://grading.example.edu") from None
    request.add_header("Authorization", f"Bearer {token}")
    request.add_header("Accept", "application/json")
    if data is not None:
        request.add_header("Content-Type", "application/x-ipynb+json")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - the course's service
            body = response.read()
    except urllib.error.HTTPError as error:
        try:
            detail = json.loads(error.read().decode("utf-8")).get("detail", "")
        except (ValueError, AttributeError, OSError):
            detail = ""
        if error.code == 401:
            detail = f"the service did not accept your token ({detail or 'unknown token'}); ask for a new one"
        raise SubmitError(f"{detail or error.reason} (HTTP {error.code})") from None
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise SubmitError(f"cannot reach the grading service at {service}: {reason}") from None
    except (ValueError, http.client.HTTPException) as error:  # a port that is no number, a token no header takes
        raise SubmitError(f"cannot talk to the grading service at {service}: {error}") from None
    try:
        answer = json.loads(body.decode("utf-8"))
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        raise SubmitError(f"the grading service at {service} answered something that is not its JSON")
    return answer


def send(server: str, token: str, assignment: str, data: bytes) -> dict[str, Any]:
    """POST the notebook; the 202's body ({"id", "status": "queued", ...})."""
    return _request(f"{server}/api/v1/assignments/{urllib.parse.quote(assignment, safe='')}/submissions", token,
                    data)


def wait_graded(server: str, token: str, sid: str, timeout: float = 600.0,
                progress: Any = None) -> dict[str, Any]:
    """The submission's status once it is graded, refused or failed (long polls of up to 20 s)."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        wait = max(0, min(20, int(deadline - time.monotonic())))
        status = _request(f"{server}/api/v1/submissions/{urllib.parse.quote(sid, safe='')}?wait={wait}", token,
                          timeout=wait + 30)
        if status.get("status") in FINAL:
            return status
        if progress is not None and status.get("status") != last:
            last = status.get("status")
            ahead = status.get("position")
            progress(f"{last}" + (f" ({ahead} ahead)" if ahead else "") + " ...")
        if time.monotonic() >= deadline:
            raise SubmitError(f"not graded within {timeout:g} s; it is still {status.get('status')}: look again "
                              f"later (submission {sid})")


def describe(status: dict[str, Any]) -> str:
    """A graded (or refused) submission as plain text for the terminal or the notebook."""
    head = f"{status.get('assignment')}: {status.get('status')}"
    if status.get("status") != "graded":
        return head + (f": {status['detail']}" if status.get("detail") else "")
    results = status.get("results") or {}
    lines = [f"{status.get('assignment')}: {results.get('score', status.get('score'))} / "
             f"{results.get('max_score', status.get('max_score'))}"
             + (" (late)" if status.get("late") else "")]
    tests = results.get("tests") or []
    width = max([len(str(t.get("name", ""))) for t in tests] + [8])
    for test in tests:
        lines.append(f"  {str(test.get('name', '')):<{width}}  {str(test.get('status', '')):<15} "
                     f"{test.get('score', 0):g} / {test.get('max_score', 0):g}")
    for test in tests:
        if test.get("status") != "passed" and test.get("output"):
            body = "\n".join("    " + line for line in str(test["output"]).splitlines())
            lines.append(f"\n  [{test.get('name')}]\n{body}")
    output = results.get("output")
    if output:
        lines.append("\n" + str(output))
    return "\n".join(lines)


# ---- submit() ------------------------------------------------------------------------------------------------


def submit(notebook: str | os.PathLike[str] | None = None, assignment: str | None = None,
           server: str | None = None, token: str | None = None, wait: bool = True,
           timeout: float = 600.0) -> bool:
    """Submit this assignment's notebook as last saved (save it first!) and print the feedback once graded.

    True when it was graded (whatever the score). Never raises: problems are printed in one line."""
    try:
        return _submit(notebook, assignment, server, token, wait, timeout)
    except SubmitError as error:
        print(f"submit: {error}")
    except KeyboardInterrupt:
        print("submit: stopped waiting; the submission (if it was sent) is graded anyway")
    except Exception as error:  # a case not foreseen: still one line in the notebook, as promised
        print(f"submit: failed ({type(error).__name__}: {error})")
    return False


def _submit(notebook: Any, assignment: str | None, server: str | None, token: str | None, wait: bool,
            timeout: float) -> bool:
    here = Path(__file__).resolve().parent
    found, released_as = _this_notebook(here) if notebook is None else (Path(notebook), None)
    assignment = assignment or released_as
    if found is None or not found.is_file():
        raise SubmitError(f"cannot tell which notebook to submit: pass submit(notebook='{assignment or 'name'}"
                          ".ipynb')")
    if not assignment:
        raise SubmitError("cannot tell the assignment: pass submit(assignment='id')")
    server, token = find_credentials(server, token, found.parent)
    data = found.read_bytes()
    saved = datetime.fromtimestamp(found.stat().st_mtime).strftime("%H:%M:%S")
    accepted = send(server, token, assignment, data)
    print(f"submitted {found.name} as saved at {saved} ({len(data)} bytes): {accepted.get('status')}"
          + (" (late)" if accepted.get("late") else "") + f"; submission {accepted.get('id')}", flush=True)
    if not wait:
        return False
    status = wait_graded(server, token, str(accepted.get("id")), timeout, lambda text: print(text, flush=True))
    print(describe(status), flush=True)
    return status.get("status") == "graded"
