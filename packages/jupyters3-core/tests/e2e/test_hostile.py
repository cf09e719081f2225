"""Hostile input: a live Jupyter server on JupyterS3 (moto behind the proxy), REST only.

Every case sends hostile requests to ``/api/contents/...`` or ``/files/...`` and
checks two things: (a) the answer is a clean 4xx (no 5xx, no traceback, a JSON
``message``, never the bytes of a bait object) and (b) nothing was written (the
bucket's objects, the seeded files' bytes, no S3 write request). The server runs
jailed under a prefix, with bait objects outside it, in two modes (``default``,
``allow_hidden``); each test gets a fresh folder, seeded straight into moto.
hostile_harness.py says all of this exactly, and holds the harness (the server,
the bucket and what changed in it, the checks on the answers); the server per
mode (fixture ``hostile_server``) and the fresh folder (``ws``) are in
e2e/conftest.py. The renames that must be refused are in test_renames.py, with
the other rename tests.

A few inputs look hostile but have a defined meaning in jupyter_server's
handlers (an unknown ``type`` is saved as a file, PATCH without ``path`` is a
no-op, a folder can be copied, also into itself): :func:`test_inputs_jupyter_server_defines`
checks that they do exactly that and nothing more. Failures that happen in
jupyter_server's handlers before the contents manager is called are marked
``xfail(strict=True)`` with the reason (:data:`UPSTREAM`).

Run time is bounded by S3 round trips (moto: about 5-8 ms each), so a path is
tried with every operation inside one test rather than one test per operation.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import json
import re
import socket
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote, unquote_to_bytes, urlsplit

import pytest
from hostile_harness import (
    BAIT_MARK,
    CP,
    DEFAULT_ONLY,
    MARKER,
    NOTEBOOK,
    PREFIX,
    TRACEBACK,
    Changes,
    Live,
    Sent,
    Snapshot,
    Workspace,
    describe,
    fill_in,
    name_for_key_bytes,
    workspace,
)
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from jupyters3_testing import Response

UPSTREAM = pytest.mark.xfail(
    strict=True,
    reason="jupyter_server's ContentsHandler/get_json_body fail (500) on this body before "
    "the contents manager is called; JupyterS3 cannot intercept it",
)


@pytest.fixture(scope="session")
def live(hostile_server: Live) -> Live:
    """``test_fuzz``'s name for the server (``hostile_server``, e2e/conftest.py)."""
    return hostile_server


# ============================================================================
# 1. Hostile paths x every operation
# ============================================================================

#: (id, URL path under api/contents/ as sent on the wire, the same path as the
#: API string a JSON body would carry; None when it has none). ``{d}`` is the
#: test's folder.
PATHS: list[tuple[str, str, str | None]] = [
    # -- traversal ---------------------------------------------------------
    ("dotdot", "{d}/..", "{d}/.."),
    ("dotdot-x", "{d}/../x", "{d}/../x"),
    ("a-dotdot-dotdot-x", "{d}/a/../../x", "{d}/a/../../x"),
    ("escape-to-bucket-root", "{d}/../../secret.txt", "{d}/../../secret.txt"),
    ("root-dotdot", "..", ".."),
    ("root-dotdot-x", "../x", "../x"),
    ("dot-segment", "{d}/./f.txt", "{d}/./f.txt"),
    ("pct-dotdot", "{d}/%2e%2e/x", "{d}/../x"),
    ("pct-dotdot-slash-upper", "{d}/%2E%2E%2Fx", "{d}/../x"),
    ("dotdot-pct-slash", "{d}/..%2fx", "{d}/../x"),
    ("pct-escape-to-bucket-root", "%2e%2e%2f%2e%2e%2fsecret.txt", "../../secret.txt"),
    ("backslash-dotdot", "{d}/a\\..\\b", "{d}/a\\..\\b"),
    ("pct-backslash-dotdot", "{d}/a%5C..%5Cb", "{d}/a\\..\\b"),
    ("dotdot-backslash", "{d}/..\\x", "{d}/..\\x"),
    ("absolute-etc-passwd", "/etc/passwd", "/etc/passwd"),
    ("absolute-in-folder", "{d}//etc/passwd", "{d}//etc/passwd"),
    ("double-slash-root", "//x", None),
    ("double-slash-in-folder", "{d}//f.txt", "{d}//f.txt"),
    # -- control characters and bad encodings ------------------------------
    ("nul", "{d}/a%00b", "{d}/a\x00b"),
    ("newline", "{d}/a%0Ab", "{d}/a\nb"),
    ("carriage-return", "{d}/a%0Db", "{d}/a\rb"),
    ("tab", "{d}/a%09b", "{d}/a\tb"),
    ("del", "{d}/%7F", "{d}/\x7f"),
    ("c1-nel", "{d}/a%C2%85b", "{d}/a\x85b"),
    ("crlf-header-injection", "{d}/x%0D%0ASet-Cookie:%20a=b", "{d}/x\r\nSet-Cookie: a=b"),
    ("invalid-utf8", "{d}/%FF", None),
    ("lone-surrogate", "{d}/%ED%A0%80", "{d}/\ud800"),
    # -- longer than S3's 1,024-byte key limit ------------------------------
    ("key-over-1024-emoji", "{d}/" + quote("\U0001f600" * 300), "{d}/" + "\U0001f600" * 300),
    ("key-over-1024-deep", "{d}/" + "/".join(["a" * 200] * 6), "{d}/" + "/".join(["a" * 200] * 6)),
    # -- checkpoints are not contents -----------------------------------------
    ("ckpt-holder-of-file", "{d}/f.txt/.checkpoints", "{d}/f.txt/.checkpoints"),
    ("ckpt-of-file", f"{{d}}/f.txt/.checkpoints/{CP}", f"{{d}}/f.txt/.checkpoints/{CP}"),
    ("ckpt-of-notebook", f"{{d}}/nb.ipynb/.checkpoints/{CP}", f"{{d}}/nb.ipynb/.checkpoints/{CP}"),
    (
        "ckpt-pct-encoded",
        f"{{d}}/nb.ipynb/%2Echeckpoints/{CP}",
        f"{{d}}/nb.ipynb/.checkpoints/{CP}",
    ),
    ("ckpt-new-under-file", "{d}/f.txt/.checkpoints/evil", "{d}/f.txt/.checkpoints/evil"),
    ("ckpt-folder", "{d}/.checkpoints", "{d}/.checkpoints"),
    ("ckpt-in-folder", "{d}/.checkpoints/x.txt", "{d}/.checkpoints/x.txt"),
    ("ckpt-nested", "{d}/sub/.checkpoints/inner.txt", "{d}/sub/.checkpoints/inner.txt"),
    ("ckpt-root", ".checkpoints", ".checkpoints"),
]

