"""FaultProxy against a real moto server: faithful forwarding, faults, log, streaming."""

from __future__ import annotations

import base64
import hashlib
import http.client
import io
import logging
import os
import socket
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import quote

import pytest
from tornado.httpclient import AsyncHTTPClient, HTTPClientError

from jupyters3_testing.faults import Fault, RequestInfo
from jupyters3_testing.proxy import FaultProxy
from jupyters3_testing.raw import RawS3
from jupyters3_testing.s3server import DUMMY_AUTH_HEADERS, MotoServer, free_port

Response = tuple[int, http.client.HTTPMessage, bytes]
# Per-response values, and hop-by-hop headers (the proxy keeps its client
# connection alive while moto closes each one).
_VOLATILE = {"date", "x-amzn-requestid", "x-amz-request-id", "x-amz-id-2", "connection"}


def request(
    port: int,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    conn: http.client.HTTPConnection | None = None,
) -> Response:
    """One raw request with an explicit Content-Type and a dummy signature."""
    hdrs = {"Content-Type": "application/octet-stream", **DUMMY_AUTH_HEADERS, **(headers or {})}
    own = conn is None
    c = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        c.request(method, path, body=body, headers=hdrs)
        resp = c.getresponse()
        return resp.status, resp.headers, resp.read()
    finally:
        if own:
            c.close()


def comparable(headers: http.client.HTTPMessage) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items() if k.lower() not in _VOLATILE}


def error_code(body: bytes) -> str:
    return body.split(b"<Code>")[1].split(b"</Code>")[0].decode()


# -- forwarding ----------------------------------------------------------------


def test_forwards_put_get_head_post_delete_faithfully(
    js3_fault_proxy: FaultProxy, js3_bucket: str, js3_moto_server: MotoServer, js3_raw: RawS3
) -> None:
    port, direct = js3_fault_proxy.port, js3_moto_server.port
    data = os.urandom(300_000)
    path = f"/{js3_bucket}/obj.bin"

    status, headers, body = request(port, "PUT", path, data, {"Content-Type": "application/x-js3"})
    assert (status, body) == (200, b"")
    assert headers["ETag"] == f'"{hashlib.md5(data).hexdigest()}"'
    assert js3_raw.get(js3_bucket, "obj.bin") == data
    assert js3_raw.head(js3_bucket, "obj.bin")["ContentType"] == "application/x-js3"

    for method, extra in (("GET", {}), ("GET", {"Range": "bytes=10-19"}), ("HEAD", {})):
        via = request(port, method, path, headers=extra)
        ref = request(direct, method, path, headers=extra)
        assert via[0] == ref[0] and via[2] == ref[2], method
        assert comparable(via[1]) == comparable(ref[1]), method
    assert request(port, "GET", path, headers={"Range": "bytes=10-19"})[2] == data[10:20]
    head = request(port, "HEAD", path)
    assert head[1]["Content-Length"] == str(len(data)) and head[2] == b""

    via = request(port, "GET", f"/{js3_bucket}/missing")
    ref = request(direct, "GET", f"/{js3_bucket}/missing")
    assert via[0] == ref[0] == 404 and error_code(via[2]) == error_code(ref[2]) == "NoSuchKey"

    status, _, body = request(port, "POST", f"/{js3_bucket}/mp.bin?uploads")
    assert status == 200 and b"<UploadId>" in body
    upload_id = body.split(b"<UploadId>")[1].split(b"</UploadId>")[0].decode()
    assert [u["UploadId"] for u in js3_raw.multipart_uploads(js3_bucket)] == [upload_id]
    status, _, _ = request(port, "DELETE", f"/{js3_bucket}/mp.bin?uploadId={upload_id}")
    assert status == 204 and js3_raw.multipart_uploads(js3_bucket) == []

    assert request(port, "DELETE", path)[0] == 204
    assert not js3_raw.exists(js3_bucket, "obj.bin")

    records = js3_fault_proxy.records()
    assert [(r.method, r.key, r.status) for r in records] == [
        ("PUT", "obj.bin", 200),
        ("GET", "obj.bin", 200),
        ("GET", "obj.bin", 206),
        ("HEAD", "obj.bin", 200),
        ("GET", "obj.bin", 206),
        ("HEAD", "obj.bin", 200),
        ("GET", "missing", 404),
        ("POST", "mp.bin", 200),
        ("DELETE", "mp.bin", 204),
        ("DELETE", "obj.bin", 204),
    ]
    assert records[0].bytes_in == len(data) and records[1].bytes_out == len(data)
    assert records[3].bytes_out == 0
    assert records[7].query == {"uploads": ""}
    assert records[8].query == {"uploadId": upload_id}
    assert all(r.fault is None and r.bucket == js3_bucket for r in records)
    assert js3_fault_proxy.count("get") == 4 and js3_fault_proxy.count(status=204) == 2


