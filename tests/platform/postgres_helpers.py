"""A private PostgreSQL server for the tests: Debian's initdb and pg_ctl (installed with apt-get when missing and
we are root), a data directory in a fresh temporary folder, listening on 127.0.0.1 at a port the test picks and
on a unix socket in that folder, run as an unprivileged user (PostgreSQL refuses root), stopped at teardown."""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cluster_helpers import free_port

SERVER_USER = "postgres"  # Debian's package creates it; created here when missing
FALLBACK_USER = "dlgrade-pg"


def _binaries() -> Path | None:
    """The newest installed PostgreSQL's bin folder (Debian keeps each major version apart)."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), key=lambda p: int(p.parent.parent.name)
                   if p.parent.parent.name.isdigit() else 0)
    if found:
        return found[-1].parent
    pg_ctl = shutil.which("pg_ctl")
    return Path(pg_ctl).parent if pg_ctl and shutil.which("initdb") else None


def postgres_binaries() -> Path:
    """initdb's and pg_ctl's folder, installing Debian's postgresql package when missing (as root); skip the test
    with the reason where that cannot be done."""
    found = _binaries()
    if found is not None:
        return found
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        pytest.skip("PostgreSQL's initdb and pg_ctl are not installed, and this user cannot install them "
                    "(apt-get install postgresql as root)")
    for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "postgresql"]):
        done = subprocess.run(command, capture_output=True, text=True, check=False,
                              env=os.environ | {"DEBIAN_FRONTEND": "noninteractive"})
        if done.returncode != 0:
            pytest.skip(f"PostgreSQL is not installed and `{' '.join(command)}` failed: "
                        f"{(done.stderr or done.stdout).strip().splitlines()[-1:]}")
    found = _binaries()
    if found is None:
        pytest.skip("apt-get installed postgresql, yet no initdb/pg_ctl was found under /usr/lib/postgresql")
    return found


def _server_user() -> str | None:
    """Who runs the server: ourselves unless we are root (PostgreSQL refuses root); then postgres, or a system
    user made for it."""
    if os.geteuid() != 0:
        return None
    for name in (SERVER_USER, FALLBACK_USER):
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            return name
    subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", FALLBACK_USER],
                   check=True, capture_output=True)
    return FALLBACK_USER


@dataclass
class Postgres:
    """A running private server; ``url(database)`` is an SQLAlchemy URL for one of its databases."""

    port: int
    folder: Path

    def url(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(host="127.0.0.1", port=self.port, user="postgres", dbname="postgres",
                             autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


@contextlib.contextmanager
def private_postgres() -> Iterator[Postgres]:
    """initdb + pg_ctl start in a temporary folder; pg_ctl stop (immediate) and the folder removed after."""
    binaries = postgres_binaries()
    user = _server_user()
    folder = Path(tempfile.mkdtemp(prefix="dlgrade-pg-"))
    data, log = folder / "data", folder / "server.log"
    port = free_port()

    def run(*command: str | Path) -> subprocess.CompletedProcess[str]:
        prefix = ["runuser", "-u", user, "--"] if user else []
        return subprocess.run([*prefix, *map(str, command)], capture_output=True, text=True, check=False)

    if user:
        shutil.chown(folder, user)
    os.chmod(folder, 0o700)
    try:
        done = run(binaries / "initdb", "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
        assert done.returncode == 0, done.stderr[-2000:]
        done = run(binaries / "pg_ctl", "-D", data, "-l", log, "-w", "-t", "120", "-o",
                   f"-h 127.0.0.1 -p {port} -k {folder} -c fsync=off -c full_page_writes=off", "start")
        assert done.returncode == 0, (done.stderr + (log.read_text() if log.exists() else ""))[-2000:]
        yield Postgres(port, folder)
    finally:
        run(binaries / "pg_ctl", "-D", data, "-m", "immediate", "-w", "stop")
        shutil.rmtree(folder, ignore_errors=True)
