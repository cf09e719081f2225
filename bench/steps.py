"""The benchmark's workload: steps (measured) and the fixtures they need (not measured).

Every step talks to the Jupyter server through its REST API only, as
JupyterLab would. A step that needs data another step makes (a 200-file
folder, a notebook, an uploaded 1 GB file) gets it from a fixture when that
step did not run, so any subset of steps can be run (``--steps``).

The mount steps (``mounts=True``) run on a second Jupyter server whose config
has ``c.JupyterS3.mounts``: ``team`` (another bucket on the same moto server,
behind the same proxy) and ``far`` (a bucket on a second moto server, behind
its own proxy). They are opt-in: only run when named in ``--steps``.
"""

from __future__ import annotations

import base64
import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

from payload import Payload, SequentialView, download

from jupyters3_testing import ContentsClient, JupyterServer, Response
from jupyters3_testing.rest import CHUNK_SIZE

__all__ = [
    "FAR_BUCKET",
    "MOUNT_STEPS",
    "SIZES",
    "STEPS",
    "STORED_STEPS",
    "TEAM_BUCKET",
    "Context",
    "MountRig",
    "Seed",
    "Sizes",
    "Step",
    "ensure",
    "mounts_config",
]

#: Writes files straight into the storage (setup): ``seed(paths, body_of_index)``.
Seed = Callable[[list[str], Callable[[int], bytes]], None]

SMALL_FILES = 200
MANY_FILES = 2000
REPEAT = 3  # single-request operations are repeated, figures are per operation

FOLDER_200 = "upload200"
FOLDER_200_RENAMED = "renamed200"
FOLDER_2000 = "list2000"
NOTEBOOK = "nb/big.ipynb"
FILE = "files/data.bin"
FILE_RENAMED = "files/data-renamed.bin"
MEDIUM = "big/medium.bin"
LARGE = "big/large.bin"

#: The mount steps' buckets: ``team`` on the main moto server, ``far`` on the second.
TEAM_BUCKET = "bench-team"
FAR_BUCKET = "bench-far"
#: The 1 GB object in the far mount, copied into the main bucket's root.
FAR_LARGE = "far/large-1g.bin"
FAR_LARGE_COPY = "large-1g.bin"
FAR_LARGE_SIZE = 10**9


def mounts_config(far_endpoint: str) -> dict[str, Any]:
    """``c.JupyterS3.mounts`` of the mount steps' server: ``team`` inherits the main
    bucket's endpoint (so a copy into it is server-side), ``far`` is on another one."""
    return {
        "team": f"s3://{TEAM_BUCKET}/",
        "far": {
            "url": f"s3://{FAR_BUCKET}/",
            "endpoint_url": far_endpoint,
            "share_main_credentials": True,  # moto takes any key
        },
    }


@dataclass(frozen=True)
class MountRig:
    """Setup and checks of the mount steps, straight into the moto servers (not
    through the proxies, not measured)."""

    #: How many keys a bucket of the main moto server holds under a prefix.
    count_keys: Callable[[str, str], int]
    #: Writes a payload into the far bucket (key in it, payload, deadline); returns its SHA-256.
    seed_far: Callable[[str, Payload, float], str]
    #: The size and SHA-256 of a key of the main bucket (key, deadline).
    main_digest: Callable[[str, float], tuple[int, str]]


@dataclass(frozen=True)
class Sizes:
    """Sizes of the two chunked uploads."""

    medium: int
    large: int

    @staticmethod
    def label(size: int) -> str:
        return f"{size / 1e9:g} GB" if size >= 10**9 else f"{size / 1e6:g} MB"


SIZES = {"small": Sizes(50 * 10**6, 200 * 10**6), "full": Sizes(50 * 10**6, 10**9)}