def test_log_decodes_unicode_and_spaces(
    js3_fault_proxy: FaultProxy, js3_bucket: str, js3_raw: RawS3
) -> None:
    key = "dir/ü ñ%+&=.txt"
    start = time.time()
    status, _, _ = request(js3_fault_proxy.port, "PUT", f"/{js3_bucket}/{quote(key)}", b"u")
    assert status == 200
    assert js3_raw.keys(js3_bucket) == [key]
    listing = f"/{js3_bucket}?list-type=2&prefix={quote('dir/ü', safe='')}&encoding-type=url"
    assert request(js3_fault_proxy.port, "GET", listing)[0] == 200

    put, lst = js3_fault_proxy.records()
    assert (put.bucket, put.key, put.query, put.bytes_in) == (js3_bucket, key, {}, 1)
    assert (lst.bucket, lst.key) == (js3_bucket, "")
    assert lst.query == {"list-type": "2", "prefix": "dir/ü", "encoding-type": "url"}
    assert start <= put.started <= lst.started <= time.time()
    assert 0 <= put.duration < 10 and put.connection_id != lst.connection_id


def test_log_and_rules_never_see_secrets(js3_fault_proxy: FaultProxy, js3_bucket: str) -> None:
    seen: list[RequestInfo] = []

    def rule(info: RequestInfo) -> Fault | None:
        seen.append(info)
        return None

    js3_fault_proxy.configure(rule=rule)
    secret = {
        "Authorization": "AWS4-HMAC-SHA256 Credential=AKIDJS3/x, Signature=js3-secret-signature",
        "X-Amz-Security-Token": "js3-secret-token",
    }
    request(js3_fault_proxy.port, "PUT", f"/{js3_bucket}/k", b"body-js3-secret", secret)
    dump = repr(js3_fault_proxy.records()) + repr(seen)
    assert "js3-secret" not in dump
    assert seen[0].headers["Authorization"] == "<redacted>"
    assert seen[0].headers["X-Amz-Security-Token"] == "<redacted>"
    assert seen[0].headers["Content-Type"] == "application/octet-stream"
    # The access key id is an identifier, not a secret: rules and the log get it.
    assert seen[0].access_key_id == "AKIDJS3"
    assert js3_fault_proxy.records()[0].access_key_id == "AKIDJS3"


# -- faults --------------------------------------------------------------------


def test_latency_is_added(js3_fault_proxy: FaultProxy, js3_bucket: str) -> None:
    js3_fault_proxy.configure(latency=0.3)
    conn = http.client.HTTPConnection("127.0.0.1", js3_fault_proxy.port, timeout=30)
    for _ in range(3):
        t0 = time.monotonic()
        assert request(0, "GET", f"/{js3_bucket}?list-type=2", conn=conn)[0] == 200
        assert 0.3 <= time.monotonic() - t0 < 3.0
    conn.close()
    assert all(r.duration >= 0.3 for r in js3_fault_proxy.records())


@pytest.mark.parametrize(
    ("option", "status", "code"),
    [("error_503_rate", 503, "SlowDown"), ("error_500_rate", 500, "InternalError")],
)
def test_error_rates_are_seeded(
    js3_fault_proxy: FaultProxy, js3_bucket: str, option: str, status: int, code: str
) -> None:
    def run() -> list[int]:
        js3_fault_proxy.reset(seed=1234)
        rates: dict[str, Any] = {option: 0.3}
        js3_fault_proxy.configure(**rates)
        conn = http.client.HTTPConnection("127.0.0.1", js3_fault_proxy.port, timeout=30)
        statuses = []
        for _ in range(150):
            st, headers, body = request(0, "GET", f"/{js3_bucket}/nope", conn=conn)
            statuses.append(st)
            if st == status:
                assert headers["Content-Type"] == "application/xml"
                assert error_code(body) == code and b"<RequestId>" in body
            else:
                assert (st, error_code(body)) == (404, "NoSuchKey")
        conn.close()
        return statuses

    first = run()
    share = first.count(status) / len(first)
    assert 0.2 <= share <= 0.4
    assert js3_fault_proxy.count(fault=code, status=status) == first.count(status)
    assert js3_fault_proxy.count(faulted=False) == first.count(404)
    assert run() == first  # same seed, same faults


