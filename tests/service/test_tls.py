"""`dlgrade serve --ssl-certfile --ssl-keyfile`: the service speaks HTTPS (and only HTTPS) on its socket, and
`dlgrade submit` grades through it, trusting the course's certificate."""

from __future__ import annotations

import shutil
import subprocess
import urllib.request
from pathlib import Path

import nbformat
import pytest
from service_helpers import FIXTURE_ROOT, Server, cli, issue_tokens, notebooks


def test_https_with_the_courses_certificate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a test certificate (apt-get install openssl)")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out",
                    str(cert), "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    course = tmp_path / "course"
    code, _, err = cli("setup", "mini", "--course", course, "--project", FIXTURE_ROOT)
    assert code == 0, err
    token = issue_tokens(course, "tess")["tess"]
    server = Server(course, tmp_path / "serve.log", extra=["--ssl-certfile", str(cert), "--ssl-keyfile", str(key)],
                    cafile=cert).start()
    try:
        assert server.request("GET", "/api/v1/health").json() == {"status": "ok", "grading_process": True}
        with pytest.raises(OSError):
            urllib.request.urlopen(f"http://127.0.0.1:{server.port}/api/v1/health", timeout=30).read()
        path = tmp_path / "mini.ipynb"
        nbformat.write(notebooks()["solution"], path)
        monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # urllib's default context trusts the course's certificate
        code, out, err = cli("submit", path, "--assignment", "mini", "--server", server.url, "--token", token)
        assert code == 0, err
        assert "mini: 5.0 / 5.0" in out
    finally:
        server.stop()



def test_a_bad_port_or_pem_file_is_one_line_before_anything_starts(tmp_path: Path) -> None:
    """`--port 70000` was an OverflowError's traceback; a PEM file that is not one was found only after the grading
    process had warmed up, as "[SSL] PEM lib (_ssl.c:3905)"."""
    import sys
    import time

    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a test certificate (apt-get install openssl)")
    course = tmp_path / "course"
    code, _, err = cli("setup", "mini", "--course", course, "--project", FIXTURE_ROOT)
    assert code == 0, err
    pems = {}
    for name in ("a", "b"):
        pems[name] = tmp_path / f"{name}-cert.pem", tmp_path / f"{name}-key.pem"
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(pems[name][1]),
                        "-out", str(pems[name][0]), "-days", "2", "-subj", "/CN=127.0.0.1"], check=True,
                       capture_output=True)
    junk = tmp_path / "junk.pem"
    junk.write_text("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")
    cert, other_key = pems["a"][0], pems["b"][1]
    cases = {
        ("--port", "70000"): "dlgrade: --port 70000: give a port from 1 to 65535",
        ("--port=-1",): "dlgrade: --port -1: give a port from 1 to 65535",
        ("--ssl-certfile", str(junk), "--ssl-keyfile", str(junk)):
            f"dlgrade: --ssl-certfile {junk}: not a PEM certificate that can be used (",
        ("--ssl-certfile", str(cert), "--ssl-keyfile", str(junk)):
            f"dlgrade: --ssl-keyfile {junk}: not a PEM private key that can be used (",
        ("--ssl-certfile", str(cert), "--ssl-keyfile", str(other_key)):
            f"dlgrade: --ssl-keyfile {other_key}: not the key of the certificate in {cert} (",
    }
    for flags, says in cases.items():
        started = time.monotonic()
        run = subprocess.run([sys.executable, "-m", "dlgrade.cli", "serve", "--course", str(course), *flags],
                             capture_output=True, text=True, timeout=120)
        assert run.returncode == 2 and run.stdout == "", (flags, run.stderr)
        assert run.stderr.startswith(says) and run.stderr.count("\n") == 1, (flags, run.stderr)
        assert time.monotonic() - started < 30  # nothing was started: no grading process, no warm-up
    assert not (course / ".dlgrade" / "service" / "service.log").exists()