@dataclass
class Context:
    """What steps and fixtures share during one (manager, latency) run."""

    client: ContentsClient
    server: JupyterServer
    sizes: Sizes
    seed: Seed
    #: The largest file the server sends inline in a content GET (None: no limit):
    #: ``JupyterS3.max_inline_bytes``; the local-disk manager has none.
    inline_limit: int | None = None
    have: set[str] = field(default_factory=set)
    digests: dict[str, str] = field(default_factory=dict)
    checkpoint_id: str = ""
    #: Bytes the bucket stores, every version counted (None: not an S3 run).
    stored: Callable[[], int] | None = None
    #: Step name -> bytes it added to what the bucket stores (STORED_STEPS only).
    stored_growth: dict[str, int] = field(default_factory=dict)
    medium_checkpoint: str = ""
    #: The mount steps' rig (None: this server has no mounts).
    mounts: MountRig | None = None
    #: The kernel steps' rig (``kernel_steps.KernelRig``; None: not an S3 run).
    kernels: Any = None
    #: Step name -> figures it measured itself (seconds, counts), printed after the table.
    figures: dict[str, dict[str, float]] = field(default_factory=dict)
    #: Kernel sessions the kernel steps' fixtures started, by folder.
    sessions: dict[str, Any] = field(default_factory=dict)
    #: LIST requests of a prefix the S3 proxy saw so far (None: not an S3 run).
    count_lists: Callable[[str], int] | None = None


def _ok(resp: Response, *statuses: int) -> Response:
    return resp.expect(*statuses)


def _check_deadline(deadline: float, what: str) -> None:
    if time.monotonic() > deadline:
        raise TimeoutError(f"{what}: step time limit reached")


def _small_file(index: int) -> bytes:
    line = f"small file {index:04d}: the quick brown fox jumps over the lazy dog\n"
    return (line * 24).encode()


def _notebook() -> dict[str, Any]:
    """An nbformat 4.5 notebook of ~1.0 MB as Jupyter stores it (indent=1, line lists):
    205 code cells with source and stream output."""
    cells = []
    for i in range(205):
        source = "".join(f"value_{i}_{j} = compute({i}, {j})  # step {j}\n" for j in range(40))
        text = "".join(f"row {i:03d}.{j:03d}: {i * j:>10d} {'x' * 32}\n" for j in range(40))
        cells.append(
            {
                "cell_type": "code",
                "id": f"cell-{i:04d}",
                "metadata": {},
                "execution_count": i + 1,
                "source": source,
                "outputs": [{"output_type": "stream", "name": "stdout", "text": text}],
            }
        )
    return {
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
            "language_info": {"name": "python"},
        },
        "cells": cells,
    }


#: The notebook every notebook step saves and reads back.
_NOTEBOOK = _notebook()


# -- fixtures (setup, not measured) ----------------------------------------------------


def _seed_folder(ctx: Context, folder: str, count: int) -> None:
    _ok(ctx.client.mkdir(folder))
    ctx.seed([f"{folder}/f{i:04d}.txt" for i in range(count)], _small_file)


def _upload(ctx: Context, path: str, size: int, seed: int, deadline: float) -> None:
    """Upload ``size`` generated bytes exactly as JupyterLab does; remember their hash."""
    view = SequentialView(Payload(size, seed), deadline)
    # upload_chunked only needs len() and consecutive slices of a file larger than one
    # chunk: the view generates them. A smaller file is one PUT of real bytes.
    data = view[0:size] if size <= CHUNK_SIZE else cast(bytes, view)
    responses = ctx.client.upload_chunked(path, data)
    last = _ok(responses[-1])
    if view.sent != size:
        raise RuntimeError(f"upload of {path} stopped after {view.sent} of {size} bytes")
    if last.json is not None and last.json.get("size") not in (None, size):
        raise RuntimeError(f"{path}: the server reports size {last.json.get('size')}")
    ctx.digests[path] = view.hexdigest()


def _download(ctx: Context, path: str, size: int, deadline: float) -> None:
    got = download("127.0.0.1", ctx.server.port, ctx.server.token, path, deadline=deadline)
    if got.status != 200:
        raise RuntimeError(f"GET /files/{path}: HTTP {got.status}")
    if got.size != size or got.sha256 != ctx.digests[path]:
        raise RuntimeError(f"/files/{path}: {got.size} bytes, content differs from the upload")