TEXT_MODEL = {"type": "file", "format": "text", "content": "bait: pwned"}

#: Operations on a hostile path: (send, needs the API form, /files/ HTML allowed).
Op = Callable[[Workspace, str, str], Sent]
OPS: dict[str, tuple[Op, bool, bool]] = {
    "GET": (lambda w, wire, api: w.call("GET", "api/contents/" + wire), False, False),
    "GET-no-content": (
        lambda w, wire, api: w.call("GET", f"api/contents/{wire}?content=0"),
        False,
        False,
    ),
    "PUT-text": (
        lambda w, wire, api: w.call("PUT", "api/contents/" + wire, TEXT_MODEL),
        False,
        False,
    ),
    "PUT-directory": (
        lambda w, wire, api: w.call("PUT", "api/contents/" + wire, {"type": "directory"}),
        False,
        False,
    ),
    "PUT-chunk-1": (
        lambda w, wire, api: w.call(
            "PUT",
            "api/contents/" + wire,
            {"type": "file", "format": "base64", "chunk": 1, "content": "cHduZWQ="},
        ),
        False,
        False,
    ),
    "PATCH-rename-from": (
        lambda w, wire, api: w.call(
            "PATCH", "api/contents/" + wire, {"path": f"{w.d}/renamed.txt"}
        ),
        False,
        False,
    ),
    "PATCH-rename-to": (
        lambda w, wire, api: w.call("PATCH", f"api/contents/{w.d}/f.txt", {"path": api}),
        True,
        False,
    ),
    "PATCH-rename-folder-to": (
        lambda w, wire, api: w.call("PATCH", f"api/contents/{w.d}/sub", {"path": api}),
        True,
        False,
    ),
    "POST-copy-from": (
        lambda w, wire, api: w.call("POST", f"api/contents/{w.d}", {"copy_from": api}),
        True,
        False,
    ),
    "POST-copy-into": (
        lambda w, wire, api: w.call("POST", "api/contents/" + wire, {"copy_from": f"{w.d}/f.txt"}),
        False,
        False,
    ),
    "POST-new-untitled-in": (
        lambda w, wire, api: w.call("POST", "api/contents/" + wire, {"type": "file"}),
        False,
        False,
    ),
    "DELETE": (lambda w, wire, api: w.call("DELETE", "api/contents/" + wire), False, False),
    "checkpoint-create": (
        lambda w, wire, api: w.call("POST", f"api/contents/{wire}/checkpoints"),
        False,
        False,
    ),
    "checkpoint-list": (
        lambda w, wire, api: w.call("GET", f"api/contents/{wire}/checkpoints"),
        False,
        False,
    ),
    "checkpoint-restore": (
        lambda w, wire, api: w.call("POST", f"api/contents/{wire}/checkpoints/{CP}"),
        False,
        False,
    ),
    "checkpoint-delete": (
        lambda w, wire, api: w.call("DELETE", f"api/contents/{wire}/checkpoints/{CP}"),
        False,
        False,
    ),
    "files": (lambda w, wire, api: w.call("GET", "files/" + wire), False, True),
    "files-download": (lambda w, wire, api: w.call("GET", f"files/{wire}?download=1"), False, True),
}

#: Every path gets the operations the REST API offers on a path (GET, save,
#: rename from and to, copy from, new untitled in, delete, /files/); these
#: paths, one or two of each kind, get every other operation in OPS too.
EVERY_OP = {
    "escape-to-bucket-root",
    "pct-dotdot-slash-upper",
    "backslash-dotdot",
    "absolute-in-folder",
    "nul",
    "invalid-utf8",
    "lone-surrogate",
    "key-over-1024-emoji",
    "ckpt-of-notebook",
    "ckpt-folder",
}
CORE_OPS = (
    "GET",
    "PUT-text",
    "PATCH-rename-from",
    "PATCH-rename-to",
    "POST-copy-from",
    "POST-new-untitled-in",
    "DELETE",
    "files",
)


@pytest.mark.parametrize("case_id,wire,api", [pytest.param(*case, id=case[0]) for case in PATHS])
def test_hostile_path(ws: Workspace, case_id: str, wire: str, api: str | None) -> None:
    """Every operation on the path, one after the other in the same fresh folder;
    the failure lists each operation that was not a clean refusal. An operation
    that wrote something is reported and undone before the next one."""
    every = case_id in EVERY_OP
    failures = []
    before = ws.live.snapshot()
    for op, (send, needs_api, html_ok) in OPS.items():
        if (needs_api and api is None) or not (every or op in CORE_OPS):
            continue
        sent = send(ws, wire.format(d=ws.d), (api or "").format(d=ws.d))
        problems, found = ws.refusal_problems(before, sent, html_ok=html_ok)
        if problems:
            failures.append(f"--- {op} ---\n" + ws.report(before, (sent,), problems))
        if found or problems:
            ws.restore()
            before = ws.live.snapshot()
        else:
            ws.live.proxy.clear()
            before = Snapshot(before.objects, ws.live.log_size())
    assert not failures, "\n".join(failures)


# ============================================================================
# 2. Malformed bodies and models
# ============================================================================

NB = NOTEBOOK
_DROP = object()


def _nb(**changes: Any) -> dict[str, Any]:
    nb = {**NB, **changes}
    return {k: v for k, v in nb.items() if v is not _DROP}


