"""The conformance harness: the same REST calls to jupyter_server's own manager and to JupyterS3.

The *reference* is jupyter_server's own local-disk manager (``AsyncLargeFileManager``,
the default of ``ServerApp.contents_manager_class``); *JupyterS3* runs on a real moto
S3 server. :func:`reference_and_jupyters3` starts one live server of each;
:class:`Conformance` sends the same requests to both and demands the same status
codes and equivalent models (see :func:`normalise`). Each scenario works in a fresh
folder with the same uuid name on both servers, so ``path`` fields compare as they
are.

The reference is configured with ``delete_to_trash=False, always_delete_dir=True``:
on Linux its default (send2trash) also deletes non-empty folders, but into the
user's trash; this keeps the same REST behaviour without touching it.

Used by test_conformance.py and test_renames.py, through the ``sides`` and ``c``
fixtures of e2e/conftest.py.
"""

from __future__ import annotations

import base64
import contextlib
import json
import re
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from jupyters3_testing import (
    ContentsClient,
    JupyterFactory,
    JupyterServer,
    MotoServer,
    RawS3,
    Response,
    jupyters3_config,
)

REFERENCE_MANAGER = "jupyter_server.services.contents.largefilemanager.AsyncLargeFileManager"
REFERENCE_CONFIG: dict[str, Any] = {
    "ServerApp": {"contents_manager_class": REFERENCE_MANAGER},
    "FileContentsManager": {"delete_to_trash": False, "always_delete_dir": True},
}


def _notebook(*sources: str) -> dict[str, Any]:
    """A valid v4.5 notebook as plain JSON (cell ids fixed once, sent to both servers)."""
    cells = [new_markdown_cell("# Title ³ é"), *(new_code_cell(s) for s in sources)]
    nb = new_notebook(
        cells=cells, metadata={"kernelspec": {"name": "python3", "display_name": "Python 3"}}
    )
    data: dict[str, Any] = json.loads(nbformat.writes(nb))
    return data


NOTEBOOK = _notebook("print('hello')")
NOTEBOOK_2 = _notebook("print('changed')", "x = 1")
BINARY = bytes(range(256)) + b"\xff\xfe\x00 not utf-8"
TEXT = "ünicode text\nline 2\n"


# ============================================================================
# The two servers
# ============================================================================


@dataclass
class Side:
    """One server under test, with a way to put bytes in its storage behind its back."""

    label: str
    server: JupyterServer
    client: ContentsClient
    write_raw: Callable[[str, bytes], None]
    mkdir_raw: Callable[[str], None]


@contextlib.contextmanager
def reference_and_jupyters3(
    moto: MotoServer, region: str, env: dict[str, str | None]
) -> Iterator[tuple[Side, Side]]:
    """The reference and JupyterS3 servers (started concurrently), stopped on exit."""
    bucket = f"js3-conformance-{uuid.uuid4().hex[:12]}"
    moto.create_bucket(bucket, region)
    raw = RawS3(moto.endpoint_url, region)
    s3_config = jupyters3_config(bucket=bucket, endpoint_url=moto.endpoint_url, region=region)
    factory = JupyterFactory({}, env)
    try:
        with ThreadPoolExecutor(2) as pool:
            ref_future = pool.submit(factory, config=REFERENCE_CONFIG)
            s3_future = pool.submit(factory, config=s3_config)
            ref_server, s3_server = ref_future.result(), s3_future.result()

        def ref_write(path: str, data: bytes) -> None:
            target = ref_server.root_dir / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)

        def ref_mkdir(path: str) -> None:
            (ref_server.root_dir / path).mkdir(parents=True, exist_ok=True)

        def s3_write(path: str, data: bytes) -> None:
            raw.put(bucket, path, data)

        def s3_mkdir(path: str) -> None:
            raw.put(bucket, path.rstrip("/") + "/", b"", "application/x-directory")

        yield (
            Side(
                "reference",
                ref_server,
                ContentsClient(ref_server.url, ref_server.token),
                ref_write,
                ref_mkdir,
            ),
            Side(
                "jupyters3",
                s3_server,
                ContentsClient(s3_server.url, s3_server.token),
                s3_write,
                s3_mkdir,
            ),
        )
    finally:
        with ThreadPoolExecutor(2) as pool:  # stop both at once (each may take seconds)
            list(pool.map(JupyterServer.close, factory.servers))
        factory.close_all()
        with contextlib.suppress(Exception):  # cleanup must never fail the tests
            raw.delete_bucket(bucket)


# ============================================================================
# Normalisation and comparison
# ============================================================================

_CHECKPOINT_ID = re.compile(r"^[\w-]+\Z")


