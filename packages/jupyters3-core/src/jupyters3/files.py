"""``/files/<path>``: objects streamed from S3 to the browser.

Same authentication, authorization (``contents`` resource), XSRF check,
Content-Type rules, ``?download=1`` attachment, CSP sandbox and
``X-Content-Type-Options: nosniff`` as jupyter_server's ``FilesHandler``
(``tests/e2e/test_browser_headers.py`` compares them), but the body is
streamed chunk by chunk from GetObject (memory stays flat whatever the size)
and a single byte ``Range`` is honoured as the local-disk handler
(tornado's ``StaticFileHandler``) does: 206 for part of the file, 200 for a
range that covers all of it, 416 with ``Content-Range: bytes */<size>``.
"""

from __future__ import annotations

import mimetypes
import re
from typing import TYPE_CHECKING

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import JupyterHandler
from tornado import web
from tornado.iostream import StreamClosedError

from jupyters3 import errors, keys
from jupyters3.contents_errors import InvalidPath
from jupyters3.http_errors import http_errors
from jupyters3.mounts import Stores
from jupyters3.store import S3Store

if TYPE_CHECKING:
    from jupyters3.s3.client import ObjectMeta

__all__ = ["S3FilesHandler", "content_type_header"]

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def content_type_header(name: str, *, binary: bool) -> str:
    """The Content-Type jupyter_server's FilesHandler would send for ``name``."""
    if name.lower().endswith(".ipynb"):
        return "application/x-ipynb+json"
    mime, encoding = mimetypes.guess_type(name)
    if mime == "text/plain":
        return "text/plain; charset=UTF-8"
    if encoding == "gzip":
        return "application/gzip"
    if encoding is not None:
        return "application/octet-stream"
    if mime is not None:
        return mime
    return "application/octet-stream" if binary else "text/plain; charset=UTF-8"


def parse_range(header: str, size: int) -> tuple[int, int] | None:
    """``(first, last)`` inclusive for one ``bytes=`` range; ``None`` for the whole
    object (no range, or one that covers every byte: answered 200, as tornado's
    ``StaticFileHandler`` does). Raises ``ValueError`` when the range cannot be
    satisfied."""
    match = _RANGE.match(header.strip())
    if not match or match.groups() == ("", ""):
        return None  # multiple or malformed ranges: ignored, as RFC 9110 allows
    first_s, last_s = match.groups()
    if first_s == "":
        length = int(last_s)
        if length == 0:
            raise ValueError("empty suffix range")
        first, last = max(0, size - length), size - 1
    else:
        first = int(first_s)
        if last_s and int(last_s) < first:
            raise ValueError("range not satisfiable")
        last = min(int(last_s), size - 1) if last_s else size - 1
        if first >= size:
            raise ValueError("range not satisfiable")
    return None if (first, last) == (0, size - 1) else (first, last)


class S3FilesHandler(JupyterHandler):
    """Serve the raw bytes of a file stored in S3."""

    auth_resource = "contents"

    def store(self, path: str) -> S3Store:
        """The store of the server's JupyterS3 that holds ``path`` (a mount's, or
        the main bucket's); 404 where none does."""
        stores = getattr(self.contents_manager, "stores", None)
        if not isinstance(stores, Stores):
            raise web.HTTPError(500, "S3FilesHandler serves the files of a JupyterS3 only")
        store = stores.at(path)
        if store is None:
            raise web.HTTPError(404, f"No such file: {path}")
        return store

    @property
    def content_security_policy(self) -> str:
        """Confine any script in served HTML/SVG to a unique origin."""
        return str(super().content_security_policy) + "; sandbox allow-scripts"

    @web.authenticated
    @authorized
    async def head(self, path: str) -> None:
        """Headers only (one HEAD)."""
        await self._serve(path, include_body=False)

    @web.authenticated
    @authorized
    async def get(self, path: str) -> None:
        """Stream the object (one HEAD, one GetObject); 404 for missing or hidden files."""
        await self._serve(path, include_body=True)

    async def _serve(self, path: str, include_body: bool) -> None:
        self.check_xsrf_cookie()
        path = path.strip("/")
        if not self.contents_manager.allow_hidden and keys.is_hidden_path(path):
            self.log.info("Refusing to serve hidden file, via 404 Error")
            raise web.HTTPError(404)
        try:
            path = keys.normalize_path(path)
            store = self.store(path)
            store.keymap.file_key(path)
        except InvalidPath as exc:
            raise web.HTTPError(404, str(exc)) from None
        name = path.rsplit("/", 1)[-1]
        try:
            # S3's answers map to the statuses /api/contents answers (http_errors).
            with http_errors(path):
                meta = await store.head_key(store.keymap.file_key(path))
                if meta is None or not path:
                    raise web.HTTPError(404, f"No such file: {path}")
                self._set_headers(name, meta)
                try:
                    byte_range = self._range(meta.size)
                except ValueError:
                    # As the reference: no error page (send_error would drop the headers).
                    self.set_status(416)
                    self.set_header("Content-Type", "text/plain")
                    self.set_header("Content-Range", f"bytes */{meta.size}")
                    return
                self._set_length(meta.size, byte_range)
                if not include_body or meta.size == 0:
                    return
                await store.stream(meta, path, self._send, byte_range=byte_range)
        except StreamClosedError:
            self.log.debug("Client closed the connection while downloading %s", path)
        except web.HTTPError as answer:
            if not self._headers_written:
                if isinstance(answer.__cause__, errors.NotFound):
                    raise web.HTTPError(404, f"No such file: {path}") from None
                raise
            # Part of the file went out already: the status cannot change now.
            self.log.warning("Download of %s broke off: %s", path, answer.__cause__ or answer)

    def _range(self, size: int) -> tuple[int, int] | None:
        """The requested byte range; ``ValueError`` when it cannot be satisfied."""
        header = self.request.headers.get("Range")
        return parse_range(header, size) if header else None

    def _set_headers(self, name: str, meta: ObjectMeta) -> None:
        if name.endswith(".ipynb") or self.get_argument("download", None):
            self.set_attachment_header(name)  # notebooks always download, as the reference does
        binary = not (meta.content_type or "").startswith("text/")
        self.set_header("Content-Type", content_type_header(name, binary=binary))
        self.set_header("Accept-Ranges", "bytes")
        self.set_header("ETag", f'"{meta.etag}"')
        self.set_header("Last-Modified", meta.last_modified)
        if "v" not in self.request.arguments:
            # As the reference: no heuristic caching, the browser revalidates every time.
            self.set_header("Cache-Control", "no-cache")

    def _set_length(self, size: int, byte_range: tuple[int, int] | None) -> None:
        if byte_range is None:
            self.set_header("Content-Length", str(size))
        else:
            first, last = byte_range
            self.set_status(206)
            self.set_header("Content-Range", f"bytes {first}-{last}/{size}")
            self.set_header("Content-Length", str(last - first + 1))

    async def _send(self, chunk: bytes) -> None:
        self.write(chunk)
        await self.flush()
