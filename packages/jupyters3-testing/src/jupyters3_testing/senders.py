"""A fake HTTP sender: scripted answers, recorded requests, no network.

:class:`FakeSender` satisfies :class:`jupyters3.s3.senders.HttpSender`, so a
:class:`~jupyters3.s3.client.S3Client` (``sender=``) or a
:class:`~jupyters3.s3.transport.Transport` built on it runs its whole sign,
retry and refresh loop against a script::

    sender = FakeSender([FakeSender.answer(503, code="SlowDown"), FakeSender.answer(200)])
    client = S3Client(ClientConfig(bucket="b"), credentials=creds, sender=sender)
    await client.head_object("k")
    assert len(sender.requests) == 2

Each :meth:`FakeSender.send` takes the next step of the script: a
:class:`~jupyters3.s3.senders.RawResponse` is answered (its body delivered to
the request's sink when there is one and the status is 2xx), an exception is
raised (an :class:`~jupyters3.errors.S3Error`, as a real sender raises), a
callable is called with the request and its result used the same way. An
exhausted script answers ``default`` (200, empty) or raises if ``default`` is
``None``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable
from typing import Literal

from tornado import httputil

from jupyters3.errors import NetworkError
from jupyters3.s3.senders import RawResponse, SignedRequest

__all__ = ["FakeSender", "Step"]

#: One scripted step: an answer, an exception to raise, or a function of the request.
Step = RawResponse | BaseException | Callable[[SignedRequest], "RawResponse | BaseException"]


class FakeSender:
    """An :class:`~jupyters3.s3.senders.HttpSender` that plays a script.

    ``requests``: every request sent, in order (signed: its headers hold the
    Authorization). ``fail_when_done``: an exhausted script fails the test
    instead of answering ``default``.
    """

    def __init__(
        self,
        script: Iterable[Step] = (),
        *,
        default: RawResponse | None = None,
        keeps_alive: bool = False,
        fail_when_done: bool = False,
    ) -> None:
        self.script: list[Step] = list(script)
        self.default = None if fail_when_done else (default or RawResponse(200, _headers({})))
        self.keeps_alive = keeps_alive
        self.requests: list[SignedRequest] = []
        self.closed = False

    @staticmethod
    def answer(
        status: int,
        body: bytes = b"",
        *,
        code: str = "",
        headers: dict[str, str] | None = None,
    ) -> RawResponse:
        """An answer; with ``code``, an S3 ``<Error>`` body carrying that code."""
        if code:
            body = (
                f"<?xml version='1.0' encoding='UTF-8'?><Error><Code>{code}</Code>"
                f"<Message>{code} (scripted)</Message><RequestId>FAKE</RequestId></Error>"
            ).encode()
        return RawResponse(status, _headers(headers or {}), body)

    @staticmethod
    def dropped(
        *, timeout: Literal["connect", "read"] | None = None, sent: bool = True
    ) -> NetworkError:
        """The error a real sender raises for a lost exchange (``timeout``:
        which timeout it was; ``sent=False`` or a connect timeout: the request
        certainly never left)."""
        return NetworkError(
            f"could not complete the request to fake: {timeout or 'dropped'}",
            outcome_unknown=sent and timeout != "connect",
            timeout=timeout,
        )

    def close(self) -> None:
        self.closed = True

    async def send(self, request: SignedRequest) -> RawResponse:
        if self.closed:
            raise RuntimeError("FakeSender: send() after close()")
        self.requests.append(request)
        if self.script:
            step = self.script.pop(0)
        elif self.default is not None:
            step = self.default
        else:
            raise AssertionError(f"FakeSender: no answer scripted for request {len(self.requests)}")
        if callable(step) and not isinstance(step, (RawResponse, BaseException)):
            step = step(request)
        if isinstance(step, BaseException):
            raise step
        if request.stream is not None:
            async for _ in request.stream.chunks():  # a real sender reads the body
                pass
        if request.sink is not None and step.status < 300:
            if request.on_answer is not None and step.body:
                request.on_answer(step.status, step.headers)
            result = request.sink(step.body)
            if inspect.isawaitable(result):
                await result
            return RawResponse(step.status, step.headers, b"")
        return step


def _headers(values: dict[str, str]) -> httputil.HTTPHeaders:
    headers = httputil.HTTPHeaders()
    for name, value in values.items():
        headers[name] = value
    return headers
