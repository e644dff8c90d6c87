"""The students' web page at ``/`` (one HTML file, its script and its style sheet, nothing from elsewhere), and
the health check. The page builds every element with textContent, never HTML from data, so whatever a student
wrote stays text; feedback pages are shown in a sandboxed frame."""

from __future__ import annotations

from functools import cache
from importlib import resources

from fastapi import APIRouter
from fastapi.responses import Response

from dlgrade.service.app import State
from dlgrade.service.models import Health

router = APIRouter()

PAGE_CSP = ("default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
            "connect-src 'self'; frame-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
STATIC = {"app.js": "text/javascript; charset=utf-8", "app.css": "text/css; charset=utf-8"}


@cache
def _asset(name: str) -> bytes:
    return resources.files("dlgrade.service").joinpath("static", name).read_bytes()


@router.get("/", include_in_schema=False)
def page() -> Response:
    return Response(_asset("index.html"), media_type="text/html; charset=utf-8",
                    headers={"Content-Security-Policy": PAGE_CSP, "Cache-Control": "no-cache"})


@router.get("/static/{name}", include_in_schema=False)
def asset(name: str) -> Response:
    if name not in STATIC:
        return Response(b"", 404)
    return Response(_asset(name), media_type=STATIC[name], headers={"Cache-Control": "no-cache"})


@router.get("/api/v1/health", response_model=Health)
def health(state: State) -> dict[str, object]:
    """Whether the service is up and its grading process alive (nothing about any student)."""
    alive = state.grading_alive()
    return {"status": "ok" if alive else "degraded", "grading_process": alive}
