"""Tokens: one per student (and per instructor), shown once when issued, stored only as their SHA-256.

A token is 32 random bytes (URL-safe base64), so a plain SHA-256 is enough to store it: nothing can be guessed
from the hash, and looking one up is a single indexed query (a revoked token stops working at once).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass

from dlgrade.errors import UsageError
from dlgrade.service.store import Store

PREFIX = "dlg_"
ROLES = ("student", "instructor")
# A name becomes a folder (submitted/<student>/) and a word in the log: nothing else than these.
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,127}$")


@dataclass(frozen=True)
class Caller:
    """Who a request comes from: a student, or an instructor."""

    name: str
    role: str

    @property
    def instructor(self) -> bool:
        return self.role == "instructor"


def check_name(name: str) -> None:
    if not NAME.match(name):
        raise UsageError(f"unusable name {name!r}: letters, digits and . _ @ + - only (at most 128, starting with a "
                         "letter or digit)")


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def issue(store: Store, name: str, role: str = "student") -> str:
    """A new token for ``name`` (replacing any earlier one of that role); returns the token itself."""
    check_name(name)
    if role not in ROLES:
        raise UsageError(f"unknown role {role!r}")
    token = PREFIX + secrets.token_urlsafe(32)
    with store.connect() as db, store.transaction(db):
        db.execute("DELETE FROM tokens WHERE name = ? AND role = ?", (name, role))
        db.execute("INSERT INTO tokens VALUES (?, ?, ?, ?)", (digest(token), name, role, time.time()))
    return token


def revoke(store: Store, name: str, role: str = "student") -> bool:
    """Whether ``name`` had a token of that role (it has none now)."""
    with store.connect() as db, store.transaction(db):
        return db.execute("DELETE FROM tokens WHERE name = ? AND role = ?", (name, role)).rowcount > 0


def holders(store: Store) -> list[tuple[str, str, float]]:
    """(name, role, issued at) of every token."""
    with store.connect() as db:
        return [tuple(r) for r in db.execute("SELECT name, role, issued_at FROM tokens ORDER BY role, name")]


def verify(store: Store, token: str) -> Caller | None:
    """The caller a token belongs to, or None."""
    if not token.startswith(PREFIX) or len(token) > 200:
        return None
    wanted = digest(token)
    with store.connect() as db:
        found = db.execute("SELECT digest, name, role FROM tokens WHERE digest = ?", (wanted,)).fetchone()
    if found is None or not hmac.compare_digest(found[0], wanted):
        return None
    return Caller(found[1], found[2])