MALFORMED = {
    "truncated-json": b'{"type": "file", "format": "text", "content": "x"',
    "trailing-garbage": b'{"type": "file", "format": "text", "content": "x"} trailing',
    "single-quotes": b"{'type': 'file', 'format': 'text', 'content': 'x'}",
    "nested-100k": b"[" * 100_000 + b"]" * 100_000,
    "empty-key-garbage": b'{"": }',
}
NON_OBJECTS = {
    "not-utf8": b'\xff\xfe{"type": "file"}',
    "json-list": b'[{"type": "file", "format": "text", "content": "x"}]',
    "json-string": b'"{\\"type\\": \\"file\\"}"',
    "json-number": b"42",
    "json-true": b"true",
}
_METHOD_TARGET = {"PUT": "{d}/f.txt", "POST": "{d}", "PATCH": "{d}/f.txt"}

BODY_CASES = [
    *(
        pytest.param(method, _METHOD_TARGET[method], raw, id=f"{method}-{name}")
        for name, raw in MALFORMED.items()
        for method in _METHOD_TARGET
    ),
    *(
        pytest.param(method, _METHOD_TARGET[method], raw, id=f"{method}-{name}", marks=UPSTREAM)
        for name, raw in NON_OBJECTS.items()
        for method in _METHOD_TARGET
    ),
]


@DEFAULT_ONLY
@pytest.mark.parametrize("method,target,raw", BODY_CASES)
def test_malformed_body(ws: Workspace, method: str, target: str, raw: bytes) -> None:
    before = ws.live.snapshot()
    sent = ws.call(
        method,
        "api/contents/" + target.format(d=ws.d),
        body=raw,
        headers={"Content-Type": "application/json"},
    )
    ws.refused(before, sent)


#: PUT models that must be refused: (target, model). Targets: the existing
#: ``f.txt``/``nb.ipynb`` (PUT calls save()) or a new path (PUT calls new()).
MODELS: dict[str, tuple[str, Any]] = {
    # -- type ---------------------------------------------------------------
    "missing-type-existing-file": ("{d}/f.txt", {"format": "text", "content": "x"}),
    "missing-type-new-notebook": ("{d}/new.ipynb", {"format": "text", "content": "bait: x"}),
    "type-null": ("{d}/f.txt", {"type": None, "format": "text", "content": "x"}),
    # ContentsHandler.put asks is_hidden() about a "path" in the model (default mode).
    "model-path-number": (
        "{d}/f.txt",
        {"type": "file", "format": "text", "content": "x", "path": 5},
    ),
    "model-path-list": (
        "{d}/f.txt",
        {"type": "file", "format": "text", "content": "x", "path": ["a"]},
    ),
    "notebook-with-text-content": (
        "{d}/nb.ipynb",
        {"type": "notebook", "format": "text", "content": "bait: not a notebook"},
    ),
    "notebook-with-text-content-new": (
        "{d}/new.ipynb",
        {"type": "notebook", "format": "text", "content": "bait: not a notebook"},
    ),
    "notebook-as-json-string": (
        "{d}/nb.ipynb",
        {"type": "notebook", "format": "json", "content": json.dumps(NB)},
    ),
    "notebook-content-list": (
        "{d}/nb.ipynb",
        {"type": "notebook", "format": "json", "content": [NB]},
    ),
    "notebook-content-number": (
        "{d}/nb.ipynb",
        {"type": "notebook", "format": "json", "content": 4},
    ),
    "notebook-content-null": (
        "{d}/nb.ipynb",
        {"type": "notebook", "format": "json", "content": None},
    ),
    "directory-with-content-over-file": (
        "{d}/f.txt",
        {"type": "directory", "format": "json", "content": [{"name": "x", "type": "file"}]},
    ),
    # -- format -------------------------------------------------------------
    "format-zip": ("{d}/f.txt", {"type": "file", "format": "zip", "content": "x"}),
    "format-json-for-file": ("{d}/f.txt", {"type": "file", "format": "json", "content": {"a": 1}}),
    "format-list": ("{d}/f.txt", {"type": "file", "format": ["text"], "content": "x"}),
    "format-missing": ("{d}/f.txt", {"type": "file", "content": "x"}),
    "format-base64-with-text": (
        "{d}/f.txt",
        {"type": "file", "format": "base64", "content": "héllo wörld"},
    ),
    "format-text-with-number": ("{d}/f.txt", {"type": "file", "format": "text", "content": 42}),
    "format-text-with-object": ("{d}/f.txt", {"type": "file", "format": "text", "content": {}}),
    "format-text-with-null": ("{d}/f.txt", {"type": "file", "format": "text", "content": None}),
    "format-text-with-nan": (
        "{d}/f.txt",
        {"type": "file", "format": "text", "content": float("nan")},
    ),
    "missing-content-existing-file": ("{d}/f.txt", {"type": "file", "format": "text"}),
    # -- base64 that does not decode ----------------------------------------------
    "base64-garbage": (
        "{d}/f.txt",
        {"type": "file", "format": "base64", "content": "!!!not b64!!!"},
    ),
    "base64-bad-padding": ("{d}/f.txt", {"type": "file", "format": "base64", "content": "abc"}),
    "base64-data-after-padding": (
        "{d}/f.txt",
        {"type": "file", "format": "base64", "content": "YQ==YQ=="},
    ),
    "base64-non-ascii": ("{d}/f.txt", {"type": "file", "format": "base64", "content": "é"}),
    "base64-number": ("{d}/f.txt", {"type": "file", "format": "base64", "content": 7}),
    # -- notebooks that are not nbformat --------------------------------------------
    "nb-missing-cells": ("{d}/nb.ipynb", {"type": "notebook", "content": _nb(cells=_DROP)}),
    "nb-nbformat-99": ("{d}/nb.ipynb", {"type": "notebook", "content": _nb(nbformat=99)}),
    "nb-nbformat-string": ("{d}/nb.ipynb", {"type": "notebook", "content": _nb(nbformat="4")}),
    "nb-nbformat-3-with-v4-body": (
        "{d}/nb.ipynb",
        {"type": "notebook", "content": _nb(nbformat=3)},
    ),
    "nb-nbformat-minor-string": (
        "{d}/nb.ipynb",
        {"type": "notebook", "content": _nb(nbformat_minor="x")},
    ),
    "nb-cells-string": ("{d}/nb.ipynb", {"type": "notebook", "content": _nb(cells="abc")}),
    "nb-cells-ints": ("{d}/nb.ipynb", {"type": "notebook", "content": _nb(cells=[1, 2])}),
    "nb-cell-type-banana": (
        "{d}/nb.ipynb",
        {"type": "notebook", "content": _nb(cells=[{"cell_type": "banana"}])},
    ),
    "nb-metadata-list": ("{d}/nb.ipynb", {"type": "notebook", "content": _nb(metadata=[])}),
    "nb-empty-object": ("{d}/nb.ipynb", {"type": "notebook", "content": {}}),
    "nb-new-path-missing-cells": (
        "{d}/new.ipynb",
        {"type": "notebook", "content": _nb(cells=_DROP)},
    ),
}
MODEL_XFAIL = {
    "type-list": ("{d}/f.txt", {"type": ["file"], "format": "text", "content": "x"}),
}

