"""The profile step of the default chain: a profile of the shared files, as the AWS CLI v2 reads it.

The files are ``AWS_SHARED_CREDENTIALS_FILE`` (``~/.aws/credentials``) and
``AWS_CONFIG_FILE`` (``~/.aws/config``); the profile is the one named in
configuration, else ``AWS_PROFILE``, else ``default``. A profile gives
credentials in the first of these ways that it configures (botocore's order):

1. ``role_arn`` (without ``web_identity_token_file``): STS ``AssumeRole``
   signed with the credentials of ``source_profile`` (a profile of any kind
   here, assume-role profiles included: chains are followed, loops refused)
   or of ``credential_source`` (``Environment``, ``EcsContainer``,
   ``Ec2InstanceMetadata``); with ``role_session_name``, ``external_id``,
   ``duration_seconds`` and ``region``. ``mfa_serial`` is refused: a server
   cannot ask for a code.
2. ``web_identity_token_file`` + ``role_arn``: web identity.
3. ``sso_account_id`` / ``sso_role_name``: IAM Identity Center (SSO), with
   ``sso_session`` (an ``[sso-session NAME]`` section) or the legacy
   ``sso_start_url`` + ``sso_region`` in the profile.
4. static keys in the credentials file;
5. ``credential_process``;
6. static keys in the config file.

A source profile that has static keys uses them even when it also has
``role_arn`` (so a profile may name itself as its source). :func:`resolve_profile`
turns the files into a :data:`Source` tree without I/O; :class:`SourceLoader`
gets credentials for one, keeping the source credentials of an assumed role
in a refreshing cache of their own.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Union

from jupyters3.credentials.assume_role import RoleRequest, assume_role
from jupyters3.credentials.container import ECS_CONTAINER_HOST, ContainerProvider
from jupyters3.credentials.plugins import entry_point_providers
from jupyters3.credentials.process import (
    DEFAULT_PROCESS_TIMEOUT,
    program_name,
    run_credential_process,
)
from jupyters3.credentials.providers import (
    SharedFiles,
    creds_from_environ,
    env_value,
    profile_name,
    shared_file_paths,
    static_keys,
)
from jupyters3.credentials.refresh import RefreshingCredentials
from jupyters3.credentials.sso import SsoRole, get_role_credentials
from jupyters3.credentials.types import (
    AwsCreds,
    CredentialProvider,
    ProviderContext,
    TimedCreds,
    session_creds,
)
from jupyters3.credentials.web_identity import (
    WebIdentityConfig,
    WebIdentityProvider,
    sts_endpoint,
    web_identity_config,
)
from jupyters3.errors import BadConfiguration

__all__ = [
    "NAMED_SOURCES",
    "AssumeRoleSource",
    "NamedSource",
    "ProcessSource",
    "ProfileProvider",
    "Source",
    "SourceLoader",
    "SsoSource",
    "StaticKeys",
    "WebIdentitySource",
    "resolve_profile",
]

#: The values ``credential_source`` may take.
NAMED_SOURCES = ("Environment", "EcsContainer", "Ec2InstanceMetadata")

_SESSION_NAME = re.compile(r"[\w+=,.@-]{2,64}")
_WEB_IDENTITY_ENV = ("AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN", "AWS_ROLE_SESSION_NAME")


# -- the sources a profile can name (pure values) ---------------------------------


@dataclass(frozen=True)
class StaticKeys:
    """A profile's ``aws_access_key_id`` and ``aws_secret_access_key`` (+ session token)."""

    profile: str
    path: str
    key_id: str
    secret: str = field(repr=False)
    token: str = field(default="", repr=False)

    def describe(self) -> str:
        """Where the credentials come from, in words (never a secret)."""
        return f"static keys of profile {self.profile!r} in {self.path}"