def _make_notebook(ctx: Context, deadline: float) -> None:
    _ok(ctx.client.mkdir("nb"))
    _ok(ctx.client.save(NOTEBOOK, {"type": "notebook", "format": "json", "content": _NOTEBOOK}))


def _make_checkpoint(ctx: Context, deadline: float) -> None:
    ctx.checkpoint_id = _ok(ctx.client.create_checkpoint(NOTEBOOK), 201).json["id"]


def _make_file(ctx: Context, deadline: float) -> None:
    _ok(ctx.client.mkdir("files"))
    _upload(ctx, FILE, 1024 * 1024, 3, deadline)


def _upload_medium(ctx: Context, deadline: float) -> None:
    _upload(ctx, MEDIUM, ctx.sizes.medium, 1, deadline)


def _upload_large(ctx: Context, deadline: float) -> None:
    _upload(ctx, LARGE, ctx.sizes.large, 2, deadline)


def _rig(ctx: Context) -> MountRig:
    if ctx.mounts is None:
        raise RuntimeError("this Jupyter server has no mounts")
    return ctx.mounts


def _seed_far_large(ctx: Context, deadline: float) -> None:
    """1 GB of ``Payload(seed=4)`` in the far mount (one multipart upload into moto)."""
    key = FAR_LARGE.split("/", 1)[1]
    ctx.digests[FAR_LARGE] = _rig(ctx).seed_far(key, Payload(FAR_LARGE_SIZE, 4), deadline)


def _mkdir(path: str) -> Callable[[Context, float], None]:
    def run(ctx: Context, deadline: float) -> None:
        _ok(ctx.client.mkdir(path))

    return run


def _seeded(folder: str, count: int) -> Callable[[Context, float], None]:
    def run(ctx: Context, deadline: float) -> None:
        _seed_folder(ctx, folder, count)

    return run


FIXTURES: dict[str, Callable[[Context, float], None]] = {
    "folder200": _seeded(FOLDER_200, SMALL_FILES),
    "folder200_renamed": _seeded(FOLDER_200_RENAMED, SMALL_FILES),
    "folder2000": _seeded(FOLDER_2000, MANY_FILES),
    "notebook": _make_notebook,
    "checkpoint": _make_checkpoint,
    "file": _make_file,
    "big": _mkdir("big"),
    "upload_dir": _mkdir(FOLDER_200),
    "medium": _upload_medium,
    "large": _upload_large,
    "medium_checkpoint": lambda ctx, deadline: _checkpoint_medium(ctx, deadline),
    "far_large": _seed_far_large,
}
_FIXTURE_NEEDS = {
    "medium": ("big",),
    "large": ("big",),
    "checkpoint": ("notebook",),
    "medium_checkpoint": ("medium",),
}


def ensure(ctx: Context, name: str, deadline: float) -> None:
    """Create fixture ``name`` (and what it needs) unless it is there already."""
    if name in ctx.have:
        return
    for need in _FIXTURE_NEEDS.get(name, ()):
        ensure(ctx, need, deadline)
    FIXTURES[name](ctx, deadline)
    ctx.have.add(name)


# -- steps (measured) -------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """One measured operation (repeated ``ops`` times) and what it needs first."""

    name: str
    #: What it does; ``{medium}`` and ``{large}`` stand for the upload sizes.
    label: str
    ops: int
    run: Callable[[Context, float], None]
    needs: tuple[str, ...] = ()
    #: Fixtures this step creates (when it succeeds) and removes.
    makes: tuple[str, ...] = ()
    removes: tuple[str, ...] = ()
    timeout: float = 300.0
    #: Why the step is not run on this server (None: it runs); asked before its fixtures.
    skip: Callable[[Context], str | None] | None = None
    #: Runs on the second Jupyter server, the one with mounts (JupyterS3 only).
    mounts: bool = False
    #: Only run when named in ``--steps`` (not in the default list).
    opt_in: bool = False
    #: Checks what the step made, after it and outside its figures (reading moto
    #: directly); what it raises becomes the step's error.
    verify: Callable[[Context, float], None] | None = None

    def title(self, sizes: Sizes) -> str:
        return self.label.format(medium=sizes.label(sizes.medium), large=sizes.label(sizes.large))


