"""MotoServer: a real moto subprocess that starts, answers, and stops by PID."""

from __future__ import annotations

import os
import re
import textwrap
from pathlib import Path

import pytest

from jupyters3_testing.s3server import DUMMY_AUTH_HEADERS, MotoServer, MotoServerError, free_port


def _running(server: MotoServer) -> bool:
    return server.running  # a call, so mypy does not narrow the property


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_lifecycle_env_passthrough_bucket_and_reset() -> None:
    server = MotoServer({"MOTO_S3_DEFAULT_MAX_KEYS": "2"})
    with server:
        pid = server.pid
        assert _running(server) and _pid_alive(pid)
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", server.endpoint_url)
        assert server.endpoint_url.endswith(f":{server.port}")
        assert "Running on" in server.log_tail()

        server.create_bucket("js3-lifecycle")
        for name in ("a", "b", "c"):
            status, _ = server.request("PUT", f"/js3-lifecycle/{name}", b"x", auth=True)
            assert status == 200
        # MOTO_S3_DEFAULT_MAX_KEYS reached the subprocess: one page holds 2 keys.
        status, body = server.request(
            "GET", "/js3-lifecycle?list-type=2", headers={"Content-Type": "application/xml"}
        )
        assert status == 200
        assert body.count(b"<Key>") == 2
        assert b"<IsTruncated>true</IsTruncated>" in body

        server.create_bucket("js3-lifecycle-eu", region="eu-west-1")
        status, body = server.request("GET", "/js3-lifecycle-eu?location", auth=True)
        assert status == 200 and b"eu-west-1" in body

        server.reset()
        status, body = server.request("GET", "/js3-lifecycle?list-type=2")
        assert status == 404 and b"NoSuchBucket" in body

    assert not _running(server)
    assert not _pid_alive(pid)
    server.stop()  # idempotent
    with pytest.raises(MotoServerError):
        _ = server.pid


def test_create_bucket_error_is_reported(js3_moto_server: MotoServer) -> None:
    with pytest.raises(MotoServerError, match="InvalidBucketName"):
        js3_moto_server.create_bucket("x")


def test_startup_failure_shows_log_tail(tmp_path: Path) -> None:
    # A fake `moto` package earlier on sys.path makes `python -m moto.server` crash.
    fake = tmp_path / "moto"
    fake.mkdir()
    (fake / "__init__.py").write_text("")
    (fake / "server.py").write_text(
        textwrap.dedent(
            """
            import sys
            print("js3-boom: cannot start", flush=True)
            sys.exit(3)
            """
        )
    )
    server = MotoServer({"PYTHONPATH": str(tmp_path)}, startup_timeout=30)
    with pytest.raises(MotoServerError, match=r"(?s)exited with code 3.*js3-boom"):
        server.start()
    assert not server.running


def test_dummy_auth_headers_are_needed_for_object_reads(js3_moto_server: MotoServer) -> None:
    js3_moto_server.create_bucket("js3-anon-read")
    assert js3_moto_server.request("PUT", "/js3-anon-read/k", b"data")[0] == 200
    # moto refuses anonymous reads, but takes any Authorization header.
    assert js3_moto_server.request("GET", "/js3-anon-read/k")[0] == 403
    assert js3_moto_server.request("GET", "/js3-anon-read/k", headers=DUMMY_AUTH_HEADERS) == (
        200,
        b"data",
    )


def test_free_port_is_bindable() -> None:
    import socket

    port = free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


def test_moto_atomic_serialises_the_handlers_it_wraps() -> None:
    """While one wrapped handler runs, another waits: a check and its write
    never have a third request's write between them."""
    import threading

    from jupyters3_testing.moto_atomic import make_atomic

    entered = threading.Event()
    release = threading.Event()
    order: list[str] = []

    class Handlers:
        def _key_response_put(self) -> None:
            order.append("put starts")
            entered.set()
            release.wait(10)
            order.append("put ends")

        def _bucket_response_delete_keys(self) -> None:
            order.append("delete")

        def _bucket_response_get(self) -> None:  # not wrapped: reads run alongside
            order.append("get")

    make_atomic(Handlers, ("_key_response_put", "_bucket_response_delete_keys"))
    make_atomic(Handlers, ("_key_response_put",))  # again: wraps nothing twice
    handlers = Handlers()
    writer = threading.Thread(target=handlers._key_response_put)
    writer.start()
    assert entered.wait(10)
    deleter = threading.Thread(target=handlers._bucket_response_delete_keys)
    deleter.start()
    handlers._bucket_response_get()
    deleter.join(0.2)
    assert deleter.is_alive() and order == ["put starts", "get"]
    release.set()
    writer.join(10)
    deleter.join(10)
    assert order == ["put starts", "get", "put ends", "delete"]


def test_the_moto_server_runs_with_atomic_writes(js3_moto_server: MotoServer) -> None:
    """MotoServer starts moto through jupyters3_testing.moto_atomic."""
    pid = js3_moto_server.pid
    assert pid is not None
    with open(f"/proc/{pid}/cmdline", "rb") as fh:
        argv = fh.read().split(b"\0")
    assert b"jupyters3_testing.moto_atomic" in argv
