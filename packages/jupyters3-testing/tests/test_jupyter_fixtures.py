"""js3_jupyter / js3_contents / the session factory, and ContentsClient against a live server.

Until ``jupyters3.JupyterS3`` exists, this module overrides ``js3_jupyter_config``
with jupyter_server's own AsyncLargeFileManager: only the config changes.
"""

from __future__ import annotations

import base64
import importlib
import re
import subprocess
import sys
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from jupyters3_testing import ContentsClient, JupyterFactory, JupyterServer, Response

LARGE_FILE_MANAGER = "jupyter_server.services.contents.largefilemanager.AsyncLargeFileManager"
README = Path(__file__).resolve().parents[1] / "README.md"


@pytest.fixture
def js3_jupyter_config() -> dict[str, Any]:
    """The override point: a local-disk manager, plus a trait that shows the config is read."""
    return {
        "ServerApp": {"contents_manager_class": LARGE_FILE_MANAGER},
        "ContentsManager": {"untitled_file": "js3-untitled"},
    }


@pytest.fixture(scope="module")
def shared_server(js3_jupyter_session_factory: JupyterFactory) -> JupyterServer:
    return js3_jupyter_session_factory(
        config={"ServerApp": {"contents_manager_class": LARGE_FILE_MANAGER}}
    )


class RecordingClient(ContentsClient):
    """Records every PUT model, so the upload protocol itself can be checked."""

    def __init__(self, server: JupyterServer) -> None:
        super().__init__(server.url, server.token)
        self.models: list[dict[str, Any]] = []

    def save(self, path: str, model: Any) -> Response:
        self.models.append(dict(model))
        return super().save(path, model)


def test_contents_rest_roundtrip(js3_jupyter: JupyterServer, js3_contents: ContentsClient) -> None:
    c = js3_contents
    assert c.status().expect(200).json["started"]
    assert c.mkdir("dir é").expect(201).json["type"] == "directory"
    path = "dir é/a #1?%.txt"  # every segment is percent-encoded
    saved = c.save_text(path, "hello\n").expect(201).json
    assert (saved["path"], saved["content"], saved["format"]) == (path, None, None)
    assert (js3_jupyter.root_dir / path).read_text() == "hello\n"

    full = c.get(path, hash=True).expect(200).json
    assert (full["content"], full["format"], full["hash_algorithm"]) == (
        "hello\n",
        "text",
        "sha256",
    )
    meta = c.get(path, content=False).json
    assert meta["content"] is None and meta["size"] == 6
    assert base64.b64decode(c.get(path, format="base64").json["content"]) == b"hello\n"
    listing = c.get("dir é", type="directory").json
    assert [m["name"] for m in listing["content"]] == ["a #1?%.txt"]
    assert c.get("missing.txt").status == 404  # errors are answers, not exceptions

    assert c.new_untitled("dir é", type="file", ext=".txt").json["name"] == "js3-untitled.txt"
    assert c.new_untitled(type="directory").expect(201).json["path"] == "Untitled Folder"
    copied = c.copy(path, "Untitled Folder").expect(201).json
    assert copied["path"] == "Untitled Folder/a #1?%.txt"
    renamed = c.rename(copied["path"], "Untitled Folder/b.txt").expect(200).json
    assert renamed["path"] == "Untitled Folder/b.txt"

    whole = c.files(path, download=True).expect(200)
    assert whole.body == b"hello\n" and "attachment" in whole.headers["Content-Disposition"]
    part = c.files(path, range=(1, 3)).expect(206)
    assert part.body == b"ell"

    checkpoint = c.create_checkpoint(path).expect(201).json
    assert [cp["id"] for cp in c.checkpoints(path).json] == [checkpoint["id"]]
    c.save_text(path, "changed").expect(200)
    c.restore_checkpoint(path, checkpoint["id"]).expect(204)
    assert c.get(path).json["content"] == "hello\n"
    c.delete_checkpoint(path, checkpoint["id"]).expect(204)
    assert c.checkpoints(path).json == []

    c.delete(path).expect(204)
    assert c.get(path).status == 404