def _upload_small(ctx: Context, deadline: float) -> None:
    for i in range(SMALL_FILES):
        _check_deadline(deadline, "upload")
        responses = ctx.client.upload_chunked(f"{FOLDER_200}/f{i:04d}.txt", _small_file(i))
        _ok(responses[-1])


def _listing(folder: str, count: int) -> Callable[[Context, float], None]:
    def run(ctx: Context, deadline: float) -> None:
        for _ in range(REPEAT):
            _check_deadline(deadline, "list")
            entries = _ok(ctx.client.get(folder)).json["content"]
            if len(entries) != count:
                raise RuntimeError(f"{folder}: {len(entries)} entries, expected {count}")

    return run


def _repeat(
    action: Callable[[Context], Response], *statuses: int
) -> Callable[[Context, float], None]:
    def run(ctx: Context, deadline: float) -> None:
        for _ in range(REPEAT):
            _check_deadline(deadline, "repeat")
            _ok(action(ctx), *statuses)

    return run


def _nb_save(ctx: Context) -> Response:
    return ctx.client.save(NOTEBOOK, {"type": "notebook", "format": "json", "content": _NOTEBOOK})


def _nb_checkpoint(ctx: Context) -> Response:
    resp = ctx.client.create_checkpoint(NOTEBOOK)
    if resp.status == 201:
        ctx.checkpoint_id = resp.json["id"]
    return resp


def _rename_file(ctx: Context, deadline: float) -> None:
    _ok(ctx.client.rename(FILE, FILE_RENAMED))
    _ok(ctx.client.rename(FILE_RENAMED, FILE))


def _copy_file(ctx: Context, deadline: float) -> None:
    for _ in range(2):
        _ok(ctx.client.copy(FILE, "files"), 201)


def _rename_folder(ctx: Context, deadline: float) -> None:
    _ok(ctx.client.rename(FOLDER_200, FOLDER_200_RENAMED))


def _delete_folder(ctx: Context, deadline: float) -> None:
    _ok(ctx.client.delete(FOLDER_200_RENAMED), 204)


STEADY_FILES = 100


def _steady(ctx: Context, deadline: float) -> None:
    """Everyday small operations once the connection pool has warmed up: uploads,
    listings, notebook gets and saves, a folder renamed there and back, deleted."""
    _ok(ctx.client.mkdir("steady"))
    for i in range(STEADY_FILES):
        _check_deadline(deadline, "steady")
        _ok(ctx.client.upload_chunked(f"steady/f{i:04d}.txt", _small_file(i))[-1])
    for _ in range(5):
        _ok(ctx.client.get("steady"))
        _ok(ctx.client.get(NOTEBOOK))
        _ok(ctx.client.get(NOTEBOOK, content=False))
    _ok(ctx.client.rename("steady", "steady2"))
    _ok(ctx.client.rename("steady2", "steady"))
    _ok(_nb_save(ctx))
    _ok(ctx.client.delete("steady"), 204)


def _download_medium(ctx: Context, deadline: float) -> None:
    _download(ctx, MEDIUM, ctx.sizes.medium, deadline)


def _download_large(ctx: Context, deadline: float) -> None:
    _download(ctx, LARGE, ctx.sizes.large, deadline)


#: A content GET inlines the whole file in one JSON answer, base64 for binary (the
#: server holds ~6 copies of it). Larger than this, the bench does not ask a server
#: that would inline it (the local-disk manager with ``--sizes full``: a 1 GB file
#: is ~6.7 GiB of server RSS and a ~27 s stall); a server that refuses it (413) is asked.
INLINE_MAX = 200 * 10**6