MODEL_CASES = [
    *(pytest.param(target, model, id=name) for name, (target, model) in MODELS.items()),
    *(
        pytest.param(target, model, id=name, marks=UPSTREAM)
        for name, (target, model) in MODEL_XFAIL.items()
    ),
]


@DEFAULT_ONLY
@pytest.mark.parametrize("target,model", MODEL_CASES)
def test_bad_model(ws: Workspace, target: str, model: dict[str, Any]) -> None:
    before = ws.live.snapshot()
    sent = ws.call("PUT", "api/contents/" + target.format(d=ws.d), model)
    ws.refused(before, sent)


_CHUNK = {"type": "file", "format": "base64", "content": base64.b64encode(b"bait: x").decode()}
#: Single chunk messages that must be refused, to a new and to an existing path.
CHUNKS: dict[str, dict[str, Any]] = {
    "chunk-0": {**_CHUNK, "chunk": 0},
    "chunk-minus-2": {**_CHUNK, "chunk": -2},
    "chunk-string-x": {**_CHUNK, "chunk": "x"},
    "chunk-string-1": {**_CHUNK, "chunk": "1"},
    "chunk-float": {**_CHUNK, "chunk": 1.5},
    "chunk-true": {**_CHUNK, "chunk": True},
    "chunk-list": {**_CHUNK, "chunk": [1]},
    "chunk-huge": {**_CHUNK, "chunk": 10**30},
    "chunk-2-without-1": {**_CHUNK, "chunk": 2},
    "chunk-5-without-1": {**_CHUNK, "chunk": 5},
    "chunk-minus-1-alone": {**_CHUNK, "chunk": -1},
    "chunk-1-notebook": {"type": "notebook", "format": "json", "content": NB, "chunk": 1},
    "chunk-1-directory": {"type": "directory", "chunk": 1},
    "chunk-1-no-content": {"type": "file", "format": "base64", "chunk": 1},
    "chunk-1-format-zip": {**_CHUNK, "format": "zip", "chunk": 1},
    "chunk-1-content-number": {**_CHUNK, "content": 5, "chunk": 1},
    "chunk-1-base64-garbage": {**_CHUNK, "content": "!!!", "chunk": 1},
    "chunk-1-base64-data-after-padding": {**_CHUNK, "content": "YQ==YQ==", "chunk": 1},
    "chunk-1-base64-spaces": {**_CHUNK, "content": "Y Q = =", "chunk": 1},
}
CHUNK_CASES = [
    pytest.param(target, model, id=f"{name}-{label}")
    for name, model in CHUNKS.items()
    for label, target in (("new", "{d}/up.bin"), ("existing", "{d}/f.txt"))
    # To a new path, the handler calls new(), which fills in content "" first.
    if (name, label) != ("chunk-1-no-content", "new")
]


@DEFAULT_ONLY
@pytest.mark.parametrize("target,model", CHUNK_CASES)
def test_bad_chunk(ws: Workspace, target: str, model: dict[str, Any]) -> None:
    before = ws.live.snapshot()
    sent = ws.call("PUT", "api/contents/" + target.format(d=ws.d), model)
    ws.refused(before, sent)


@DEFAULT_ONLY
def test_chunks_out_of_order_after_a_good_first_chunk(ws: Workspace) -> None:
    """Chunk 1 is fine (spooled, nothing written); malformed chunks after it are not.
    (A chunk with another number appends, as in the reference: not tested here.)"""
    url = f"api/contents/{ws.d}/up.bin"
    before = ws.live.snapshot()
    first = ws.call("PUT", url, {**_CHUNK, "chunk": 1})
    assert first.resp.status in (200, 201), describe(first)
    assert not ws.changes(before), "chunk 1 must only be spooled"
    bad = [
        ws.call("PUT", url, {**_CHUNK, "chunk": 0}),
        ws.call("PUT", url, {**_CHUNK, "chunk": -1, "content": "!!!"}),
        ws.call("PUT", url, {**_CHUNK, "chunk": -1, "type": "notebook"}),
        ws.call("PUT", url, {**_CHUNK, "chunk": -1, "format": "zip"}),
    ]
    ws.refused(before, *bad)


#: POST bodies that must be refused: (folder posted to, body).
POSTS: dict[str, tuple[str, Any]] = {
    "copy-from-missing-file": ("{d}", {"copy_from": "{d}/missing.txt"}),
    "copy-from-missing-folder": ("{d}", {"copy_from": "{d}/missing"}),
    "copy-from-number": ("{d}", {"copy_from": 5}),
    "copy-from-true": ("{d}", {"copy_from": True}),
    "copy-from-list": ("{d}", {"copy_from": ["{d}/f.txt"]}),
    "copy-from-object": ("{d}", {"copy_from": {"path": "{d}/f.txt"}}),
    "copy-from-the-root": ("{d}", {"copy_from": "/"}),
    "copy-from-the-root-into-a-subfolder": ("{d}/sub", {"copy_from": "/"}),
    "copy-from-bucket-root-bait": ("{d}", {"copy_from": "../secret.txt"}),
    "copy-into-missing-parent": ("{d}/nowhere/deeper", {"copy_from": "{d}/f.txt"}),
    "copy-into-a-file": ("{d}/f.txt", {"copy_from": "{d}/nb.ipynb"}),
    "untitled-ext-with-slash": ("{d}", {"type": "file", "ext": "/evil.txt"}),
    "untitled-ext-with-dotdot": ("{d}", {"type": "file", "ext": "/../../evil.txt"}),
    "untitled-ext-number": ("{d}", {"type": "file", "ext": 5}),
    "untitled-ext-nul": ("{d}", {"type": "file", "ext": "\x00"}),
    "untitled-ext-checkpoints": ("{d}", {"type": "file", "ext": "/.checkpoints/x"}),
    "untitled-ext-too-long": ("{d}", {"type": "file", "ext": "." + "e" * 1100}),
    "untitled-in-missing-folder": ("{d}/nowhere", {"type": "notebook"}),
    "untitled-in-a-file": ("{d}/f.txt", {"type": "notebook"}),
}


