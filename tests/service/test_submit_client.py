"""dlcheck.submit()'s client side without a server: where the token, the address and the notebook come from, and
one line (never a traceback) when something is missing or the service cannot be reached."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dlgrade.checking import client


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("DLGRADE_TOKEN", "DLGRADE_SERVER", "DLGRADE_TOKEN_FILE", "JPY_SESSION_NAME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


def test_arguments_then_the_environment_then_token_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "work"
    folder.mkdir()
    (folder / "dlgrade-token.json").write_text(json.dumps({"server": "http://file:1/", "token": "dlg_file"}))
    assert client.find_credentials(near=folder) == ("http://file:1", "dlg_file")
    monkeypatch.setenv("DLGRADE_TOKEN", "dlg_env")
    assert client.find_credentials(near=folder) == ("http://file:1", "dlg_env")
    monkeypatch.setenv("DLGRADE_SERVER", "https://env:2")
    assert client.find_credentials(near=folder) == ("https://env:2", "dlg_env")
    assert client.find_credentials("https://arg:3/", "dlg_arg", folder) == ("https://arg:3", "dlg_arg")
    monkeypatch.delenv("DLGRADE_TOKEN")
    plain = tmp_path / "plain-token"
    plain.write_text("dlg_plain\n")
    monkeypatch.setenv("DLGRADE_TOKEN_FILE", str(plain))
    assert client.find_credentials(near=folder) == ("https://env:2", "dlg_plain")


def test_the_home_folders_token_file_and_the_missing_pieces(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    with pytest.raises(client.SubmitError, match="^no token: set DLGRADE_TOKEN"):
        client.find_credentials(near=tmp_path)
    (home / "dlgrade-token.json").write_text(json.dumps({"token": "dlg_home"}))
    with pytest.raises(client.SubmitError, match="^no grading service address: set DLGRADE_SERVER"):
        client.find_credentials(near=tmp_path)
    assert client.find_credentials("http://x:1", near=tmp_path) == ("http://x:1", "dlg_home")


def test_the_notebook_is_the_kernels_own_or_the_released_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    released = tmp_path / "losses"
    (released / "dlcheck").mkdir(parents=True)
    (released / "dlcheck" / "checks.json").write_text(json.dumps({"assignment": "losses"}))
    assert client._this_notebook(released / "dlcheck") == (None, "losses")
    (released / "losses.ipynb").write_text("{}")
    assert client._this_notebook(released / "dlcheck") == (released / "losses.ipynb", "losses")
    (released / "losses-Copy1.ipynb").write_text("{}")
    monkeypatch.chdir(released)
    monkeypatch.setenv("JPY_SESSION_NAME", "course/losses/losses-Copy1.ipynb")  # relative to the server's root
    assert client._this_notebook(released / "dlcheck") == (released / "losses-Copy1.ipynb", "losses")
    monkeypatch.setenv("JPY_SESSION_NAME", str(released / "losses.ipynb"))
    assert client._this_notebook(released / "dlcheck") == (released / "losses.ipynb", "losses")


def test_submit_prints_one_line_and_returns_false_when_it_cannot_submit(tmp_path: Path,
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    notebook = tmp_path / "losses.ipynb"
    notebook.write_text("{}")
    assert client.submit(notebook, "losses", server="http://127.0.0.1:9", token="dlg_x") is False
    out = capsys.readouterr().out
    assert out.startswith("submit: cannot reach the grading service at http://127.0.0.1:9: ") and out.count("\n") == 1
    assert client.submit(tmp_path / "missing.ipynb", "losses", server="http://x", token="t") is False
    assert capsys.readouterr().out == "submit: cannot tell which notebook to submit: pass " \
                                      "submit(notebook='losses.ipynb')\n"


def test_an_unusable_address_or_token_file_is_one_line_never_a_traceback(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """`dlgrade submit --server notaurl` was a ValueError's traceback, and submit() (which never raises) raised."""
    from service_helpers import cli

    notebook = tmp_path / "losses.ipynb"
    notebook.write_text("{}")
    for server, says in (("notaurl", "notaurl is not the address of a grading service (it does not start with "
                                     "https:// or http://); give one such as https://grading.example.edu"),
                         ("http://[::1", "http://[::1 is not the address of a grading service (Invalid IPv6 URL); "
                                         "give one such as https://grading.example.edu"),
                         ("file:///etc", "file:///etc is not the address of a grading service (it does not start "
                                         "with https:// or http://); give one such as https://grading.example.edu"),
                         ("http://127.0.0.1:port", "cannot talk to the grading service at http://127.0.0.1:port: "
                                                   "nonnumeric port: 'port'")):
        assert client.submit(notebook, "losses", server=server, token="dlg_x") is False
        assert capsys.readouterr().out == f"submit: {says}\n"
        assert cli("submit", notebook, "--assignment", "losses", "--server", server, "--token", "dlg_x") == \
            (2, "", f"dlgrade: {says}\n")
    monkeypatch.setenv("DLGRADE_TOKEN_FILE", str(tmp_path / "gone.json"))
    with pytest.raises(client.SubmitError, match=r"gone.json: no such token file \(named by DLGRADE_TOKEN_FILE\)$"):
        client.find_credentials("http://x:1", near=tmp_path)
    monkeypatch.delenv("DLGRADE_TOKEN_FILE")
    # a token that no header takes is refused before it is sent (and is never repeated in the message)
    assert cli("submit", notebook, "--assignment", "losses", "--server", "http://127.0.0.1:9", "--token",
               "dlg_a\nsecret")[2] == ("dlgrade: the token is not a dlgrade token (it holds spaces or characters no "
                                       "token has): copy it again from what your instructor gave you\n")
    # token files: a token that is not text, a file that is not there (not: "no token: set DLGRADE_TOKEN")
    (tmp_path / "number.json").write_text(json.dumps({"token": 5, "server": "http://127.0.0.1:9"}))
    (tmp_path / "server.json").write_text(json.dumps({"token": "dlg_x", "server": ["http://127.0.0.1:9"]}))
    for name, says in (("number.json", f"{tmp_path / 'number.json'}: not a token file (its token is not text)"),
                       ("server.json", f"{tmp_path / 'server.json'}: not a token file (its server is not text)"),
                       ("nonexist.json", f"{tmp_path / 'nonexist.json'}: no such token file (named by "
                                         "--token-file)")):
        assert cli("submit", notebook, "--assignment", "losses", "--token-file", tmp_path / name) == \
            (2, "", f"dlgrade: {says}\n")
