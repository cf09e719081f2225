"""A working folder on the local disk, reached only through file descriptors
that never follow a symbolic link. Blocking: every method runs in a worker
thread (or, while the interpreter exits, in the exiting one).

A kernel runs as the server's user, so it can put a symbolic link anywhere in
its working folder, or replace a folder by one. The sync must never write
outside the working folder through such a link, nor upload what one points
to. So every path is walked from the working folder's root one name at a
time with ``O_NOFOLLOW | O_DIRECTORY``, files are opened with ``O_NOFOLLOW``
(and ``O_NONBLOCK``: a FIFO never blocks), and a name that is a link, a
device or a FIFO where a folder or a file is expected is :class:`InTheWay`.
A file is written to a temporary name in its folder and renamed over its
name, after checking that the kernel did not change it meanwhile
(:class:`Changed`). Needs POSIX ``*at`` calls (:data:`SUPPORTED`).

On a read-only mount, files are made read-only (0444) and folders 0555, so a
kernel's write fails locally; the sync makes a folder writable only for the
moment it changes it.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import secrets
import stat
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from jupyters3.workfolders.manifest import Sig
from jupyters3.workfolders.names import RESERVED, matched_pattern

__all__ = ["SUPPORTED", "Changed", "InTheWay", "LocalFolder", "Pending", "Scan"]

SUPPORTED = os.name == "posix" and {os.open, os.mkdir, os.rename, os.unlink, os.stat} <= (
    os.supports_dir_fd
)

_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_O_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
_DIR = os.O_RDONLY | _O_DIRECTORY | _O_NOFOLLOW | _O_CLOEXEC
_BLOCK = 1024 * 1024


class InTheWay(OSError):
    """Something else than a plain folder or file (a symbolic link, a
    device, a file where a folder is needed...) is at a path the sync needs."""


class Changed(Exception):
    """The local file is not the one expected: the kernel changed it meanwhile."""


def sig_of(st: os.stat_result) -> Sig:
    return Sig(st.st_size, st.st_mtime_ns, st.st_ino)


@dataclass
class Scan:
    """What a working folder holds: regular files (path -> :class:`Sig`),
    folders (path -> whether it holds nothing the sync would keep), and what
    is never synced: symbolic links and other odd entries (sockets, FIFOs,
    names that are not valid text). ``truncated``: the scan stopped at its limit."""

    files: dict[str, Sig] = field(default_factory=dict)
    folders: dict[str, bool] = field(default_factory=dict)
    links: list[str] = field(default_factory=list)
    odd: list[str] = field(default_factory=list)
    truncated: bool = False


@dataclass
class Pending:
    """A file being written: its folder's descriptor, the temporary name, the
    file's descriptor, and the bytes and MD5 so far."""

    folder_fd: int
    temporary: str
    fd: int
    name: str
    size: int = 0
    md5: hashlib._Hash = field(default_factory=lambda: hashlib.md5(usedforsecurity=False))


def _split(rel: str) -> tuple[list[str], str]:
    parts = rel.split("/")
    return parts[:-1], parts[-1]


def _lstat(folder_fd: int, name: str) -> os.stat_result | None:
    try:
        return os.stat(name, dir_fd=folder_fd, follow_symlinks=False)
    except FileNotFoundError:
        return None


