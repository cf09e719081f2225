"""The kernels' working-folder steps (issue 26): real ipykernel kernels started
as JupyterLab starts them (``jupyters3_testing.sessions``).

* ``kernel_start``: a session POST (on ``<folder>/<uuid>``, then PATCH) to the
  kernel's first reply, in a folder of 200 files (10 MB): JupyterS3 mirrors the
  folder first; the local-disk manager is the reference. Three folders, one
  kernel each; the figure is the median. Its stall includes jupyter_server's
  launch of the kernel process (compare the local disk's).
* ``kernel_writeback``: from the end of a cell that writes a 1 MB file to the
  object in S3 (moto read directly, every 20 ms); the worst of three.
* ``kernel_refresh``: 200 files (10 MB) of a running kernel's folder changed
  in S3 by another tool, until the kernel's working folder holds them all:
  a refresh (one LIST, 200 GETs) with no kernel launch in it.
* ``kernel_idle``: LIST requests of one idle kernel over three refresh periods
  (the bench server lists every ``KERNEL_REFRESH`` s), per hour; then the
  same time with no kernel (none expected).
* ``kernel_memory`` (opt-in): 1 GB (8 files of 125 MB) put by another tool
  into a running kernel's folder and mirrored at its refresh, then 1 GB more
  written by the kernel and uploaded: the server's RSS growth and worst stall
  over both directions.

The kernels of the last four are started by fixtures (not measured), so the
steps' stall and RSS figures are the sync's own. Each step records its own
figures in ``ctx.figures[step]`` (printed after the table, checked by
``report.check_targets``).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

from payload import Payload
from steps import Context, Step

from jupyters3_testing.sessions import KernelSession, Sessions

__all__ = ["KERNEL_FIXTURES", "KERNEL_REFRESH", "KERNEL_STEPS", "KernelRig"]

#: The bench server's ``JupyterS3.kernel_refresh_interval`` (s): short, so that a
#: few periods fit in the idle step.
KERNEL_REFRESH = 10.0
START_FOLDERS = ("kstart0", "kstart1", "kstart2")
FILES = 200
FILE_SIZE = 50_000  # 200 x 50 kB = 10 MB
MEMORY_FILES = 8
MEMORY_FILE_SIZE = 125_000_000  # 8 x 125 MB = 1 GB


@dataclass(frozen=True)
class KernelRig:
    """What the kernel steps read and write outside the server (JupyterS3 runs only)."""

    #: The size of ``key`` in the main bucket, or None (moto, directly).
    object_size: Callable[[str], int | None]
    #: LIST requests the proxy saw between two ``time.time()`` values.
    lists_between: Callable[[float, float], int]
    #: Writes a payload to a key of the main bucket (key, payload, deadline).
    seed_payload: Callable[[str, Payload, float], str]


def _body(version: int) -> Callable[[int], bytes]:
    return lambda i: bytes([(i + version) % 251]) * FILE_SIZE


def _seed_start_folders(ctx: Context, deadline: float) -> None:
    for folder in START_FOLDERS:
        ctx.seed([f"{folder}/d{i:03d}.bin" for i in range(FILES)], _body(0))


def _running(folder: str, files: int = 0) -> Callable[[Context, float], None]:
    """A fixture: a kernel running in ``folder`` (kept in ``ctx.sessions``),
    which holds ``files`` files of 50 kB."""

    def start(ctx: Context, deadline: float) -> None:
        if files:
            ctx.seed([f"{folder}/d{i:03d}.bin" for i in range(files)], _body(0))
        ctx.sessions[folder] = Sessions(ctx.server, timeout=600.0).start(f"{folder}/n.ipynb")

    return start


def _session(ctx: Context, folder: str) -> KernelSession:
    session: KernelSession = ctx.sessions[folder]
    return session


def _rig(ctx: Context) -> KernelRig:
    assert ctx.kernels is not None
    rig: KernelRig = ctx.kernels
    return rig


def _s3_only(ctx: Context) -> str | None:
    return None if ctx.kernels is not None else "no S3: the kernel has the files themselves"


def _kernel_start(ctx: Context, deadline: float) -> None:
    sessions = Sessions(ctx.server)
    took = []
    seen = []
    for folder in START_FOLDERS:
        started = time.monotonic()
        session = sessions.start(f"{folder}/n.ipynb")  # POST, PATCH, first kernel_info reply
        took.append(time.monotonic() - started)
        seen.append(session.value("len([f for f in os.listdir('.') if f.endswith('.bin')])"))
        sessions.shutdown(session)
    ctx.figures["kernel_start"] = {
        "start_s": statistics.median(took),
        "worst_s": max(took),
        # 200 when the kernel works on the folder's files (0: JupyterS3 without working folders).
        "files_seen": float(min(seen)),
    }


def _kernel_writeback(ctx: Context, deadline: float) -> None:
    session = _session(ctx, "kwrite")
    worst = 0.0
    for i in range(3):
        key = f"kwrite/out{i}.bin"
        session.run(f"open('out{i}.bin', 'wb').write(b'w' * 1_000_000)")
        ended = time.monotonic()  # the cell's reply is in
        while _rig(ctx).object_size(key) != 1_000_000:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{key} never reached S3")
            time.sleep(0.02)
        worst = max(worst, time.monotonic() - ended)
    ctx.figures["kernel_writeback"] = {"writeback_s": worst}


def _kernel_refresh(ctx: Context, deadline: float) -> None:
    session = _session(ctx, "krefresh")
    changed = time.monotonic()
    ctx.seed([f"krefresh/d{i:03d}.bin" for i in range(FILES)], _body(1))  # another tool
    check = (
        f"sum(1 for i in range({FILES}) if os.path.exists(f'd{{i:03d}}.bin') "
        f"and open(f'd{{i:03d}}.bin', 'rb').read(1) == bytes([(i + 1) % 251]))"
    )
    while session.value(check) != FILES:
        if time.monotonic() > deadline:
            raise TimeoutError("the kernel's folder never got the 200 changed files")
        time.sleep(0.5)
    ctx.figures["kernel_refresh"] = {
        "changed_to_seen_s": time.monotonic() - changed,
        "refresh_period_s": KERNEL_REFRESH,
    }


def _kernel_idle(ctx: Context, deadline: float) -> None:
    sessions = Sessions(ctx.server)
    for folder in [f for f in ctx.sessions if f != "kidle"]:  # one kernel, alone
        sessions.shutdown(ctx.sessions.pop(folder))
    time.sleep(2.0)  # their last sync and removal
    session = _session(ctx, "kidle")
    window = 3 * KERNEL_REFRESH
    start = time.time()
    time.sleep(window)
    with_kernel = _rig(ctx).lists_between(start, time.time())
    sessions.shutdown(session)
    del ctx.sessions["kidle"]
    time.sleep(2.0)  # its last sync and removal
    start = time.time()
    time.sleep(KERNEL_REFRESH + 1)
    without = _rig(ctx).lists_between(start, time.time())
    ctx.figures["kernel_idle"] = {
        "lists_per_hour": with_kernel * 3600 / window,
        "allowed_per_hour": 3600 / KERNEL_REFRESH,
        "lists_without_kernel": float(without),
    }


def _kernel_memory(ctx: Context, deadline: float) -> None:
    session = _session(ctx, "kmem")
    rig = _rig(ctx)
    started = time.monotonic()
    for i in range(MEMORY_FILES):  # another tool puts 1 GB into the kernel's folder
        rig.seed_payload(f"kmem/m{i}.bin", Payload(MEMORY_FILE_SIZE, 10 + i), deadline)
    sizes = "os.path.getsize(f) for f in os.listdir('.') if f.startswith('m')"
    while session.value(f"sum({sizes})") != MEMORY_FILES * MEMORY_FILE_SIZE:
        if time.monotonic() > deadline:
            raise TimeoutError("the kernel's folder never got the 1 GB")
        time.sleep(0.5)
    mirrored = time.monotonic() - started
    block = "b'k' * 1_000_000"
    session.run(
        f"for i in range({MEMORY_FILES}):\n"
        f"    with open(f'w{{i}}.bin', 'wb') as out:\n"
        f"        for _ in range({MEMORY_FILE_SIZE // 1_000_000}):\n"
        f"            out.write({block})",
        timeout=600.0,
    )
    written = time.monotonic()
    for i in range(MEMORY_FILES):
        key = f"kmem/w{i}.bin"
        while rig.object_size(key) != MEMORY_FILE_SIZE:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{key} never reached S3")
            time.sleep(0.1)
    ctx.figures["kernel_memory"] = {
        "in_1gb_s": mirrored,
        "out_1gb_s": time.monotonic() - written,
    }


KERNEL_FIXTURES: dict[str, Callable[[Context, float], None]] = {
    "start_folders": _seed_start_folders,
    "kernel_kwrite": _running("kwrite"),
    "kernel_krefresh": _running("krefresh", FILES),
    "kernel_kidle": _running("kidle"),
    "kernel_kmem": _running("kmem"),
}

KERNEL_STEPS: tuple[Step, ...] = (
    Step("kernel_start", "kernel start, 200 files (10 MB)", 3,
         _kernel_start, needs=("start_folders",), timeout=600.0),
    Step("kernel_writeback", "kernel writes 1 MB: to S3", 3,
         _kernel_writeback, needs=("kernel_kwrite",), timeout=300.0, skip=_s3_only),
    Step("kernel_refresh", "200 files changed: to kernel", 1,
         _kernel_refresh, needs=("kernel_krefresh",), timeout=300.0, skip=_s3_only),
    Step("kernel_idle", "idle kernel: LISTs", 1,
         _kernel_idle, needs=("kernel_kidle",), timeout=300.0, skip=_s3_only),
    Step("kernel_memory", "1 GB to and from a kernel", 1,
         _kernel_memory, needs=("kernel_kmem",), timeout=1800.0, skip=_s3_only, opt_in=True),
)  # fmt: skip
