"""A small synchronous client for a running Jupyter server's contents REST API.

Standard library only (``http.client``). Paths given to the helpers are API
paths (``"dir/a b.txt"``, ``""`` for the root): unicode, ``/``-separated, not
URL-escaped. Each segment is percent-encoded here when the URL is built.
"""

from __future__ import annotations

import base64
import dataclasses
import http.client
import json as jsonlib
from collections.abc import Mapping
from email.message import Message
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

__all__ = ["CHUNK_SIZE", "ContentsClient", "Response", "api_url_path"]

#: JupyterLab's upload chunk size (@jupyterlab/filebrowser ``CHUNK_SIZE``), 1 MiB.
CHUNK_SIZE = 1024 * 1024

ParamValue = str | int | bool | None


def api_url_path(api_path: str) -> str:
    """Percent-encode each ``/``-separated segment of an API path (no leading ``/``)."""
    segments = [seg for seg in api_path.strip("/").split("/") if seg]
    return "/".join(quote(seg, safe="") for seg in segments)


@dataclasses.dataclass(frozen=True)
class Response:
    """One HTTP answer: ``status``, ``headers`` (case-insensitive), ``json``, ``body``.

    ``json`` is the decoded body when it parses as JSON, else ``None``.
    """

    status: int
    headers: Message
    json: Any
    body: bytes

    @property
    def ok(self) -> bool:
        """True for 2xx."""
        return 200 <= self.status < 300

    def expect(self, *statuses: int) -> Response:
        """Return self if ``status`` is one of ``statuses`` (default: any 2xx), else raise."""
        if (self.status in statuses) if statuses else self.ok:
            return self
        raise AssertionError(
            f"HTTP {self.status} (expected {statuses or '2xx'}): {self.body[:1000]!r}"
        )


