"""Kernels get their server's scoped credentials, refreshed, and nothing broader.

Kernels (and terminals) inherit the Jupyter server's process environment:
jupyter_server copies ``os.environ`` when it starts each one. So, once, as
the server starts (:func:`install`):

1. a loopback HTTP endpoint is bound on ``127.0.0.1`` (a free port) in the
   server process; it answers ``GET /credentials`` carrying the right
   ``Authorization`` header with the container credentials JSON of the
   server's own refreshing cache (the same scoped credentials, refreshed by
   the same machinery) and everything else with 404/401;
2. ``os.environ`` loses the variables of every broad identity an AWS SDK
   would pick up before a container endpoint (:data:`SCRUBBED`: static keys,
   web identity, other container endpoints, profile names) and gains
   ``AWS_CONTAINER_CREDENTIALS_FULL_URI`` (the endpoint),
   ``AWS_CONTAINER_AUTHORIZATION_TOKEN`` (32 random bytes, new for every
   server start) and ``AWS_EC2_METADATA_DISABLED=true``.

botocore, the other AWS SDKs, s3fs and pyarrow read container credentials
over plain http from loopback addresses, and refresh them before they expire.
Only the same Unix user can read the token (from the kernel's environment),
and that user's kernels already hold the same credentials. What stays out of
reach of this mechanism (the server's own initial environment in
``/proc/<pid>/environ``, a readable IRSA token file, an instance metadata
service that answers) is what :mod:`jupyters3.confinement` warns about.

It changes nothing else of the kernels' environment: per-kernel variables
(``get_kernel_env``, kernel provisioners) set by other features are added to
what this leaves, and must not set ``AWS_*`` credential variables themselves.
"""

from __future__ import annotations

import hmac
import logging
import os
import secrets
import socket
import time
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import Any

from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets
from tornado.web import Application, RequestHandler

from jupyters3.credentials.hub import container_credentials_json
from jupyters3.credentials.types import TimedCreds
from jupyters3.errors import S3Error

__all__ = ["SCRUBBED", "KernelCredentialsEndpoint", "install", "kernel_environ"]

#: Removed from what kernels inherit: every identity an AWS SDK would use instead of,
#: or before, the container endpoint.
SCRUBBED = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_CREDENTIAL_EXPIRATION",
    "AWS_ROLE_ARN",
    "AWS_ROLE_SESSION_NAME",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
)

_PATH = "/credentials"


def kernel_environ(environ: Mapping[str, str], url: str, token: str) -> dict[str, str]:
    """What kernels inherit: ``environ`` without :data:`SCRUBBED`, with the endpoint (pure)."""
    kept = {k: v for k, v in environ.items() if k not in SCRUBBED}
    kept.update(
        AWS_CONTAINER_CREDENTIALS_FULL_URI=url,
        AWS_CONTAINER_AUTHORIZATION_TOKEN=token,
        AWS_EC2_METADATA_DISABLED="true",
    )
    return kept


class KernelCredentialsEndpoint:
    """The loopback endpoint: ``GET /credentials`` -> container credentials JSON.

    ``credentials`` returns the current :class:`TimedCreds` (refreshed as
    needed). :meth:`bind` takes a free port on 127.0.0.1 at once (so the URL
    is known before any kernel starts); :meth:`start` serves on the running
    event loop.
    """

    def __init__(
        self,
        credentials: Callable[[], Awaitable[TimedCreds]],
        *,
        log: logging.Logger | logging.LoggerAdapter[Any],
        token: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.credentials = credentials
        self.log = log
        self.clock = clock
        self._token = token or secrets.token_urlsafe(32)
        self._sockets: list[socket.socket] = []
        self._server: HTTPServer | None = None
        self.port = 0

    @property
    def token(self) -> str:
        """The ``Authorization`` value a caller must send (a secret: never logged)."""
        return self._token

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>/credentials``."""
        return f"http://127.0.0.1:{self.port}{_PATH}"

    def bind(self) -> str:
        """Bind a free port on 127.0.0.1 (no event loop needed); returns :attr:`url`."""
        self._sockets = bind_sockets(0, "127.0.0.1", family=socket.AF_INET)
        self.port = int(self._sockets[0].getsockname()[1])
        return self.url

    def start(self) -> None:
        """Serve on the current event loop (call it from that loop)."""
        app = Application([(_PATH, _Handler, {"endpoint": self})])
        self._server = HTTPServer(app, xheaders=False)
        self._server.add_sockets(self._sockets)

    def stop(self) -> None:
        """Stop serving. Idempotent."""
        if self._server is not None:
            self._server.stop()
            self._server = None

    def authorized(self, header: str) -> bool:
        """Whether ``header`` is the token (compared in constant time)."""
        return hmac.compare_digest(header.encode(), self._token.encode())


class _Handler(RequestHandler):
    def initialize(self, endpoint: KernelCredentialsEndpoint) -> None:
        self.endpoint = endpoint

    def log_exception(self, *args: Any) -> None:  # no tracebacks with request headers
        self.endpoint.log.warning("JupyterS3: the kernel credentials endpoint failed")

    async def get(self) -> None:
        self.set_header("Cache-Control", "no-store")
        if not self.endpoint.authorized(self.request.headers.get("Authorization", "")):
            self.set_status(401)
            self.finish({"message": "The Authorization header is not this server's token."})
            return
        try:
            creds = await self.endpoint.credentials()
        except S3Error as exc:
            self.set_status(503)
            self.finish({"message": f"No credentials for kernels now: {exc.message}"})
            return
        self.set_header("Content-Type", "application/json")
        self.finish(container_credentials_json(creds, now=self.endpoint.clock()))


def install(
    get_timed: Callable[[], Awaitable[TimedCreds]],
    loop: Any,
    log: logging.Logger | logging.LoggerAdapter[Any],
    environ: MutableMapping[str, str] | None = None,
) -> KernelCredentialsEndpoint:
    """Bind the endpoint now, serve it once ``loop`` (a Tornado IOLoop) runs, and make
    ``environ`` (default ``os.environ``) what kernels must inherit."""
    target = os.environ if environ is None else environ
    endpoint = KernelCredentialsEndpoint(get_timed, log=log)
    url = endpoint.bind()
    removed = sorted(k for k in SCRUBBED if k in target)
    new = kernel_environ(target, url, endpoint.token)
    for key in list(target):
        if key not in new:
            del target[key]
    target.update(new)
    loop.add_callback(endpoint.start)
    log.info(
        "JupyterS3: kernels get this server's scoped credentials from %s%s.",
        url,
        f" (removed from what they inherit: {', '.join(removed)})" if removed else "",
    )
    return endpoint
