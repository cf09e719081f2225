"""An uploaded HTML or SVG file cannot run script on the Jupyter origin.

jupyter_server answers ``/files/<path>`` with ``Content-Security-Policy: ...;
sandbox allow-scripts`` (a script in the file runs in a unique origin, away
from the user's cookies and the token) and ``X-Content-Type-Options:
nosniff`` (a ``.txt`` holding HTML stays text). JupyterS3 replaces that
handler (``jupyters3.files.S3FilesHandler``), so these tests upload the same
files through the REST API to three live servers and compare what they answer:

* the *reference*: JupyterLab on jupyter_server's local-disk manager, whose
  ``/files/`` is tornado's ``StaticFileHandler`` (``AuthenticatedFileHandler``);
* *JupyterS3*: JupyterLab on JupyterS3 and moto;
* *FilesHandler*: jupyter_server on the local disk but with the generic
  ``FilesHandler`` that jupyter_server gives every contents manager that is
  not on the local disk; its Content-Type rules are JupyterS3's.

Compared: ``/files/`` (GET, HEAD, ``?download=1``, ranges, missing files),
the ``/view/`` page, JupyterLab's ``/lab/tree/`` page and
``/api/contents?content=1``. Every header that matters for the browser is
compared with the reference, and its value is also asserted outright, so a
change on both sides cannot pass unnoticed.
"""

from __future__ import annotations

import base64
import json
import re
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pytest

from jupyters3_testing import (
    ContentsClient,
    JupyterFactory,
    JupyterServer,
    MotoServer,
    RawS3,
    Response,
    jupyters3_config,
)

LOCAL_MANAGER = "jupyter_server.services.contents.largefilemanager.AsyncLargeFileManager"
FILES_HANDLER = "jupyter_server.files.handlers.FilesHandler"

CSP_REPORT = "frame-ancestors 'self'; report-uri /api/security/csp-report"
#: What jupyter_server sends with a file's bytes: any script runs in a unique origin.
FILES_CSP = f"{CSP_REPORT}; sandbox allow-scripts"

HTML = (
    "<!doctype html><html><head><title>x</title></head><body>"
    "<script>document.cookie; fetch('/api/contents')</script></body></html>\n"
)
SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg" onload="fetch(\'/api/contents\')">'
    "<script>alert(document.domain)</script>"
    '<rect width="10" height="10"/></svg>\n'
)
NOTEBOOK: dict[str, Any] = {
    "cells": [
        {
            "cell_type": "markdown",
            "id": "a1",
            "metadata": {},
            "source": "<script>alert(1)</script>",
        }
    ],
    "metadata": {},
    "nbformat": 4,
    "nbformat_minor": 5,
}


@dataclass(frozen=True)
class Upload:
    """One file: its REST model, and the Content-Type each handler must send."""

    model: dict[str, Any]
    content_type: str  # the reference's (local disk)
    files_handler_type: str | None = None  # FilesHandler's and JupyterS3's, when they differ


UPLOADS: dict[str, Upload] = {
    "page.html": Upload({"type": "file", "format": "text", "content": HTML}, "text/html"),
    "image.svg": Upload({"type": "file", "format": "text", "content": SVG}, "image/svg+xml"),
    "note.txt": Upload(
        {"type": "file", "format": "text", "content": HTML}, "text/plain; charset=UTF-8"
    ),
    "encoded.html": Upload(
        {
            "type": "file",
            "format": "base64",
            "content": base64.b64encode(HTML.encode()).decode("ascii"),
        },
        "text/html",
    ),
    "script.js": Upload(
        {"type": "file", "format": "text", "content": "fetch('/api/contents')\n"},
        "application/javascript",  # jupyter_server registers it (ServerApp.init_mime_overrides)
    ),
    "notes.ipynb": Upload(
        {"type": "notebook", "format": "json", "content": NOTEBOOK}, "application/x-ipynb+json"
    ),
    # No extension: the local disk says octet-stream, FilesHandler (and JupyterS3)
    # text/plain for text. Either is safe: nosniff forbids reading it as HTML.
    "README": Upload(
        {"type": "file", "format": "text", "content": HTML},
        "application/octet-stream",
        files_handler_type="text/plain; charset=UTF-8",
    ),
}