def test_head_fault_has_no_body_and_keeps_the_connection(
    js3_fault_proxy: FaultProxy, js3_bucket: str
) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", js3_fault_proxy.port, timeout=30)
    js3_fault_proxy.configure(error_503_rate=1.0)
    status, headers, body = request(0, "HEAD", f"/{js3_bucket}/k", conn=conn)
    assert (status, body) == (503, b"") and headers["Content-Type"] == "application/xml"
    js3_fault_proxy.configure()
    assert request(0, "HEAD", f"/{js3_bucket}/k", conn=conn)[0] == 404
    conn.close()
    assert js3_fault_proxy.connections_opened == 1


def test_drop_before_forward(js3_fault_proxy: FaultProxy, js3_bucket: str, js3_raw: RawS3) -> None:
    js3_fault_proxy.configure(drop_rate=1.0)
    with pytest.raises(ConnectionError):
        request(js3_fault_proxy.port, "PUT", f"/{js3_bucket}/dropped", b"data")
    assert not js3_raw.exists(js3_bucket, "dropped")
    (rec,) = js3_fault_proxy.records()
    assert (rec.method, rec.key, rec.status, rec.fault) == ("PUT", "dropped", None, "drop")


def test_drop_after_forward_leaves_object_written(
    js3_fault_proxy: FaultProxy, js3_bucket: str, js3_raw: RawS3
) -> None:
    js3_fault_proxy.configure(drop_after_forward_rate=1.0)
    with pytest.raises(ConnectionError):
        request(js3_fault_proxy.port, "PUT", f"/{js3_bucket}/applied", b"it happened")
    assert js3_raw.get(js3_bucket, "applied") == b"it happened"
    (rec,) = js3_fault_proxy.records()
    assert (rec.status, rec.fault, rec.bytes_in, rec.bytes_out) == (
        None,
        "drop_after_forward",
        11,
        0,
    )


def test_rule_fails_every_put_to_one_key(
    js3_fault_proxy: FaultProxy, js3_bucket: str, js3_raw: RawS3
) -> None:
    js3_fault_proxy.configure(
        rule=lambda i: Fault.slow_down() if (i.method, i.key) == ("PUT", "flaky.txt") else None
    )
    port = js3_fault_proxy.port
    for _ in range(3):
        status, _, body = request(port, "PUT", f"/{js3_bucket}/flaky.txt", b"x")
        assert (status, error_code(body)) == (503, "SlowDown")
    assert request(port, "PUT", f"/{js3_bucket}/fine.txt", b"x")[0] == 200
    assert js3_raw.keys(js3_bucket) == ["fine.txt"]
    assert js3_fault_proxy.count("PUT", fault="SlowDown", key="flaky.txt") == 3


def test_rule_permanent_access_denied_and_drops(
    js3_fault_proxy: FaultProxy, js3_bucket: str
) -> None:
    def rule(info: RequestInfo) -> Fault | None:
        if info.key == "drop-me":
            return Fault.drop()
        if info.key == "broken":
            raise RuntimeError("bad rule")
        return Fault.access_denied() if info.bucket == js3_bucket else None

    js3_fault_proxy.configure(rule=rule)
    port = js3_fault_proxy.port
    for method in ("GET", "PUT", "DELETE"):
        status, headers, body = request(port, method, f"/{js3_bucket}/secret", b"")
        assert (status, error_code(body)) == (403, "AccessDenied")
        assert headers["x-amz-request-id"]
    assert request(port, "HEAD", f"/{js3_bucket}/secret")[::2] == (403, b"")
    with pytest.raises(ConnectionError):
        request(port, "GET", f"/{js3_bucket}/drop-me")
    status, _, body = request(port, "GET", f"/{js3_bucket}/broken")
    assert (status, error_code(body)) == (500, "ProxyRuleError")
    assert js3_fault_proxy.count(fault="AccessDenied") == 4
    assert js3_fault_proxy.count(fault="drop") == 1