@dataclass(frozen=True)
class ProcessSource:
    """A profile's ``credential_process``."""

    profile: str
    command: str = field(repr=False)  # its arguments may hold secrets

    def describe(self) -> str:
        """Where the credentials come from, in words (the program's name only)."""
        return f"credential_process of profile {self.profile!r} ({program_name(self.command)})"


@dataclass(frozen=True)
class SsoSource:
    """A profile's IAM Identity Center role."""

    role: SsoRole

    def describe(self) -> str:
        """Where the credentials come from, in words."""
        role = self.role
        login = (
            f"sso-session {role.session_name!r}"
            if role.session_name
            else f"start URL {role.start_url}"
        )
        return (
            f"IAM Identity Center (SSO) of profile {role.profile!r}: role {role.role_name} "
            f"in account {role.account_id}, {login}"
        )


@dataclass(frozen=True)
class WebIdentitySource:
    """A (source) profile's ``web_identity_token_file`` and ``role_arn``."""

    profile: str
    config: WebIdentityConfig

    def describe(self) -> str:
        """Where the credentials come from, in words."""
        return f"web identity of profile {self.profile!r} (role {self.config.role_arn})"


@dataclass(frozen=True)
class NamedSource:
    """A profile's ``credential_source``: the environment, the container, the EC2 role."""

    profile: str
    name: str

    def describe(self) -> str:
        """Where the credentials come from, in words."""
        return f"credential_source {self.name} of profile {self.profile!r}"


@dataclass(frozen=True)
class AssumeRoleSource:
    """A profile's ``role_arn``, assumed with the credentials of ``source``."""

    profile: str
    request: RoleRequest
    region: str
    source: Source

    def describe(self) -> str:
        """Where the credentials come from, in words."""
        return (
            f"role {self.request.role_arn} assumed by profile {self.profile!r} "
            f"(session {self.request.session_name}) with the {self.source.describe()}"
        )


Source = Union[  # noqa: UP007 - a runtime alias; X | Y of classes needs 3.10 at run time too
    StaticKeys, ProcessSource, SsoSource, WebIdentitySource, NamedSource, AssumeRoleSource
]


# -- resolution (no I/O) ------------------------------------------------------------


def resolve_profile(files: SharedFiles, profile: str, *, default_session: str) -> Source | None:
    """The source ``profile`` configures in ``files``; ``None`` when it configures none.

    ``default_session`` is the role session name when a profile sets no
    ``role_session_name``. A setting that cannot work is a
    :class:`BadConfiguration` saying what to change.
    """
    return _Resolver(files, default_session).resolve(profile, [profile], top=True)


