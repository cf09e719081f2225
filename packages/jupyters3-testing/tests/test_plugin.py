"""The fixtures themselves, and the README's example run as a downstream project would."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from jupyters3_testing.raw import RawS3
from jupyters3_testing.s3server import MotoServer

README = Path(__file__).resolve().parents[1] / "README.md"
_seen_buckets: set[str] = set()


def test_region(js3_region: str) -> None:
    assert js3_region == "us-east-1"


def test_bucket_name_is_valid_and_unique(js3_bucket_name: str) -> None:
    assert re.fullmatch(r"[a-z0-9][a-z0-9-]{1,61}[a-z0-9]", js3_bucket_name)
    assert js3_bucket_name not in _seen_buckets
    _seen_buckets.add(js3_bucket_name)


@pytest.mark.parametrize("run", [1, 2])
def test_bucket_per_test_is_isolated(js3_bucket: str, js3_raw: RawS3, run: int) -> None:
    assert js3_bucket not in _seen_buckets
    _seen_buckets.add(js3_bucket)
    assert js3_raw.keys(js3_bucket) == []
    js3_raw.put(js3_bucket, f"only-run-{run}.txt", b"mine")
    assert js3_raw.keys(js3_bucket) == [f"only-run-{run}.txt"]


def test_moto_server_fixture_is_running(js3_moto_server: MotoServer) -> None:
    assert js3_moto_server.running
    assert js3_moto_server.endpoint_url.startswith("http://127.0.0.1:")


def test_raw_inspector(js3_bucket: str, js3_raw: RawS3, js3_moto_server: MotoServer) -> None:
    for i in range(5):
        js3_raw.put(js3_bucket, f"d/k{i}.txt", f"v{i}".encode(), content_type="text/plain")
    js3_raw.put(js3_bucket, "other.bin", b"\x00\x01")
    expected = [f"d/k{i}.txt" for i in range(5)]
    assert js3_raw.keys(js3_bucket, "d/", page_size=2) == expected  # 3 pages
    assert js3_raw.keys(js3_bucket) == [*expected, "other.bin"]
    assert js3_raw.get(js3_bucket, "d/k3.txt") == b"v3"
    head = js3_raw.head(js3_bucket, "d/k3.txt")
    assert head["ContentLength"] == 2 and head["ContentType"] == "text/plain"
    assert js3_raw.exists(js3_bucket, "other.bin")
    js3_raw.delete(js3_bucket, "other.bin")
    assert not js3_raw.exists(js3_bucket, "other.bin")

    upload = js3_raw.client.create_multipart_upload(Bucket=js3_bucket, Key="big.bin")
    uploads = js3_raw.multipart_uploads(js3_bucket)
    assert [(u["Key"], u["UploadId"]) for u in uploads] == [("big.bin", upload["UploadId"])]

    doomed = f"{js3_bucket}-doomed"
    js3_moto_server.create_bucket(doomed)
    js3_raw.put(doomed, "a", b"a")
    js3_raw.client.create_multipart_upload(Bucket=doomed, Key="b")
    js3_raw.delete_bucket(doomed)
    assert doomed not in [b["Name"] for b in js3_raw.client.list_buckets()["Buckets"]]


def _readme_example() -> str:
    text = README.read_text()
    match = re.search(
        r"<!-- example:start -->\s*```python\n(.*?)```\s*<!-- example:end -->", text, re.S
    )
    assert match, "README.md lost its example block"
    return match.group(1)


def test_readme_example_runs_downstream(tmp_path: Path) -> None:
    """The README example passes in a fresh pytest process that only has the plugin."""
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "test_downstream.py").write_text(_readme_example())
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_downstream.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert re.search(r"\b1 passed\b", proc.stdout), proc.stdout
