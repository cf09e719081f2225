"""Crash safety: the Jupyter server is killed (SIGKILL) in the middle of a save,
a chunked upload and a folder rename. After a restart every file is its old or
its new version, whole; the multipart upload the dead server left is aborted at
start; a repeated rename finishes the interrupted one.

Each kill is triggered by the fault proxy at the exact S3 request that marks
"in the middle", so the tests are deterministic.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from jupyters3_testing import FaultProxy, JupyterServer, MotoServer, RawS3
from jupyters3_testing.faults import Fault, RequestInfo
from jupyters3_testing.jupyter_fixtures import JupyterFactory, jupyters3_config
from jupyters3_testing.rest import ContentsClient

MiB = 1024 * 1024


@pytest.fixture
def crashable(
    js3_jupyter_factory: JupyterFactory,
    js3_moto_server: MotoServer,
    js3_fault_proxy: FaultProxy,
    js3_region: str,
) -> Iterator[tuple[JupyterServer, str, RawS3]]:
    bucket = f"crash-{uuid.uuid4().hex[:12]}"
    js3_moto_server.create_bucket(bucket, js3_region)
    config = jupyters3_config(
        bucket=bucket, endpoint_url=js3_fault_proxy.endpoint_url, region=js3_region
    )
    config["JupyterS3"].update(
        {
            "multipart_threshold": 6 * MiB,
            "multipart_part_size": 5 * MiB,
            "max_concurrency": 2,  # a folder rename takes long enough to be cut
            "abandoned_upload_age": 0,  # a restart aborts every upload left behind
        }
    )
    server = js3_jupyter_factory(config=config)
    yield server, bucket, RawS3(js3_moto_server.endpoint_url, js3_region)


def _kill_on(server: JupyterServer, match: Any) -> tuple[Any, threading.Event]:
    """A proxy rule that SIGKILLs ``server`` when a request matches, and drops
    that request (the dead server would never have seen its answer)."""
    killed = threading.Event()

    def rule(req: RequestInfo) -> Fault | None:
        if not killed.is_set() and match(req):
            killed.set()
            server.kill()
            return Fault.drop()
        return None

    return rule, killed


def _api(server: JupyterServer) -> ContentsClient:
    return ContentsClient(server.url, server.token)


def test_kill_during_a_save_leaves_the_old_version_whole(
    crashable: tuple[JupyterServer, str, RawS3], js3_fault_proxy: FaultProxy
) -> None:
    server, bucket, raw = crashable
    old = "old line\n" * 100_000  # ~0.9 MB
    _api(server).save_text("doc.txt", old).expect(201)
    rule, killed = _kill_on(server, lambda r: r.method == "PUT" and r.key == "doc.txt")
    js3_fault_proxy.configure(rule=rule)

    with pytest.raises(Exception) as info:
        _api(server).save_text("doc.txt", "new line\n" * 100_000)

    assert killed.is_set(), (repr(info.value), js3_fault_proxy.records()[-3:])
    js3_fault_proxy.configure()
    server.restart()
    assert raw.get(bucket, "doc.txt").decode() == old
    assert _api(server).get("doc.txt").expect(200).json["content"] == old


def test_kill_during_a_chunked_upload_keeps_the_old_file_and_aborts_the_parts(
    crashable: tuple[JupyterServer, str, RawS3], js3_fault_proxy: FaultProxy
) -> None:
    server, bucket, raw = crashable
    _api(server).save_text("big.bin", "the old small version").expect(201)
    data = bytes(range(256)) * (12 * MiB // 256)
    rule, killed = _kill_on(
        server, lambda r: r.method == "PUT" and r.query.get("partNumber") == "2"
    )
    js3_fault_proxy.configure(rule=rule)

    with pytest.raises(Exception):  # noqa: B017 - the connection dies with the server
        _api(server).upload_chunked("big.bin", data, MiB)

    assert killed.is_set()
    assert len(raw.multipart_uploads(bucket)) == 1  # part 1 is in S3, orphaned
    assert raw.get(bucket, "big.bin") == b"the old small version"
    js3_fault_proxy.configure()
    server.restart()
    _api(server).get("").expect(200)
    # The cleanup runs in the background as the loop starts (retrying, under chaos).
    deadline = time.monotonic() + 20
    while raw.multipart_uploads(bucket) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert raw.multipart_uploads(bucket) == []
    assert raw.get(bucket, "big.bin") == b"the old small version"
    # And the upload can simply be done again.
    _api(server).upload_chunked("big.bin", data, MiB)[-1].expect(200)
    assert raw.get(bucket, "big.bin") == data


def _rename_killed_then_repeated(
    server: JupyterServer,
    proxy: FaultProxy,
    raw: RawS3,
    buckets: tuple[str, str],
    target: str,
    target_prefix: str,
) -> None:
    """Rename the folder ``src`` (24 files, in ``buckets[0]``) to API path
    ``target`` (keys under ``target_prefix`` in ``buckets[1]``); the server is
    killed at its 10th copy. After a restart every source is whole and what was
    copied is exact; repeating the rename finishes it."""
    source_bucket, target_bucket = buckets
    files = {f"src/f{i:02d}.txt": f"file {i} ".encode() * 50 for i in range(24)}
    for key, body in files.items():
        raw.put(source_bucket, key, body)
    copies = {"n": 0}

    def tenth_copy(req: RequestInfo) -> bool:
        if req.method == "PUT" and req.key.startswith(target_prefix + "f"):
            copies["n"] += 1
        return copies["n"] >= 10

    rule, killed = _kill_on(server, tenth_copy)
    proxy.configure(rule=rule)
    with pytest.raises(Exception):  # noqa: B017 - the connection dies with the server
        _api(server).rename("src", target)
    assert killed.is_set()
    proxy.configure()
    server.restart()
    # Every file is whole at its old place (the sources go only after all copies).
    for key, body in files.items():
        assert raw.get(source_bucket, key) == body
    copied = [k for k in raw.keys(target_bucket, target_prefix) if k != target_prefix]
    assert 0 < len(copied) < len(files)
    for key in copied:
        assert raw.get(target_bucket, key) == files["src/" + key[len(target_prefix) :]]

    _api(server).rename("src", target).expect(200)

    assert raw.keys(source_bucket, "src/") == []
    for key, body in files.items():
        assert raw.get(target_bucket, target_prefix + key[len("src/") :]) == body


def test_kill_during_a_folder_rename_loses_nothing_and_repeating_finishes(
    crashable: tuple[JupyterServer, str, RawS3], js3_fault_proxy: FaultProxy
) -> None:
    server, bucket, raw = crashable
    _rename_killed_then_repeated(server, js3_fault_proxy, raw, (bucket, bucket), "dst", "dst/")


def test_kill_during_a_rename_across_mounts_loses_nothing_and_repeating_finishes(
    js3_jupyter_factory: JupyterFactory,
    js3_moto_server: MotoServer,
    js3_fault_proxy: FaultProxy,
    js3_region: str,
) -> None:
    """The same, from the main bucket into a mount (another bucket, under a prefix)."""
    main, team = f"crash-{uuid.uuid4().hex[:12]}", f"crash-team-{uuid.uuid4().hex[:8]}"
    js3_moto_server.create_bucket(main, js3_region)
    js3_moto_server.create_bucket(team, js3_region)
    config = jupyters3_config(
        bucket=main, endpoint_url=js3_fault_proxy.endpoint_url, region=js3_region
    )
    config["JupyterS3"].update({"max_concurrency": 2, "mounts": {"team": f"s3://{team}/p/"}})
    server = js3_jupyter_factory(config=config)
    raw = RawS3(js3_moto_server.endpoint_url, js3_region)
    _rename_killed_then_repeated(server, js3_fault_proxy, raw, (main, team), "team/dst", "p/dst/")
