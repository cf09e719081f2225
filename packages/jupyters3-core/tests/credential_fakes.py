"""Plain-value stand-ins for the credential providers' clock and HTTP fetcher."""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from jupyters3.credentials.http import HttpResponse
from jupyters3.credentials.timestamps import format_timestamp

#: 2027-01-15T08:00:00Z: a fixed "now" for tests.
T0 = 1_800_000_000.0


class FakeClock:
    """A clock that moves only when told to."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Sent:
    """One request a :class:`FakeFetcher` received."""

    method: str
    url: str
    headers: dict[str, str]
    body: bytes | None
    timeout: float


class FakeFetcher:
    """A Fetcher that asks ``handler(sent)`` for each answer.

    The handler returns an :class:`HttpResponse`, a ``(status, body)`` pair, or
    an exception to raise; it may be a coroutine function.
    """

    def __init__(self, handler: Callable[[Sent], Any]) -> None:
        self.handler = handler
        self.sent: list[Sent] = []

    async def __call__(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: bytes | None,
        timeout: float,
    ) -> HttpResponse:
        sent = Sent(method, url, dict(headers), body, timeout)
        self.sent.append(sent)
        answer = self.handler(sent)
        if inspect.isawaitable(answer):
            answer = await answer
        if isinstance(answer, BaseException):
            raise answer
        if isinstance(answer, tuple):
            status, body_out = answer
            return HttpResponse(status, {}, body_out)
        assert isinstance(answer, HttpResponse)
        return answer


def answers(*queue: Any) -> Callable[[Sent], Any]:
    """A handler giving the answers in order (the last one again and again)."""
    items = list(queue)

    def handler(_: Sent) -> Any:
        return items.pop(0) if len(items) > 1 else items[0]

    return handler


def creds_json(
    n: int = 1, expiration: float | None = T0 + 3600, *, token: bool = True, **extra: Any
) -> bytes:
    """A container/IMDS credentials document for serial ``n``."""
    doc: dict[str, Any] = {
        "AccessKeyId": f"ASIA{n:016d}",
        "SecretAccessKey": f"secret-{n}",
        **extra,
    }
    if token:
        doc["Token"] = f"token-{n}"
    if expiration is not None:
        doc["Expiration"] = format_timestamp(expiration)
    return json.dumps(doc).encode()


def sts_xml(n: int = 1, expiration: str = "2027-01-15T09:00:00Z") -> bytes:
    """A successful AssumeRoleWithWebIdentity answer for serial ``n``."""
    return f"""<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleWithWebIdentityResult>
    <SubjectFromWebIdentityToken>system:serviceaccount:ns:sa</SubjectFromWebIdentityToken>
    <Audience>sts.amazonaws.com</Audience>
    <AssumedRoleUser>
      <Arn>arn:aws:sts::123456789012:assumed-role/r/s</Arn>
      <AssumedRoleId>AROA:s</AssumedRoleId>
    </AssumedRoleUser>
    <Credentials>
      <SessionToken>sts-token-{n}</SessionToken>
      <SecretAccessKey>sts-secret-{n}</SecretAccessKey>
      <Expiration>{expiration}</Expiration>
      <AccessKeyId>ASIASTS{n:012d}</AccessKeyId>
    </Credentials>
    <Provider>arn:aws:iam::123456789012:oidc-provider/oidc.eks</Provider>
  </AssumeRoleWithWebIdentityResult>
  <ResponseMetadata><RequestId>req-{n}</RequestId></ResponseMetadata>
</AssumeRoleWithWebIdentityResponse>""".encode()


def sts_error_xml(code: str, message: str = "nope", error_type: str = "Sender") -> bytes:
    """An STS ErrorResponse document."""
    return f"""<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <Error><Type>{error_type}</Type><Code>{code}</Code><Message>{message}</Message></Error>
  <RequestId>req-err</RequestId>
</ErrorResponse>""".encode()