class ContentsClient:
    """Synchronous REST client for ``/api/contents``, ``/files`` and ``/api/status``.

    ``base_url`` is the server's base URL (``JupyterServer.url``). With a
    ``token`` every request sends ``Authorization: token <token>``, which also
    exempts it from Jupyter's XSRF check; ``token=None`` sends no
    authorization (for auth and XSRF tests). HTTP errors never raise: every
    method returns a :class:`Response`.
    """

    def __init__(self, base_url: str, token: str | None, *, timeout: float = 60.0) -> None:
        parts = urlsplit(base_url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"base_url must be http://host:port[/base/], got {base_url!r}")
        self.base_url = base_url
        self.token = token
        self.timeout = timeout
        self._host = parts.hostname
        self._port = parts.port or 80
        self._prefix = "/" + parts.path.strip("/") + "/" if parts.path.strip("/") else "/"

    # -- raw -----------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, ParamValue] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        body: bytes | None = None,
    ) -> Response:
        """Send one request to ``path`` (URL path under the base URL, already encoded).

        ``params`` are added as a query string (``None`` values are dropped,
        booleans become ``1``/``0``); ``json`` is serialised as the body
        (or pass raw ``body`` bytes).
        """
        url = self._prefix + path.lstrip("/")
        query = _query(params)
        if query:
            url += "?" + query
        hdrs: dict[str, str] = {}
        if self.token is not None:
            hdrs["Authorization"] = f"token {self.token}"
        if json is not None:
            body = jsonlib.dumps(json).encode()
            hdrs["Content-Type"] = "application/json"
        hdrs.update(headers or {})
        conn = http.client.HTTPConnection(self._host, self._port, timeout=self.timeout)
        try:
            conn.request(method, url, body=body, headers=hdrs)
            resp = conn.getresponse()
            data = resp.read()
            return Response(resp.status, resp.headers, _maybe_json(data), data)
        finally:
            conn.close()

    def contents_path(self, api_path: str) -> str:
        """The URL path of ``api_path`` under ``api/contents``."""
        encoded = api_url_path(api_path)
        return f"api/contents/{encoded}" if encoded else "api/contents"

    # -- contents ------------------------------------------------------------

    def status(self) -> Response:
        """``GET /api/status``."""
        return self.request("GET", "api/status")

    def get(
        self,
        path: str,
        *,
        content: bool | None = None,
        type: str | None = None,
        format: str | None = None,
        hash: bool | None = None,
    ) -> Response:
        """``GET /api/contents/<path>`` with optional ``content``/``type``/``format``/``hash``."""
        params = {"content": content, "type": type, "format": format, "hash": hash}
        return self.request("GET", self.contents_path(path), params=params)

    def save(self, path: str, model: Mapping[str, Any]) -> Response:
        """``PUT /api/contents/<path>`` with ``model`` (201 if created, 200 if replaced)."""
        return self.request("PUT", self.contents_path(path), json=dict(model))

    def save_text(self, path: str, text: str) -> Response:
        """Save a text file (``{type: file, format: text}``)."""
        return self.save(path, {"type": "file", "format": "text", "content": text})

    def mkdir(self, path: str) -> Response:
        """Create a directory (``PUT {type: directory}``)."""
        return self.save(path, {"type": "directory"})

    def upload_chunked(
        self, path: str, data: bytes, chunk_size: int = CHUNK_SIZE
    ) -> list[Response]:
        """Upload ``data`` exactly as JupyterLab's file browser does; return every response.

        A file of at most ``chunk_size`` bytes is one PUT without ``chunk``.
        A larger one is sent sequentially as chunks numbered 1, 2, ..., n-1,
        then -1 for the last, each ``{type: file, format: base64, name, chunk,
        content}`` with ``chunk_size`` raw bytes (the last holds the rest).
        Like JupyterLab, it stops at the first failing chunk (no abort
        message), so the last response is the final answer or the failure.
        """
        if chunk_size <= 0:
            raise ValueError("chunk_size must be positive")
        name = path.strip("/").rsplit("/", 1)[-1]
        model: dict[str, Any] = {"type": "file", "format": "base64", "name": name}
        if len(data) <= chunk_size:
            return [self.save(path, {**model, "content": _b64(data)})]
        responses: list[Response] = []
        start = 0
        while True:
            end = start + chunk_size
            last = end >= len(data)
            chunk = -1 if last else end // chunk_size
            resp = self.save(path, {**model, "chunk": chunk, "content": _b64(data[start:end])})
            responses.append(resp)
            if last or not resp.ok:
                return responses
            start = end

    def new_untitled(
        self,
        path: str = "",
        *,
        type: str | None = None,
        ext: str | None = None,
    ) -> Response:
        """``POST /api/contents/<dir>`` ``{type, ext}``: a new untitled file, notebook or dir."""
        model = {k: v for k, v in {"type": type, "ext": ext}.items() if v is not None}
        return self.request("POST", self.contents_path(path), json=model)

    def copy(self, from_path: str, to_dir: str) -> Response:
        """``POST /api/contents/<to_dir>`` ``{copy_from}`` (the server picks the copy's name)."""
        return self.request("POST", self.contents_path(to_dir), json={"copy_from": from_path})

    def rename(self, old_path: str, new_path: str) -> Response:
        """``PATCH /api/contents/<old>`` ``{path: new}``."""
        return self.request("PATCH", self.contents_path(old_path), json={"path": new_path})

    def delete(self, path: str) -> Response:
        """``DELETE /api/contents/<path>`` (204 on success)."""
        return self.request("DELETE", self.contents_path(path))

    # -- checkpoints -----------------------------------------------------------

    def checkpoints(self, path: str) -> Response:
        """``GET /api/contents/<path>/checkpoints``: a list of ``{id, last_modified}``."""
        return self.request("GET", self._checkpoints_path(path))

    def create_checkpoint(self, path: str) -> Response:
        """``POST /api/contents/<path>/checkpoints`` (201 with the checkpoint model)."""
        return self.request("POST", self._checkpoints_path(path))

    def restore_checkpoint(self, path: str, checkpoint_id: str) -> Response:
        """``POST /api/contents/<path>/checkpoints/<id>`` (204)."""
        return self.request("POST", self._checkpoints_path(path, checkpoint_id))

    def delete_checkpoint(self, path: str, checkpoint_id: str) -> Response:
        """``DELETE /api/contents/<path>/checkpoints/<id>`` (204)."""
        return self.request("DELETE", self._checkpoints_path(path, checkpoint_id))

    def _checkpoints_path(self, path: str, checkpoint_id: str | None = None) -> str:
        url = self.contents_path(path) + "/checkpoints"
        return url if checkpoint_id is None else f"{url}/{quote(checkpoint_id, safe='')}"

    # -- /files ------------------------------------------------------------------

    def files(
        self,
        path: str,
        *,
        download: bool = False,
        range: tuple[int, int] | str | None = None,
    ) -> Response:
        """``GET /files/<path>``; ``download`` adds ``?download=1``.

        ``range=(first, last)`` sends ``Range: bytes=first-last`` (inclusive,
        as in HTTP); a string is sent as the header value unchanged.
        """
        headers: dict[str, str] = {}
        if isinstance(range, tuple):
            headers["Range"] = f"bytes={range[0]}-{range[1]}"
        elif range is not None:
            headers["Range"] = range
        params = {"download": 1} if download else None
        return self.request("GET", "files/" + api_url_path(path), params=params, headers=headers)


def _query(params: Mapping[str, ParamValue] | None) -> str:
    if not params:
        return ""
    pairs: list[tuple[str, str]] = []
    for key, value in params.items():
        if value is None:
            continue
        if isinstance(value, bool):
            pairs.append((key, "1" if value else "0"))
        else:
            pairs.append((key, str(value)))
    return urlencode(pairs, quote_via=quote)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _maybe_json(data: bytes) -> Any:
    if not data:
        return None
    try:
        return jsonlib.loads(data)
    except ValueError:
        return None