#: Headers a browser acts on; compared between the servers.
COMPARED = (
    "Content-Security-Policy",
    "X-Content-Type-Options",
    "Content-Type",
    "Content-Disposition",
    "Content-Range",
    "Content-Length",
    "Accept-Ranges",
    "Cache-Control",
)


@dataclass
class Servers:
    reference: ContentsClient
    s3: ContentsClient
    files_handler: ContentsClient
    folder: str  # every file lives here, on each server


@pytest.fixture(scope="module")
def servers(
    js3_moto_server: MotoServer, js3_region: str, js3_jupyter_env: dict[str, str | None]
) -> Iterator[Servers]:
    """The three servers (started concurrently), each with every file of UPLOADS."""
    bucket = f"js3-headers-{uuid.uuid4().hex[:12]}"
    js3_moto_server.create_bucket(bucket, js3_region)
    s3_config = jupyters3_config(
        bucket=bucket, endpoint_url=js3_moto_server.endpoint_url, region=js3_region
    )
    files_handler_config = {
        "ServerApp": {"contents_manager_class": LOCAL_MANAGER},
        "ContentsManager": {"files_handler_class": FILES_HANDLER},
    }
    factory = JupyterFactory({}, js3_jupyter_env)
    try:
        with ThreadPoolExecutor(3) as pool:
            started = [
                pool.submit(
                    factory,
                    config={"ServerApp": {"contents_manager_class": LOCAL_MANAGER}},
                    app="lab",
                ),
                pool.submit(factory, config=s3_config, app="lab"),
                pool.submit(factory, config=files_handler_config),
            ]
            reference, s3, files_handler = (future.result() for future in started)
        clients = [ContentsClient(s.url, s.token) for s in (reference, s3, files_handler)]
        folder = f"uploads-{uuid.uuid4().hex[:8]}"
        for client in clients:
            client.mkdir(folder).expect(201)
            for name, upload in UPLOADS.items():
                client.save(f"{folder}/{name}", upload.model).expect(201)
        # A hidden file cannot be made through the API: behind each server's back.
        for local in (reference, files_handler):
            (local.root_dir / folder / ".hidden.html").write_text(HTML)
        raw = RawS3(js3_moto_server.endpoint_url, js3_region)
        raw.put(bucket, f"{folder}/.hidden.html", HTML.encode())
        yield Servers(*clients, folder)
    finally:
        with ThreadPoolExecutor(3) as pool:
            list(pool.map(JupyterServer.close, factory.servers))


def headers(response: Response) -> dict[str, str | None]:
    """The compared headers of ``response`` (``None`` when absent)."""
    return {name: response.headers.get(name) for name in COMPARED}


def files(client: ContentsClient, path: str, method: str = "GET", **kw: Any) -> Response:
    """``/files/<path>``; ``download=True`` and ``range="bytes=..."`` as in ContentsClient.files."""
    extra: dict[str, str] = {"Range": kw["range"]} if "range" in kw else {}
    params = {"download": 1} if kw.get("download") else None
    return client.request(method, f"files/{path}", params=params, headers=extra)


def test_the_uploads_are_the_same_on_each_server(servers: Servers) -> None:
    for name in UPLOADS:
        bodies = {
            files(c, f"{servers.folder}/{name}").expect(200).body
            for c in (servers.reference, servers.s3, servers.files_handler)
        }
        assert len(bodies) == 1, name


# ============================================================================
# /files/
# ============================================================================

VARIANTS: dict[str, dict[str, Any]] = {
    "GET": {},
    "HEAD": {"method": "HEAD"},
    "download": {"download": True},
    "HEAD download": {"method": "HEAD", "download": True},
    "range": {"range": "bytes=5-14"},
    "suffix range": {"range": "bytes=-7"},
    "open range": {"range": "bytes=3-"},
    "whole range": {"range": "bytes=0-"},
    "range past the end": {"range": "bytes=0-999999"},
    "unsatisfiable range": {"range": "bytes=999999-"},
    "backwards range": {"range": "bytes=9-2"},
    "two ranges": {"range": "bytes=0-1,4-5"},
    "download range": {"range": "bytes=5-14", "download": True},
}