class _Resolver:
    def __init__(self, files: SharedFiles, default_session: str) -> None:
        self.files = files
        self.default_session = default_session

    def settings(self, profile: str) -> dict[str, str]:
        """The profile's settings, the credentials file's winning (as in botocore)."""
        merged = {k: v.strip() for k, v in self.files.config.get(profile, {}).items()}
        merged.update({k: v.strip() for k, v in self.files.credentials.get(profile, {}).items()})
        return merged

    def static(self, profile: str, which: str = "both") -> StaticKeys | None:
        files = self.files
        order = [(files.credentials, files.credentials_path), (files.config, files.config_path)]
        if which == "credentials":
            order = order[:1]
        elif which == "config":
            order = order[1:]
        for profiles, path in order:
            found = static_keys(profiles.get(profile, {}))
            if found is not None:
                creds = found.creds
                token = creds.pre_auth_headers.get("x-amz-security-token", "")
                return StaticKeys(
                    profile, path, creds.access_key_id, creds.secret_access_key, token
                )
        return None

    def resolve(self, profile: str, visited: list[str], *, top: bool) -> Source | None:
        settings = self.settings(profile)
        has_static = self.static(profile) is not None
        if (
            settings.get("role_arn")
            and not settings.get("web_identity_token_file")
            and (top or not has_static)
        ):
            return self.assume_role(profile, settings, visited)
        if settings.get("web_identity_token_file"):
            config = web_identity_config({}, settings)
            assert config is not None  # there is a token file
            return WebIdentitySource(profile, config)
        if settings.get("sso_account_id") or settings.get("sso_role_name"):
            return SsoSource(self.sso(profile, settings))
        found = self.static(profile, "credentials")
        if found is not None:
            return found
        if settings.get("credential_process"):
            return ProcessSource(profile, settings["credential_process"])
        return self.static(profile, "config")

    def sso(self, profile: str, settings: Mapping[str, str]) -> SsoRole:
        merged = dict(settings)
        session = settings.get("sso_session", "")
        if session:
            section = self.files.sso_sessions.get(session)
            if section is None:
                raise BadConfiguration(
                    f"AWS profile {profile!r} names sso_session {session!r}, but "
                    f"{self.files.config_path} has no [sso-session {session}] section."
                )
            for key, value in section.items():
                value = value.strip()
                if merged.get(key, value) != value:
                    raise BadConfiguration(
                        f"AWS profile {profile!r} and its [sso-session {session}] give different "
                        f"values of {key}: keep one."
                    )
                merged[key] = value
        needed = ("sso_start_url", "sso_region", "sso_account_id", "sso_role_name")
        missing = [k for k in needed if not merged.get(k)]
        if missing:
            raise BadConfiguration(
                f"AWS profile {profile!r} uses IAM Identity Center (SSO) but lacks "
                f"{', '.join(missing)}."
            )
        return SsoRole(
            profile,
            merged["sso_start_url"],
            merged["sso_region"],
            merged["sso_account_id"],
            merged["sso_role_name"],
            session,
        )

    def assume_role(
        self, profile: str, settings: Mapping[str, str], visited: list[str]
    ) -> AssumeRoleSource:
        role_arn = settings["role_arn"]
        if settings.get("mfa_serial"):
            raise BadConfiguration(
                f"AWS profile {profile!r} assumes role {role_arn} with an MFA code (mfa_serial), "
                "which a server cannot ask for: give the server a profile whose "
                "credential_process prints the role's credentials from a tool that asks for "
                "the code (such as aws-vault exec --json <profile>)."
            )
        source_profile = settings.get("source_profile", "")
        credential_source = settings.get("credential_source", "")
        source: Source | None
        if source_profile and credential_source:
            raise BadConfiguration(
                f"AWS profile {profile!r} has both source_profile and credential_source: keep one."
            )
        if credential_source:
            if credential_source not in NAMED_SOURCES:
                raise BadConfiguration(
                    f"The credential_source {credential_source!r} of AWS profile {profile!r} is "
                    f"not one of {', '.join(NAMED_SOURCES)}."
                )
            source = NamedSource(profile, credential_source)
        elif source_profile:
            source = self.source_profile(profile, source_profile, visited)
        else:
            raise BadConfiguration(
                f"AWS profile {profile!r} has role_arn but neither source_profile nor "
                "credential_source: name where the credentials that assume the role come from."
            )
        duration = 0
        if settings.get("duration_seconds"):
            try:
                duration = int(settings["duration_seconds"])
            except ValueError:
                raise BadConfiguration(
                    f"The duration_seconds of AWS profile {profile!r} is not a whole number."
                ) from None
        session = settings.get("role_session_name") or self.default_session
        if not _SESSION_NAME.fullmatch(session):
            raise BadConfiguration(
                f"The role_session_name of AWS profile {profile!r} must be 2 to 64 letters, "
                "digits or any of _+=,.@-."
            )
        request = RoleRequest(role_arn, session, settings.get("external_id", ""), duration)
        return AssumeRoleSource(profile, request, settings.get("region", ""), source)

    def source_profile(self, profile: str, source_profile: str, visited: list[str]) -> Source:
        if source_profile in visited:
            own = self.static(profile) if source_profile == profile else None
            if own is not None:
                return own  # a profile may source its own static keys
            chain = " -> ".join(repr(p) for p in [*visited, source_profile])
            raise BadConfiguration(
                f"The source_profile settings of AWS profiles {chain} form a loop: end the chain "
                "at a profile with keys, credential_process, SSO or web identity."
            )
        if not self.files.knows(source_profile):
            raise BadConfiguration(
                f"The source_profile {source_profile!r} of AWS profile {profile!r} is in neither "
                f"{self.files.credentials_path} nor {self.files.config_path}."
            )
        found = self.resolve(source_profile, [*visited, source_profile], top=False)
        if found is None:
            raise BadConfiguration(
                f"The source_profile {source_profile!r} of AWS profile {profile!r} has no "
                "credentials: give it keys, role_arn, credential_process, SSO or web identity."
            )
        return found