def test_upload_chunked_follows_jupyterlab(shared_server: JupyterServer) -> None:
    client = RecordingClient(shared_server)
    data = bytes(range(256)) * 13 + b"tail"  # 3332 bytes: 3 full 1 KiB chunks + 260
    client.mkdir("up").expect(201)
    responses = client.upload_chunked("up/big.bin", data, chunk_size=1024)
    chunks = [(m["chunk"], len(base64.b64decode(m["content"]))) for m in client.models[1:]]
    assert chunks == [(1, 1024), (2, 1024), (3, 1024), (-1, 260)]
    assert {(m["type"], m["format"], m["name"]) for m in client.models[1:]} == {
        ("file", "base64", "big.bin")
    }
    assert [r.status for r in responses] == [201, 200, 200, 200]  # exists after chunk 1
    assert responses[-1].json["size"] == len(data)
    assert (shared_server.root_dir / "up/big.bin").read_bytes() == data

    del client.models[:]
    exact = client.upload_chunked("up/exact.bin", data[:2048], chunk_size=1024)
    assert [m["chunk"] for m in client.models] == [1, -1]  # never a lone -1
    assert exact[-1].expect(200).json["size"] == 2048

    del client.models[:]
    small = client.upload_chunked("up/small.bin", b"x" * 1024, chunk_size=1024)
    assert [sorted(m) for m in client.models] == [["content", "format", "name", "type"]]
    assert small[0].expect(201).json["size"] == 1024


def test_upload_stops_at_the_first_failing_chunk(shared_server: JupyterServer) -> None:
    client = RecordingClient(shared_server)
    responses = client.upload_chunked("nowhere/x.bin", b"y" * 3000, chunk_size=1024)
    assert [m["chunk"] for m in client.models] == [1]
    assert len(responses) == 1 and responses[0].status >= 400  # no parent directory


def test_xsrf_is_on_and_token_auth_skips_it(shared_server: JupyterServer) -> None:
    anonymous = ContentsClient(shared_server.url, None)
    assert anonymous.status().status == 403

    login_form = anonymous.request("GET", "login")
    cookies = _cookies(login_form)
    xsrf = cookies["_xsrf"]
    login = anonymous.request(
        "POST",
        "login",
        body=urlencode({"_xsrf": xsrf, "password": shared_server.token}).encode(),
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Cookie": _cookie_header(cookies),
        },
    )
    assert login.status == 302, login.body
    cookies.update(_cookies(login))
    session = {"Cookie": _cookie_header(cookies), "Content-Type": "application/json"}
    model = b'{"type": "file", "format": "text", "content": "x"}'

    refused = anonymous.request("PUT", "api/contents/cookie.txt", body=model, headers=session)
    assert refused.status == 403 and b"_xsrf" in refused.body
    accepted = anonymous.request(
        "PUT", "api/contents/cookie.txt", body=model, headers={**session, "X-XSRFToken": xsrf}
    )
    assert accepted.status == 201
    # The same write with only the token header needs no XSRF token at all.
    token_client = ContentsClient(shared_server.url, shared_server.token)
    assert token_client.save_text("cookie.txt", "y").status == 200


def _cookies(resp: Response) -> dict[str, str]:
    jar: SimpleCookie = SimpleCookie()
    for header in resp.headers.get_all("Set-Cookie") or []:
        jar.load(header)
    return {name: morsel.value for name, morsel in jar.items()}


def _cookie_header(cookies: dict[str, str]) -> str:
    return "; ".join(f"{k}={v}" for k, v in cookies.items())


def _readme_jupyter_example() -> str:
    match = re.search(
        r"<!-- jupyter-example:start -->\s*```python\n(.*?)```\s*<!-- jupyter-example:end -->",
        README.read_text(),
        re.S,
    )
    assert match, "README.md lost its Jupyter example block"
    return match.group(1)


def test_readme_jupyter_example_runs_downstream(tmp_path: Path) -> None:
    """The README's js3_jupyter example passes in a fresh pytest process (needs JupyterS3)."""
    example = _readme_jupyter_example()
    assert "js3_contents" in example and "js3_raw" in example
    if not hasattr(importlib.import_module("jupyters3"), "JupyterS3"):
        pytest.skip("jupyters3.JupyterS3 does not exist yet")
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "test_downstream.py").write_text(example)
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_downstream.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert re.search(r"\b1 passed\b", proc.stdout), proc.stdout