@pytest.mark.parametrize("folder,body", POSTS.values(), ids=POSTS.keys())
def test_bad_post(ws: Workspace, folder: str, body: dict[str, Any]) -> None:
    before = ws.live.snapshot()
    sent = ws.call("POST", "api/contents/" + folder.format(d=ws.d), fill_in(body, ws.d))
    ws.refused(before, sent)


#: Checkpoint API requests that must be refused: (method, URL under api/contents/).
CHECKPOINT_CALLS: dict[str, tuple[str, str]] = {
    "create-of-the-root": ("POST", "checkpoints"),
    "list-of-the-root": ("GET", "checkpoints"),
    "restore-of-the-root": ("POST", f"checkpoints/{CP}"),
    "create-of-a-folder": ("POST", "{d}/sub/checkpoints"),
    "create-of-a-missing-file": ("POST", "{d}/missing.txt/checkpoints"),
    "restore-missing-id": ("POST", "{d}/f.txt/checkpoints/nosuchid"),
    "restore-id-traversal": ("POST", "{d}/f.txt/checkpoints/..%2f..%2fnb.ipynb"),
    "restore-id-nul": ("POST", "{d}/f.txt/checkpoints/a%00b"),
    "restore-id-too-long": ("POST", "{d}/f.txt/checkpoints/" + "i" * 1100),
    "restore-onto-a-missing-file": ("POST", f"{{d}}/gone.txt/checkpoints/{CP}"),
    "delete-missing-id": ("DELETE", "{d}/f.txt/checkpoints/nosuchid"),
    "delete-id-traversal": ("DELETE", "{d}/f.txt/checkpoints/..%2f..%2fnb.ipynb"),
    "delete-id-too-long": ("DELETE", "{d}/f.txt/checkpoints/" + "i" * 1100),
}


@DEFAULT_ONLY
@pytest.mark.parametrize("method,url", CHECKPOINT_CALLS.values(), ids=CHECKPOINT_CALLS.keys())
def test_bad_checkpoint_call(ws: Workspace, method: str, url: str) -> None:
    before = ws.live.snapshot()
    sent = ws.call(method, "api/contents/" + url.format(d=ws.d))
    ws.refused(before, sent)


#: /files/ requests that must be refused (bad ranges on a real file, hidden things).
FILES_CALLS: dict[str, tuple[str, dict[str, str]]] = {
    "range-past-the-end": ("{d}/f.txt", {"Range": "bytes=99999999999999999999999-"}),
    "range-empty-suffix": ("{d}/f.txt", {"Range": "bytes=-0"}),
    "range-reversed": ("{d}/f.txt", {"Range": "bytes=5-1"}),
    "a-folder": ("{d}/sub", {}),
    "the-root": ("", {}),
    "missing": ("{d}/missing.txt", {}),
}


@DEFAULT_ONLY
@pytest.mark.parametrize("path,headers", FILES_CALLS.values(), ids=FILES_CALLS.keys())
def test_bad_files_call(ws: Workspace, path: str, headers: dict[str, str]) -> None:
    before = ws.live.snapshot()
    sent = ws.call("GET", "files/" + path.format(d=ws.d), headers=headers)
    ws.refused(before, sent, html_ok=True)


# ============================================================================
# 3. Names near S3's key limit
# ============================================================================


def settle(ws: Workspace, before: Snapshot, seconds: float = 1.5) -> None:
    """Wait until the bucket changed since ``before``, or ``seconds`` passed: a
    write the server started concurrently may land after its answer."""
    deadline = time.monotonic() + seconds
    while ws.live.objects() == before.objects and time.monotonic() < deadline:
        time.sleep(0.05)


def refused_or_consistent(
    ws: Workspace, before: Snapshot, sent: Sent, check: Callable[[Changes], list[str]]
) -> None:
    """A 4xx must be clean and write nothing; a 2xx must pass ``check``."""
    if sent.resp.ok:
        problems = check(ws.changes(before))
        if problems:
            raise AssertionError(ws.report(before, (sent,), problems))
    else:
        ws.refused(before, sent)


@DEFAULT_ONLY
def test_notebook_whose_key_fits_but_not_its_checkpoint(ws: Workspace) -> None:
    """1,000 bytes: the notebook fits in a key, its first checkpoint would not."""
    path = name_for_key_bytes(ws, ws.d, 1000, ".ipynb")
    before = ws.live.snapshot()
    sent = ws.call("PUT", ws.api.contents_path(path), {"type": "notebook", "content": NB})
    settle(ws, before)

    def check(found: Changes) -> list[str]:
        got = ws.api.get(path)
        if got.status != 200:
            return [f"saved, but GET answers {got.status}"]
        cells = got.json["content"]["cells"]
        return [] if [c["source"] for c in cells] == ["print('original')"] else ["wrong cells"]

    refused_or_consistent(ws, before, sent, check)


@DEFAULT_ONLY
def test_checkpoint_of_a_file_whose_checkpoint_key_is_too_long(ws: Workspace) -> None:
    path = name_for_key_bytes(ws, ws.d, 1000, ".txt")
    ws.seed({path: (b"long\n", "text/plain")})
    before = ws.live.snapshot()
    sent = ws.call("POST", ws.api.contents_path(path) + "/checkpoints")
    ws.refused(before, sent)


@DEFAULT_ONLY
def test_copy_of_a_notebook_into_a_folder_where_its_checkpoint_does_not_fit(
    ws: Workspace,
) -> None:
    folder = name_for_key_bytes(ws, ws.d, 990, "")
    ws.seed({folder + "/": MARKER})
    before = ws.live.snapshot()
    sent = ws.call("POST", ws.api.contents_path(folder), {"copy_from": f"{ws.d}/nb.ipynb"})
    settle(ws, before)

    def check(found: Changes) -> list[str]:
        copy = sent.resp.json.get("path", "")
        problems = [] if ws.api.get(copy).status == 200 else [f"copy {copy!r} unreadable"]
        stray = [k for k in found.added if not k.startswith(PREFIX + copy)]
        return problems + [f"unexpected key {k!r}" for k in stray]

    refused_or_consistent(ws, before, sent, check)


