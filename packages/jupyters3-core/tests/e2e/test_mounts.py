"""Mounts: several buckets and prefixes as top-level folders of one JupyterS3 (issue 17).

One live Jupyter server on moto with three buckets: the main one, a writable
``team`` mount (another bucket, under a prefix) and a read-only ``lake``
mount (a third bucket, under a prefix). Everything goes through REST; the
buckets are read back with boto3 (``RawS3``), so each test checks where the
bytes landed, not only what the API answers. The server and its buckets are
``buckets`` (e2e/conftest.py), shared with test_renames.py, where the renames
across mounts and of mount points are.

A second moto server is another endpoint: a mount there (``far``) cannot be
copied from server-side, so copies and renames stream through the server,
whose memory must stay flat (VmHWM of the server process, read from /proc).
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Iterator
from typing import Any

import pytest
from server_setups import (
    LAKE_PREFIX,
    TEAM_PREFIX,
    Buckets,
    MiB,
    mount_bucket_name,
    notebook_model,
    text_of,
)

from jupyters3_testing import JupyterServerError, MotoServer, RawS3
from jupyters3_testing.jupyter_fixtures import JupyterFactory, jupyters3_config
from jupyters3_testing.rest import ContentsClient


def test_the_root_lists_the_main_bucket_and_the_mounts(buckets: Buckets) -> None:
    root = buckets.api.get("", content=True).expect(200).json
    entries = {m["name"]: m for m in root["content"]}
    assert entries["secret.txt"]["type"] == "file"
    assert entries["team"]["type"] == "directory" and entries["team"]["writable"] is True
    assert entries["lake"]["type"] == "directory" and entries["lake"]["writable"] is False
    assert entries["team"]["path"] == "team" and entries["lake"]["path"] == "lake"
    lake = buckets.api.get("lake", content=True).expect(200).json
    assert lake["writable"] is False
    assert {m["name"]: m["writable"] for m in lake["content"]} == {
        "readme.txt": False,
        "tables": False,
    }
    readme = buckets.api.get("lake/readme.txt", content=True).expect(200).json
    assert readme["content"] == "the lake's readme\n" and readme["writable"] is False
    assert readme["path"] == "lake/readme.txt"
    # A mount shows its prefix only: the team bucket's other keys are not in it.
    team = buckets.api.get("team", content=True).expect(200).json
    assert "outside.txt" not in {m["name"] for m in team["content"]}


def test_save_lands_in_the_mounts_bucket_under_its_prefix(buckets: Buckets) -> None:
    buckets.api.mkdir("team/run1").expect(201)
    buckets.api.save_text("team/run1/notes.txt", "team notes\n").expect(200, 201)
    assert text_of(buckets, buckets.team, TEAM_PREFIX + "run1/notes.txt") == "team notes\n"
    assert buckets.raw.exists(buckets.team, TEAM_PREFIX + "run1/")
    assert not buckets.keys(buckets.main, "team/")  # nothing in the main bucket
    listed = buckets.api.get("team/run1", content=True).expect(200).json
    assert [m["path"] for m in listed["content"]] == ["team/run1/notes.txt"]
    assert buckets.api.get("team/run1/notes.txt").expect(200).json["content"] == "team notes\n"
    # /files/ streams from the mount too.
    assert buckets.api.files("team/run1/notes.txt").expect(200).body == b"team notes\n"
    assert buckets.api.files("lake/tables/t1.csv").expect(200).body == b"a,b\n1,2\n"
    # A new untitled file in the mount's root.
    made = buckets.api.new_untitled("team", ext=".txt").expect(201).json
    assert made["path"].startswith("team/untitled")
    assert buckets.raw.exists(buckets.team, TEAM_PREFIX + made["path"][len("team/") :])


def test_a_multipart_upload_into_a_mount_is_byte_exact(buckets: Buckets) -> None:
    data = os.urandom(12 * MiB + 321)
    answers = buckets.api.upload_chunked("team/big.bin", data, chunk_size=MiB)
    assert answers[-1].status in (200, 201), answers[-1].body[:300]
    assert buckets.raw.get(buckets.team, TEAM_PREFIX + "big.bin") == data
    assert buckets.raw.multipart_uploads(buckets.team) == []
    assert not buckets.raw.exists(buckets.main, "team/big.bin")


def test_the_write_rules_hold_inside_a_mount(buckets: Buckets) -> None:
    api = buckets.api
    assert api.save_text("team/.hidden.txt", "x").status == 400  # allow_hidden is off
    api.save_text("team/shared.txt", "mine").expect(201)
    buckets.raw.put(buckets.team, TEAM_PREFIX + "shared.txt", b"another server's")
    stale = api.save_text("team/shared.txt", "mine, later")
    assert stale.status == 409, stale.body[:300]
    assert buckets.raw.get(buckets.team, TEAM_PREFIX + "shared.txt") == b"another server's"
    api.mkdir("team/sub").expect(201)
    assert api.save_text("team/sub", "a file over a folder").status == 409
    assert api.rename("team/shared.txt", "team/sub/shared.txt").expect(200).json["path"] == (
        "team/sub/shared.txt"
    )


def test_checkpoints_stay_in_their_mount(buckets: Buckets) -> None:
    api = buckets.api
    api.save("team/cp.ipynb", notebook_model("first")).expect(200, 201)
    made = api.create_checkpoint("team/cp.ipynb").expect(201).json
    holder = TEAM_PREFIX + "cp.ipynb/.checkpoints/"
    assert any(k.endswith(made["id"]) for k in buckets.keys(buckets.team, holder))
    assert not [k for k in buckets.keys(buckets.main) if ".checkpoints" in k and "cp.ipynb" in k]
    api.save("team/cp.ipynb", notebook_model("second")).expect(200)
    assert made["id"] in [c["id"] for c in api.checkpoints("team/cp.ipynb").expect(200).json]
    api.restore_checkpoint("team/cp.ipynb", made["id"]).expect(204)
    back = api.get("team/cp.ipynb").expect(200).json
    assert back["content"]["cells"][0]["source"] == "first"
    api.delete_checkpoint("team/cp.ipynb", made["id"]).expect(204)
    assert made["id"] not in [c["id"] for c in api.checkpoints("team/cp.ipynb").json]


def test_a_read_only_mount_refuses_every_write(buckets: Buckets) -> None:
    api = buckets.api
    before = buckets.snapshot(buckets.lake)
    api.save_text("team/in.txt", "for the lake\n").expect(200, 201)
    nb = "lake/nb.ipynb"
    buckets.raw.put(buckets.lake, LAKE_PREFIX + "nb.ipynb", b"{}")  # a file to try on
    before = buckets.snapshot(buckets.lake)
    attempts = {
        "save": lambda: api.save_text("lake/new.txt", "x"),
        "save over": lambda: api.save_text("lake/readme.txt", "x"),
        "mkdir": lambda: api.mkdir("lake/newdir"),
        "new untitled": lambda: api.new_untitled("lake", type="notebook"),
        "upload": lambda: api.upload_chunked("lake/big.bin", b"y" * 3000, chunk_size=1024)[-1],
        "rename from": lambda: api.rename("lake/readme.txt", "team/readme.txt"),
        "rename into": lambda: api.rename("team/in.txt", "lake/in.txt"),
        "rename inside": lambda: api.rename("lake/readme.txt", "lake/r.txt"),
        "copy into": lambda: api.copy("team/in.txt", "lake"),
        "delete": lambda: api.delete("lake/readme.txt"),
        "delete folder": lambda: api.delete("lake/tables"),
        "checkpoint": lambda: api.create_checkpoint("lake/readme.txt"),
        "restore": lambda: api.restore_checkpoint(nb, "20260101T000000000000-abcdef"),
        "delete checkpoint": lambda: api.delete_checkpoint(nb, "20260101T000000000000-abcdef"),
    }
    for what, attempt in attempts.items():
        answer = attempt()
        assert answer.status == 403, (what, answer.status, answer.body[:300])
        assert "read-only" in answer.json["message"], (what, answer.json)
    assert buckets.snapshot(buckets.lake) == before
    assert buckets.raw.exists(buckets.team, TEAM_PREFIX + "in.txt")  # the rename's source stays


def test_a_copy_at_the_top_level_never_takes_a_mounts_name(buckets: Buckets) -> None:
    api = buckets.api
    api.mkdir("names").expect(201)
    api.save_text("names/team", "a file named like the mount\n").expect(201)
    copied = api.copy("names/team", "").expect(201).json
    assert copied["path"] == "team-Copy1"
    assert buckets.raw.get(buckets.main, "team-Copy1") == b"a file named like the mount\n"
    assert api.get("team", content=False).expect(200).json["type"] == "directory"


@pytest.mark.parametrize(
    "url",
    [
        "api/contents/team/../secret.txt",
        "api/contents/team/%2E%2E/secret.txt",
        "api/contents/team/%2e%2e%2fsecret.txt",
        "api/contents/team/..%2F..%2Foutside.txt",
        "api/contents/team/a/%2E%2E/%2E%2E/lake/readme.txt",
        "files/team/%2E%2E/secret.txt",
        "files/team/..%2Foutside.txt",
    ],
)
def test_dotdot_never_leaves_a_mount(buckets: Buckets, url: str) -> None:
    answer = buckets.api.request("GET", url)
    assert 400 <= answer.status < 500, (url, answer.status)
    assert b"main's top level" not in answer.body and b"outside the team" not in answer.body
    assert b"the lake's readme" not in answer.body


def _formatted(value: Any, **names: str) -> Any:
    if isinstance(value, dict):
        return {k: _formatted(v, **names) for k, v in value.items()}
    return value.format(**names) if isinstance(value, str) else value


def _rss_kib(pid: int, field: str) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError(f"no {field} for {pid}")


@pytest.fixture(scope="module")
def far_moto(js3_moto_env: dict[str, str]) -> Iterator[MotoServer]:
    """A second S3 endpoint."""
    server = MotoServer(js3_moto_env).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.js3_no_chaos
@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="reads /proc")
def test_a_copy_between_two_endpoints_streams_with_flat_memory(
    js3_jupyter_factory: JupyterFactory,
    js3_moto_server: MotoServer,
    far_moto: MotoServer,
    js3_region: str,
) -> None:
    main, far = mount_bucket_name("main"), mount_bucket_name("far")
    js3_moto_server.create_bucket(main, js3_region)
    far_moto.create_bucket(far, js3_region)
    far_raw = RawS3(far_moto.endpoint_url, js3_region)
    size = 160 * MiB + 12345
    block = hashlib.sha256(b"jupyters3").digest() * (MiB // 32)
    data = (block * (size // len(block) + 1))[:size]
    far_raw.client.upload_fileobj(_Reader(data), far, "big/blob.bin")
    far_raw.put(far, "small.txt", b"far away\n")
    config = jupyters3_config(
        bucket=main, endpoint_url=js3_moto_server.endpoint_url, region=js3_region
    )
    config["JupyterS3"]["mounts"] = {
        "far": {
            "url": f"s3://{far}/",
            "endpoint_url": far_moto.endpoint_url,
            "share_main_credentials": True,  # moto takes any key
        },
    }
    server = js3_jupyter_factory(config=config)
    api = ContentsClient(server.url, server.token, timeout=300)
    raw = RawS3(js3_moto_server.endpoint_url, js3_region)
    api.get("far", content=True).expect(200)  # the client is warm
    baseline = _rss_kib(server.pid, "VmRSS")
    api.copy("far/big/blob.bin", "").expect(201)
    peak = _rss_kib(server.pid, "VmHWM")
    assert hashlib.md5(raw.get(main, "blob.bin")).digest() == hashlib.md5(data).digest()
    growth = (peak - baseline) / 1024
    print(f"stream copy of {size / MiB:.0f} MiB: RSS growth {growth:.1f} MiB")
    assert growth < 64, f"RSS grew by {growth:.1f} MiB"
    # A rename across endpoints: copy, then delete the source.
    api.rename("far/small.txt", "small.txt").expect(200)
    assert raw.get(main, "small.txt") == b"far away\n"
    assert not far_raw.exists(far, "small.txt")
    # And back, with a notebook: its first checkpoint is made in the target.
    api.save("nb.ipynb", notebook_model("near")).expect(200, 201)
    api.copy("nb.ipynb", "far").expect(201)
    assert far_raw.keys(far, "nb.ipynb/.checkpoints/")
    body = base64.b64decode(base64.b64encode(far_raw.get(far, "nb.ipynb")))
    assert b'"near"' in body


class _Reader:
    """A file-like view of ``data`` for boto3's multipart upload."""

    def __init__(self, data: bytes) -> None:
        self.data, self.at = data, 0

    def read(self, size: int = -1) -> bytes:
        end = len(self.data) if size < 0 else self.at + size
        chunk, self.at = self.data[self.at : end], min(end, len(self.data))
        return chunk