# -- loading (I/O) ------------------------------------------------------------------


class SourceLoader:
    """Gets the credentials of a :data:`Source`.

    The source credentials of an assumed role are cached (and refreshed
    ahead of their expiry) per source, so a refresh of the role does not run
    a credential_process or call IAM Identity Center again while they last.
    """

    def __init__(
        self,
        context: ProviderContext,
        *,
        sts_endpoint_url: str = "",
        container_host: str = ECS_CONTAINER_HOST,
        entry_points: bool = True,
        process_timeout: float = DEFAULT_PROCESS_TIMEOUT,
    ) -> None:
        self.context = context
        self.sts_endpoint_url = sts_endpoint_url
        self.container_host = container_host
        self.entry_points = entry_points
        self.process_timeout = process_timeout
        self._caches: dict[Source, RefreshingCredentials] = {}
        self._ec2: CredentialProvider | None = None

    async def load(self, source: Source) -> TimedCreds:
        """Fresh credentials of ``source`` (an assumed role's source may come from the cache)."""
        env, ctx = self.context.environ, self.context
        if isinstance(source, StaticKeys):
            return TimedCreds(session_creds(source.key_id, source.secret, source.token))
        if isinstance(source, ProcessSource):
            return await run_credential_process(
                source.command, source.profile, timeout=self.process_timeout
            )
        if isinstance(source, SsoSource):
            return await get_role_credentials(env, ctx.fetcher, ctx.clock, source.role)
        if isinstance(source, WebIdentitySource):
            return await self._web_identity(source)
        if isinstance(source, NamedSource):
            return await self._named(source)
        creds = await self._source_creds(source.source)
        url = sts_endpoint(env, self.sts_endpoint_url, source.region)
        region = env_value(env, "AWS_REGION", "AWS_DEFAULT_REGION") or source.region
        return await assume_role(
            ctx.fetcher, url, creds, source.request, region=region, clock=ctx.clock
        )

    async def _source_creds(self, source: Source) -> AwsCreds:
        if isinstance(source, StaticKeys):
            return session_creds(source.key_id, source.secret, source.token)
        cache = self._caches.get(source)
        if cache is None:

            async def fetch() -> TimedCreds:
                return await self.load(source)

            cache = RefreshingCredentials(
                fetch, clock=self.context.clock, log=self.context.log, source=source.describe()
            )
            self._caches[source] = cache
        return await cache.get()

    async def _web_identity(self, source: WebIdentitySource) -> TimedCreds:
        # The profile's settings only: the environment's web identity is another source.
        env = {k: v for k, v in self.context.environ.items() if k not in _WEB_IDENTITY_ENV}
        env["AWS_PROFILE"] = source.profile
        ctx = self.context
        provider = WebIdentityProvider(
            env, ctx.fetcher, ctx.clock, profile=source.profile, endpoint_url=self.sts_endpoint_url
        )
        found = await provider.load()
        assert found is not None  # the profile has a token file
        return found

    async def _named(self, source: NamedSource) -> TimedCreds:
        env, ctx = self.context.environ, self.context
        where = (
            f"AWS profile {source.profile!r} assumes its role with credentials from "
            f"credential_source = {source.name}"
        )
        if source.name == "Environment":
            found = creds_from_environ(env)
            if found is None:
                raise BadConfiguration(
                    f"{where}, but AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set."
                )
            return found
        if source.name == "EcsContainer":
            container = ContainerProvider(env, ctx.fetcher, relative_base=self.container_host)
            found = await container.load()
            if found is None:
                raise BadConfiguration(
                    f"{where}, but neither AWS_CONTAINER_CREDENTIALS_RELATIVE_URI nor "
                    "AWS_CONTAINER_CREDENTIALS_FULL_URI is set."
                )
            return found
        ec2 = self._ec2_provider(where)
        found = await ec2.load()
        if found is None:
            reason = getattr(ec2, "skip_reason", "") or "no credentials"
            raise BadConfiguration(
                f"{where}, but the EC2 instance metadata service gave none ({reason})."
            )
        return found

    def _ec2_provider(self, where: str) -> CredentialProvider:
        if self._ec2 is not None:
            return self._ec2
        if not self.entry_points:
            raise BadConfiguration(
                f"{where}, but entry_point_providers = False turns the EC2 instance role off."
            )
        found = [p for p in entry_point_providers(self.context) if p.name == "ec2-instance-role"]
        if not found:
            raise BadConfiguration(
                f"{where}, which needs the EC2 instance role of jupyters3-auth-ec2: "
                "pip install jupyters3-auth-ec2."
            )
        self._ec2 = found[0]
        return self._ec2