@DEFAULT_ONLY
def test_300_character_name_is_refused_or_fully_usable(ws: Workspace) -> None:
    """S3 takes a 300-byte segment (POSIX file systems would not): either JupyterS3
    refuses it cleanly, or every operation works on it."""
    name = "L" * 300 + ".txt"
    path = f"{ws.d}/{name}"
    before = ws.live.snapshot()
    sent = ws.call("PUT", ws.api.contents_path(path), TEXT_MODEL)
    if not sent.resp.ok:
        ws.refused(before, sent)
        return
    assert ws.live.raw.get(ws.live.bucket, PREFIX + path) == b"bait: pwned"
    listing = ws.api.get(ws.d).expect(200).json
    assert name in [e["name"] for e in listing["content"]]
    assert ws.api.get(path, type="file", format="text").expect(200).json["content"] == "bait: pwned"
    assert ws.api.files(path).expect(200).body == b"bait: pwned"
    ws.api.create_checkpoint(path).expect(201)
    ws.api.rename(path, f"{ws.d}/{'M' * 300}.txt").expect(200)
    ws.api.delete(f"{ws.d}/{'M' * 300}.txt").expect(204)
    assert not [
        k for k in ws.live.raw.keys(ws.live.bucket, PREFIX + ws.d + "/") if "LLL" in k or "MMM" in k
    ]


# ============================================================================
# 4. Inputs jupyter_server gives a meaning to: exactly that, nothing more
# ============================================================================


@DEFAULT_ONLY
def test_inputs_jupyter_server_defines(ws: Workspace) -> None:
    """Not refusals, but precise outcomes (jupyter_server's handlers define them)."""
    d, raw, bucket = ws.d, ws.live.raw, ws.live.bucket

    # An unknown type is saved as a file (ContentsHandler.put: "fall back to file").
    before = ws.live.snapshot()
    ws.call("PUT", f"api/contents/{d}/f.txt", {"type": "banana", "format": "text", "content": "b"})
    found = ws.changes(before)
    assert raw.get(bucket, PREFIX + f"{d}/f.txt") == b"b"
    assert set(found.modified) == {PREFIX + f"{d}/f.txt"} and not found.added and not found.removed

    # PATCH without a path renames to itself: a no-op (ContentsManager.update).
    before = ws.live.snapshot()
    same = ws.call("PATCH", f"api/contents/{d}/f.txt", {})
    assert same.resp.status == 200 and same.resp.json["path"] == f"{d}/f.txt", describe(same)
    assert not ws.changes(before)

    # A folder can be copied: its keys, not its checkpoints, land in <name>-Copy1.
    before = ws.live.snapshot()
    copied = ws.call("POST", f"api/contents/{d}", {"copy_from": f"{d}/sub"})
    assert copied.resp.status == 201, describe(copied)
    found = ws.changes(before)
    assert set(found.added) == {PREFIX + f"{d}/sub-Copy1/", PREFIX + f"{d}/sub-Copy1/inner.txt"}
    assert not found.removed and not found.modified

    # A folder copied into itself copies what it held before, once.
    before = ws.live.snapshot()
    inside = ws.call("POST", f"api/contents/{d}/sub", {"copy_from": f"{d}/sub"})
    found = ws.changes(before)
    if inside.resp.ok:
        assert set(found.added) == {PREFIX + f"{d}/sub/sub/", PREFIX + f"{d}/sub/sub/inner.txt"}
        assert not found.removed and not found.modified
    else:
        ws.refused(before, inside)

    # A new folder's "content" never becomes children.
    before = ws.live.snapshot()
    listing = [{"name": "evil.txt", "type": "file", "content": "bait: x", "format": "text"}]
    made = ws.call(
        "PUT",
        f"api/contents/{d}/newdir",
        {"type": "directory", "format": "json", "content": listing},
    )
    found = ws.changes(before)
    if made.resp.ok:
        assert set(found.added) == {PREFIX + f"{d}/newdir/"}, found.describe()
    else:
        ws.refused(before, made)


# ============================================================================
# 5. Huge bodies
# ============================================================================

HUGE = 200 * 1024 * 1024


def _connection(live: Live) -> tuple[str, int, str]:
    parts = urlsplit(live.api.base_url)
    prefix = "/" + parts.path.strip("/") + "/" if parts.path.strip("/") else "/"
    return parts.hostname or "127.0.0.1", parts.port or 80, prefix


def _stream(head: bytes, size: int, tail: bytes) -> Iterator[bytes]:
    yield head
    block = b"a" * (1024 * 1024)
    left = size
    while left > 0:
        yield block[: min(left, len(block))]
        left -= len(block)
    yield tail


def send_streamed(live: Live, method: str, url: str, parts: Iterator[bytes], length: int) -> Sent:
    host, port, prefix = _connection(live)
    conn = http.client.HTTPConnection(host, port, timeout=120)
    try:
        conn.putrequest(method, prefix + url)
        conn.putheader("Authorization", f"token {live.api.token}")
        conn.putheader("Content-Type", "application/json")
        conn.putheader("Content-Length", str(length))
        conn.endheaders()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            for part in parts:
                conn.send(part)
        resp = conn.getresponse()
        data = resp.read()
        try:
            parsed = json.loads(data) if data else None
        except ValueError:
            parsed = None
        return Sent(
            f"{method} /{url} <{length} bytes>", Response(resp.status, resp.headers, parsed, data)
        )
    finally:
        conn.close()


def send_raw(live: Live, request: bytes) -> tuple[int | None, bytes]:
    """Raw bytes on a socket; the status (None if the server just closed) and the reply."""
    host, port, _ = _connection(live)
    with socket.create_connection((host, port), timeout=30) as sock:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(request)
        reply = b""
        with contextlib.suppress(ConnectionResetError, TimeoutError):
            while chunk := sock.recv(65536):
                reply += chunk
    match = re.match(rb"HTTP/1\.[01] (\d{3})", reply)
    return (int(match.group(1)) if match else None), reply