def test_without_a_main_bucket_the_root_holds_only_the_mounts(
    js3_jupyter_factory: JupyterFactory, js3_moto_server: MotoServer, js3_region: str
) -> None:
    team = mount_bucket_name("team")
    js3_moto_server.create_bucket(team, js3_region)
    config = jupyters3_config(bucket="", endpoint_url=js3_moto_server.endpoint_url)
    config["JupyterS3"]["mounts"] = {"team": f"s3://{team}/{TEAM_PREFIX}"}
    server = js3_jupyter_factory(config=config)
    api = ContentsClient(server.url, server.token)
    root = api.get("", content=True).expect(200).json
    assert root["writable"] is False
    assert [(m["name"], m["type"], m["writable"]) for m in root["content"]] == [
        ("team", "directory", True)
    ]
    for answer in (
        api.save_text("top.txt", "x"),
        api.mkdir("newdir"),
        api.new_untitled("", type="notebook"),
    ):
        assert answer.status == 403, answer.body[:300]
        assert "only the mounts" in answer.json["message"]
    assert api.get("top.txt").status == 404
    api.save_text("team/in.txt", "inside\n").expect(201)
    raw = RawS3(js3_moto_server.endpoint_url, js3_region)
    assert raw.get(team, TEAM_PREFIX + "in.txt") == b"inside\n"
    assert "JupyterS3: mount 'team' in s3://" in server.log_text()


