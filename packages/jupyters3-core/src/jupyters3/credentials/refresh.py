"""A credentials cache that refreshes ahead of expiry, one refresh at a time.

Two windows before ``expiration`` (the AWS SDKs' defaults, botocore's
``RefreshableCredentials``):

* **advisory** (15 min): the caller gets the cached credentials at once and a
  refresh starts in the background; if it fails, the failure is logged and
  the cached credentials are kept (tried again after ``retry_interval``).
* **mandatory** (10 min): callers wait for the refresh; a failure is raised.

However many callers arrive, at most one refresh runs: they all await the
same task. Time comes from the injected clock, so tests move it by hand.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable
from typing import Any

from jupyters3.credentials.timestamps import format_timestamp
from jupyters3.credentials.types import AwsCreds, Clock, TimedCreds
from jupyters3.errors import CredentialsRejected

__all__ = ["DEFAULT_ADVISORY_SECONDS", "DEFAULT_MANDATORY_SECONDS", "RefreshingCredentials"]

DEFAULT_ADVISORY_SECONDS = 15 * 60.0
DEFAULT_MANDATORY_SECONDS = 10 * 60.0

_log = logging.getLogger("jupyters3.credentials")


class RefreshingCredentials:
    """Caches what ``fetch`` returns and calls it again ahead of the expiration.

    ``fetch`` returns :class:`TimedCreds`; an ``expiration`` of ``None`` means
    the credentials never expire (fetched once, until :meth:`invalidate`).
    """

    def __init__(
        self,
        fetch: Callable[[], Awaitable[TimedCreds]],
        *,
        clock: Clock = time.time,
        advisory: float = DEFAULT_ADVISORY_SECONDS,
        mandatory: float = DEFAULT_MANDATORY_SECONDS,
        retry_interval: float | None = None,
        log: logging.Logger | logging.LoggerAdapter[Any] | None = None,
        source: str = "the credential source",
    ) -> None:
        if not 0 <= mandatory <= advisory:
            raise ValueError("need 0 <= mandatory <= advisory refresh window")
        self._fetch = fetch
        self._clock = clock
        self.advisory = advisory
        self.mandatory = mandatory
        #: Seconds between two background refresh attempts (after one failed).
        self.retry_interval = (
            (advisory - mandatory) / 10 if retry_interval is None else retry_interval
        )
        self.log = log or _log
        self.source = source
        self._current: TimedCreds | None = None
        self._advisory_at = math.inf
        self._mandatory_at = -math.inf
        self._next_background = -math.inf
        self._task: asyncio.Task[TimedCreds] | None = None

    @property
    def current(self) -> TimedCreds | None:
        """The cached credentials (``None`` before the first fetch)."""
        return self._current

    @property
    def refreshing(self) -> bool:
        """Whether a refresh is running now."""
        return self._task is not None and not self._task.done()

    async def get(self) -> AwsCreds:
        """Credentials to sign with now: cached, or refreshed first when they must be."""
        now = self._clock()
        current = self._current
        if current is None or now >= self._mandatory_at:
            fresh = await asyncio.shield(self._refresh_task())
            return fresh.creds
        if now >= self._advisory_at and now >= self._next_background and not self.refreshing:
            self._refresh_task()
        return current.creds

    def invalidate(self, rejected: AwsCreds | None = None) -> bool:
        """Make the next :meth:`get` wait for fresh credentials.

        With ``rejected`` (the credentials S3 refused), nothing happens unless
        they are still the cached ones: many requests failing with the same
        expired token cause one refresh, not one each. Returns whether the
        cache was invalidated.
        """
        current = self._current
        if current is None or (rejected is not None and rejected != current.creds):
            return False
        self._mandatory_at = -math.inf
        return True

    # -- internals ---------------------------------------------------------

    def _refresh_task(self) -> asyncio.Task[TimedCreds]:
        """The running refresh on this event loop, started if there is none."""
        loop = asyncio.get_running_loop()
        task = self._task
        if task is None or task.done() or task.get_loop() is not loop:
            task = loop.create_task(self._refresh())
            task.add_done_callback(self._finished)
            self._task = task
        return task

    async def _refresh(self) -> TimedCreds:
        started = self._clock()
        self._next_background = started + self.retry_interval
        fresh = await self._fetch()
        now = self._clock()
        expiration = fresh.expiration
        if expiration is not None and expiration <= now:
            raise CredentialsRejected(
                f"Credentials were refreshed from {self.source}, but they expired already "
                f"(at {format_timestamp(expiration)}).",
                code="ExpiredCredentials",
            )
        self._apply(fresh, now)
        return fresh

    def _apply(self, fresh: TimedCreds, now: float) -> None:
        self._current = fresh
        expiration = fresh.expiration
        if expiration is None:
            self._advisory_at = self._mandatory_at = math.inf
            return
        remaining = expiration - now
        self._advisory_at = expiration - self.advisory
        if remaining > self.mandatory:
            self._mandatory_at = expiration - self.mandatory
        else:
            # Already inside the mandatory window: wait again only halfway to
            # the expiration, so short-lived credentials do not block every call.
            self._mandatory_at = now + remaining / 2
            self.log.warning(
                "AWS credentials from %s expire in %.0f s, sooner than the %.0f s refresh window.",
                self.source,
                remaining,
                self.mandatory,
            )
        self.log.debug(
            "AWS credentials from %s refreshed; they expire at %s.",
            self.source,
            format_timestamp(expiration),
        )

    def _kept(self) -> bool:
        """Whether callers still get the cached credentials (outside the mandatory window)."""
        return self._clock() < self._mandatory_at

    def _finished(self, task: asyncio.Task[TimedCreds]) -> None:
        if task.cancelled():
            return
        error = task.exception()  # also marks the exception as retrieved
        if error is None:
            return
        current = self._current
        if current is not None and current.expiration is not None and self._kept():
            self.log.warning(
                "Refreshing AWS credentials from %s failed (%s); the current ones are "
                "kept (they expire at %s).",
                self.source,
                error,
                format_timestamp(current.expiration),
            )
            return
        self.log.warning("Getting AWS credentials from %s failed: %s", self.source, error)
