"""The credential value types shared by authentication classes, providers and the signer."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

if TYPE_CHECKING:
    from jupyters3.credentials.http import Fetcher

__all__ = ["AwsCreds", "Clock", "CredentialProvider", "ProviderContext", "TimedCreds"]

#: Seconds since the epoch (``time.time``); providers and caches take one so tests move time.
Clock = Callable[[], float]


class AwsCreds(NamedTuple):
    """One immutable set of AWS credentials.

    ``pre_auth_headers`` are extra headers sent with, and signed into, every
    request: with temporary credentials, ``{"x-amz-security-token": token}``.
    """

    access_key_id: str
    secret_access_key: str
    pre_auth_headers: Mapping[str, str]

    def __repr__(self) -> str:
        # Never show the secret or a session token, not even in a traceback.
        return (
            f"AwsCreds(access_key_id={self.access_key_id!r}, secret_access_key='***', "
            f"pre_auth_headers=<{len(self.pre_auth_headers)} header(s)>)"
        )


class TimedCreds(NamedTuple):
    """Credentials as a provider returns them: with when they expire.

    ``expiration`` is seconds since the epoch, or ``None`` for keys that do not
    expire (static keys). Kept apart from :class:`AwsCreds` so that type keeps
    its three fields (callers unpack it).
    """

    creds: AwsCreds
    expiration: float | None = None


def session_creds(key_id: str, secret: str, token: str) -> AwsCreds:
    """``AwsCreds`` with ``x-amz-security-token`` when ``token`` is not empty."""
    return AwsCreds(key_id, secret, {"x-amz-security-token": token} if token else {})


class CredentialProvider(Protocol):
    """One source of credentials in the default chain.

    :meth:`load` returns ``None`` when the source is not configured here (the
    chain moves on), and raises a :class:`jupyters3.errors.S3Error` when it is
    configured but cannot deliver (the chain stops: a broken setting must not
    be silently skipped).
    """

    #: A short name for logs, e.g. ``"container"``.
    name: str

    #: What the source looks for, for the "no credentials found" sentence.
    @property
    def description(self) -> str: ...

    async def load(self) -> TimedCreds | None:
        """The current credentials, or ``None`` when this source is not configured."""
        ...


@dataclass(frozen=True)
class ProviderContext:
    """What every provider is built from: plain values, so tests pass their own.

    ``parent`` is the traitlets configurable that owns the chain (``None``
    outside Jupyter); a provider from another package may create a configurable
    child of it so that ``c.<ItsClass>.<trait>`` applies inside the chain.
    """

    environ: Mapping[str, str] = field(repr=False)  # holds the secret keys
    clock: Clock
    fetcher: Fetcher
    log: logging.Logger | logging.LoggerAdapter[Any]
    parent: Any = None
