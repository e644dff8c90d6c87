"""The FastAPI application of `dlgrade serve`: its state, authentication, errors and security headers.

The routes live in small routers (api.py for students, instructor.py, pages.py for the web page); each declares
who may call it with a dependency (``student`` or ``instructor``), so the contract is readable from its signature.
Errors are HTTPExceptions with one line of ``detail``: 401 no or bad token, 403 not allowed (an instructor route,
a closed assignment, past the deadline), 404 nothing of yours by that name, 413 too large, 429 over the daily
allowance (with Retry-After), 400 anything else malformed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from dlgrade.service import TICK
from dlgrade.service.policy import AssignmentPolicy, Policy
from dlgrade.service.store import Store
from dlgrade.service.tokens import Caller, verify

log = logging.getLogger("dlgrade.service")

# Every response: no sniffing, no framing, no referrer, and (unless a route sets its own) no content at all.
SECURITY_HEADERS = {
    b"x-content-type-options": b"nosniff",
    b"x-frame-options": b"DENY",
    b"referrer-policy": b"no-referrer",
    b"content-security-policy": b"default-src 'none'; frame-ancestors 'none'; base-uri 'none'",
    b"cache-control": b"no-store",
}


@dataclass(frozen=True)
class Facts:
    """What the web process knows of an assignment: the grade ids of its source notebook's grade and solution
    cells, and of its solution cells alone (to recognise its notebook: locked cells such as `setup` are in every
    assignment), its points, and its deadline (dlgrade.yml's, else the gradebook's duedate), timezone-aware."""

    id: str
    cell_ids: frozenset[str]
    solution_ids: frozenset[str]
    max_score: float
    deadline: datetime | None


class Changes:
    """Statuses changed (the grading process names each submission whose status did): the long polls following
    those submissions wake up and look again, the others sleep on. The grading process writes one line per change
    ('changed SID', or 'changed' alone: look, all of you); ``feed`` takes the pipe's bytes as they come."""

    def __init__(self) -> None:
        self.waiting: dict[str, set[asyncio.Event]] = {}
        self.partial = b""

    def feed(self, data: bytes) -> None:
        lines = (self.partial + data).split(b"\n")
        self.partial = lines.pop()[-256:]  # a line cut by the read; ids are short, garbage is not kept
        for line in lines:
            word, _, sid = line.decode("ascii", "replace").strip().partition(" ")
            if word == TICK:
                self.tick(sid.strip() or None)

    def tick(self, sid: str | None = None) -> None:
        """Wake the polls of submission ``sid`` (None: every poll)."""
        for key in list(self.waiting) if sid is None else [sid]:
            for event in self.waiting.get(key, ()):
                event.set()

    async def wait(self, sid: str, timeout: float) -> None:
        """Until submission ``sid`` may have changed, or ``timeout`` seconds. Register before any await, right
        after reading the row, so that no change can slip between the two."""
        event = asyncio.Event()
        self.waiting.setdefault(sid, set()).add(event)
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), timeout)
        finally:
            polls = self.waiting.get(sid)
            if polls is not None:
                polls.discard(event)
                if not polls:
                    del self.waiting[sid]


@dataclass
class Service:
    """The state every route reads: the course's queue, policy and assignments, and the grading process."""

    root: Path
    store: Store
    policy: Policy
    facts: dict[str, Facts]
    db_url: str
    course_id: str
    wake: Callable[[], None] = lambda: None
    grading_alive: Callable[[], bool] = lambda: True
    attach: Callable[[Service], Any] | None = None  # called in the server's event loop at start-up
    changes: Changes | None = None
    _extensions: dict[tuple[str, str], tuple[float, timedelta | None]] = field(default_factory=dict)
    _book_lock: threading.Lock = field(default_factory=threading.Lock)
    _book: Any = None

    def terms(self, assignment_id: str) -> AssignmentPolicy:
        return self.policy.of(assignment_id)

    def deadline(self, assignment_id: str, student: str) -> datetime | None:
        """The student's deadline: the assignment's, plus nbgrader's extension for the student, if any."""
        base = self.facts[assignment_id].deadline
        if base is None:
            return None
        extension = self._extension(assignment_id, student)
        return base + extension if extension else base

    def _extension(self, assignment_id: str, student: str) -> timedelta | None:
        key = (assignment_id, student)
        cached = self._extensions.get(key)
        if cached and time.monotonic() - cached[0] < 30.0:
            return cached[1]
        extension = None
        with self._book_lock:
            try:
                from nbgrader.api import Gradebook, MissingEntry

                if self._book is None:
                    self._book = Gradebook(self.db_url, self.course_id)
                try:
                    extension = self._book.find_submission(assignment_id, student).extension
                except MissingEntry:
                    extension = None
                finally:
                    self._book.db.remove()
            except Exception as error:  # the gradebook is busy or gone: no extension rather than no service
                log.warning("could not read %s's extension for %s: %s", student, assignment_id, error)
        self._extensions[key] = (time.monotonic(), extension)
        return extension

    def close(self) -> None:
        self.store.close()
        if self._book is not None:
            with contextlib.suppress(Exception):
                self._book.close()


