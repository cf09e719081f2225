"""The HTTP senders' pure parts: typed network errors, and which sender a config gets."""

from __future__ import annotations

import socket

import pytest
from tornado.httpclient import HTTPClientError
from tornado.iostream import StreamClosedError
from tornado.simple_httpclient import HTTPTimeoutError

from jupyters3 import errors
from jupyters3.s3.config import ClientConfig
from jupyters3.s3.senders import (
    CurlSender,
    RoutingSender,
    SignedRequest,
    SimpleSender,
    default_sender,
    network_error,
)

REQUEST = SignedRequest("GetObject", "GET", "http://h/b/k", {}, bucket="b", key="k")


def curl_error(errno: int, message: str) -> Exception:
    curl = pytest.importorskip("tornado.curl_httpclient")
    return curl.CurlError(errno, message)  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("exc", "timeout", "unknown"),
    [
        # Tornado's own client (HTTPTimeoutError, 599).
        (HTTPTimeoutError("Timeout during request"), "read", True),
        (HTTPTimeoutError("Timeout while connecting"), "connect", False),
        (HTTPTimeoutError("Timeout while connecting to 10.0.0.1:443"), "connect", False),
        (HTTPTimeoutError("Timeout in request queue"), "connect", False),
        # Refused, unresolved, closed: no timeout.
        (ConnectionRefusedError(111, "refused"), None, False),
        (socket.gaierror(-2, "Name or service not known"), None, False),
        (StreamClosedError(), None, True),
        (ConnectionResetError(104, "reset"), None, True),
    ],
)
def test_network_errors_say_whether_and_which_timeout(exc, timeout, unknown) -> None:
    error = network_error(exc, REQUEST, "h:9000")

    assert isinstance(error, errors.NetworkError)
    assert (error.timeout, error.outcome_unknown) == (timeout, unknown)
    assert "h:9000" in str(error) and error.key == "k" and error.operation == "GetObject"


@pytest.mark.parametrize(
    ("errno", "message", "timeout", "unknown"),
    [
        (28, "Operation timed out after 200 milliseconds with 0 bytes received", "read", True),
        (28, "Operation timed out after 300000 milliseconds with 5 out of 9 bytes received",
         "read", True),
        (28, "Connection timed out after 10001 milliseconds", "connect", False),
        (28, "Resolving timed out after 5000 milliseconds", "connect", False),
        (28, "Failed to connect to h port 443 after 10000 ms: Timeout was reached",
         "connect", False),
        # An unknown wording: a read timeout, the request may have left.
        (28, "Timeout was reached", "read", True),
        (7, "Failed to connect to h port 9000: Connection refused", None, False),
        (6, "Could not resolve host: h", None, False),
        (56, "Recv failure: Connection reset by peer", None, True),
    ],
)  # fmt: skip
def test_libcurl_timeouts_are_typed_from_errno_28(errno, message, timeout, unknown) -> None:
    error = network_error(curl_error(errno, message), REQUEST, "h")

    assert (error.timeout, error.outcome_unknown) == (timeout, unknown)
    if timeout:
        assert "Timeout" in str(error)


def test_an_http_error_status_is_named() -> None:
    error = network_error(HTTPClientError(502), REQUEST, "h")
    assert "HTTP 502" in str(error) and error.timeout is None


@pytest.mark.parametrize(
    ("options", "kind"),
    [
        ({"http_client": "simple"}, SimpleSender),
        ({"http_client": "auto", "blocking_dns": True}, SimpleSender),
        ({"http_client": "curl", "blocking_dns": True}, SimpleSender),
        ({"http_client": "curl"}, RoutingSender),
        ({"http_client": "auto"}, RoutingSender),  # pycurl is installed in the test env
    ],
)
async def test_the_config_picks_the_sender(options, kind) -> None:
    pytest.importorskip("pycurl")
    sender = default_sender(ClientConfig(bucket="b", **options))
    try:
        assert type(sender) is kind
        assert sender.keeps_alive is (kind is RoutingSender)
        if isinstance(sender, RoutingSender):
            assert isinstance(sender.streaming, SimpleSender)
            assert isinstance(sender.pooled, CurlSender)
    finally:
        sender.close()


async def test_the_curl_sender_refuses_streams_and_sinks() -> None:
    pytest.importorskip("pycurl")
    sender = CurlSender(ClientConfig(bucket="b"))
    try:
        with pytest.raises(ValueError, match="in-memory"):
            await sender.send(
                SignedRequest("GetObject", "GET", "http://h/b/k", {}, sink=lambda _: None)
            )
    finally:
        sender.close()


@pytest.mark.parametrize(
    "options",
    [{"max_concurrency": 0}, {"connect_timeout": 0}, {"http_client": "fast"}],
)
def test_a_config_that_cannot_work_is_refused_when_built(options) -> None:
    with pytest.raises(ValueError):
        ClientConfig(bucket="b", **options)


def test_a_bad_endpoint_is_a_configuration_error() -> None:
    with pytest.raises(errors.BadConfiguration):
        ClientConfig(bucket="b", endpoint_url="ftp://h")


def test_the_config_is_frozen_and_parses_its_endpoint() -> None:
    config = ClientConfig(bucket="b", endpoint_url="http://127.0.0.1:9000")
    assert config.endpoint.netloc == "127.0.0.1:9000"
    assert ClientConfig(bucket="b", region="eu-west-1").endpoint.host.endswith("amazonaws.com")
    assert config.validate_cert is True  # TLS verification on unless turned off
    with pytest.raises(AttributeError):
        config.bucket = "other"  # type: ignore[misc]
