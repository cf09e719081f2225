"""The JupyterHub-managed credentials service: each user's server gets its user's credentials.

``GET <JUPYTERHUB_SERVICE_PREFIX>credentials`` with ``Authorization: token
<a JupyterHub token>``:

1. the token is checked with the hub (``HubAuth.user_for_token``); it must
   belong to a *user* (not a service) and carry the scope
   ``access:services!service=<this service>`` (``HubAuth.access_scopes``),
   which ``jupyters3_hub.configure`` adds to each server's token. So a
   server only ever gets its own user's credentials. 401 without a valid
   token, 403 without the scope;
2. the user's credentials come from :class:`UserCredentials`: cached per user
   and handed out again while they last ``reuse_seconds``, else a new
   ``AssumeRole`` (one at a time per user), signed with the hub's own
   credentials (the AWS default chain of the hub's environment: IRSA, Pod
   Identity, an instance role, a profile), with the user's session policy
   (:class:`~jupyters3_hub.settings.HubSettings`);
3. the answer is the container-credentials JSON that jupyters3's
   ``JupyterS3HubAuthentication`` (and any AWS SDK) reads.

Nothing it logs holds a secret: user names, session names, masked key ids,
expirations, and STS's error codes.

Run by JupyterHub as ``python -m jupyters3_hub.service`` (or
``jupyters3-hub-service``), configured by ``JUPYTERS3_HUB_SETTINGS`` (JSON)
and JupyterHub's ``JUPYTERHUB_*`` variables; it listens where
``JUPYTERHUB_SERVICE_URL`` says, or ``JUPYTERS3_HUB_BIND`` (``host:port``).
"""

from __future__ import annotations

import asyncio
import collections
import logging
import os
import signal
import sys
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

from jupyterhub.services.auth import HubAuth
from tornado.httpserver import HTTPServer
from tornado.web import Application, RequestHandler

from jupyters3.auth import JupyterS3DefaultAuthentication
from jupyters3.credentials.assume_role import assume_role
from jupyters3.credentials.http import Fetcher, TornadoFetcher
from jupyters3.credentials.hub import container_credentials_json
from jupyters3.credentials.timestamps import format_timestamp
from jupyters3.credentials.types import AwsCreds, TimedCreds
from jupyters3.credentials.web_identity import sts_endpoint
from jupyters3.errors import S3Error
from jupyters3.policy import BadPolicyInput
from jupyters3_hub.settings import SETTINGS_ENV, HubSettings, UserRefused

__all__ = ["UserCredentials", "main", "make_app", "mask"]

log = logging.getLogger("jupyters3_hub")

#: An optional ``host:port`` to listen on instead of JUPYTERHUB_SERVICE_URL's.
BIND_ENV = "JUPYTERS3_HUB_BIND"


def mask(key_id: str) -> str:
    """``ASIA****WXYZ``: enough to match CloudTrail, never the whole id."""
    return f"{key_id[:4]}****{key_id[-4:]}" if len(key_id) > 8 else "****"


