"""Credential providers that other packages register (entry points).

An entry point of group :data:`ENTRY_POINT_GROUP` names a callable
``(ProviderContext) -> CredentialProvider | None``; jupyters3-auth-ec2
registers the EC2 instance role there, so jupyters3-core never imports it.
The default chain (:mod:`.chain`) and ``credential_source =
Ec2InstanceMetadata`` profiles (:mod:`.profiles`) both find providers here.
"""

from __future__ import annotations

import importlib.metadata

from jupyters3.credentials.types import CredentialProvider, ProviderContext

__all__ = ["ENTRY_POINT_GROUP", "entry_point_providers"]

#: The entry point group other packages register credential providers under.
ENTRY_POINT_GROUP = "jupyters3.credential_providers"


def entry_point_providers(
    context: ProviderContext, group: str = ENTRY_POINT_GROUP
) -> list[CredentialProvider]:
    """The providers registered under ``group``, in entry point name order.

    One that fails to load is logged and left out: an optional add-on must
    not break the chain.
    """
    providers: list[CredentialProvider] = []
    for entry in sorted(importlib.metadata.entry_points(group=group), key=lambda e: e.name):
        try:
            provider = entry.load()(context)
        except Exception as exc:
            context.log.warning(
                "JupyterS3: credential provider %r (%s) could not be loaded: %s",
                entry.name,
                entry.value,
                exc,
            )
            continue
        if provider is not None:
            providers.append(provider)
    return providers
