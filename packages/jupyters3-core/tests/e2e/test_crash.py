"""Crash safety: the Jupyter server is killed (SIGKILL) in the middle of a save
and of a chunked upload. After a restart every file is its old or its new
version, whole; the multipart upload the dead server left is aborted at start.
The kills in the middle of a rename (a repeated rename finishes the interrupted
one) are in test_renames.py; the server to kill is ``crashable``
(e2e/conftest.py).

Each kill is triggered by the fault proxy at the exact S3 request that marks
"in the middle", so the tests are deterministic.
"""

from __future__ import annotations

import http.client
import time

import pytest
from server_setups import MiB, contents_api, kill_on

from jupyters3_testing import FaultProxy, JupyterServer, RawS3


def test_kill_during_a_save_leaves_the_old_version_whole(
    crashable: tuple[JupyterServer, str, RawS3], js3_fault_proxy: FaultProxy
) -> None:
    server, bucket, raw = crashable
    old = "old line\n" * 100_000  # ~0.9 MB
    contents_api(server).save_text("doc.txt", old).expect(201)
    rule, killed = kill_on(server, lambda r: r.method == "PUT" and r.key == "doc.txt")
    js3_fault_proxy.configure(rule=rule)

    with pytest.raises(Exception) as info:
        contents_api(server).save_text("doc.txt", "new line\n" * 100_000)

    assert killed.is_set(), (repr(info.value), js3_fault_proxy.records()[-3:])
    js3_fault_proxy.configure()
    server.restart()
    assert raw.get(bucket, "doc.txt").decode() == old
    assert contents_api(server).get("doc.txt").expect(200).json["content"] == old


def test_kill_during_a_chunked_upload_keeps_the_old_file_and_aborts_the_parts(
    crashable: tuple[JupyterServer, str, RawS3], js3_fault_proxy: FaultProxy
) -> None:
    server, bucket, raw = crashable
    contents_api(server).save_text("big.bin", "the old small version").expect(201)
    data = bytes(range(256)) * (12 * MiB // 256)
    rule, killed = kill_on(server, lambda r: r.method == "PUT" and r.query.get("partNumber") == "2")
    js3_fault_proxy.configure(rule=rule)

    with pytest.raises((OSError, http.client.HTTPException)):  # the connection dies with the server
        contents_api(server).upload_chunked("big.bin", data, MiB)

    assert killed.is_set()
    assert len(raw.multipart_uploads(bucket)) == 1  # part 1 is in S3, orphaned
    assert raw.get(bucket, "big.bin") == b"the old small version"
    js3_fault_proxy.configure()
    server.restart()
    contents_api(server).get("").expect(200)
    # The cleanup runs in the background as the loop starts (retrying, under chaos).
    deadline = time.monotonic() + 20
    while raw.multipart_uploads(bucket) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert raw.multipart_uploads(bucket) == []
    assert raw.get(bucket, "big.bin") == b"the old small version"
    # And the upload can simply be done again.
    contents_api(server).upload_chunked("big.bin", data, MiB)[-1].expect(200)
    assert raw.get(bucket, "big.bin") == data