def service(request: Request) -> Service:
    return request.app.state.service


State = Annotated[Service, Depends(service)]


def caller(request: Request, state: State) -> Caller:
    """The token's owner (401 without a valid ``Authorization: Bearer`` token)."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if not header:
        raise HTTPException(401, "no token: send the header 'Authorization: Bearer <your token>'",
                            headers={"WWW-Authenticate": "Bearer"})
    found = verify(state.store, token.strip()) if scheme.lower() == "bearer" else None
    if found is None:
        raise HTTPException(401, "unknown or revoked token", headers={"WWW-Authenticate": "Bearer"})
    return found


AnyCaller = Annotated[Caller, Depends(caller)]


def student(who: AnyCaller) -> Caller:
    """A student's token (an instructor's token submits nothing: it has no gradebook row of its own)."""
    if who.instructor:
        raise HTTPException(403, "an instructor's token cannot submit; use a student's token")
    return who


def instructor(who: AnyCaller) -> Caller:
    if not who.instructor:
        raise HTTPException(403, "this needs an instructor's token")
    return who


Student = Annotated[Caller, Depends(student)]
Instructor = Annotated[Caller, Depends(instructor)]


def one_line(text: object, limit: int = 300) -> str:
    return " ".join(str(text).split())[:limit]


def shorten(text: object, limit: int = 300) -> str:
    """``text`` on one line, at most ``limit`` characters: cut at a word's end, with '...' saying so."""
    line = " ".join(str(text).split())
    if len(line) <= limit:
        return line
    cut = line[:limit - 4]
    space = cut.rfind(" ")
    return (cut[:space] if space > limit // 2 else cut).rstrip(" ,;:") + " ..."


class SecurityHeaders:
    """Adds SECURITY_HEADERS to every response that does not set them itself (pure ASGI)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def sending(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers += [(name, value) for name, value in SECURITY_HEADERS.items() if name not in present]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, sending)


def create_app(state: Service) -> FastAPI:
    from dlgrade.service import api, instructor, pages

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state.changes = Changes()
        detach = state.attach(state) if state.attach else None
        try:
            yield
        finally:
            if callable(detach):
                detach()
            state.close()

    app = FastAPI(title="dlgrade", version="1", docs_url=None, redoc_url=None, openapi_url="/api/v1/openapi.json",
                  lifespan=lifespan)
    app.state.service = state
    app.add_middleware(SecurityHeaders)

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, error: RequestValidationError) -> JSONResponse:
        first = error.errors()[0] if error.errors() else {}
        where = ".".join(str(part) for part in first.get("loc", ()) if part != "body")
        return JSONResponse({"detail": one_line(f"bad request: {where}: {first.get('msg', 'invalid')}")}, 400)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        # No Connection: close on an upload refused before its body was read (a bad token, 413): closing under a
        # client still sending makes it see a broken pipe, not the answer; uvicorn reads the rest and drops it.
        return JSONResponse({"detail": shorten(error.detail, 400)}, error.status_code, headers=error.headers)

    @app.exception_handler(Exception)
    async def crashed(request: Request, error: Exception) -> JSONResponse:
        log.exception("%s %s failed", request.method, request.url.path)
        return JSONResponse({"detail": "internal error (it is in the service's log)"}, 500)

    app.include_router(api.router)
    app.include_router(instructor.router)
    app.include_router(pages.router)
    return app


def utc(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).isoformat(timespec="seconds")


def loads(text: str | None) -> Any:
    try:
        return json.loads(text) if text else None
    except ValueError:
        return None
