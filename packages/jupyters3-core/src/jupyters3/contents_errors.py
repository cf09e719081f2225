"""The contents layer's errors: one tree, plain exceptions, no HTTP.

What the store, the writes, the mounts, the key mapping and the models refuse
is one of these; :func:`jupyters3.http_errors.http_errors` is the one place
that turns them (and the S3 errors of :mod:`jupyters3.errors`) into the HTTP
answers Jupyter clients expect. Each message is a user-facing sentence.

::

    ContentsError               a contents operation refused     HTTP
    ├── InvalidPath             a path or id that cannot be used  400
    │   └── OutsideRoot         a path whose ``..`` leave the root 404
    ├── BadContent              content that cannot be decoded   400
    ├── NoStore                 nothing can be at this path        404
    ├── SourceMissing           what a copy or restore reads is gone 404
    ├── NotWritable             a write where none may be         403
    │   ├── ReadOnly            a read-only mount
    │   ├── TopLevelOnlyMounts  the top level without a main bucket
    │   └── MountPoint          the mount itself
    ├── ChunkOutOfOrder         a chunk that skips a number       409
    └── ContentsConflict        the bucket holds something else   409
        ├── FolderInTheWay      a file over a folder of that name
        ├── MoveIncomplete      a rename left what kept changing
        └── WriteConflict       changed or created elsewhere meanwhile

    StartupRefused              the server cannot start: one sentence (a SystemExit)
    └── BadMount                a mount that cannot work
"""

from __future__ import annotations

__all__ = [
    "BadContent",
    "BadMount",
    "ChunkOutOfOrder",
    "ContentsConflict",
    "ContentsError",
    "FolderInTheWay",
    "InvalidPath",
    "MountPoint",
    "MoveIncomplete",
    "NoStore",
    "NotWritable",
    "OutsideRoot",
    "ReadOnly",
    "SourceMissing",
    "StartupRefused",
    "TopLevelOnlyMounts",
    "WriteConflict",
]


class ContentsError(Exception):
    """A contents operation that cannot be done as asked (the message says why)."""


class InvalidPath(ContentsError, ValueError):
    """An API path, prefix, key or checkpoint id that cannot be used."""


class OutsideRoot(InvalidPath):
    """A path whose ``..`` segments climb above the root (404, as jupyter_server's
    file manager answers for a path outside its root)."""


class BadContent(ContentsError, ValueError):
    """File content that cannot be decoded, parsed or encoded."""


class NoStore(ContentsError):
    """Nothing can be at ``path``: a name at the top level when only mounts
    are configured."""

    def __init__(self, path: str) -> None:
        self.path = path
        super().__init__(f"No such file or directory: {path}")


class SourceMissing(ContentsError):
    """The object a copy or restore reads from does not exist."""

    def __init__(self, key: str) -> None:
        self.key = key
        super().__init__(f"no object {key!r}")


class NotWritable(ContentsError):
    """A write where nothing may be written."""


class ReadOnly(NotWritable):
    """A write into ``where`` (a read-only mount, or the root when no main
    bucket is configured)."""

    def __init__(self, where: str) -> None:
        self.where = where
        super().__init__(
            f"{where} is read-only: nothing can be saved, created, renamed, moved or "
            "deleted there. Copy what you need into a writable folder."
        )


class TopLevelOnlyMounts(NotWritable):
    """A write at the top level when only mounts are configured."""

    def __init__(self) -> None:
        super().__init__(
            "The top level holds only the mounts (no c.JupyterS3.aws_s3_bucket is set): "
            "nothing can be created, renamed or deleted there. Open one of the mounts."
        )


class MountPoint(NotWritable):
    """A write that would replace, rename or delete the mount ``name`` itself."""

    def __init__(self, name: str) -> None:
        super().__init__(
            f"{name} is a mount (c.JupyterS3.mounts): it cannot be replaced, renamed "
            "or deleted from here; what is inside it can."
        )


class ChunkOutOfOrder(ContentsError):
    """A chunk of a chunked upload whose number skips one: chunks of the
    upload were lost, and appending this one would leave a hole in the file."""

    def __init__(self, path: str, chunk: int, expected: int) -> None:
        self.path, self.chunk, self.expected = path, chunk, expected
        super().__init__(
            f"Chunk {chunk} of the upload of {path} came when chunk {expected} was "
            f"expected: chunk {expected} was lost, so chunk {chunk} was not written. The "
            "upload in progress is kept as it was; send the missing chunk, or upload the "
            "file again from chunk 1."
        )


class ContentsConflict(ContentsError):
    """The bucket holds something the operation may not replace."""


class FolderInTheWay(ContentsConflict):
    """An object cannot be written at ``path``: a folder of that name exists."""

    def __init__(self, path: str) -> None:
        self.path = path
        super().__init__(
            f"Cannot save {path!r}: a folder of that name exists. "
            "Choose another name, or rename or delete the folder."
        )


class MoveIncomplete(ContentsConflict):
    """A rename moved everything but ``left``: API paths that another server kept
    changing at the source while they were moved, left there with their newest
    version (what was moved stays moved)."""

    def __init__(self, old: str, new: str, left: list[str]) -> None:
        self.left = left
        shown = ", ".join(left[:5]) + (f" and {len(left) - 5} more" if len(left) > 5 else "")
        super().__init__(
            f"Renamed {old} to {new}, except what another server (or user) kept changing "
            f"at {old} meanwhile, left there with its newest version: {shown}. Rename "
            "or move those again once they are no longer being saved."
        )


class WriteConflict(ContentsConflict):
    """A conditional write found a version it was not based on. ``created``:
    the path was created by someone else meanwhile; ``deleting``: it changed
    while it was being deleted."""

    def __init__(self, path: str, *, created: bool, deleting: bool = False) -> None:
        self.path = path
        self.created = created
        if deleting:
            message = (
                f"{path} was changed by someone else (another server or user of this "
                "bucket) while it was being deleted here, so it was not deleted and the "
                "newer version is kept. Reload to see it, then delete it again if you "
                "still want to."
            )
        elif created:
            message = (
                f"{path} was created by someone else (another server or user of this "
                "bucket) after it was found free here; nothing was overwritten. Choose "
                "another name, or open the new file."
            )
        else:
            message = (
                f"{path} was changed by someone else (another server or user of this "
                "bucket) since it was opened here, so this save was not written and the "
                "newer version is kept. Reload the file (File > Reload from Disk) to see "
                "it, then make your changes again, or save yours under another name."
            )
        super().__init__(message)


class StartupRefused(SystemExit):
    """The configuration cannot work: ``sentence`` says what to fix.

    A :class:`SystemExit` (code 1): JupyterS3 logs the sentence and lets it
    stop the server without a traceback; ``jupyters3 check`` catches it and
    reports the sentence as its configuration step's FAIL.
    """

    def __init__(self, sentence: str) -> None:
        self.sentence = sentence
        super().__init__(1)

    def __str__(self) -> str:
        return self.sentence


class BadMount(StartupRefused):
    """A mount that cannot work; the sentence says which and why."""
