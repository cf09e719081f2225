"""The note in every working folder (:data:`~jupyters3.workfolders.names.NOTE`):
what it mirrors, when each direction syncs, the conflict rule, the limits,
and every name left out. Pure: text from a folder's state.
"""

from __future__ import annotations

from collections.abc import Sequence

from jupyters3.workfolders.names import LeftOut
from jupyters3.workfolders.plan import Limits, Timing

__all__ = ["MAX_LINES", "listed", "note"]

#: Names listed per section of the note (the count says how many more).
MAX_LINES = 1000


def listed(items: Sequence[LeftOut], most: int) -> list[str]:
    """One line per item, at most ``most`` (then how many more)."""
    lines = [f"  {item.line()}" for item in items[:most]]
    if len(items) > most:
        lines.append(f"  ... and {len(items) - most:,} more")
    return lines


def _bytes(size: int) -> str:
    return f"{size:,} bytes ({size / 1024**2:,.1f} MiB)"


def note(
    url: str,
    *,
    read_only: bool,
    limits: Limits,
    timing: Timing,
    left_out: Sequence[LeftOut],
    not_uploaded: Sequence[LeftOut],
    checkpoints: int,
) -> str:
    """The note's text for the working folder of ``url`` (``s3://...``)."""
    mode = "read-only: nothing written here reaches S3" if read_only else ""
    lines = [
        f"This folder is a working copy of {url}, made by JupyterS3"
        + (f" ({mode})." if mode else "."),
        "",
        "S3 -> here: when a kernel starts or restarts, every "
        f"{timing.refresh_interval:g} s (new and changed objects only), and at once for",
        "saves, uploads, renames and deletes made in Jupyter.",
        "Here -> S3: about a second after a kernel goes idle, and every "
        f"{timing.upload_interval:g} s.",
        "When a file changed both here and in S3, S3's version keeps its name and this",
        "folder's is kept beside it as '<name> (kernel conflict <date> <time>)<.ext>'.",
        "The notebooks open in Jupyter are saved by Jupyter only, never from here.",
        "",
        f"Limits: files up to {_bytes(limits.max_file_bytes)}; "
        f"{_bytes(limits.max_folder_bytes)} and {limits.max_files:,} files in all;",
        "names never synced: "
        + (", ".join(repr(p) for p in limits.left_out) or "none")
        + "; symbolic links are never followed nor uploaded.",
    ]
    if checkpoints:
        lines.append(f"Checkpoints stay in S3 ({checkpoints:,} of them).")
    lines += ["", f"Left out of this copy: {len(left_out):,}"]
    lines += listed(left_out, MAX_LINES)
    lines += ["", f"Not uploaded from here: {len(not_uploaded):,}"]
    lines += listed(not_uploaded, MAX_LINES)
    return "\n".join(lines) + "\n"
