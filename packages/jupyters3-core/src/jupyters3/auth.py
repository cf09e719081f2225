"""Authentication classes: where JupyterS3 gets the AWS credentials it signs with.

``c.JupyterS3.authentication_class`` names a subclass of
:class:`JupyterS3Authentication`. JupyterS3 creates one instance (as its
child, so ``c.<ClassName>.<trait>`` configures it) and calls
``get_credentials()`` before every S3 request; the method may cache and
refresh as it likes. Example of a custom class::

    from tornado import gen
    from jupyters3 import AwsCreds, JupyterS3Authentication

    class MyAuth(JupyterS3Authentication):
        @gen.coroutine            # a plain ``async def`` works too
        def get_credentials(self):
            token = yield fetch_my_token()
            return AwsCreds(
                access_key_id=token.key,
                secret_access_key=token.secret,
                pre_auth_headers={"x-amz-security-token": token.session},
            )

Built in: :class:`JupyterS3SecretAccessKeyAuthentication` (static keys),
:class:`JupyterS3ECSRoleAuthentication` (ECS / EKS Pod Identity) and
:class:`JupyterS3DefaultAuthentication` (the AWS default chain). The last two
cache their credentials and refresh them ahead of expiry; subclass
:class:`JupyterS3RefreshingAuthentication` to get that for a source of your own.
"""

from __future__ import annotations

import os
import time
from collections.abc import Awaitable, Mapping
from typing import Any

from traitlets import Bool, Float, Int, TraitError, Unicode, default, validate
from traitlets.config import LoggingConfigurable

from jupyters3.credentials import AwsCreds
from jupyters3.credentials.chain import CredentialChain, default_providers
from jupyters3.credentials.container import ECS_CONTAINER_HOST, ContainerProvider
from jupyters3.credentials.http import Fetcher, TornadoFetcher
from jupyters3.credentials.refresh import (
    DEFAULT_ADVISORY_SECONDS,
    DEFAULT_MANDATORY_SECONDS,
    RefreshingCredentials,
)
from jupyters3.credentials.types import Clock, ProviderContext, TimedCreds
from jupyters3.errors import BadConfiguration

__all__ = [
    "JupyterS3Authentication",
    "JupyterS3DefaultAuthentication",
    "JupyterS3ECSRoleAuthentication",
    "JupyterS3RefreshingAuthentication",
    "JupyterS3SecretAccessKeyAuthentication",
]


class JupyterS3Authentication(LoggingConfigurable):
    """The extension point: subclass it and implement :meth:`get_credentials`."""

    def get_credentials(self) -> Awaitable[AwsCreds]:
        """Return (as a coroutine or a Tornado future) the credentials to sign with.

        ``pre_auth_headers`` of the result (such as ``x-amz-security-token``)
        are sent with, and signed into, every request. Raise
        :class:`jupyters3.errors.BadConfiguration` with a sentence the user can
        act on when no credentials can be had.
        """
        raise NotImplementedError(f"{type(self).__name__} must implement get_credentials()")

    async def invalidate(self, rejected: AwsCreds | None = None) -> None:
        """S3 refused ``rejected`` (ExpiredToken and the like): fetch fresh ones next time.

        The transport awaits this, then calls :meth:`get_credentials` again and
        retries the request once. An implementation forgets its cached
        credentials only while they are still ``rejected`` (so many requests
        failing together cause one refresh), does no I/O and does not raise.
        The default does nothing.
        """


