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

