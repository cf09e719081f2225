"""A fake STS whose ``AssumeRole`` mints keys and remembers each key's session.

moto accepts a session ``Policy`` and ignores it, so it cannot tell whether a
scoped session is really scoped. :class:`FakeSTS` answers ``AssumeRole`` as
STS does (the Query API: a signed form POST, an XML answer or an XML error)
and keeps, for every access key id it mints, the :class:`StsSession`: the
role, its session policy, managed policy ARNs, tags, source identity and
expiration. :class:`~jupyters3_testing.enforce.PolicyEnforcer`, installed on a
:class:`~jupyters3_testing.proxy.FaultProxy`, then evaluates every S3 request
signed with such a key as AWS would.

It runs a Tornado server on its own event loop in a daemon thread bound to
127.0.0.1, like the fault proxy. What it checks (each refusal is STS's error
code and status): the caller's access key id (``trusted_key_ids``, or a key
it minted and that has not expired: role chaining, capped at 3,600 s)
``InvalidClientTokenId``; the role (``roles``) ``AccessDenied``;
``RoleSessionName``, ``SourceIdentity``, ``DurationSeconds`` (900 to the
role's ``max_session_seconds``), tags, transitive tag keys and ``Policy``
length (2,048) ``ValidationError``; the policy document
``MalformedPolicyDocument``; ``PolicyArns`` (at most 10, each one of
``managed_policies``) ``ValidationError``; the packed size
``PackedPolicyTooLarge``. It does not verify signatures (only who signed).

``PackedPolicySize`` is modelled, not AWS's (which is opaque): the percentage
of 2,048 that the policy, the policy ARNs and the tags' keys and values take
together, or what ``packed_size`` returns. ``lifetime`` makes every minted
key expire that many seconds after it was issued, whatever ``DurationSeconds``
asked: short lifetimes test refreshing.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import math
import re
import secrets
import socket
import string
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timezone
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl
from xml.sax.saxutils import escape

from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets
from tornado.web import Application, RequestHandler

from jupyters3_testing.faults import access_key_id
from jupyters3_testing.iam import MalformedPolicy, parse_policy

__all__ = ["FakeSTS", "StsError", "StsSession"]

_NS = "https://sts.amazonaws.com/doc/2011-06-15/"
_NAME = re.compile(r"[\w+=,.@-]{2,64}")
_TAG_KEY = re.compile(r"[\w .:/=+\-@]{1,128}")
_TAG_VALUE = re.compile(r"[\w .:/=+\-@]{0,256}")
POLICY_LIMIT = 2048


class StsError(Exception):
    """One STS error answer: HTTP status, code and message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.status, self.code, self.message = status, code, message


@dataclasses.dataclass(frozen=True)
class StsSession:
    """What one minted key is: the session ``AssumeRole`` made."""

    access_key_id: str
    secret_access_key: str = dataclasses.field(repr=False)
    session_token: str = dataclasses.field(repr=False)
    role_arn: str
    session_name: str
    #: The inline session policy's text (None: the request sent none).
    policy: str | None
    policy_arns: tuple[str, ...]
    tags: tuple[tuple[str, str], ...]
    transitive_tag_keys: tuple[str, ...]
    source_identity: str
    #: The access key id that signed the AssumeRole.
    caller: str
    issued: float
    expiration: float
    duration_seconds: int
    #: The PackedPolicySize answered (percent of STS's limit, as modelled here).
    packed_policy_size: int = 0

    def expired(self, now: float | None = None) -> bool:
        """Whether the key has expired at ``now`` (default: the wall clock)."""
        return (time.time() if now is None else now) >= self.expiration

    def context(self) -> dict[str, str]:
        """The request context keys of this session (``aws:PrincipalTag/<key>``, ...)."""
        found = {f"aws:PrincipalTag/{key}": value for key, value in self.tags}
        if self.source_identity:
            found["aws:SourceIdentity"] = self.source_identity
        return found

    @property
    def has_session_policy(self) -> bool:
        """Whether a session policy (inline or managed) scopes the session."""
        return self.policy is not None or bool(self.policy_arns)