class JupyterS3SecretAccessKeyAuthentication(JupyterS3Authentication):
    """Static keys from configuration, else from the standard AWS environment variables."""

    aws_access_key_id = Unicode(
        help="The AWS access key id. Default: the AWS_ACCESS_KEY_ID environment variable."
    ).tag(config=True)
    aws_secret_access_key = Unicode(
        help="The AWS secret access key. Default: AWS_SECRET_ACCESS_KEY."
    ).tag(config=True)
    aws_session_token = Unicode(
        help="A session token for temporary credentials (optional). "
        "Default: AWS_SESSION_TOKEN, else the legacy AWS_SECURITY_TOKEN."
    ).tag(config=True)

    #: The environment the defaults are read from (tests pass a plain dict).
    environ: Mapping[str, str] = os.environ

    @default("aws_access_key_id")
    def _default_key_id(self) -> str:
        return self.environ.get("AWS_ACCESS_KEY_ID", "")

    @default("aws_secret_access_key")
    def _default_secret(self) -> str:
        return self.environ.get("AWS_SECRET_ACCESS_KEY", "")

    @default("aws_session_token")
    def _default_token(self) -> str:
        return self.environ.get("AWS_SESSION_TOKEN") or self.environ.get("AWS_SECURITY_TOKEN", "")

    async def get_credentials(self) -> AwsCreds:
        """The configured keys; :class:`BadConfiguration` when either is missing."""
        if not self.aws_access_key_id or not self.aws_secret_access_key:
            raise BadConfiguration(
                "No AWS credentials: set c.JupyterS3SecretAccessKeyAuthentication."
                "aws_access_key_id and aws_secret_access_key, or the AWS_ACCESS_KEY_ID "
                "and AWS_SECRET_ACCESS_KEY environment variables."
            )
        headers = {"x-amz-security-token": self.aws_session_token} if self.aws_session_token else {}
        return AwsCreds(self.aws_access_key_id, self.aws_secret_access_key, headers)