class LocalFolder:
    """The working folder at ``base`` + ``parts`` (``base``: the trusted folder
    that holds every working folder; ``parts``: the API path's names).
    ``skip``: names at its top that belong to something else (the mounts,
    inside the main bucket's root). ``read_only``: a read-only mount."""

    def __init__(
        self,
        base: str,
        parts: Sequence[str],
        *,
        read_only: bool = False,
        skip: frozenset[str] = frozenset(),
    ) -> None:
        self.base = base
        self.parts = list(parts)
        self.read_only = read_only
        self.skip = skip

    @property
    def path(self) -> str:
        return os.path.join(self.base, *self.parts)

    # -- folders ---------------------------------------------------------------

    def _open(self, parts: Sequence[str], *, create: bool) -> int:
        """A descriptor of the folder ``parts`` below ``base``, each name opened
        without following links (and made when ``create``)."""
        fd = os.open(self.base, os.O_RDONLY | _O_DIRECTORY | _O_CLOEXEC)
        try:
            for depth, name in enumerate(parts):
                try:
                    child = os.open(name, _DIR, dir_fd=fd)
                except FileNotFoundError:
                    if not create:
                        raise
                    # Folders from the working folder's own down are read-only on a read-only mount.
                    inside = depth >= len(self.parts)
                    writable = self._writable(fd) if inside else contextlib.nullcontext()
                    with writable, contextlib.suppress(FileExistsError):
                        os.mkdir(name, 0o755, dir_fd=fd)
                    child = os.open(name, _DIR, dir_fd=fd)
                    if self.read_only and depth + 1 >= len(self.parts):
                        os.fchmod(child, 0o555)
                except OSError as error:
                    if error.errno in (errno.ELOOP, errno.ENOTDIR, errno.EMLINK):
                        raise InTheWay(error.errno, f"{name!r} is not a folder") from None
                    raise
                os.close(fd)
                fd = child
        except BaseException:
            os.close(fd)
            raise
        return fd

    def _folder(self, folder: Sequence[str], *, create: bool) -> int:
        return self._open([*self.parts, *folder], create=create)

    @contextlib.contextmanager
    def _writable(self, fd: int) -> Iterator[None]:
        """The folder ``fd`` writable for the moment (read-only mounts' are 0555)."""
        if not self.read_only:
            yield
            return
        os.fchmod(fd, 0o755)
        try:
            yield
        finally:
            os.fchmod(fd, 0o555)

    def ensure(self) -> None:
        """Make the working folder (and the folders above it) if missing."""
        os.close(self._folder([], create=True))

    def exists(self) -> bool:
        try:
            os.close(self._folder([], create=False))
        except (FileNotFoundError, InTheWay):
            return False
        return True

    def make_folder(self, rel: str) -> None:
        """Make the folder ``rel`` (and its parents)."""
        os.close(self._folder(rel.split("/"), create=True))

    def prune(self, rel: str) -> None:
        """Remove the folder ``rel`` and then each parent, while empty (never the root)."""
        parts = rel.split("/") if rel else []
        while parts:
            try:
                fd = self._folder(parts[:-1], create=False)
            except (FileNotFoundError, InTheWay):
                return
            try:
                with self._writable(fd):
                    os.rmdir(parts[-1], dir_fd=fd)
            except OSError:
                return  # not empty, gone, or not a folder
            finally:
                os.close(fd)
            parts.pop()

    # -- reading ---------------------------------------------------------------

    def scan(self, patterns: Sequence[str], limit: int) -> Scan:
        """Every entry, depth first, never through a link; names matching
        ``patterns`` (and the working folder's own) are not looked into. At
        most ``limit`` entries."""
        found = Scan()
        pending: list[str] = [""]
        count = 0
        while pending:
            rel = pending.pop()
            try:
                fd = self._folder(rel.split("/") if rel else [], create=False)
            except (FileNotFoundError, InTheWay):
                continue
            kept = 0
            try:
                with os.scandir(fd) as entries:
                    for entry in entries:
                        name = entry.name
                        if (not rel and name in self.skip) or name.startswith(RESERVED):
                            continue
                        if matched_pattern(name, patterns):
                            continue
                        count += 1
                        if count > limit:
                            found.truncated = True
                            return found
                        child = f"{rel}/{name}" if rel else name
                        try:
                            st = entry.stat(follow_symlinks=False)
                        except FileNotFoundError:
                            continue
                        if stat.S_ISLNK(st.st_mode):
                            found.links.append(child)
                        elif stat.S_ISDIR(st.st_mode):
                            found.folders[child] = True
                            pending.append(child)
                            kept += 1
                        elif stat.S_ISREG(st.st_mode):
                            found.files[child] = sig_of(st)
                            kept += 1
                        else:
                            found.odd.append(child)
            finally:
                os.close(fd)
            if rel:
                found.folders[rel] = kept == 0
        return found

    def stat(self, rel: str) -> Sig | None:
        """The signature of file ``rel``; None if nothing is there; :class:`InTheWay`
        if something else than a regular file is."""
        folder, name = _split(rel)
        try:
            fd = self._folder(folder, create=False)
        except FileNotFoundError:
            return None
        try:
            st = _lstat(fd, name)
        finally:
            os.close(fd)
        if st is None:
            return None
        if not stat.S_ISREG(st.st_mode):
            raise InTheWay(errno.EEXIST, f"{rel!r} is not a regular file")
        return sig_of(st)

    def _open_file(self, rel: str) -> int:
        folder, name = _split(rel)
        dfd = self._folder(folder, create=False)
        try:
            fd = os.open(name, os.O_RDONLY | _O_NOFOLLOW | os.O_NONBLOCK | _O_CLOEXEC, dir_fd=dfd)
        except OSError as error:
            if error.errno in (errno.ELOOP, errno.ENOTDIR, errno.EMLINK):
                raise InTheWay(error.errno, f"{rel!r} is a link") from None
            raise
        finally:
            os.close(dfd)
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise InTheWay(errno.EEXIST, f"{rel!r} is not a regular file")
        return fd

    def md5(self, rel: str) -> tuple[Sig, str]:
        """The signature and MD5 (hex) of file ``rel``, read without following links."""
        fd = self._open_file(rel)
        try:
            digest = hashlib.md5(usedforsecurity=False)
            while block := os.read(fd, _BLOCK):
                digest.update(block)
            return sig_of(os.fstat(fd)), digest.hexdigest()
        finally:
            os.close(fd)

    def snapshot(self, rel: str, destination: str) -> tuple[Sig, str]:
        """Copy file ``rel`` to ``destination`` (outside the working folder);
        its signature and MD5. :class:`Changed` if it changed while copied."""
        fd = self._open_file(rel)
        try:
            before = sig_of(os.fstat(fd))
            digest = hashlib.md5(usedforsecurity=False)
            copied = 0
            out = os.open(destination, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | _O_CLOEXEC, 0o600)
            try:
                while block := os.read(fd, _BLOCK):
                    digest.update(block)
                    copied += len(block)
                    view = memoryview(block)
                    while view:
                        view = view[os.write(out, view) :]
            finally:
                os.close(out)
            if sig_of(os.fstat(fd)) != before or copied != before.size:
                raise Changed(rel)
            return before, digest.hexdigest()
        finally:
            os.close(fd)

    # -- writing ---------------------------------------------------------------

    def begin(self, rel: str) -> Pending:
        """Start writing file ``rel``: a temporary file in its folder (made if missing)."""
        folder, name = _split(rel)
        dfd = self._folder(folder, create=True)
        temporary = f"{RESERVED}tmp-{secrets.token_hex(6)}"
        try:
            with self._writable(dfd):
                flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_NOFOLLOW | _O_CLOEXEC
                fd = os.open(temporary, flags, 0o644, dir_fd=dfd)
        except BaseException:
            os.close(dfd)
            raise
        return Pending(dfd, temporary, fd, name)

    @staticmethod
    def write(pending: Pending, data: bytes) -> None:
        """Append ``data`` to a file being written."""
        view = memoryview(data)
        while view:
            view = view[os.write(pending.fd, view) :]
        pending.md5.update(data)
        pending.size += len(data)

    def put(self, rel: str, data: bytes, expected: Sig | None, mtime_ns: int) -> tuple[Sig, str]:
        """Write file ``rel`` whole from ``data`` (:meth:`begin`, :meth:`write`,
        :meth:`commit` in one call); its signature and MD5."""
        pending = self.begin(rel)
        try:
            self.write(pending, data)
        except BaseException:
            self.abort(pending)
            raise
        return self.commit(pending, expected, mtime_ns), pending.md5.hexdigest()

    def commit(self, pending: Pending, expected: Sig | None, mtime_ns: int) -> Sig:
        """Put the file written under its name, with modification time
        ``mtime_ns``, if what is there now is ``expected`` (None: nothing);
        else :class:`Changed` (or :class:`InTheWay`) and nothing is replaced."""
        try:
            os.utime(pending.fd, ns=(mtime_ns, mtime_ns))
            if self.read_only:
                os.fchmod(pending.fd, 0o444)
            os.close(pending.fd)
            pending.fd = -1
            current = _lstat(pending.folder_fd, pending.name)
            if current is not None and not stat.S_ISREG(current.st_mode):
                raise InTheWay(errno.EEXIST, f"{pending.name!r} is not a regular file")
            if (None if current is None else sig_of(current)) != expected:
                raise Changed(pending.name)
            fd = pending.folder_fd
            with self._writable(fd):
                os.rename(pending.temporary, pending.name, src_dir_fd=fd, dst_dir_fd=fd)
            pending.temporary = ""
            done = _lstat(fd, pending.name)
            assert done is not None
            return sig_of(done)
        finally:
            self.abort(pending)

    def abort(self, pending: Pending) -> None:
        """Drop a file being written (nothing if it was committed)."""
        if pending.fd >= 0:
            os.close(pending.fd)
            pending.fd = -1
        if pending.temporary:
            with contextlib.suppress(OSError), self._writable(pending.folder_fd):
                os.unlink(pending.temporary, dir_fd=pending.folder_fd)
            pending.temporary = ""
        if pending.folder_fd >= 0:
            os.close(pending.folder_fd)
            pending.folder_fd = -1

    def remove(self, rel: str, expected: Sig) -> bool:
        """Delete file ``rel`` if it is still ``expected``; whether it is gone."""
        folder, name = _split(rel)
        try:
            fd = self._folder(folder, create=False)
        except (FileNotFoundError, InTheWay):
            return True
        try:
            current = _lstat(fd, name)
            if current is None:
                return True
            if not stat.S_ISREG(current.st_mode) or sig_of(current) != expected:
                return False
            with self._writable(fd):
                os.unlink(name, dir_fd=fd)
            return True
        finally:
            os.close(fd)

    def move_aside(self, rel: str, target: str, expected: Sig) -> bool:
        """Rename file ``rel`` to ``target`` in the same folder if it is still ``expected``."""
        folder, name = _split(rel)
        _, new_name = _split(target)
        fd = self._folder(folder, create=False)
        try:
            current = _lstat(fd, name)
            if current is None or sig_of(current) != expected or _lstat(fd, new_name) is not None:
                return False
            with self._writable(fd):
                os.rename(name, new_name, src_dir_fd=fd, dst_dir_fd=fd)
            return True
        finally:
            os.close(fd)

    def write_text(self, name: str, text: str) -> None:
        """Replace the file ``name`` at the top of the working folder with
        ``text`` (read-only for the kernel)."""
        pending = self.begin(name)
        try:
            self.write(pending, text.encode("utf-8"))
            os.fchmod(pending.fd, 0o444)
            fd = pending.folder_fd
            with self._writable(fd):
                os.rename(pending.temporary, name, src_dir_fd=fd, dst_dir_fd=fd)
            pending.temporary = ""
        finally:
            self.abort(pending)

    def remove_all(self) -> None:
        """Delete the working folder and everything in it (but the ``skip``
        names at its top), never through a link; the folder itself stays when
        it holds skipped names or is ``base``."""
        try:
            fd = self._folder([], create=False)
        except (FileNotFoundError, InTheWay):
            return
        os.fchmod(fd, 0o700)
        _purge(fd, self.skip)
        if self.parts:
            try:
                parent = self._open(self.parts[:-1], create=False)
            except (FileNotFoundError, InTheWay):
                return
            try:
                with contextlib.suppress(OSError):  # skipped names are still in it
                    os.rmdir(self.parts[-1], dir_fd=parent)
            finally:
                os.close(parent)


def _purge(top: int, skip: frozenset[str]) -> None:
    """Empty the folder ``top`` (a descriptor, closed here), depth first,
    without recursion and without following links."""
    # Each level: its descriptor, the names left to remove, its own name above.
    stack: list[tuple[int, list[str], str]] = [
        (top, [n for n in os.listdir(top) if n not in skip], "")
    ]
    while stack:
        fd, names, own = stack[-1]
        if not names:
            stack.pop()
            os.close(fd)
            if stack:
                with contextlib.suppress(OSError):
                    os.rmdir(own, dir_fd=stack[-1][0])
            continue
        name = names.pop()
        st = _lstat(fd, name)
        if st is None:
            continue
        if stat.S_ISDIR(st.st_mode):
            try:
                child = os.open(name, _DIR, dir_fd=fd)
            except OSError:
                continue
            os.fchmod(child, 0o700)
            stack.append((child, os.listdir(child), name))
        else:
            with contextlib.suppress(OSError):
                os.unlink(name, dir_fd=fd)