class _DenyDeletesOf:
    """A hook that reads DeleteObjects bodies and refuses any batch naming ``key``."""

    def __init__(self, key: str) -> None:
        self.key = key
        self.seen: list[tuple[str, bytes | None]] = []

    def wants_body(self, info: RequestInfo) -> bool:
        return info.method == "POST" and "delete" in info.query

    def decide(self, info: RequestInfo) -> Fault | None:
        self.seen.append((info.method, info.body))
        if info.body is not None and f"<Key>{self.key}</Key>".encode() in info.body:
            return Fault.access_denied("hook said no")
        return None


def _delete_body(*keys: str) -> bytes:
    objects = "".join(f"<Object><Key>{k}</Key></Object>" for k in keys)
    return f"<Delete><Quiet>true</Quiet>{objects}</Delete>".encode()


def test_a_hook_sees_the_body_it_asks_for_and_the_body_is_still_forwarded(
    js3_fault_proxy: FaultProxy, js3_bucket: str, js3_raw: RawS3
) -> None:
    port = js3_fault_proxy.port
    for key in ("a", "b", "guarded"):
        assert request(port, "PUT", f"/{js3_bucket}/{key}", b"x")[0] == 200
    hook = _DenyDeletesOf("guarded")
    js3_fault_proxy.add_hook(hook)
    md5 = {"Content-Type": "application/xml"}
    body = _delete_body("a", "guarded")
    headers = {**md5, "Content-MD5": base64.b64encode(hashlib.md5(body).digest()).decode()}
    status, _, answer = request(port, "POST", f"/{js3_bucket}?delete", body, headers)
    assert (status, error_code(answer)) == (403, "AccessDenied")
    assert js3_raw.keys(js3_bucket) == ["a", "b", "guarded"]  # nothing was forwarded
    body = _delete_body("a")
    headers = {**md5, "Content-MD5": base64.b64encode(hashlib.md5(body).digest()).decode()}
    assert request(port, "POST", f"/{js3_bucket}?delete", body, headers)[0] == 200
    assert js3_raw.keys(js3_bucket) == ["b", "guarded"]  # the held body reached S3 whole
    # A request the hook does not want the body of is decided on its headers.
    assert request(port, "GET", f"/{js3_bucket}/b")[0] == 200
    assert [body is None for _, body in hook.seen] == [False, False, True]
    js3_fault_proxy.remove_hook(hook)
    body = _delete_body("guarded")
    headers = {**md5, "Content-MD5": base64.b64encode(hashlib.md5(body).digest()).decode()}
    assert request(port, "POST", f"/{js3_bucket}?delete", body, headers)[0] == 200
    assert js3_raw.keys(js3_bucket) == ["b"]


def test_a_hook_is_asked_before_the_rule(js3_fault_proxy: FaultProxy, js3_bucket: str) -> None:
    class Refuse:
        def wants_body(self, info: RequestInfo) -> bool:
            return False

        def decide(self, info: RequestInfo) -> Fault | None:
            return Fault.access_denied() if info.key == "x" else None

    js3_fault_proxy.configure(rule=lambda i: Fault.slow_down())
    js3_fault_proxy.add_hook(Refuse())
    port = js3_fault_proxy.port
    assert request(port, "GET", f"/{js3_bucket}/x")[0] == 403
    assert request(port, "GET", f"/{js3_bucket}/y")[0] == 503


def test_hostile_answers(js3_fault_proxy: FaultProxy, js3_bucket: str) -> None:
    """Range ignored (forwarded without it: the whole object), a body of a
    given size or endless, a repeating continuation token, a DTD."""
    port = js3_fault_proxy.port
    assert request(port, "PUT", f"/{js3_bucket}/obj", b"0123456789")[0] == 200
    js3_fault_proxy.configure(rule=lambda i: Fault.ignore_range() if i.key == "obj" else None)
    status, _, body = request(port, "GET", f"/{js3_bucket}/obj", headers={"Range": "bytes=2-3"})
    assert (status, body) == (200, b"0123456789")
    js3_fault_proxy.configure(rule=lambda i: Fault.oversized(200_000))
    status, headers, body = request(port, "GET", f"/{js3_bucket}?list-type=2")
    assert (status, headers["Content-Length"], len(body)) == (200, "200000", 200_000)
    js3_fault_proxy.configure(rule=lambda i: Fault.oversized(70_000, content_length=False))
    status, headers, body = request(port, "GET", f"/{js3_bucket}?list-type=2")
    assert (status, headers["Transfer-Encoding"], len(body)) == (200, "chunked", 70_000)
    js3_fault_proxy.configure(rule=lambda i: Fault.repeat_token())
    body = request(port, "GET", f"/{js3_bucket}?list-type=2")[2]
    assert b"<NextContinuationToken>the-same-token<" in body and b"true</IsTruncated>" in body
    js3_fault_proxy.configure(rule=lambda i: Fault.doctype())
    body = request(port, "GET", f"/{js3_bucket}?list-type=2")[2]
    assert body.count(b"<!ENTITY") == 9 and b"<!DOCTYPE" in body
    labels = [r.fault for r in js3_fault_proxy.records()][1:]
    assert labels == ["ignore_range", "oversized", "oversized", "repeat_token", "doctype"]