def _content_get(ctx: Context, path: str, size: int) -> None:
    """``GET /api/contents/<path>?content=1&format=base64``, as JupyterLab opens a
    binary file: a file over the server's inline limit must answer 413 with a
    sentence naming the setting; any other, 200 with all of its bytes inline."""
    resp = ctx.client.get(path, content=True, format="base64")
    if ctx.inline_limit is not None and size > ctx.inline_limit:
        _ok(resp, 413)
        message = str(resp.json.get("message") if isinstance(resp.json, dict) else resp.body)
        if "max_inline_bytes" not in message:
            raise RuntimeError(f"{path}: the 413 does not name max_inline_bytes: {message!r}")
        return
    model = _ok(resp, 200).json
    if model.get("format") != "base64":
        raise RuntimeError(f"{path}: format {model.get('format')!r}, expected base64")
    data = base64.b64decode(model["content"])
    if len(data) != size:
        raise RuntimeError(f"{path}: {len(data)} bytes inline, expected {size}")
    digest = ctx.digests.get(path)
    if digest is not None and hashlib.sha256(data).hexdigest() != digest:
        raise RuntimeError(f"{path}: the inline content differs from the upload")


def _checkpoint_medium(ctx: Context, deadline: float) -> None:
    ctx.medium_checkpoint = _ok(ctx.client.create_checkpoint(MEDIUM), 201).json["id"]


def _restore_medium(ctx: Context, deadline: float) -> None:
    _ok(ctx.client.restore_checkpoint(MEDIUM, ctx.medium_checkpoint), 204)


def _get_medium(ctx: Context, deadline: float) -> None:
    _content_get(ctx, MEDIUM, ctx.sizes.medium)


def _get_large(ctx: Context, deadline: float) -> None:
    _content_get(ctx, LARGE, ctx.sizes.large)


def _inlining_too_much(size: Callable[[Sizes], int]) -> Callable[[Context], str | None]:
    def skip(ctx: Context) -> str | None:
        n = size(ctx.sizes)
        refused = ctx.inline_limit is not None and n > ctx.inline_limit
        if refused or n <= INLINE_MAX:
            return None
        return f"the server would inline all {Sizes.label(n)}, ~7x that in RSS (bench/README.md)"

    return skip


def _copy_folder_to_mount(ctx: Context, deadline: float) -> None:
    """Copy the 200-file folder of the main bucket into the ``team`` mount: another
    bucket of the same S3 service, so one CopyObject per key, server-side."""
    made = _ok(ctx.client.copy(FOLDER_200, "team"), 201).json
    if made.get("path") != f"team/{FOLDER_200}":
        raise RuntimeError(f"the copy is at {made.get('path')!r}, not team/{FOLDER_200}")


def _verify_folder_in_mount(ctx: Context, deadline: float) -> None:
    files = _rig(ctx).count_keys(TEAM_BUCKET, f"{FOLDER_200}/f")
    if files != SMALL_FILES:
        raise RuntimeError(f"{TEAM_BUCKET}/{FOLDER_200}/: {files} files, expected {SMALL_FILES}")


def _copy_across_endpoints(ctx: Context, deadline: float) -> None:
    """Copy 1 GB from the ``far`` mount (another S3 endpoint) into the main bucket:
    no server-side copy can reach it, so it streams through the Jupyter server."""
    made = _ok(ctx.client.copy(FAR_LARGE, ""), 201).json
    if made.get("path") != FAR_LARGE_COPY or made.get("size") != FAR_LARGE_SIZE:
        raise RuntimeError(f"the copy is {made.get('path')!r} of {made.get('size')} bytes")


def _verify_large_copy(ctx: Context, deadline: float) -> None:
    size, digest = _rig(ctx).main_digest(FAR_LARGE_COPY, deadline)
    if size != FAR_LARGE_SIZE or digest != ctx.digests[FAR_LARGE]:
        raise RuntimeError(f"{FAR_LARGE_COPY}: {size} bytes, content differs from the source")


def _mounts_only(ctx: Context) -> str | None:
    return None if ctx.mounts is not None else "mounts are JupyterS3's (c.JupyterS3.mounts)"