class FakeSTS:
    """``AssumeRole`` on 127.0.0.1 that remembers every session it minted.

    ``roles`` maps each role ARN to its permission policies (one document or a
    list; JSON text or mappings): what :meth:`role_policies` gives the
    enforcer. ``trusted_key_ids`` are the access key ids allowed to call
    AssumeRole (the hub's own credentials); any key id if empty.
    """

    def __init__(
        self,
        roles: Mapping[str, Any],
        *,
        managed_policies: Mapping[str, Any] | None = None,
        trusted_key_ids: Iterable[str] = (),
        lifetime: float | None = None,
        max_session_seconds: int = 3600,
        packed_size: Callable[[str, Sequence[str], Sequence[tuple[str, str]]], int] | None = None,
        account: str = "123456789012",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._roles = {arn: _documents(policies) for arn, policies in roles.items()}
        self._managed = {arn: parse_policy(doc) for arn, doc in (managed_policies or {}).items()}
        self.trusted_key_ids = frozenset(trusted_key_ids)
        self.lifetime = lifetime
        self.max_session_seconds = max_session_seconds
        self.packed_size = packed_size or _packed_percent
        self.account = account
        self.clock = clock
        self._lock = threading.Lock()
        self._sessions: dict[str, StsSession] = {}
        self._calls: list[dict[str, str]] = []
        self._failure: StsError | None = None
        self._port: int | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_event: asyncio.Event | None = None
        self._ready = threading.Event()

    # -- lifecycle -------------------------------------------------------------

    def start(self, timeout: float = 10.0) -> FakeSTS:
        """Bind 127.0.0.1 on a free port and serve in a daemon thread."""
        if self._thread is not None:
            raise RuntimeError("FakeSTS already started")
        sockets = bind_sockets(0, "127.0.0.1", family=socket.AF_INET)
        self._port = int(sockets[0].getsockname()[1])
        self._thread = threading.Thread(
            target=lambda: asyncio.run(self._serve(sockets)),
            name=f"js3-fake-sts-{self._port}",
            daemon=True,
        )
        self._thread.start()
        if not self._ready.wait(timeout):
            raise RuntimeError("FakeSTS did not start")
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop serving and join the thread. Idempotent."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        loop, event = self._loop, self._stop_event
        if loop is not None and event is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(event.set)
        thread.join(timeout)

    def __enter__(self) -> FakeSTS:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    async def _serve(self, sockets: list[socket.socket]) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop_event = asyncio.Event()
        server = HTTPServer(Application([(r"/.*", _Handler, {"sts": self})]))
        server.add_sockets(sockets)
        self._ready.set()
        await self._stop_event.wait()
        server.stop()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(server.close_all_connections(), 5.0)

    @property
    def endpoint_url(self) -> str:
        """``http://127.0.0.1:PORT/``: set it as ``AWS_ENDPOINT_URL_STS``."""
        if self._port is None:
            raise RuntimeError("FakeSTS was never started")
        return f"http://127.0.0.1:{self._port}/"

    # -- what tests read --------------------------------------------------------

    def session(self, key_id: str) -> StsSession | None:
        """The session of a minted access key id (None: not minted here)."""
        with self._lock:
            return self._sessions.get(key_id)

    def sessions(self, *, role_arn: str | None = None) -> list[StsSession]:
        """Every session minted, oldest first (optionally of one role)."""
        with self._lock:
            found = list(self._sessions.values())
        return [s for s in found if role_arn is None or s.role_arn == role_arn]

    def calls(self) -> list[dict[str, str]]:
        """The form parameters of every AssumeRole asked for, refused ones included."""
        with self._lock:
            return [dict(c) for c in self._calls]

    def role_policies(self, role_arn: str) -> list[dict[str, Any]]:
        """The permission policies of a role (empty for an unknown role)."""
        return list(self._roles.get(role_arn, []))

    def session_policies(self, session: StsSession) -> list[dict[str, Any]] | None:
        """The session policies of ``session`` (None: it has none, the role alone decides)."""
        if not session.has_session_policy:
            return None
        found = [self._managed[arn] for arn in session.policy_arns]
        if session.policy is not None:
            found.append(parse_policy(session.policy))
        return found

    def fail_next(self, error: StsError | None) -> None:
        """Answer the next AssumeRole calls with ``error`` until called with None."""
        with self._lock:
            self._failure = error

    def reset(self) -> None:
        """Forget every session and call."""
        with self._lock:
            self._sessions.clear()
            self._calls.clear()
            self._failure = None

    # -- AssumeRole -------------------------------------------------------------

    def assume_role(self, params: Mapping[str, str], caller: str) -> StsSession:
        """Check one AssumeRole request and mint its session (:class:`StsError` if refused)."""
        with self._lock:
            self._calls.append(dict(params))
            failure = self._failure
        if failure is not None:
            raise failure
        if params.get("Action") != "AssumeRole":
            raise StsError(400, "InvalidAction", f"Could not find operation {params.get('Action')}")
        now = self.clock()
        chained = self.session(caller)
        if chained is not None and chained.expired(now):
            raise StsError(
                403, "ExpiredToken", "The security token included in the request is expired"
            )
        if chained is None and self.trusted_key_ids and caller not in self.trusted_key_ids:
            raise StsError(
                403,
                "InvalidClientTokenId",
                "The security token included in the request is invalid.",
            )
        role = params.get("RoleArn", "")
        if role not in self._roles:
            raise StsError(
                403,
                "AccessDenied",
                f"User: {caller} is not authorized to perform: sts:AssumeRole on resource: {role}",
            )
        name = params.get("RoleSessionName", "")
        if not _NAME.fullmatch(name):
            raise _validation(
                "roleSessionName", "must satisfy regular expression pattern: [\\w+=,.@-]*"
            )
        duration = _duration(params.get("DurationSeconds", "3600"))
        cap = 3600 if chained is not None else self.max_session_seconds
        if not 900 <= duration <= cap:
            raise StsError(
                400,
                "ValidationError",
                f"The requested DurationSeconds exceeds the MaxSessionDuration set for this role"
                f" ({cap} s; 900 s at least).",
            )
        policy = params.get("Policy")
        if policy is not None:
            if len(policy) > POLICY_LIMIT:
                raise _validation(
                    "policy", f"Member must have length less than or equal to {POLICY_LIMIT}"
                )
            try:
                parse_policy(policy)
            except MalformedPolicy as exc:
                raise StsError(400, "MalformedPolicyDocument", str(exc)) from None
        arns = _members(params, "PolicyArns.member.{}.arn")
        if len(arns) > 10 or any(arn not in self._managed for arn in arns):
            raise _validation("policyArns", "at most 10 ARNs of existing managed policies")
        tags = _tags(params)
        transitive = tuple(_members(params, "TransitiveTagKeys.member.{}"))
        if not set(transitive) <= {key for key, _ in tags}:
            raise _validation("transitiveTagKeys", "every key must be a session tag's key")
        source = params.get("SourceIdentity", "")
        if source and not _NAME.fullmatch(source):
            raise _validation(
                "sourceIdentity", "must satisfy regular expression pattern: [\\w+=,.@-]*"
            )
        if chained is not None:
            tags, transitive, source = _inherit(chained, tags, transitive, source)
        packed = self.packed_size(policy or "", arns, tags)
        if packed > 100:
            raise StsError(
                400,
                "PackedPolicyTooLarge",
                f"Packed policy consumes {packed}% of allotted space, please use smaller policy.",
            )
        lifetime = self.lifetime if self.lifetime is not None else float(duration)
        session = StsSession(
            access_key_id="ASIA" + "".join(secrets.choice(_UPPER) for _ in range(16)),
            secret_access_key=secrets.token_urlsafe(30)[:40],
            session_token="FQoGZXIvYXdzE" + secrets.token_urlsafe(90),
            role_arn=role,
            session_name=name,
            policy=policy,
            policy_arns=tuple(arns),
            tags=tags,
            transitive_tag_keys=transitive,
            source_identity=source,
            caller=caller,
            issued=now,
            expiration=now + lifetime,
            duration_seconds=duration,
            packed_policy_size=packed,
        )
        with self._lock:
            self._sessions[session.access_key_id] = session
        return session

    def answer(self, session: StsSession) -> str:
        """The XML answer of a minted session."""
        role_name = session.role_arn.rsplit("/", 1)[-1]
        expiration = datetime.fromtimestamp(session.expiration, tz=timezone.utc)
        source = (
            f"<SourceIdentity>{escape(session.source_identity)}</SourceIdentity>"
            if session.source_identity
            else ""
        )
        return (
            f'<AssumeRoleResponse xmlns="{_NS}"><AssumeRoleResult>{source}'
            "<AssumedRoleUser>"
            f"<Arn>arn:aws:sts::{self.account}:assumed-role/{escape(role_name)}/"
            f"{escape(session.session_name)}</Arn>"
            f"<AssumedRoleId>AROA{_role_id(session.role_arn)}"
            f":{escape(session.session_name)}</AssumedRoleId></AssumedRoleUser>"
            f"<Credentials><AccessKeyId>{session.access_key_id}</AccessKeyId>"
            f"<SecretAccessKey>{escape(session.secret_access_key)}</SecretAccessKey>"
            f"<SessionToken>{escape(session.session_token)}</SessionToken>"
            f"<Expiration>{expiration.strftime('%Y-%m-%dT%H:%M:%SZ')}</Expiration></Credentials>"
            f"<PackedPolicySize>{session.packed_policy_size}</PackedPolicySize>"
            f"</AssumeRoleResult><ResponseMetadata><RequestId>{uuid.uuid4()}</RequestId>"
            "</ResponseMetadata></AssumeRoleResponse>"
        )


class _Handler(RequestHandler):
    def initialize(self, sts: FakeSTS) -> None:
        self.sts = sts

    def post(self) -> None:
        params = dict(
            parse_qsl(self.request.body.decode("utf-8", "replace"), keep_blank_values=True)
        )
        caller = access_key_id(self.request.headers.get("Authorization", ""))
        self.set_header("Content-Type", "text/xml")
        try:
            if not caller:
                raise StsError(
                    403, "MissingAuthenticationToken", "Request is missing Authentication Token"
                )
            session = self.sts.assume_role(params, caller)
        except StsError as exc:
            self.set_status(exc.status)
            kind = "Sender" if exc.status < 500 else "Receiver"
            self.finish(
                f'<ErrorResponse xmlns="{_NS}"><Error><Type>{kind}</Type>'
                f"<Code>{escape(exc.code)}</Code><Message>{escape(exc.message)}</Message></Error>"
                f"<RequestId>{uuid.uuid4()}</RequestId></ErrorResponse>"
            )
            return
        self.finish(self.sts.answer(session))

    def get(self) -> None:
        self.set_status(405)
        self.finish()


_UPPER = string.ascii_uppercase + string.digits


def _role_id(role_arn: str) -> str:
    return uuid.uuid5(uuid.NAMESPACE_URL, role_arn).hex[:16].upper()


def _documents(policies: Any) -> list[dict[str, Any]]:
    items = policies if isinstance(policies, (list, tuple)) else [policies]
    return [parse_policy(p) for p in items if p is not None]


def _duration(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise _validation("durationSeconds", "must be a whole number") from None


def _validation(member: str, constraint: str) -> StsError:
    return StsError(
        400,
        "ValidationError",
        f"1 validation error detected: Value at '{member}' failed to satisfy constraint: "
        f"{constraint}",
    )


def _members(params: Mapping[str, str], pattern: str) -> list[str]:
    found = []
    for number in range(1, 101):
        value = params.get(pattern.format(number))
        if value is None:
            break
        found.append(value)
    return found


def _tags(params: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    keys = _members(params, "Tags.member.{}.Key")
    values = [params.get(f"Tags.member.{n}.Value", "") for n in range(1, len(keys) + 1)]
    if len(keys) > 50:
        raise _validation("tags", "Member must have length less than or equal to 50")
    for key, value in zip(keys, values, strict=True):
        if not _TAG_KEY.fullmatch(key) or key.lower().startswith("aws:"):
            raise _validation("tags.member.key", "must satisfy regular expression pattern")
        if not _TAG_VALUE.fullmatch(value):
            raise _validation("tags.member.value", "must satisfy regular expression pattern")
    if len({k.lower() for k in keys}) != len(keys):
        raise _validation("tags", "Duplicate tag keys found")
    return tuple(zip(keys, values, strict=True))


def _inherit(
    caller: StsSession,
    tags: tuple[tuple[str, str], ...],
    transitive: tuple[str, ...],
    source: str,
) -> tuple[tuple[tuple[str, str], ...], tuple[str, ...], str]:
    """Role chaining: the caller's transitive tags and source identity carry over."""
    if caller.source_identity and source and source != caller.source_identity:
        raise StsError(403, "AccessDenied", "SourceIdentity cannot be changed once set")
    inherited = [(k, v) for k, v in caller.tags if k in caller.transitive_tag_keys]
    clash = {k.lower() for k, _ in inherited} & {k.lower() for k, _ in tags}
    if clash:
        raise StsError(
            400, "InvalidParameterValue", f"Transitive tags {sorted(clash)} cannot be set again"
        )
    keys = tuple(dict.fromkeys([*caller.transitive_tag_keys, *transitive]))
    return tuple(inherited) + tags, keys, source or caller.source_identity


def _packed_percent(policy: str, arns: Sequence[str], tags: Sequence[tuple[str, str]]) -> int:
    size = len(policy) + sum(len(a) for a in arns) + sum(len(k) + len(v) for k, v in tags)
    return math.ceil(100 * size / POLICY_LIMIT)