class UserCredentials:
    """Per-user credentials: cached, reused while they last, one AssumeRole at a time per user.

    ``source`` gives the hub's own credentials (refreshed by its own cache);
    ``sts`` is the STS endpoint. At most ``settings.max_cached_users`` users
    are kept (the least recently served go first).
    """

    def __init__(
        self,
        settings: HubSettings,
        source: Callable[[], Awaitable[AwsCreds]],
        *,
        sts_url: str,
        fetcher: Fetcher,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.source = source
        self.sts_url = sts_url
        self.fetcher = fetcher
        self.clock = clock
        self._cache: collections.OrderedDict[str, TimedCreds] = collections.OrderedDict()
        self._locks: dict[str, asyncio.Lock] = {}
        #: AssumeRole calls made (for tests and the log).
        self.assumed = 0

    def cached(self, user: str) -> TimedCreds | None:
        """The user's cached credentials if they last ``reuse_seconds`` more, else None."""
        found = self._cache.get(user)
        if found is None or found.expiration is None:
            return None
        if found.expiration - self.clock() < self.settings.reuse_seconds:
            return None
        self._cache.move_to_end(user)
        return found

    async def get(self, user: str) -> TimedCreds:
        """The user's scoped credentials (:class:`UserRefused`, or an S3Error from STS)."""
        found = self.cached(user)
        if found is not None:
            return found
        lock = self._locks.setdefault(user, asyncio.Lock())
        async with lock:
            found = self.cached(user)
            if found is not None:
                return found
            request = self.settings.request_for(user)
            creds = await assume_role(
                self.fetcher,
                self.sts_url,
                await self.source(),
                request,
                region=self.settings.region,
                clock=self.clock,
                log=log,
            )
            self.assumed += 1
            self._cache[user] = creds
            self._cache.move_to_end(user)
            while len(self._cache) > self.settings.max_cached_users:
                old, _ = self._cache.popitem(last=False)
                self._locks.pop(old, None)
            log.info(
                "jupyters3-hub: credentials for user %r (session %s, key %s) until %s.",
                user,
                request.session_name,
                mask(creds.creds.access_key_id),
                format_timestamp(creds.expiration or 0),
            )
            return creds


class CredentialsHandler(RequestHandler):
    """``GET .../credentials``: the caller's user's scoped credentials."""

    def initialize(self, auth: HubAuth, users: UserCredentials) -> None:
        self.auth = auth
        self.users = users

    def log_exception(self, *args: Any) -> None:  # a traceback would show the request
        log.error(
            "jupyters3-hub: the credentials request failed: %s", args[1] if len(args) > 1 else ""
        )

    def refuse(self, status: int, message: str) -> None:
        self.set_status(status)
        self.finish({"message": message})

    async def get(self) -> None:
        self.set_header("Cache-Control", "no-store")
        token = self.auth.get_token(self, in_cookie=False)
        if not token:
            self.set_header("WWW-Authenticate", "token")
            return self.refuse(
                401,
                "Send this server's JupyterHub token: Authorization: token <JUPYTERHUB_API_TOKEN>.",
            )
        model = await self.auth.user_for_token(token, sync=False)
        if not model:
            return self.refuse(401, "JupyterHub does not know this token.")
        if model.get("kind", "user") != "user" or not model.get("name"):
            return self.refuse(403, "Only a user's token gets credentials, not a service's.")
        if not self.auth.check_scopes(self.auth.access_scopes, model):
            return self.refuse(
                403,
                f"The token lacks the scope {' or '.join(sorted(self.auth.access_scopes))}: "
                "jupyters3_hub.configure() adds it to c.Spawner.server_token_scopes and the "
                "user role.",
            )
        user = str(model["name"])
        try:
            creds = await self.users.get(user)
        except UserRefused as exc:
            log.warning("jupyters3-hub: no credentials for user %r: %s", user, exc)
            return self.refuse(403, str(exc))
        except S3Error as exc:
            log.warning("jupyters3-hub: STS refused the credentials of user %r: %s", user, exc)
            return self.refuse(502, f"STS did not give credentials for {user!r}: {exc.message}")
        self.set_header("Content-Type", "application/json")
        body = container_credentials_json(
            creds, now=self.users.clock(), role_arn=self.users.settings.role_arn
        )
        self.finish(body)


class IndexHandler(RequestHandler):
    """``GET <prefix>``: what this service is (no authentication, nothing secret)."""

    def initialize(self, settings: HubSettings) -> None:
        self.hub_settings = settings

    def get(self) -> None:
        self.finish({"service": "jupyters3-hub", "mode": self.hub_settings.mode})


def make_app(
    settings: HubSettings, auth: HubAuth, users: UserCredentials, prefix: str
) -> Application:
    """The service's Tornado application under ``prefix`` (``/services/<name>/``)."""
    prefix = "/" + prefix.strip("/") + "/" if prefix.strip("/") else "/"
    return Application(
        [
            (prefix + "credentials", CredentialsHandler, {"auth": auth, "users": users}),
            (prefix + "?", IndexHandler, {"settings": settings}),
        ],
        log_function=_access_log,
    )


def _access_log(handler: RequestHandler) -> None:
    request = handler.request
    log.info(
        "jupyters3-hub: %s %s %d %.0f ms",
        request.method,
        request.path,  # no query string: nothing secret ever travels there, and it stays out
        handler.get_status(),
        1000 * request.request_time(),
    )


def listen_address(environ: Mapping[str, str]) -> tuple[str, int]:
    """``(host, port)`` from ``JUPYTERS3_HUB_BIND``, else ``JUPYTERHUB_SERVICE_URL``."""
    bind = environ.get(BIND_ENV, "")
    if bind:
        host, _, port = bind.rpartition(":")
        return host or "127.0.0.1", int(port)
    parts = urlsplit(environ.get("JUPYTERHUB_SERVICE_URL", ""))
    if not parts.port:
        raise SystemExit(
            "jupyters3-hub: JUPYTERHUB_SERVICE_URL has no port: give the service a url in "
            "c.JupyterHub.services (jupyters3_hub.configure does), or set JUPYTERS3_HUB_BIND."
        )
    return parts.hostname or "127.0.0.1", parts.port


async def serve(environ: Mapping[str, str]) -> None:
    """Run until SIGTERM or SIGINT."""
    try:
        settings = HubSettings.from_json(environ.get(SETTINGS_ENV, ""))
    except BadPolicyInput as exc:
        raise SystemExit(f"jupyters3-hub: {SETTINGS_ENV}: {exc}") from None
    source = JupyterS3DefaultAuthentication(log=log)
    fetcher = TornadoFetcher()
    sts_url = sts_endpoint(environ, settings.sts_endpoint_url, settings.region)
    users = UserCredentials(settings, source.get_credentials, sts_url=sts_url, fetcher=fetcher)
    auth = HubAuth(cache_max_age=60)
    app = make_app(settings, auth, users, environ.get("JUPYTERHUB_SERVICE_PREFIX", "/"))
    host, port = listen_address(environ)
    server = HTTPServer(app)
    server.listen(port, host)
    log.info(
        "jupyters3-hub: serving credentials of %s (%s) on %s:%d%s, STS %s.",
        settings.role_arn,
        settings.mode,
        host,
        port,
        environ.get("JUPYTERHUB_SERVICE_PREFIX", "/"),
        sts_url,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    server.stop()
    log.info("jupyters3-hub: stopped.")


def main() -> None:
    """``jupyters3-hub-service``: the managed service's entry point."""
    logging.basicConfig(
        level=os.environ.get("JUPYTERS3_HUB_LOG_LEVEL", "INFO"),
        format="[%(levelname).1s %(asctime)s %(name)s] %(message)s",
        stream=sys.stderr,
    )
    asyncio.run(serve(os.environ))


if __name__ == "__main__":
    main()