def test_an_endless_body_stops_when_the_client_hangs_up(
    js3_fault_proxy: FaultProxy, js3_bucket: str
) -> None:
    js3_fault_proxy.configure(rule=lambda i: Fault.oversized(0, content_length=False))
    with socket.create_connection(("127.0.0.1", js3_fault_proxy.port), timeout=10) as sock:
        sock.sendall(f"GET /{js3_bucket}?list-type=2 HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        received = 0
        while received < 1_000_000:
            received += len(sock.recv(65536))
    # The proxy noticed (its write failed) and serves the next request at once.
    js3_fault_proxy.configure()
    assert request(js3_fault_proxy.port, "GET", f"/{js3_bucket}?list-type=2")[0] == 200


def test_configure_validates() -> None:
    proxy = FaultProxy("http://127.0.0.1:9")
    with pytest.raises(ValueError):
        proxy.configure(latency=-1)
    with pytest.raises(ValueError):
        proxy.configure(error_503_rate=0.6, drop_rate=0.6)
    with pytest.raises(ValueError):
        FaultProxy("https://example.com")


# -- connections, streaming, other loops and processes ---------------------------


def test_connections_opened(js3_fault_proxy: FaultProxy, js3_bucket: str) -> None:
    port, path = js3_fault_proxy.port, f"/{js3_bucket}?list-type=2"
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    for _ in range(5):
        assert request(port, "GET", path, conn=conn)[0] == 200
    conn.close()
    assert js3_fault_proxy.connections_opened == 1
    assert len({r.connection_id for r in js3_fault_proxy.records()}) == 1

    js3_fault_proxy.reset()
    for _ in range(5):
        assert request(port, "GET", path)[0] == 200
    assert js3_fault_proxy.connections_opened == 5
    assert len({r.connection_id for r in js3_fault_proxy.records()}) == 5


def test_streams_64mib_byte_exact_without_buffering(
    js3_fault_proxy: FaultProxy, js3_bucket: str
) -> None:
    block, blocks = os.urandom(1 << 20), 64
    expected = hashlib.sha256()
    for i in range(blocks):
        expected.update(bytes([i]) + block[1:])

    def body() -> Iterator[bytes]:
        for i in range(blocks):
            yield bytes([i]) + block[1:]

    conn = http.client.HTTPConnection("127.0.0.1", js3_fault_proxy.port, timeout=120)
    headers = {"Content-Type": "application/octet-stream", "Content-Length": str(blocks << 20)}
    # tracemalloc sees every thread of this process, the proxy's included (moto
    # is another process). The client streams 1 MiB at a time, so a proxy that
    # held the body would show a peak of >= 64 MiB.
    tracemalloc.start()
    try:
        conn.request(
            "PUT", f"/{js3_bucket}/big", body=body(), headers={**headers, **DUMMY_AUTH_HEADERS}
        )
        resp = conn.getresponse()
        assert (resp.status, resp.read()) == (200, b"")
        conn.request("GET", f"/{js3_bucket}/big", headers=dict(DUMMY_AUTH_HEADERS))
        resp = conn.getresponse()
        assert resp.status == 200
        got, size = hashlib.sha256(), 0
        while chunk := resp.read(1 << 20):
            got.update(chunk)
            size += len(chunk)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
        conn.close()
    assert size == blocks << 20 and got.hexdigest() == expected.hexdigest()
    assert peak < 24 << 20, f"peak traced memory {peak / 2**20:.1f} MiB"
    put, get = js3_fault_proxy.records()
    assert put.bytes_in == get.bytes_out == blocks << 20


async def test_serves_an_async_client_on_another_loop(
    js3_fault_proxy: FaultProxy, js3_bucket: str, js3_raw: RawS3
) -> None:
    client = AsyncHTTPClient(force_instance=True)
    url = f"{js3_fault_proxy.endpoint_url}/{js3_bucket}/async.txt"
    headers = {"Content-Type": "text/plain", **DUMMY_AUTH_HEADERS}
    try:
        resp = await client.fetch(url, method="PUT", body=b"from a coroutine", headers=headers)
        assert resp.code == 200
        resp = await client.fetch(url, headers=headers)
        assert resp.body == b"from a coroutine"
        js3_fault_proxy.configure(error_503_rate=1.0)
        with pytest.raises(HTTPClientError) as err:
            await client.fetch(url, headers=headers)
        assert err.value.code == 503
    finally:
        client.close()
    assert js3_raw.get(js3_bucket, "async.txt") == b"from a coroutine"


def test_serves_another_process(
    js3_fault_proxy: FaultProxy, js3_bucket: str, js3_raw: RawS3
) -> None:
    js3_raw.put(js3_bucket, "shared.txt", b"seen by a subprocess")
    script = (
        "import http.client, sys\n"
        "c = http.client.HTTPConnection('127.0.0.1', int(sys.argv[1]), timeout=30)\n"
        "c.request('GET', sys.argv[2], headers={'Authorization': sys.argv[3]})\n"
        "r = c.getresponse(); sys.stdout.write(str(r.status) + ' ' + r.read().decode())\n"
    )
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            script,
            str(js3_fault_proxy.port),
            f"/{js3_bucket}/shared.txt",
            DUMMY_AUTH_HEADERS["Authorization"],
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert out.stdout == "200 seen by a subprocess"
    assert js3_fault_proxy.count("GET", key="shared.txt", status=200) == 1


def test_boto3_multipart_and_expect_100_continue_through_the_proxy(
    js3_fault_proxy: FaultProxy, js3_bucket: str, js3_raw: RawS3
) -> None:
    import boto3
    from boto3.s3.transfer import TransferConfig
    from botocore.config import Config

    s3 = boto3.client(
        "s3",
        endpoint_url=js3_fault_proxy.endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(s3={"addressing_style": "path"}, proxies={}),
    )
    data = os.urandom(11 << 20)
    # Three concurrent UploadPart PUTs (boto3 sends them with Expect: 100-continue).
    s3.upload_fileobj(
        io.BytesIO(data),
        js3_bucket,
        "mp/big.bin",
        Config=TransferConfig(multipart_threshold=5 << 20, multipart_chunksize=5 << 20),
    )
    assert js3_raw.get(js3_bucket, "mp/big.bin") == data
    parts = [r for r in js3_fault_proxy.records() if "partNumber" in r.query]
    assert sorted(int(r.query["partNumber"]) for r in parts) == [1, 2, 3]
    assert sum(r.bytes_in for r in parts) == len(data)
    assert js3_fault_proxy.count("POST", status=200) == 2  # create + complete


def test_client_disconnect_mid_upload(
    js3_fault_proxy: FaultProxy, js3_bucket: str, js3_raw: RawS3, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    with socket.create_connection(("127.0.0.1", js3_fault_proxy.port), timeout=10) as sock:
        sock.sendall(
            f"PUT /{js3_bucket}/partial HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            "Content-Type: application/octet-stream\r\nContent-Length: 1048576\r\n\r\n".encode()
            + b"x" * 100_000
        )
    deadline = time.monotonic() + 5
    while not js3_fault_proxy.records() and time.monotonic() < deadline:
        time.sleep(0.02)
    (rec,) = js3_fault_proxy.records()
    assert (rec.fault, rec.status, rec.key) == ("client_closed", None, "partial")
    assert not js3_raw.exists(js3_bucket, "partial")
    # The proxy still serves, and nothing was logged as an error.
    assert request(js3_fault_proxy.port, "GET", f"/{js3_bucket}?list-type=2")[0] == 200
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []


def test_unreachable_upstream_gives_502_and_stop_is_idempotent() -> None:
    proxy = FaultProxy(f"http://127.0.0.1:{free_port()}").start()
    try:
        status, _, body = request(proxy.port, "GET", "/b/k")
        assert (status, error_code(body)) == (502, "BadGateway")
        assert proxy.count(fault="upstream_error", status=502) == 1
    finally:
        proxy.stop()
    proxy.stop()
    with pytest.raises(ConnectionRefusedError):
        request(proxy.port, "GET", "/b/k")