@pytest.mark.parametrize("variant", list(VARIANTS))
@pytest.mark.parametrize("name", list(UPLOADS))
def test_files_answers_as_the_reference(servers: Servers, name: str, variant: str) -> None:
    path = f"{servers.folder}/{name}"
    kw = VARIANTS[variant]
    ref = files(servers.reference, path, **kw)
    s3 = files(servers.s3, path, **kw)
    upload = UPLOADS[name]

    assert s3.status == ref.status
    expected, got = headers(ref), headers(s3)
    if upload.files_handler_type is not None and ref.status != 416:
        assert expected.pop("Content-Type") == upload.content_type
        assert got.pop("Content-Type") == upload.files_handler_type
    assert got == expected
    if (kw.get("method") or "GET") == "GET":
        assert s3.body == ref.body

    # The values themselves, not only their equality.
    assert s3.headers["Content-Security-Policy"] == FILES_CSP
    assert s3.headers["X-Content-Type-Options"] == "nosniff"
    assert s3.headers["Cache-Control"] == "no-cache"
    if s3.status == 416:
        assert s3.headers["Content-Type"] == "text/plain"
        assert re.fullmatch(r"bytes \*/\d+", s3.headers["Content-Range"])
        assert s3.body == b""
    else:
        assert s3.headers["Content-Type"] == (upload.files_handler_type or upload.content_type)
    if kw.get("download") or name.endswith(".ipynb"):
        assert s3.headers["Content-Disposition"] == f"attachment; filename*=utf-8''{name}"
    else:
        assert s3.headers["Content-Disposition"] is None


def test_ranges_answer_what_the_reference_answers(servers: Servers) -> None:
    """The statuses the parametrized test compares, spelled out once."""
    path = f"{servers.folder}/page.html"
    size = len(HTML)
    expected = {
        "range": (206, f"bytes 5-14/{size}", 10),
        "suffix range": (206, f"bytes {size - 7}-{size - 1}/{size}", 7),
        "open range": (206, f"bytes 3-{size - 1}/{size}", size - 3),
        "whole range": (200, None, size),
        "range past the end": (200, None, size),
        "unsatisfiable range": (416, f"bytes */{size}", 0),
        "backwards range": (416, f"bytes */{size}", 0),
        "two ranges": (200, None, size),  # ignored, as RFC 9110 allows
    }
    for variant, (status, content_range, length) in expected.items():
        for client in (servers.reference, servers.s3):
            response = files(client, path, **VARIANTS[variant])
            got = (response.status, response.headers.get("Content-Range"), len(response.body))
            assert got == (status, content_range, length), (variant, client.base_url)


@pytest.mark.parametrize("download", [False, True])
@pytest.mark.parametrize("name", list(UPLOADS))
def test_files_answers_as_jupyter_servers_files_handler(
    servers: Servers, name: str, download: bool
) -> None:
    """The generic handler jupyter_server would give JupyterS3: the same headers,
    Content-Type included where the local disk says octet-stream (no extension).

    Where FilesHandler departs from the local-disk handler, JupyterS3 follows
    the local disk (checked above): ``.txt`` (FilesHandler's ``if`` chain
    overwrites its own ``text/plain; charset=UTF-8`` with a bare
    ``text/plain``) and notebooks (the local disk sends them as attachments
    even without ``?download=1``).
    """
    path = f"{servers.folder}/{name}"
    ref = files(servers.files_handler, path, download=download).expect(200)
    s3 = files(servers.s3, path, download=download).expect(200)
    for header in ("Content-Security-Policy", "X-Content-Type-Options"):
        assert s3.headers[header] == ref.headers[header], header
    if name == "note.txt":
        assert (ref.headers["Content-Type"], s3.headers["Content-Type"]) == (
            "text/plain",
            "text/plain; charset=UTF-8",
        )
    else:
        assert s3.headers["Content-Type"] == ref.headers["Content-Type"]
    if name.endswith(".ipynb") and not download:
        assert ref.headers.get("Content-Disposition") is None
        assert s3.headers["Content-Disposition"] == f"attachment; filename*=utf-8''{name}"
    else:
        assert s3.headers.get("Content-Disposition") == ref.headers.get("Content-Disposition")
    assert s3.body == ref.body


