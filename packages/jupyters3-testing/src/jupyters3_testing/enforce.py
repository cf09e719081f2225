"""The fault proxy's policy-enforcing mode: every S3 request judged as AWS would.

Install a :class:`PolicyEnforcer` on a
:class:`~jupyters3_testing.proxy.FaultProxy` (``proxy.add_hook(enforcer)``).
For each request it finds the session of the signing access key id in a
:class:`~jupyters3_testing.sts.FakeSTS`, lists the authorizations the request
needs (:func:`~jupyters3_testing.s3_actions.s3_authorizations`: the copy
source of CopyObject and UploadPartCopy, each key of a DeleteObjects body,
the multipart operations...) and evaluates each with the role's policies
intersected with the session policies
(:func:`~jupyters3_testing.iam.evaluate_session`), the session's tags and
source identity in the context. Then:

* every authorization allowed: the request goes on (to the proxy's rule and
  random faults, then to S3);
* one refused: ``403 AccessDenied``, as S3 answers (for DeleteObjects S3
  answers 200 and lists each refused key as an ``AccessDenied`` error; a
  hook cannot rewrite answers, so the whole batch is refused here: stricter,
  never more lenient);
* an expired key: ``400 ExpiredToken``; a key neither minted by the fake
  STS nor in ``allow_keys``: ``403 InvalidAccessKeyId``; an unsigned
  request: ``403 AccessDenied``.

``allow_keys`` are access key ids passed through unjudged (a test's own
administrator key, which sets buckets up and inspects them). Every judgement
is kept (:meth:`PolicyEnforcer.judgements`), so a test can show which
requests were refused and why.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Iterable

from jupyters3_testing.faults import Fault, RequestInfo
from jupyters3_testing.iam import AuthRequest, Decision, evaluate_session
from jupyters3_testing.s3_actions import MalformedRequest, s3_authorizations
from jupyters3_testing.sts import FakeSTS

__all__ = ["Judgement", "PolicyEnforcer"]


@dataclasses.dataclass(frozen=True)
class Judgement:
    """One request and what the enforcer decided.

    ``decision`` is ``"Allow"``, ``"ExplicitDeny"`` or ``"ImplicitDeny"`` (of the
    first refused authorization), or ``"Expired"``, ``"UnknownKey"``,
    ``"Unsigned"``, ``"Malformed"``, ``"Passed"`` (an ``allow_keys`` key).
    """

    sequence: int
    access_key_id: str
    method: str
    bucket: str
    key: str
    query: dict[str, str]
    decision: str
    #: The authorization that was refused (None when allowed or not evaluated).
    refused: AuthRequest | None
    authorizations: tuple[AuthRequest, ...]

    @property
    def allowed(self) -> bool:
        """Whether the request went on to S3."""
        return self.decision in ("Allow", "Passed")


class PolicyEnforcer:
    """A :class:`~jupyters3_testing.faults.ProxyHook` that enforces FakeSTS sessions."""

    def __init__(
        self,
        sts: FakeSTS,
        *,
        allow_keys: Iterable[str] = (),
        partition: str = "aws",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.sts = sts
        self.allow_keys = frozenset(allow_keys)
        self.partition = partition
        self.clock = clock
        self._lock = threading.Lock()
        self._judgements: list[Judgement] = []

    def wants_body(self, info: RequestInfo) -> bool:
        """A DeleteObjects (``POST /bucket?delete``) is judged key by key: its body is needed."""
        return info.method == "POST" and not info.key and "delete" in info.query

    def decide(self, info: RequestInfo) -> Fault | None:
        """None to let the request go on, else the S3 error to answer."""
        key_id = info.access_key_id
        if key_id in self.allow_keys:
            return self._keep(info, "Passed", None, ())
        if not key_id:
            return self._keep(info, "Unsigned", None, (), Fault.access_denied())
        session = self.sts.session(key_id)
        if session is None:
            fault = Fault.error(
                403,
                "InvalidAccessKeyId",
                "The AWS Access Key Id you provided does not exist in our records.",
            )
            return self._keep(info, "UnknownKey", None, (), fault)
        if session.expired(self.clock()):
            fault = Fault.error(400, "ExpiredToken", "The provided token has expired.")
            return self._keep(info, "Expired", None, (), fault)
        try:
            needed = s3_authorizations(
                info.method,
                info.bucket,
                info.key,
                info.query,
                info.headers,
                info.body,
                partition=self.partition,
                context=session.context(),
            )
        except MalformedRequest as exc:
            return self._keep(
                info, "Malformed", None, (), Fault.error(400, "MalformedXML", str(exc))
            )
        role = self.sts.role_policies(session.role_arn)
        scoped = self.sts.session_policies(session)
        for request in needed:
            decision: Decision = evaluate_session(role, scoped, request)
            if decision != "Allow":
                return self._keep(info, decision, request, needed, Fault.access_denied())
        return self._keep(info, "Allow", None, needed)

    def judgements(self) -> list[Judgement]:
        """Every request judged so far, oldest first."""
        with self._lock:
            return list(self._judgements)

    def refused(self) -> list[Judgement]:
        """The judgements of requests that did not go on to S3."""
        return [j for j in self.judgements() if not j.allowed]

    def clear(self) -> None:
        """Forget the judgements."""
        with self._lock:
            self._judgements.clear()

    def _keep(
        self,
        info: RequestInfo,
        decision: str,
        refused: AuthRequest | None,
        needed: Iterable[AuthRequest],
        fault: Fault | None = None,
    ) -> Fault | None:
        judgement = Judgement(
            info.sequence,
            info.access_key_id,
            info.method,
            info.bucket,
            info.key,
            dict(info.query),
            decision,
            refused,
            tuple(needed),
        )
        with self._lock:
            self._judgements.append(judgement)
        return fault