class ProfileProvider:
    """The chain's profile step: every kind of profile :func:`resolve_profile` knows.

    The profile is ``profile`` if given, else ``AWS_PROFILE``/``AWS_DEFAULT_PROFILE``,
    else ``default``. A profile named explicitly (not ``default``) that neither
    file has is a :class:`BadConfiguration`. The files are read at every load,
    so a refresh sees what changed in them. Once loaded, :attr:`description`
    names the source behind the profile (the role, the process, the SSO session).
    """

    name = "profile"

    def __init__(
        self,
        context: ProviderContext,
        profile: str = "",
        *,
        sts_endpoint_url: str = "",
        container_host: str = ECS_CONTAINER_HOST,
        entry_points: bool = True,
        process_timeout: float = DEFAULT_PROCESS_TIMEOUT,
    ) -> None:
        env = context.environ
        self.environ = env
        self.profile = profile or profile_name(env)
        self.explicit = bool(profile or env_value(env, "AWS_PROFILE", "AWS_DEFAULT_PROFILE"))
        self.default_session = f"jupyters3-{int(context.clock())}"
        self.loader = SourceLoader(
            context,
            sts_endpoint_url=sts_endpoint_url,
            container_host=container_host,
            entry_points=entry_points,
            process_timeout=process_timeout,
        )
        #: The source the profile named at the last load (``None`` before).
        self.source: Source | None = None

    @property
    def description(self) -> str:
        """What this provider looks for, or (once loaded) where its credentials come from."""
        if self.source is not None:
            return self.source.describe()
        cred_path, conf_path = shared_file_paths(self.environ)
        return (
            f"static keys of profile {self.profile!r} in {cred_path} or {conf_path}, "
            "or its role_arn, credential_process or sso_* settings"
        )

    async def load(self) -> TimedCreds | None:
        """The profile's credentials; ``None`` when the profile configures none."""
        files = SharedFiles.read(self.environ)
        if self.explicit and self.profile != "default" and not files.knows(self.profile):
            raise BadConfiguration(
                f"AWS profile {self.profile!r} is in neither {files.credentials_path} "
                f"nor {files.config_path}."
            )
        source = resolve_profile(files, self.profile, default_session=self.default_session)
        if source is None:
            return None
        self.source = source
        return await self.loader.load(source)