@pytest.mark.parametrize("name", ["missing.html", ".hidden.html", "no/such/dir/x.svg"])
@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_missing_and_hidden_files_are_404_with_the_same_headers(
    servers: Servers, name: str, method: str
) -> None:
    path = f"{servers.folder}/{name}"
    ref = files(servers.reference, path, method)
    s3 = files(servers.s3, path, method)
    assert (s3.status, ref.status) == (404, 404)
    for header in ("Content-Security-Policy", "X-Content-Type-Options", "Content-Type"):
        assert s3.headers[header] == ref.headers[header], header
    assert s3.headers["Content-Security-Policy"] == FILES_CSP
    assert s3.headers["X-Content-Type-Options"] == "nosniff"
    assert HTML.encode() not in s3.body


# ============================================================================
# The pages that show a file: /view/ and JupyterLab's /lab/tree/
# ============================================================================

PAGE_HEADERS = {
    "Content-Security-Policy": CSP_REPORT,
    "X-Content-Type-Options": "nosniff",
    "Content-Type": "text/html; charset=UTF-8",
}


@pytest.mark.parametrize("name", list(UPLOADS))
def test_the_view_page_frames_files_in_a_sandbox(servers: Servers, name: str) -> None:
    path = f"{servers.folder}/{name}"
    ref = servers.reference.request("GET", f"view/{path}").expect(200)
    s3 = servers.s3.request("GET", f"view/{path}").expect(200)
    for header, value in PAGE_HEADERS.items():
        assert s3.headers[header] == ref.headers[header] == value, header

    def frame(response: Response) -> str:
        found = re.findall(
            rb'<iframe id="iframe" sandbox="allow-scripts" src="([^"]*)"', response.body
        )
        assert len(found) == 1, response.body[:2000]
        return found[0].decode()

    assert frame(s3) == frame(ref) == f"/files/{path}"
    # The file itself never appears in the page: only in the sandboxed frame.
    assert HTML.encode() not in s3.body and SVG.encode() not in s3.body


def test_the_view_page_of_a_missing_file_is_404(servers: Servers) -> None:
    path = f"{servers.folder}/missing.html"
    ref = servers.reference.request("GET", f"view/{path}")
    s3 = servers.s3.request("GET", f"view/{path}")
    assert (s3.status, ref.status) == (404, 404)
    error_page = {**PAGE_HEADERS, "Content-Type": "text/html"}  # Jupyter's error template
    for header, value in error_page.items():
        assert s3.headers[header] == ref.headers[header] == value, header


@pytest.mark.parametrize("name", list(UPLOADS))
def test_jupyterlab_tree_page_headers(servers: Servers, name: str) -> None:
    path = f"{servers.folder}/{name}"
    ref = servers.reference.request("GET", f"lab/tree/{path}").expect(200)
    s3 = servers.s3.request("GET", f"lab/tree/{path}").expect(200)
    for header, value in PAGE_HEADERS.items():
        assert s3.headers[header] == ref.headers[header] == value, header
    # JupyterLab's page, not the file: the file's content is never inlined.
    assert b"jupyter-config-data" in s3.body
    assert HTML.encode() not in s3.body and SVG.encode() not in s3.body


# ============================================================================
# /api/contents?content=1: JSON, never rendered
# ============================================================================

API_CSP = f"{CSP_REPORT}; default-src 'none'"


@pytest.mark.parametrize("name", list(UPLOADS))
def test_the_contents_api_answers_json_that_cannot_render(servers: Servers, name: str) -> None:
    path = f"{servers.folder}/{name}"
    ref = servers.reference.get(path, content=True).expect(200)
    s3 = servers.s3.get(path, content=True).expect(200)
    for header, value in (
        ("Content-Security-Policy", API_CSP),
        ("X-Content-Type-Options", "nosniff"),
        ("Content-Type", "application/json"),
    ):
        assert s3.headers[header] == ref.headers[header] == value, header
    assert s3.headers.get("Content-Disposition") is None
    keep = ("type", "format", "mimetype", "content", "name", "path")
    assert {k: s3.json[k] for k in keep} == {k: ref.json[k] for k in keep}
    # The HTML comes back inside a JSON string, where no browser runs it.
    if UPLOADS[name].model["type"] == "file":
        assert json.loads(s3.body)["content"] == ref.json["content"]
