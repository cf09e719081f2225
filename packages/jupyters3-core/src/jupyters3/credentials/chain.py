"""The default credential chain: the first source that is configured wins.

Order (the AWS SDKs' order, less the sources jupyters3 does not support):
environment -> web identity -> profile (shared files: static keys,
assume-role, credential_process, IAM Identity Center) -> container -> the
providers other packages register under the entry point group
:data:`ENTRY_POINT_GROUP` (jupyters3-auth-ec2 registers the EC2 instance
role there, so jupyters3-core never imports it).

An entry point names a callable ``(ProviderContext) -> CredentialProvider | None``.
"""

from __future__ import annotations

from collections.abc import Sequence

from jupyters3.credentials.container import ECS_CONTAINER_HOST, ContainerProvider
from jupyters3.credentials.plugins import ENTRY_POINT_GROUP, entry_point_providers
from jupyters3.credentials.process import DEFAULT_PROCESS_TIMEOUT
from jupyters3.credentials.profiles import ProfileProvider
from jupyters3.credentials.providers import EnvironmentProvider
from jupyters3.credentials.timestamps import format_timestamp
from jupyters3.credentials.types import CredentialProvider, ProviderContext, TimedCreds
from jupyters3.credentials.web_identity import WebIdentityProvider
from jupyters3.errors import BadConfiguration

__all__ = [
    "ENTRY_POINT_GROUP",
    "CredentialChain",
    "default_providers",
    "entry_point_providers",
]

_EC2_HINT = "EC2 instance role (not installed: pip install jupyters3-auth-ec2)"
_EC2_OFF = "EC2 instance role (turned off: entry_point_providers = False)"


def default_providers(
    context: ProviderContext,
    *,
    profile: str = "",
    sts_endpoint_url: str = "",
    container_host: str = ECS_CONTAINER_HOST,
    entry_points: bool = True,
    process_timeout: float = DEFAULT_PROCESS_TIMEOUT,
) -> list[CredentialProvider]:
    """The default chain's providers, in order.

    A ``profile`` given here skips the environment keys (as the AWS SDKs do
    when a profile is named in code); ``AWS_PROFILE`` does not. The profile
    step reads every kind of profile (:mod:`.profiles`): static keys,
    assume-role, credential_process, IAM Identity Center.
    """
    env, fetcher, clock = context.environ, context.fetcher, context.clock
    providers: list[CredentialProvider] = []
    if not profile:
        providers.append(EnvironmentProvider(env))
    providers += [
        WebIdentityProvider(env, fetcher, clock, profile=profile, endpoint_url=sts_endpoint_url),
        ProfileProvider(
            context,
            profile,
            sts_endpoint_url=sts_endpoint_url,
            container_host=container_host,
            entry_points=entry_points,
            process_timeout=process_timeout,
        ),
        ContainerProvider(env, fetcher, relative_base=container_host),
    ]
    if entry_points:
        providers += entry_point_providers(context)
    return providers


class CredentialChain:
    """Picks the first provider with credentials, then refreshes from that one only."""

    def __init__(
        self,
        providers: Sequence[CredentialProvider],
        context: ProviderContext,
        *,
        plugins_enabled: bool = True,
    ) -> None:
        self.providers = list(providers)
        self.context = context
        self.plugins_enabled = plugins_enabled
        self.chosen: CredentialProvider | None = None

    async def load(self) -> TimedCreds:
        """Credentials from the chosen provider, choosing it first if need be."""
        if self.chosen is not None:
            found = await self.chosen.load()
            if found is None:
                raise BadConfiguration(
                    f"The AWS credential source in use ({self.chosen.description}) "
                    "is no longer configured."
                )
            return found
        for provider in self.providers:
            found = await provider.load()
            if found is not None:
                self.chosen = provider
                expiry = (
                    f"; they expire at {format_timestamp(found.expiration)} and are "
                    "refreshed ahead of that"
                    if found.expiration is not None
                    else ""
                )
                self.context.log.info(
                    "JupyterS3: AWS credentials from %s (%s)%s.",
                    provider.name,
                    provider.description,
                    expiry,
                )
                return found
        raise BadConfiguration(self.nothing_found())

    def nothing_found(self) -> str:
        """The sentence that says what was tried."""
        tried = []
        for number, provider in enumerate(self.providers, 1):
            reason = getattr(provider, "skip_reason", "")
            tried.append(f"{number}) {provider.description}" + (f" [{reason}]" if reason else ""))
        if not any(p.name == "ec2-instance-role" for p in self.providers):
            hint = _EC2_HINT if self.plugins_enabled else _EC2_OFF
            tried.append(f"{len(tried) + 1}) {hint}")
        return (
            "No AWS credentials found. Tried, in order: "
            + "; ".join(tried)
            + ". Configure one of them, or set c.JupyterS3.authentication_class."
        )
