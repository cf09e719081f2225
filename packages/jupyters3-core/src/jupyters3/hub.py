"""``JupyterS3HubAuthentication``: a single-user server's scoped credentials under JupyterHub.

Set in the single-user server's configuration (the hub sets the variables it
reads, see ``jupyters3_hub.configure``)::

    c.JupyterS3.authentication_class = "jupyters3.hub.JupyterS3HubAuthentication"

It fetches the user's credentials from the hub's credentials service
(:mod:`jupyters3.credentials.hub`) with the server's ``JUPYTERHUB_API_TOKEN``
and refreshes them ahead of expiry with the same cache every refreshing
source uses (role chaining caps a session at one hour, so they are pulled
again, never handed over once at spawn). Three more things happen at start
(in :class:`jupyters3.JupyterS3`):

* **confinement** (``check_confinement``): a LIST of the main bucket outside
  the server's prefix must be refused, else the server stops with a sentence
  (:mod:`jupyters3.confinement`);
* **warnings** about broad identities kernels could still use: AWS keys in
  the environment, IRSA's token file, a container credentials endpoint,
  static keys in the shared files, an instance metadata service that answers;
* **kernels** (``kernel_credentials``): the server serves its scoped,
  refreshed credentials to its kernels on a loopback endpoint and removes the
  broad identity variables from what kernels and terminals inherit
  (:mod:`jupyters3.kernel_credentials`), so boto3, s3fs or pyarrow in a
  notebook reach the user's prefix and the mounts, and nothing else.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from traitlets import Bool, Float, Int, Unicode, default

from jupyters3 import confinement, kernel_credentials
from jupyters3.auth import JupyterS3RefreshingAuthentication
from jupyters3.credentials.hub import HUB_URL_ENV, HubCredentialsProvider
from jupyters3.credentials.providers import env_value
from jupyters3.credentials.types import TimedCreds

if TYPE_CHECKING:
    from jupyters3.check_report import Report
    from jupyters3.manager import JupyterS3
    from jupyters3.store import S3Store

__all__ = ["DEFAULT_METADATA_URL", "JupyterS3HubAuthentication", "single_user_config"]

#: The EC2 instance metadata service (IPv4), probed for the kernels' warning.
DEFAULT_METADATA_URL = "http://169.254.169.254/"


class JupyterS3HubAuthentication(JupyterS3RefreshingAuthentication):
    """Credentials scoped to this server's user, from the JupyterHub credentials service."""

    url = Unicode(
        help=f"The credentials service's URL. Default: {HUB_URL_ENV}, which "
        "jupyters3_hub.configure() makes the hub set for every server. Plain http is "
        "allowed (the hub's internal network), unlike for container credentials."
    ).tag(config=True)
    timeout = Float(5.0, help="Seconds one request to the credentials service may take.").tag(
        config=True
    )
    attempts = Int(3, help="Attempts per refresh, the first included.").tag(config=True)
    check_confinement = Bool(
        True,
        help="At start, LIST the main bucket outside the prefix: it must be refused "
        "(AccessDenied), else the server stops, since users would not be kept apart. "
        "jupyters3 check shows the same.",
    ).tag(config=True)
    kernel_credentials = Bool(
        True,
        help="Give kernels (and terminals) this server's scoped, refreshed credentials on a "
        "loopback endpoint (AWS_CONTAINER_CREDENTIALS_FULL_URI with a random "
        "AWS_CONTAINER_AUTHORIZATION_TOKEN) and remove broad AWS identity variables from "
        "what they inherit.",
    ).tag(config=True)
    metadata_url = Unicode(
        help="The instance metadata service probed at start (one PUT, 1 s): if it answers, "
        "kernels could take the node's role from it, and the server warns. Default: "
        "AWS_EC2_METADATA_SERVICE_ENDPOINT, else http://169.254.169.254/. '' skips the probe."
    ).tag(config=True)

    @default("url")
    def _default_url(self) -> str:
        return env_value(self.environ, HUB_URL_ENV)

    @default("metadata_url")
    def _default_metadata_url(self) -> str:
        return env_value(self.environ, "AWS_EC2_METADATA_SERVICE_ENDPOINT") or DEFAULT_METADATA_URL

    def source_name(self) -> str:
        """Where the credentials come from, for log lines."""
        return "the JupyterHub credentials service"

    async def fetch_credentials(self) -> TimedCreds:
        """Fresh scoped credentials from the service."""
        provider = HubCredentialsProvider.from_environ(
            self.environ, self.fetcher, url=self.url, timeout=self.timeout, attempts=self.attempts
        )
        return await provider.load()

    async def timed_credentials(self) -> TimedCreds:
        """The cached credentials with their expiration (refreshed first when they must be)."""
        await self.cache.get()
        current = self.cache.current
        assert current is not None  # get() fetched them
        return current

    # -- what JupyterS3 calls at start, and jupyters3 check --------------------------

    def check_at_start(self, manager: JupyterS3) -> None:
        """Warn about broad identities; stop the server unless it is confined to its prefix."""
        if self.check_confinement:
            confinement.check_at_start(manager, self.log)

    def serve_kernels(self, loop: Any) -> None:
        """Serve the scoped credentials to kernels and scrub what they inherit (``loop``:
        the server's IOLoop, not yet running)."""
        if self.kernel_credentials:
            kernel_credentials.install(self.timed_credentials, loop, self.log)

    async def check_steps(self, manager: JupyterS3, report: Report, store: S3Store | None) -> None:
        """``jupyters3 check``'s confinement and kernels lines (as the server would log them)."""
        if self.check_confinement:
            await confinement.report_steps(manager, report, store)


def single_user_config(c: Any, environ: Mapping[str, str] | None = None) -> None:
    """The single-user server's side of ``jupyters3_hub.configure``, in one call.

    In the single-user image's ``jupyter_server_config.py``::

        from jupyters3.hub import single_user_config
        single_user_config(c)

    sets JupyterS3 as the contents manager on ``JUPYTERS3_BUCKET``, the
    user's ``JUPYTERS3_PREFIX`` and the ``JUPYTERS3_MOUNTS`` (JSON; a URL
    ending in ``:ro`` is a read-only mount), all set by the hub, with
    :class:`JupyterS3HubAuthentication`. Raises SystemExit with a sentence
    when the hub did not set them.
    """
    environ = os.environ if environ is None else environ
    missing = [
        name
        for name in ("JUPYTERS3_BUCKET", "JUPYTERS3_PREFIX", "JUPYTERHUB_USER")
        if not environ.get(name)
    ]
    if missing:
        raise SystemExit(
            f"{', '.join(missing)} not set: this server was not started by a JupyterHub "
            "configured with jupyters3_hub.configure()."
        )
    mounts: dict[str, Any] = {}
    for name, spec in json.loads(environ.get("JUPYTERS3_MOUNTS") or "{}").items():
        if isinstance(spec, str) and spec.endswith(":ro"):
            spec = {"url": spec[: -len(":ro")], "read_only": True}
        mounts[name] = spec
    c.ServerApp.contents_manager_class = "jupyters3.JupyterS3"
    c.JupyterS3.aws_s3_bucket = environ["JUPYTERS3_BUCKET"]
    c.JupyterS3.prefix = environ["JUPYTERS3_PREFIX"]
    c.JupyterS3.mounts = mounts
    c.JupyterS3.authentication_class = JupyterS3HubAuthentication