class JupyterS3RefreshingAuthentication(JupyterS3Authentication):
    """Credentials cached and refreshed ahead of expiry; subclasses say where they come from.

    Implement :meth:`fetch_credentials`. In the advisory window a background
    refresh starts (a failure keeps the old credentials); in the mandatory
    window callers wait for it; one refresh runs at a time. ``environ``,
    ``clock`` and ``fetcher`` default to ``os.environ``, ``time.time`` and a
    Tornado client; tests pass their own.
    """

    advisory_refresh_seconds = Float(
        DEFAULT_ADVISORY_SECONDS,
        help="Refresh in the background this many seconds before the credentials expire.",
    ).tag(config=True)
    mandatory_refresh_seconds = Float(
        DEFAULT_MANDATORY_SECONDS,
        help="Make requests wait for fresh credentials this many seconds before they expire.",
    ).tag(config=True)

    @validate("advisory_refresh_seconds", "mandatory_refresh_seconds")
    def _validate_window(self, proposal: Any) -> float:
        value = float(proposal["value"])
        if value < 0:
            name = f"c.{type(self).__name__}.{proposal['trait'].name}"
            raise TraitError(f"{name} must be 0 or more seconds.")
        return value

    def __init__(
        self,
        *,
        environ: Mapping[str, str] | None = None,
        clock: Clock | None = None,
        fetcher: Fetcher | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.environ: Mapping[str, str] = os.environ if environ is None else environ
        self.clock: Clock = clock or time.time
        self.fetcher: Fetcher = fetcher or TornadoFetcher()
        self._cache: RefreshingCredentials | None = None

    def fetch_credentials(self) -> Awaitable[TimedCreds]:
        """Fetch fresh credentials and their expiration (the cache calls this)."""
        raise NotImplementedError(f"{type(self).__name__} must implement fetch_credentials()")

    def source_name(self) -> str:
        """Where the credentials come from, for log lines."""
        return type(self).__name__

    @property
    def cache(self) -> RefreshingCredentials:
        """The refreshing cache, created on first use with the traits' windows."""
        if self._cache is None:
            if self.mandatory_refresh_seconds > self.advisory_refresh_seconds:
                name = f"c.{type(self).__name__}"
                raise BadConfiguration(
                    f"{name}.mandatory_refresh_seconds ({self.mandatory_refresh_seconds:g}) "
                    f"must not be longer than {name}.advisory_refresh_seconds "
                    f"({self.advisory_refresh_seconds:g})."
                )
            self._cache = RefreshingCredentials(
                self.fetch_credentials,
                clock=self.clock,
                advisory=self.advisory_refresh_seconds,
                mandatory=self.mandatory_refresh_seconds,
                log=self.log,
                source=self.source_name(),
            )
        return self._cache

    def provider_context(self) -> ProviderContext:
        """What providers are built from: this object's environment, clock and fetcher."""
        return ProviderContext(self.environ, self.clock, self.fetcher, self.log, parent=self)

    async def get_credentials(self) -> AwsCreds:
        """Cached credentials, refreshed ahead of their expiry."""
        return await self.cache.get()

    async def invalidate(self, rejected: AwsCreds | None = None) -> None:
        """Forget the cached credentials if they are still ``rejected``."""
        if self.cache.invalidate(rejected):
            self.log.info("JupyterS3: S3 refused the AWS credentials; fetching fresh ones.")


class JupyterS3ECSRoleAuthentication(JupyterS3RefreshingAuthentication):
    """Container credentials (ECS task role, EKS Pod Identity), refreshed ahead of expiry.

    ``AWS_CONTAINER_CREDENTIALS_RELATIVE_URI`` (on ``container_host``), else
    ``AWS_CONTAINER_CREDENTIALS_FULL_URI`` with the ``Authorization`` token of
    ``AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE`` (re-read at every refresh) or
    ``AWS_CONTAINER_AUTHORIZATION_TOKEN``.
    """

    container_host = Unicode(
        ECS_CONTAINER_HOST,
        help="Base URL for AWS_CONTAINER_CREDENTIALS_RELATIVE_URI (ECS serves it at "
        "http://169.254.170.2; change it only for tests).",
    ).tag(config=True)
    timeout = Float(2.0, help="Seconds one request to the container endpoint may take.").tag(
        config=True
    )
    attempts = Int(3, help="Attempts per refresh, the first included.").tag(config=True)

    def source_name(self) -> str:
        """Where the credentials come from, for log lines."""
        return "the container credentials endpoint"

    async def fetch_credentials(self) -> TimedCreds:
        """Fresh credentials from the container endpoint."""
        provider = ContainerProvider(
            self.environ,
            self.fetcher,
            relative_base=self.container_host,
            timeout=self.timeout,
            attempts=self.attempts,
        )
        found = await provider.load()
        if found is None:
            raise BadConfiguration(
                "JupyterS3ECSRoleAuthentication needs AWS_CONTAINER_CREDENTIALS_RELATIVE_URI "
                "(ECS) or AWS_CONTAINER_CREDENTIALS_FULL_URI (EKS Pod Identity) in the "
                "environment, and neither is set."
            )
        return found


class JupyterS3DefaultAuthentication(JupyterS3RefreshingAuthentication):
    """The AWS default credential chain, refreshed ahead of expiry.

    Environment -> web identity (IRSA) -> profile (shared files) -> container
    -> EC2 instance role (when jupyters3-auth-ec2 is installed). The first
    source that is configured is used from then on; the log says which.
    """

    profile = Unicode(
        "",
        help="The AWS profile of the shared files. Default: AWS_PROFILE, AWS_DEFAULT_PROFILE, "
        "else 'default'. Set here, it also skips the environment keys, as in the AWS SDKs.",
    ).tag(config=True)
    sts_endpoint_url = Unicode(
        "",
        help="The STS endpoint for web identity. Default: AWS_ENDPOINT_URL_STS, else the "
        "regional endpoint of AWS_REGION / AWS_DEFAULT_REGION.",
    ).tag(config=True)
    container_host = Unicode(
        ECS_CONTAINER_HOST,
        help="Base URL for AWS_CONTAINER_CREDENTIALS_RELATIVE_URI (change it only for tests).",
    ).tag(config=True)
    entry_point_providers = Bool(
        True,
        help="After the built-in sources, try those other packages register "
        "(jupyters3-auth-ec2: the EC2 instance role).",
    ).tag(config=True)

    _chain: CredentialChain | None = None

    @property
    def chain(self) -> CredentialChain:
        """The chain of providers, built on first use."""
        if self._chain is None:
            context = self.provider_context()
            providers = default_providers(
                context,
                profile=self.profile,
                sts_endpoint_url=self.sts_endpoint_url,
                container_host=self.container_host,
                entry_points=self.entry_point_providers,
            )
            self._chain = CredentialChain(
                providers, context, plugins_enabled=self.entry_point_providers
            )
        return self._chain

    def source_name(self) -> str:
        """Where the credentials come from, for log lines."""
        chosen = self.chain.chosen
        return f"the {chosen.name} source" if chosen is not None else "the default chain"

    async def fetch_credentials(self) -> TimedCreds:
        """Credentials from the first configured source (and from that one afterwards)."""
        found = await self.chain.load()
        self.cache.source = self.source_name()
        return found