def _is_time(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    return parsed.tzinfo is not None


def normalise(model: Any) -> Any:
    """The comparable part of a contents model, checkpoint model or list of them.

    Kept exactly: the set of keys, ``name``, ``path``, ``type``, ``format``,
    ``mimetype``, ``content`` (folders: their children, normalised, sorted by
    name), ``size`` of files and notebooks, and whether ``hash``,
    ``hash_algorithm`` and ``message`` are set. Presence only: ``created``,
    ``last_modified`` (a timezone-aware ISO time), ``writable`` (a bool),
    folder ``size``, checkpoint ``id`` (a ``[\\w-]+`` string).
    """
    if isinstance(model, list):
        return [normalise(item) for item in model]
    if not isinstance(model, dict):
        return model
    if set(model) == {"id", "last_modified"}:  # a checkpoint
        return {
            "checkpoint.id": bool(_CHECKPOINT_ID.match(str(model["id"]))),
            "checkpoint.last_modified": _is_time(model["last_modified"]),
        }
    out: dict[str, Any] = {"keys": sorted(model)}
    for key in ("name", "path", "type", "format", "mimetype"):
        out[key] = model.get(key)
    for key in ("created", "last_modified"):
        out[key] = "<time>" if _is_time(model.get(key)) else model.get(key)
    out["writable"] = type(model.get("writable")).__name__
    for key in ("hash", "hash_algorithm", "message"):
        out[key] = "<set>" if model.get(key) else model.get(key)
    if model.get("type") == "directory":
        out["size"] = "<folder size>"
    else:
        out["size"] = model.get("size")
    content = model.get("content")
    if model.get("type") == "directory" and isinstance(content, list):
        out["content"] = sorted(
            (normalise(child) for child in content), key=lambda child: str(child.get("name"))
        )
    else:
        out["content"] = content
    return out


def outcome(resp: Response) -> dict[str, Any]:
    """What must be equal: the status, and for a success the normalised body."""
    result: dict[str, Any] = {"status": resp.status}
    if resp.ok:
        result["body"] = normalise(resp.json)
        location = resp.headers.get("Location")
        if location is not None and isinstance(resp.json, dict) and "id" in resp.json:
            location = location.removesuffix(resp.json["id"]) + "<checkpoint id>"
        result["Location"] = location
    return result


def summary(resp: Response) -> str:
    if resp.ok:
        return f"HTTP {resp.status}"
    message = resp.json.get("message") if isinstance(resp.json, dict) else resp.body[:300]
    return f"HTTP {resp.status}: {message!r}"


class Conformance:
    """Calls both servers the same way and compares their answers.

    ``base`` is this test's folder (same name on both). ``p(name)`` is a path in it.
    """

    def __init__(self, ref: Side, s3: Side, base: str) -> None:
        self.ref, self.s3, self.base = ref, s3, base

    def p(self, *names: str) -> str:
        return "/".join((self.base, *names))

    def both(self, method: str, *args: Any, **kwargs: Any) -> tuple[Response, Response]:
        """Call ``ContentsClient.<method>`` on both servers (no comparison)."""
        ref = getattr(self.ref.client, method)(*args, **kwargs)
        s3 = getattr(self.s3.client, method)(*args, **kwargs)
        return ref, s3

    def same(self, step: str, method: str, *args: Any, **kwargs: Any) -> tuple[Response, Response]:
        """Call ``ContentsClient.<method>`` on both; status and model must agree."""
        ref, s3 = self.both(method, *args, **kwargs)
        self.compare(f"{step} [{method}{args!r}{kwargs or ''}]", ref, s3)
        return ref, s3

    @staticmethod
    def compare(step: str, ref: Response, s3: Response) -> None:
        expected, actual = outcome(ref), outcome(s3)
        assert actual == expected, (
            f"{step}: JupyterS3 differs from the reference\n"
            f"  reference: {summary(ref)}\n  jupyters3: {summary(s3)}"
        )

    @staticmethod
    def compare_body(step: str, ref: Response, s3: Response) -> None:
        """Both succeed with equivalent models; the exact 2xx status is not compared."""
        assert ref.ok and s3.ok, f"{step}: {summary(ref)} vs {summary(s3)}"
        expected, actual = outcome(ref), outcome(s3)
        del expected["status"], actual["status"]
        assert actual == expected, f"{step}: JupyterS3 differs from the reference"

    @staticmethod
    def compare_class(step: str, ref: Response, s3: Response) -> None:
        """Only the status class (2xx/4xx/5xx) must agree."""
        assert ref.status // 100 == s3.status // 100, (
            f"{step}: status class differs\n  reference: {summary(ref)}\n  jupyters3: {summary(s3)}"
        )

    def expect(self, step: str, status: int, method: str, *args: Any, **kwargs: Any) -> None:
        """Both must agree *and* answer ``status`` (guards scenarios against a shared bug)."""
        ref, _ = self.same(step, method, *args, **kwargs)
        assert ref.status == status, f"{step}: the reference answered {summary(ref)}"

    def seed_raw(self, files: dict[str, bytes], folders: tuple[str, ...] = ()) -> None:
        """Put files and folders in both storages directly (not through the API)."""
        for folder in folders:
            self.ref.mkdir_raw(self.p(folder))
            self.s3.mkdir_raw(self.p(folder))
        for name, data in files.items():
            self.ref.write_raw(self.p(name), data)
            self.s3.write_raw(self.p(name), data)

    # -- shortcuts for set-up through the API (both must agree here too) ------

    def text(self, name: str, text: str = TEXT) -> None:
        self.same(f"set-up: save {name}", "save_text", self.p(name), text)

    def binary(self, name: str, data: bytes = BINARY) -> None:
        model = {"type": "file", "format": "base64", "content": b64(data)}
        self.same(f"set-up: save {name}", "save", self.p(name), model)

    def notebook(self, name: str, nb: dict[str, Any] = NOTEBOOK) -> None:
        model = {"type": "notebook", "format": "json", "content": nb}
        self.same(f"set-up: save {name}", "save", self.p(name), model)

    def mkdir(self, name: str) -> None:
        self.same(f"set-up: mkdir {name}", "mkdir", self.p(name))


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