@DEFAULT_ONLY
def test_huge_unterminated_json_body(ws: Workspace) -> None:
    head = b'{"type": "file", "format": "text", "content": "'
    before = ws.live.snapshot()
    sent = send_streamed(
        ws.live, "PUT", f"api/contents/{ws.d}/big.txt", _stream(head, HUGE, b""), len(head) + HUGE
    )
    ws.refused(before, sent)
    assert ws.live.alive()


@DEFAULT_ONLY
def test_huge_valid_json_body_to_a_traversal_path(ws: Workspace) -> None:
    head, tail = b'{"type": "file", "format": "text", "content": "', b'"}'
    before = ws.live.snapshot()
    sent = send_streamed(
        ws.live,
        "PUT",
        f"api/contents/{ws.d}/%2e%2e/big.txt",
        _stream(head, HUGE, tail),
        len(head) + HUGE + len(tail),
    )
    ws.refused(before, sent)
    assert ws.live.alive()


@DEFAULT_ONLY
@pytest.mark.parametrize(
    "framing",
    [
        pytest.param(b"Content-Length: 1099511627776\r\n\r\n{}", id="content-length-1TiB"),
        pytest.param(b"Content-Length: -5\r\n\r\n{}", id="content-length-negative"),
        pytest.param(
            b"Content-Length: 2\r\nContent-Length: 9\r\n\r\n{}", id="content-length-twice"
        ),
        pytest.param(
            b"Transfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFF\r\n{}", id="chunked-size-256TiB"
        ),
    ],
)
def test_lying_framing(ws: Workspace, framing: bytes) -> None:
    """Tornado refuses these before Jupyter runs: a bare 400 (no JSON), or it hangs up."""
    _, _, prefix = _connection(ws.live)
    head = (
        f"PUT {prefix}api/contents/{ws.d}/big.txt HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: token {ws.live.api.token}\r\nContent-Type: application/json\r\n"
        "Connection: close\r\n"
    ).encode()
    before = ws.live.snapshot()
    status, reply = send_raw(ws.live, head + framing)
    assert status is None or 400 <= status < 500, reply[:300]
    assert not TRACEBACK.search(reply.decode("latin-1"))
    found = ws.changes(before)
    assert not found, found.describe()
    assert ws.live.alive()


# ============================================================================
# 6. Property-based: random paths and models
# ============================================================================

_MISSING = object()
_WIRE_PIECES = [
    ".", "..", "...", ".checkpoints", ".hidden", "%2e", "%2E%2E", "%2f", "%2F", "%5c", "%5C",
    "\\", "%00", "%0A", "%0d", "%09", "%7F", "%C2%85", "%FF", "%ED%A0%80", "%25", "%252e%252e",
    "%20", "~", "+", "=", "&", ";", ",", "'", "!", "*", "$", "@", "(",
    "f.txt", "nb.ipynb", "sub", "inner.txt", "x.txt", "x.ipynb", "a",
    quote("é"), quote("日本"), quote("\U0001f600"),
]  # fmt: skip


def _wire_piece() -> st.SearchStrategy[str]:
    text = st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=6)
    return st.one_of(st.sampled_from(_WIRE_PIECES), text.map(lambda s: quote(s, safe="")))


#: A path relative to the workspace, as sent on the wire (``""`` segments give ``//``).
#: Paths that exist in the workspace or could: the operations that succeed.
_PLAUSIBLE = [
    "f.txt", "nb.ipynb", "sub", "sub/inner.txt", "new.txt", "new.ipynb", "newdir",
    "sub/new.bin", "a%20b.txt", quote("café ü.txt"), "%252e%252e", "100%25.txt",
]  # fmt: skip
wire_paths = st.one_of(
    st.lists(
        st.lists(_wire_piece(), min_size=0, max_size=3).map("".join), min_size=1, max_size=3
    ).map("/".join),
    st.sampled_from(_PLAUSIBLE),
)

_b64 = st.binary(max_size=40).map(lambda b: base64.b64encode(b).decode())
contents = st.one_of(
    st.text(max_size=40),
    _b64,
    st.sampled_from(["!!!", "abc", "YQ==YQ==", "Y Q = =", "é"]),
    st.just(NB),
    st.sampled_from([_nb(cells=_DROP), _nb(nbformat=99), _nb(cells="x"), {}, [NB]]),
    st.integers(-5, 5),
    st.none(),
    st.just(_MISSING),
)
_random_models = st.fixed_dictionaries(
    {
        "type": st.sampled_from(["file", "notebook", "directory", "banana", 5, None, _MISSING]),
        "format": st.sampled_from(["text", "base64", "json", "zip", None, _MISSING]),
        "content": contents,
        "chunk": st.sampled_from([_MISSING, _MISSING, _MISSING, None, 0, 1, -1, -2, 2, "x", True]),
    }
)
#: Well-formed models, so that saves succeed often enough to check what they wrote.
_valid_models = st.one_of(
    st.fixed_dictionaries(
        {"type": st.just("file"), "format": st.just("text"), "content": st.text(max_size=40)}
    ),
    st.fixed_dictionaries({"type": st.just("file"), "format": st.just("base64"), "content": _b64}),
    st.fixed_dictionaries(
        {
            "type": st.just("notebook"),
            "format": st.sampled_from(["json", _MISSING]),
            "content": st.just(NB),
        }
    ),
    st.just({"type": "directory"}),
)
models = st.one_of(_random_models, _valid_models).map(
    lambda m: {k: v for k, v in m.items() if v is not _MISSING}
)

operations = st.one_of(
    st.tuples(
        st.just("GET"),
        wire_paths,
        st.sampled_from(["", "?type=file", "?type=directory", "?format=base64", "?content=0"]),
    ),
    st.tuples(st.just("PUT"), wire_paths, models),
    st.tuples(st.just("PATCH"), wire_paths, wire_paths),
    st.tuples(st.just("DELETE"), wire_paths, st.none()),
    st.tuples(st.just("POST"), wire_paths, wire_paths),
)


def decoded(wire: str) -> str | None:
    """The API path tornado hands to Jupyter for ``wire``; None if it is not UTF-8."""
    try:
        return unquote_to_bytes(wire).decode("utf-8").strip("/")
    except UnicodeDecodeError:
        return None