#: Steps after which the run says how much more the bucket stores (measured
#: outside the step's own figures).
STORED_STEPS = frozenset({"checkpoint_medium", "restore_medium"})

STEPS: tuple[Step, ...] = (
    Step("upload_small", "upload 200 small files", SMALL_FILES,
         _upload_small, needs=("upload_dir",), makes=("folder200",)),
    Step("list_200", "list a folder of 200", REPEAT,
         _listing(FOLDER_200, SMALL_FILES), needs=("folder200",)),
    Step("list_2000", "list a folder of 2,000", REPEAT,
         _listing(FOLDER_2000, MANY_FILES), needs=("folder2000",)),
    Step("nb_get", "get 1 MB notebook", REPEAT,
         _repeat(lambda c: c.client.get(NOTEBOOK)), needs=("notebook",)),
    Step("nb_get_meta", "get notebook content=0", REPEAT,
         _repeat(lambda c: c.client.get(NOTEBOOK, content=False)), needs=("notebook",)),
    Step("nb_save", "save 1 MB notebook", REPEAT,
         _repeat(_nb_save), needs=("notebook",)),
    Step("nb_checkpoint", "checkpoint 1 MB notebook", REPEAT,
         _repeat(_nb_checkpoint, 201), needs=("notebook",), makes=("checkpoint",)),
    Step("nb_restore", "restore 1 MB notebook", REPEAT,
         _repeat(lambda c: c.client.restore_checkpoint(NOTEBOOK, c.checkpoint_id), 204),
         needs=("checkpoint",)),
    Step("rename_file", "rename a 1 MiB file", 2, _rename_file, needs=("file",)),
    Step("copy_file", "copy a 1 MiB file", 2, _copy_file, needs=("file",)),
    Step("rename_folder", "rename 200-file folder", 1,
         _rename_folder, needs=("folder200",), makes=("folder200_renamed",),
         removes=("folder200",)),
    Step("delete_folder", "delete 200-file folder", 1,
         _delete_folder, needs=("folder200_renamed",), removes=("folder200_renamed",)),
    Step("upload_medium", "chunked upload {medium}", 1,
         _upload_medium, needs=("big",), makes=("medium",), timeout=900.0),
    Step("download_medium", "/files/ download {medium}", 1,
         _download_medium, needs=("medium",), timeout=900.0),
    Step("upload_large", "chunked upload {large}", 1,
         _upload_large, needs=("big",), makes=("large",), timeout=3600.0),
    Step("download_large", "/files/ download {large}", 1,
         _download_large, needs=("large",), timeout=3600.0),
    Step("checkpoint_medium", "checkpoint {medium}", 1,
         _checkpoint_medium, needs=("medium",), makes=("medium_checkpoint",), timeout=900.0),
    Step("restore_medium", "restore {medium}", 1,
         _restore_medium, needs=("medium_checkpoint",), timeout=900.0),
    Step("get_medium", "content GET {medium}", 1,
         _get_medium, needs=("medium",), timeout=900.0,
         skip=_inlining_too_much(lambda s: s.medium)),
    Step("get_large", "content GET {large}", 1,
         _get_large, needs=("large",), timeout=900.0,
         skip=_inlining_too_much(lambda s: s.large)),
    Step("steady", "steady state: 100 uploads, 15 gets, 2 folder renames", 1,
         _steady, needs=("notebook",), timeout=600.0),
    # On a second Jupyter server with mounts; opt-in (--steps).
    Step("mount_copy_folder", "copy 200-file folder to mount", 1,
         _copy_folder_to_mount, needs=("folder200",), skip=_mounts_only, mounts=True,
         opt_in=True, verify=_verify_folder_in_mount),
    Step("far_copy_large", "copy 1 GB across endpoints", 1,
         _copy_across_endpoints, needs=("far_large",), timeout=3600.0, skip=_mounts_only,
         mounts=True, opt_in=True, verify=_verify_large_copy),
)  # fmt: skip

#: The steps that run on the server with mounts.
MOUNT_STEPS = frozenset(s.name for s in STEPS if s.mounts)
