"""The benchmark's "wide" steps: a folder of 20,000 files, as JupyterLab uses it.

All opt-in (``--steps wide_cold,wide_warm,...``, or ``--wide`` for all of
them). The folder is seeded straight into the storage (not through the API,
which would take minutes), once per (manager, latency) run:

* ``wide_cold``: the first listing of the folder (21 LIST pages on S3);
* ``wide_warm``: 20 listings more, as the file browser's polls make them (the
  median is printed);
* ``wide_own_write``: a save into the folder through this server, then a
  listing: the LIST requests of that listing are printed (0 with the cache);
* ``wide_outside_write``: a file written straight into the storage (another
  writer), then a listing every second until it shows: seconds until then;
* ``wide_poll``: three tabs, each listing the folder every 10 s for 5 minutes
  (90 listings): the folder walks they cost;
* ``wide_rss``: nine folders more of 20,000 files listed once each: the
  server's RSS growth with ten such listings kept.

Compare with the cache off: ``--set JupyterS3.listing_max_age=0``.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable

from steps import Context, Step, _check_deadline, _ok, _small_file

__all__ = ["WIDE", "WIDE_FIXTURES", "WIDE_STEPS"]

WIDE = "wide"
WIDE_FILES = 20_000
WARM = 20
POLL_TABS, POLL_EVERY, POLL_FOR = 3, 10.0, 300.0
RSS_FOLDERS = 10


def _folder(ctx: Context, name: str = WIDE) -> str:
    """The folder ``name`` of 20,000 files, seeded on first use (not measured)."""
    if name not in ctx.have:
        ctx.seed([f"{name}/f{i:05d}.txt" for i in range(WIDE_FILES)], _small_file)
        ctx.have.add(name)
    return name


def _listing(ctx: Context, folder: str) -> list[dict[str, object]]:
    content: list[dict[str, object]] = _ok(ctx.client.get(folder)).json["content"]
    return content


def _walk_lists(ctx: Context, folder: str) -> int | None:
    """LIST requests of ``folder``'s listing the proxy saw so far (None: no proxy)."""
    return ctx.count_lists(folder + "/") if ctx.count_lists is not None else None


def _cold(ctx: Context, deadline: float) -> None:
    entries = _listing(ctx, WIDE)
    if len(entries) < WIDE_FILES:
        raise RuntimeError(f"{len(entries)} entries, expected {WIDE_FILES}")


def _warm(ctx: Context, deadline: float) -> None:
    times = []
    for _ in range(WARM):
        _check_deadline(deadline, "warm listings")
        started = time.monotonic()
        _listing(ctx, WIDE)
        times.append(time.monotonic() - started)
    print(f"[median {statistics.median(times):.3f} s] ", end="", flush=True)


def _own_write(ctx: Context, deadline: float) -> None:
    before = _walk_lists(ctx, WIDE)
    name = f"own-{time.monotonic_ns()}.txt"
    _ok(ctx.client.save_text(f"{WIDE}/{name}", "mine"))
    listed = {e["name"] for e in _listing(ctx, WIDE)}
    after = _walk_lists(ctx, WIDE)
    if name not in listed:
        raise RuntimeError("the file saved is not in the listing that followed")
    if before is not None and after is not None:
        print(f"[listing LISTs {after - before}] ", end="", flush=True)


def _outside_write(ctx: Context, deadline: float) -> None:
    name = f"outside-{time.monotonic_ns()}.txt"
    ctx.seed([f"{WIDE}/{name}"], _small_file)
    written = time.monotonic()
    while name not in {e["name"] for e in _listing(ctx, WIDE)}:
        _check_deadline(deadline, "the outside write to show")
        time.sleep(1.0)
    print(f"[shown after {time.monotonic() - written:.1f} s] ", end="", flush=True)


def _poll(ctx: Context, deadline: float) -> None:
    before = _walk_lists(ctx, WIDE)
    failures: list[BaseException] = []
    stop = time.monotonic() + POLL_FOR

    def tab() -> None:
        try:
            while time.monotonic() < stop:
                _listing(ctx, WIDE)
                time.sleep(POLL_EVERY)
        except BaseException as exc:
            failures.append(exc)

    tabs = [threading.Thread(target=tab) for _ in range(POLL_TABS)]
    for thread in tabs:
        thread.start()
        time.sleep(POLL_EVERY / POLL_TABS)  # tabs opened at different moments
    for thread in tabs:
        thread.join(POLL_FOR + 120)
    if failures:
        raise failures[0]
    after = _walk_lists(ctx, WIDE)
    if before is not None and after is not None:
        print(f"[{after - before} LISTs] ", end="", flush=True)


def _rss(ctx: Context, deadline: float) -> None:
    for i in range(1, RSS_FOLDERS):
        _check_deadline(deadline, "the listings")
        _listing(ctx, f"{WIDE}{i}")


def _more_folders(ctx: Context, deadline: float) -> None:
    for i in range(1, RSS_FOLDERS):
        _folder(ctx, f"{WIDE}{i}")


WIDE_STEPS: tuple[Step, ...] = (
    Step("wide_cold", "list 20,000 files, cold", 1, _cold, needs=("wide",), opt_in=True),
    Step("wide_warm", "list 20,000 files, warm", WARM, _warm, needs=("wide",), opt_in=True),
    Step("wide_own_write", "save, then list 20,000", 1, _own_write, needs=("wide",), opt_in=True),
    Step(
        "wide_outside_write",
        "outside write, list until shown",
        1,
        _outside_write,
        needs=("wide",),
        opt_in=True,
    ),
    Step(
        "wide_poll",
        "3 tabs poll 20,000 files for 5 min",
        POLL_TABS * int(POLL_FOR / POLL_EVERY),
        _poll,
        needs=("wide",),
        opt_in=True,
        timeout=POLL_FOR + 300,
    ),
    Step(
        "wide_rss",
        "9 more folders of 20,000 listed",
        RSS_FOLDERS - 1,
        _rss,
        needs=("wide", "wide_more"),
        opt_in=True,
        timeout=1800,
    ),
)


#: The wide steps' fixtures (not measured): the folders, seeded straight into storage.
def _first_folder(ctx: Context, deadline: float) -> None:
    _folder(ctx)


WIDE_FIXTURES: dict[str, Callable[[Context, float], None]] = {
    "wide": _first_folder,
    "wide_more": _more_folders,
}