@pytest.mark.parametrize(
    ("mounts", "says"),
    [
        ({"shared": "s3://{team}/"}, "has the name of a top-level file or folder"),
        ({".hidden": "s3://{team}/"}, "cannot be hidden"),
        ({"a/b": "s3://{team}/"}, "without '/'"),
        ({"": "s3://{team}/"}, "non-empty string"),
        ({"x": "http://{team}/"}, "is not an S3 URL"),
        ({"x": "s3://no-such-bucket-js3-mounts/"}, "mount 'x': Bucket 'no-such-bucket-js3"),
        ({"x": "s3://[bad/"}, "is not a URL"),
        (
            {"ro": {"url": "s3://{main}/shared/", "read_only": True}},
            "mount 'ro' is read-only, but the main bucket",
        ),
    ],
)
def test_a_mount_that_cannot_work_stops_the_server_at_start(
    js3_jupyter_factory: JupyterFactory,
    js3_moto_server: MotoServer,
    js3_region: str,
    mounts: dict[str, str],
    says: str,
) -> None:
    main, team = mount_bucket_name("main"), mount_bucket_name("team")
    js3_moto_server.create_bucket(main, js3_region)
    js3_moto_server.create_bucket(team, js3_region)
    RawS3(js3_moto_server.endpoint_url, js3_region).put(main, "shared/a.txt", b"a")
    config = jupyters3_config(
        bucket=main, endpoint_url=js3_moto_server.endpoint_url, region=js3_region
    )
    config["JupyterS3"]["mounts"] = {
        name: _formatted(value, main=main, team=team) for name, value in mounts.items()
    }
    with pytest.raises(JupyterServerError, match=r"exited with code 1") as info:
        js3_jupyter_factory(config=config, startup_timeout=60)
    log = str(info.value)
    assert "Traceback" not in log, log
    assert says in log, log