def _under(key: str, base: str) -> bool:
    return key == base or key.startswith(base + "/")


def _expected_bytes(model: dict[str, Any], existed: bool) -> bytes | None:
    """What a successful save of a file model must have stored (None: unknown)."""
    content, fmt = model.get("content", _MISSING), model.get("format", _MISSING)
    if content is _MISSING and not existed:
        return b""  # new() fills in an empty text file
    if fmt == "text" and isinstance(content, str):
        return content.encode("utf-8")
    if fmt == "base64" and isinstance(content, str):
        try:
            return base64.b64decode(content)
        except ValueError:
            return b"<base64 that does not decode>"
    return None


def check_success(
    w: Workspace, before: Snapshot, method: str, wire: str, arg: Any, sent: Sent
) -> list[str]:
    """The invariants of a 2xx answer (empty list: they hold)."""
    found = w.changes(before)
    path = decoded(f"{w.d}/{wire}")
    if path is None:
        return ["a path that is not UTF-8 was accepted"]
    key = PREFIX + path
    body = sent.resp.json if isinstance(sent.resp.json, dict) else {}
    if method == "GET":
        if found:
            return ["GET wrote:\n" + found.describe()]
        base64_file = body.get("type") == "file" and body.get("format") == "base64"
        if base64_file and base64.b64decode(body["content"]) != w.live.raw.get(w.live.bucket, key):
            return ["GET returned other bytes than the bucket holds"]
        return []
    if method == "DELETE":
        problems = [f"DELETE touched {k!r}" for k in found.added | found.modified]
        problems += [
            f"DELETE removed {k!r}, outside {key!r}" for k in found.removed if not _under(k, key)
        ]
        if not found.removed:
            problems.append("DELETE answered 2xx but removed nothing")
        left = [k for k in w.live.objects() if _under(k, key)]
        return problems + [f"{k!r} survived the DELETE" for k in left]
    model_path = body.get("path")
    if method == "PUT":
        model: dict[str, Any] = arg
        if model_path != path:
            return [f"saved as {model_path!r}, not {path!r}"]
        problems = [f"PUT removed {k!r}" for k in found.removed]
        stray = [k for k in found.added | found.modified if not _under(k, key)]
        problems += [f"PUT wrote {k!r}, outside {key!r}" for k in stray]
        if "chunk" in model and model["chunk"] is not None:
            if model["chunk"] != 1 or isinstance(model["chunk"], bool):
                problems.append(f"chunk {model['chunk']!r} accepted with no upload in progress")
            elif found:
                problems.append("chunk 1 wrote to S3:\n" + found.describe())
            return problems
        kind = model.get("type", _MISSING)
        if kind is _MISSING:
            kind = "notebook" if path.endswith(".ipynb") else "file"
        elif kind not in ("notebook", "directory"):
            kind = "file"
        if kind == "directory":
            return problems + ([] if key + "/" in w.live.objects() else ["no folder marker"])
        stored = w.live.raw.get(w.live.bucket, key)
        if kind == "notebook":
            try:
                nb = json.loads(stored)
                assert isinstance(nb["cells"], list)
            except Exception:
                return [*problems, f"the saved notebook is not one: {stored[:100]!r}"]
            return problems
        want = _expected_bytes(model, existed=key in before.objects)
        if want is not None and stored != want:
            problems.append(f"stored {stored[:60]!r}, sent {want[:60]!r}")
        back = w.api.get(path, type="file", format="base64")
        if back.status != 200 or base64.b64decode(back.json["content"]) != stored:
            problems.append(f"not readable back byte-exact: GET answered {back.status}")
        return problems
    # PATCH (rename) or POST (copy): keys move or appear under the answer's path.
    if not isinstance(model_path, str):
        return ["no path in the answer"]
    new_key = PREFIX + model_path
    if method == "PATCH":
        if model_path == path:
            return ["a no-op rename wrote:\n" + found.describe()] if found else []
        problems = [f"rename modified {k!r}" for k in found.modified]
        for old, (etag, size, _) in found.removed.items():
            moved = new_key + old[len(key) :]
            if not _under(old, key):
                problems.append(f"rename removed {old!r}, outside {key!r}")
            elif found.added.get(moved, (None, None))[:2] != (etag, size):
                problems.append(f"{old!r} did not arrive as {moved!r}")
        if len(found.added) != len(found.removed):
            problems.append("rename added other keys than it removed")
        return problems
    problems = [f"copy removed or modified {k!r}" for k in found.removed | found.modified]
    problems += [
        f"copy wrote {k!r}, outside {new_key!r}" for k in found.added if not _under(k, new_key)
    ]
    return problems


@settings(
    max_examples=60,
    deadline=None,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(op=operations)
def test_fuzz(live: Live, op: tuple[str, str, Any]) -> None:
    method, wire, arg = op
    with workspace(live) as w:
        url = f"api/contents/{w.d}/{wire}"
        before = live.snapshot()
        if method == "GET":
            sent = w.call("GET", url + arg)
        elif method == "PUT":
            sent = w.call("PUT", url, arg)
        elif method == "PATCH":
            target = unquote_to_bytes(f"{w.d}/{arg}").decode("utf-8", "surrogateescape")
            sent = w.call("PATCH", url, {"path": target})
        elif method == "POST":
            source = unquote_to_bytes(f"{w.d}/{arg}").decode("utf-8", "surrogateescape")
            sent = w.call("POST", url, {"copy_from": source})
        else:
            sent = w.call("DELETE", url)
        status = sent.resp.status
        event(f"{method} -> {status // 100}xx")  # --hypothesis-show-statistics
        if 400 <= status < 500:
            w.refused(before, sent)
            return
        if 300 <= status < 400:  # tornado's removeslash: GET .../ redirects to ...
            found = w.changes(before)
            if found or not sent.resp.headers.get("Location"):
                raise AssertionError(w.report(before, (sent,), ["a redirect", found.describe()]))
            return
        problems = [] if 200 <= status < 300 else [f"status {status}"]
        if BAIT_MARK in sent.resp.body:
            problems.append("the answer leaks a bait object")
        if not problems:
            problems = check_success(w, before, method, wire, arg, sent)
        if problems:
            raise AssertionError(w.report(before, (sent,), problems))
