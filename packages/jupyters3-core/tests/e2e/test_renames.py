"""What a rename does, end to end: ``PATCH /api/contents/<path>`` with ``{"path": <new>}``
to live Jupyter servers on JupyterS3 (``JupyterS3.rename``, ``jupyters3.transfers.move``).

A rename is server-side copies (CopyObject; UploadPartCopy over ``copy_threshold``),
then deletes of the sources in batches of 1,000, only once every copy succeeded.
A file goes with its checkpoints, a folder with every key under it. What a rename
copies names its source (a file's copy and a folder's marker carry
``x-amz-meta-jupyters3-renamed-from``), so repeating a rename that stopped midway
finishes it; nothing else lets a rename write over an existing path (409).

One section (a class) per behaviour:

- files, then onto an existing path, folders, objects over the copy threshold,
  checkpoints that follow the file, across mounts: what a rename does;
- hostile input: the renames that must be refused, with a clean 4xx and nothing
  written;
- S3 failing in the middle, crashes (the server killed in the middle), races (saves
  on another server during renames): nothing is lost, and repeating finishes.

The servers are shared with the modules that test the rest of each set-up (the
fixtures in e2e/conftest.py: ``c``, ``s3``, ``buckets``, ``bucket``, ``ws``,
``fresh_pair``, ``crashable``, ``part_copy_api``, ``big``); the races' two servers are this
module's.

Rename tests kept elsewhere, because their subject is another unit or another rule:

- integration/test_manager_contract.py: ``JupyterS3.rename`` called in process as
  jupyter_server's own suite calls it, with the messages it expects (onto an
  identical file, onto an existing folder, into itself, finishing by the mark only);
- integration/test_store.py: the store's rename marker, and ``transfers.move``
  never replacing a save made at its target; unit/test_fileids.py: file ids;
- rows of tables about one rule for every operation: hidden names
  (test_conformance.py::test_hidden_refused, test_manager_contract.py), traversal
  (test_conformance.py::test_path_traversal_refused, test_hostile.py::test_hostile_path
  and test_fuzz), awkward names (test_conformance.py), read-only mounts
  (test_mounts.py), request counts and retry bounds (test_request_counts.py,
  test_retry_bounds.py), outages and unreadable answers
  (test_concurrent_writers.py::test_s3_unreachable_gives_clear_errors_then_recovers,
  test_malformed_answers.py), the inline limit (test_inline_limit.py), a stream
  copy's memory (test_mounts.py), secrets in logs (test_secrets_live.py), the fault
  soak (test_fault_soak.py), and the browser (browser/test_jupyterlab.py,
  browser/rtc/test_collaboration.py).
"""

from __future__ import annotations

import base64
import http.client
import os
import random
import re
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import pytest
from conformance_harness import Conformance
from hostile_harness import DEFAULT_ONLY, Workspace, fill_in, name_for_key_bytes
from server_setups import (
    TEAM_PREFIX,
    Bucket,
    Buckets,
    Live,
    Pair,
    assert_no_download,
    contents_api,
    kill_on,
    mount_bucket_name,
    notebook_model,
    part_copies,
    read_bytes,
    text_of,
)

from jupyters3_testing import FaultProxy, MotoServer, ProxyRecord, RawS3
from jupyters3_testing.faults import Fault, RequestInfo
from jupyters3_testing.jupyter import JupyterServer
from jupyters3_testing.jupyter_fixtures import JupyterFactory, jupyters3_config
from jupyters3_testing.rest import ContentsClient

# ============================================================================
# Files
# ============================================================================


class TestFiles:
    """A file moves to its new path, in the same folder or another; its old path is gone.

    Against jupyter_server's own manager (``c``: the same calls to both, the same
    answers; conformance_harness.py), and in the bucket (``s3``).
    """

    def test_rename_file(self, c: Conformance) -> None:
        c.text("a.txt")
        c.expect("rename", 200, "rename", c.p("a.txt"), c.p("b.txt"))
        c.expect("old path", 404, "get", c.p("a.txt"))
        c.expect("new path", 200, "get", c.p("b.txt"))
        c.expect("rename to itself", 200, "rename", c.p("b.txt"), c.p("b.txt"))

    def test_rename_file_changes_its_type(self, c: Conformance) -> None:
        c.notebook("nb.ipynb")
        c.expect("rename a notebook to .json", 200, "rename", c.p("nb.ipynb"), c.p("nb.json"))
        c.expect("get it", 200, "get", c.p("nb.json"))

    def test_rename_file_to_another_folder(self, c: Conformance) -> None:
        c.text("a.txt")
        c.mkdir("dest")
        c.expect("move into a folder", 200, "rename", c.p("a.txt"), c.p("dest/a.txt"))
        c.expect("the destination", 200, "get", c.p("dest"))
        c.expect("the source folder", 200, "get", c.base)

    def test_rename_missing_source(self, c: Conformance) -> None:
        c.expect("rename a missing file", 404, "rename", c.p("nope.txt"), c.p("b.txt"))

    def test_rename_into_missing_folder(self, c: Conformance) -> None:
        c.text("a.txt")
        c.expect("rename into a missing folder", 404, "rename", c.p("a.txt"), c.p("no/a.txt"))
        c.expect("the file stayed", 200, "get", c.p("a.txt"))

    @pytest.mark.js3_no_chaos
    def test_rename_is_a_server_side_copy(self, s3: Live) -> None:
        d = s3.folder()
        data = os.urandom(256 * 1024)
        s3.api.save(
            f"{d}/a.bin",
            {"type": "file", "format": "base64", "content": base64.b64encode(data).decode()},
        ).expect(201)
        s3.proxy.clear()
        s3.api.rename(f"{d}/a.bin", f"{d}/b.bin").expect(200)

        records = s3.proxy.records()
        copies = [r for r in records if r.method == "PUT" and r.key == f"{d}/b.bin"]
        assert len(copies) == 1
        assert copies[0].bytes_in == 0  # CopyObject: no body, the data stays in S3
        assert not [r for r in records if r.method == "GET" and r.key == f"{d}/a.bin"]
        assert sum(r.bytes_in for r in records) < 1024  # nothing re-uploaded
        assert s3.keys(f"{d}/") == [f"{d}/", f"{d}/b.bin"]
        assert s3.raw.get(s3.bucket, f"{d}/b.bin") == data


# ============================================================================
# Onto an existing path: 409, nothing changes
# ============================================================================


class TestOntoExistingPaths:
    """A rename never replaces what is at its target, file or folder."""

    CONFLICTS = {
        "file onto file": ("a.txt", "b.txt"),
        "file onto folder": ("a.txt", "dir"),
        "folder onto file": ("dir", "b.txt"),
        "folder onto folder": ("dir", "dir2"),
    }

    @pytest.mark.parametrize("source,target", CONFLICTS.values(), ids=CONFLICTS.keys())
    def test_rename_onto_existing(self, c: Conformance, source: str, target: str) -> None:
        c.text("a.txt", "a")
        c.text("b.txt", "b")
        c.mkdir("dir")
        c.mkdir("dir2")
        c.expect("rename onto an existing path", 409, "rename", c.p(source), c.p(target))
        c.expect("nothing moved", 200, "get", c.base)

    def test_rename_onto_existing_is_409_and_changes_nothing(self, s3: Live) -> None:
        d = s3.folder()
        s3.api.save_text(f"{d}/a.txt", "a").expect(201)
        s3.api.save_text(f"{d}/b.txt", "b").expect(201)
        resp = s3.api.rename(f"{d}/a.txt", f"{d}/b.txt").expect(409)
        assert "exists" in resp.json["message"]
        assert s3.raw.get(s3.bucket, f"{d}/a.txt") == b"a"
        assert s3.raw.get(s3.bucket, f"{d}/b.txt") == b"b"


# ============================================================================
# Folders
# ============================================================================


#: A folder of more than 1,000 keys, renamed with max_concurrency = LIMIT.
KEYS = 1001
LIMIT = 16


def most_in_flight(records: list[ProxyRecord]) -> int:
    """The most requests the proxy had in flight at once (10 ms of slack)."""
    spans = sorted((r.started, r.started + r.duration - 0.01) for r in records)
    return max(sum(1 for s, e in spans if s <= start < e) for start, _ in spans)


class TestFolders:
    """A folder moves with everything in it: subfolders, files, checkpoints, markers.

    Its keys are copied server-side with bounded concurrency, then deleted in
    batches of 1,000; nothing is downloaded.
    """

    def test_rename_folder(self, c: Conformance) -> None:
        c.mkdir("old")
        c.text("old/a.txt")
        c.notebook("old/nb.ipynb")
        c.mkdir("old/sub")
        c.text("old/sub/b.txt")
        c.expect("rename a folder", 200, "rename", c.p("old"), c.p("new"))
        c.expect("the old folder", 404, "get", c.p("old"))
        c.expect("the new folder", 200, "get", c.p("new"))
        c.expect("its subfolder", 200, "get", c.p("new/sub"))
        c.expect("a file in it", 200, "get", c.p("new/sub/b.txt"))
        c.expect("its notebook's checkpoints", 200, "checkpoints", c.p("new/nb.ipynb"))

    def test_rename_empty_folder(self, c: Conformance) -> None:
        c.mkdir("old")
        c.expect("rename an empty folder", 200, "rename", c.p("old"), c.p("new"))
        c.expect("the parent", 200, "get", c.base)

    def test_folder_markers_after_mkdir_rename_and_delete(self, s3: Live) -> None:
        d = s3.folder()
        s3.api.mkdir(f"{d}/src").expect(201)
        s3.api.mkdir(f"{d}/src/inner").expect(201)
        s3.api.save_text(f"{d}/src/inner/x.txt", "x").expect(201)
        assert s3.keys(f"{d}/") == [f"{d}/", f"{d}/src/", f"{d}/src/inner/", f"{d}/src/inner/x.txt"]
        for key in (f"{d}/src/", f"{d}/src/inner/"):
            assert s3.raw.head(s3.bucket, key)["ContentLength"] == 0

        s3.api.rename(f"{d}/src", f"{d}/dst").expect(200)
        assert s3.keys(f"{d}/") == [f"{d}/", f"{d}/dst/", f"{d}/dst/inner/", f"{d}/dst/inner/x.txt"]

        s3.api.delete(f"{d}/dst").expect(204)
        assert s3.keys(f"{d}/") == [f"{d}/"]
        assert s3.api.get(f"{d}/dst").status == 404

    @pytest.mark.js3_no_chaos
    def test_list_rename_and_delete_a_folder_of_1001_keys(
        self,
        js3_jupyter_factory: JupyterFactory,
        js3_fault_proxy: FaultProxy,
        js3_bucket: str,
        js3_region: str,
        js3_raw: RawS3,
    ) -> None:
        with ThreadPoolExecutor(16) as pool:
            list(
                pool.map(
                    lambda i: js3_raw.put(js3_bucket, f"big/f{i:04d}.txt", b"%d" % i), range(KEYS)
                )
            )
        config = jupyters3_config(
            bucket=js3_bucket, endpoint_url=js3_fault_proxy.endpoint_url, region=js3_region
        )
        config["JupyterS3"]["max_concurrency"] = LIMIT
        server = js3_jupyter_factory(config=config)
        api = ContentsClient(server.url, server.token)
        js3_fault_proxy.configure(latency=0.005)
        js3_fault_proxy.clear()  # the startup check's LIST

        listing = api.get("big").expect(200).json
        assert len(listing["content"]) == KEYS
        lists = [r for r in js3_fault_proxy.records() if "list-type" in r.query]
        assert len(lists) == 2  # one LIST per 1,000 entries

        js3_fault_proxy.clear()
        api.rename("big", "moved").expect(200)
        records = js3_fault_proxy.records()
        copies = [r for r in records if r.method == "PUT" and r.key.startswith("moved/f")]
        assert len(copies) == KEYS and all(r.bytes_in == 0 for r in copies)
        # The target's marker is written before the copies (naming the source, so
        # a repeated rename can finish an interrupted one), and deleted with the
        # sources because the source folder had none.
        markers = [r for r in records if r.method == "PUT" and r.key == "moved/"]
        assert len(markers) == 1
        assert markers[0].started < min(r.started for r in copies)
        assert not [r for r in records if r.method == "GET" and "list-type" not in r.query]
        assert 2 <= most_in_flight(copies) <= LIMIT
        batches = [r for r in records if r.method == "POST" and "delete" in r.query]
        assert len(batches) == 2
        keys = js3_raw.keys(js3_bucket)
        assert len(keys) == KEYS and all(k.startswith("moved/f") for k in keys)
        assert js3_raw.get(js3_bucket, "moved/f0999.txt") == b"999"

        js3_fault_proxy.clear()
        api.delete("moved").expect(204)
        assert js3_raw.keys(js3_bucket) == []
        batches = [
            r for r in js3_fault_proxy.records() if r.method == "POST" and "delete" in r.query
        ]
        assert len(batches) == 2


# ============================================================================
# Objects over the copy threshold: copied part by part
# ============================================================================


class TestPartCopies:
    """Over ``copy_threshold`` (S3's 5 GB CopyObject limit; lowered to 5 MiB here), a
    rename copies part by part (UploadPartCopy), and a failed part leaves the source.
    """

    @pytest.fixture
    def api(self, part_copy_api: ContentsClient) -> ContentsClient:
        """test_large_copies.py's name for ``part_copy_api`` (e2e/conftest.py)."""
        return part_copy_api

    @pytest.mark.js3_no_chaos
    def test_rename_file_and_folder(
        self,
        api: ContentsClient,
        big: bytes,
        js3_fault_proxy: FaultProxy,
        js3_raw: RawS3,
        js3_bucket: str,
    ) -> None:
        js3_raw.put(js3_bucket, "d/small.txt", b"small")
        api.rename("d/big.bin", "d/moved.bin").expect(200)
        assert js3_raw.get(js3_bucket, "d/moved.bin") == big
        assert not js3_raw.exists(js3_bucket, "d/big.bin")
        assert len(part_copies(js3_fault_proxy, "d/moved.bin")) == 3

        js3_fault_proxy.clear()
        api.rename("d", "e").expect(200)
        assert sorted(js3_raw.keys(js3_bucket)) == ["e/moved.bin", "e/small.txt"]
        assert js3_raw.get(js3_bucket, "e/moved.bin") == big
        assert len(part_copies(js3_fault_proxy, "e/moved.bin")) == 3
        assert_no_download(js3_fault_proxy)
        assert js3_raw.multipart_uploads(js3_bucket) == []

    @pytest.mark.js3_no_chaos
    def test_a_failed_part_copy_leaves_the_source_and_no_upload(
        self,
        api: ContentsClient,
        big: bytes,
        js3_fault_proxy: FaultProxy,
        js3_raw: RawS3,
        js3_bucket: str,
    ) -> None:
        def fail_part_2(req: RequestInfo) -> Fault | None:
            if req.query.get("partNumber") == "2":
                return Fault.access_denied()
            return None

        js3_fault_proxy.configure(rule=fail_part_2)
        answer: Any = api.rename("d/big.bin", "d/moved.bin")
        assert answer.status == 403
        assert js3_raw.get(js3_bucket, "d/big.bin") == big  # the source is intact
        assert not js3_raw.exists(js3_bucket, "d/moved.bin")
        assert js3_raw.multipart_uploads(js3_bucket) == []


# ============================================================================
# Checkpoints follow the file
# ============================================================================


class TestCheckpoints:
    """A file's checkpoints move with it, and still restore their own bytes."""

    def test_rename_notebook_moves_checkpoints(self, c: Conformance) -> None:
        c.notebook("nb.ipynb")
        c.expect("the notebook's checkpoints", 200, "checkpoints", c.p("nb.ipynb"))
        c.expect("rename", 200, "rename", c.p("nb.ipynb"), c.p("z.ipynb"))
        c.expect("checkpoints at the new path", 200, "checkpoints", c.p("z.ipynb"))
        c.expect("none left at the old path", 200, "checkpoints", c.p("nb.ipynb"))

    def test_checkpoints_move_with_renames_and_go_with_deletes(self, s3: Live) -> None:
        d = s3.folder()
        s3.api.save_text(f"{d}/f.txt", "one").expect(201)
        cp = s3.api.create_checkpoint(f"{d}/f.txt").expect(201).json
        s3.api.rename(f"{d}/f.txt", f"{d}/g.txt").expect(200)
        assert s3.keys(f"{d}/") == [f"{d}/", f"{d}/g.txt", f"{d}/g.txt/.checkpoints/{cp['id']}"]
        assert [c["id"] for c in s3.api.checkpoints(f"{d}/g.txt").expect(200).json] == [cp["id"]]
        s3.api.delete(f"{d}/g.txt").expect(204)
        assert s3.keys(f"{d}/") == [f"{d}/"]

    def test_checkpoints_follow_a_renamed_file_and_restore_exactly(self, bucket: Bucket) -> None:
        """JupyterLab keeps a notebook open across a rename: its checkpoints go with
        it, and each still restores its own bytes (on a versioned bucket the
        versions a checkpoint named belong to the old key)."""
        folder = f"d-{uuid.uuid4().hex[:6]}"
        path, renamed = f"{folder}/before.txt", f"{folder}/after.txt"
        made = []
        for n in range(2):
            bucket.api.save_text(path, f"version {n}").expect(200, 201)
            made.append(bucket.api.create_checkpoint(path).expect(201).json)
        bucket.api.save_text(path, "latest").expect(200)
        bucket.api.rename(path, renamed).expect(200)
        listed = bucket.api.checkpoints(renamed).expect(200).json
        assert [c["last_modified"] for c in listed] == [c["last_modified"] for c in made]
        bucket.api.get(renamed).expect(200)
        bucket.api.restore_checkpoint(renamed, listed[0]["id"]).expect(204)
        assert read_bytes(bucket, renamed) == b"version 0"
        bucket.api.restore_checkpoint(renamed, listed[1]["id"]).expect(204)
        assert read_bytes(bucket, renamed) == b"version 1"


# ============================================================================
# Across mounts
# ============================================================================


class TestAcrossMounts:
    """Between the main bucket and a mount (another bucket, under a prefix): the keys
    land in the target's bucket and leave the source's; mount points never move.
    """

    def test_copy_and_rename_across_mounts_land_in_the_right_bucket(self, buckets: Buckets) -> None:
        api = buckets.api
        api.mkdir("inbox").expect(201)
        api.save_text("inbox/a.txt", "from main\n").expect(200, 201)
        api.save("inbox/n.ipynb", notebook_model("main notebook")).expect(200, 201)
        # main -> team (copy: the source stays)
        copied = api.copy("inbox/a.txt", "team").expect(201).json
        assert copied["path"] == "team/a.txt"
        assert text_of(buckets, buckets.team, TEAM_PREFIX + "a.txt") == "from main\n"
        assert buckets.raw.exists(buckets.main, "inbox/a.txt")
        # A copied notebook gets its first checkpoint in the target mount.
        api.copy("inbox/n.ipynb", "team").expect(201)
        assert buckets.keys(buckets.team, TEAM_PREFIX + "n.ipynb/.checkpoints/")
        # team -> main (rename: the source goes, with its checkpoints)
        api.create_checkpoint("team/n.ipynb").expect(201)
        before = {k.rsplit("/", 1)[1] for k in buckets.keys(buckets.team, TEAM_PREFIX + "n.ipynb/")}
        api.rename("team/n.ipynb", "moved.ipynb").expect(200)
        assert not buckets.keys(buckets.team, TEAM_PREFIX + "n.ipynb")
        after = {
            k.rsplit("/", 1)[1] for k in buckets.keys(buckets.main, "moved.ipynb/.checkpoints/")
        }
        assert before - {"n.ipynb"} <= after | {""}
        assert api.get("moved.ipynb").expect(200).json["content"]["cells"][0]["source"] == (
            "main notebook"
        )
        # A folder, main -> team, renamed: every key moves bucket.
        api.rename("inbox", "team/inbox").expect(200)
        assert not buckets.keys(buckets.main, "inbox")
        moved = buckets.keys(buckets.team, TEAM_PREFIX + "inbox/")
        assert TEAM_PREFIX + "inbox/a.txt" in moved and TEAM_PREFIX + "inbox/n.ipynb" in moved
        # Copy out of the read-only lake is allowed.
        api.copy("lake/tables/t1.csv", "team").expect(201)
        assert text_of(buckets, buckets.team, TEAM_PREFIX + "t1.csv") == "a,b\n1,2\n"

    def test_a_mount_point_cannot_be_deleted_renamed_or_replaced(self, buckets: Buckets) -> None:
        api = buckets.api
        api.save_text("team/keep.txt", "kept\n").expect(200, 201)
        assert api.delete("team").status == 403
        assert api.rename("team", "team2").status == 403
        assert api.rename("secret.txt", "team").status == 403
        assert api.save_text("team", "over the mount").status == 403
        assert "mount" in api.delete("team").json["message"]
        assert buckets.raw.exists(buckets.team, TEAM_PREFIX + "keep.txt")
        assert api.get("team/keep.txt").expect(200).json["content"] == "kept\n"

    def test_an_implicit_folder_renamed_across_mounts_touches_nothing_outside_them(
        self,
        buckets: Buckets,
    ) -> None:
        """A folder without a marker (written by another tool) renamed from a mount
        into the main bucket: the marker the rename writes is the target's, in the
        main bucket, and goes when the rename completes; nothing outside the
        mount's prefix is touched, and a later rename onto the same name is a 409."""
        raw, team, main = buckets.raw, buckets.team, buckets.main
        raw.put(team, TEAM_PREFIX + "pipeline/x.txt", b"v1 from the pipeline\n")
        raw.put(team, "pipeline/", b"")  # outside the mount's prefix: never touched
        buckets.api.rename("team/pipeline", "pipeline").expect(200)
        assert raw.get(main, "pipeline/x.txt") == b"v1 from the pipeline\n"
        assert not raw.keys(team, TEAM_PREFIX + "pipeline")
        assert raw.exists(team, "pipeline/")
        assert not raw.exists(main, "pipeline/")  # implicit, as its source was
        buckets.api.save_text("pipeline/x.txt", "edited by the user\n").expect(200)
        raw.put(team, TEAM_PREFIX + "pipeline/x.txt", b"v2 from the pipeline\n")
        assert buckets.api.rename("team/pipeline", "pipeline").status == 409
        assert raw.get(main, "pipeline/x.txt") == b"edited by the user\n"

    def test_checkpoints_of_a_versioned_bucket_follow_a_rename_into_a_mount(
        self, js3_jupyter_factory: JupyterFactory, js3_moto_server: MotoServer, js3_region: str
    ) -> None:
        """A checkpoint that names an S3 version of the file (versioned main bucket)
        moves into an unversioned mount as a copy of that version."""
        main, plain = mount_bucket_name("main"), mount_bucket_name("plain")
        js3_moto_server.create_bucket(main, js3_region)
        js3_moto_server.create_bucket(plain, js3_region)
        raw = RawS3(js3_moto_server.endpoint_url, js3_region)
        raw.client.put_bucket_versioning(Bucket=main, VersioningConfiguration={"Status": "Enabled"})
        config = jupyters3_config(
            bucket=main, endpoint_url=js3_moto_server.endpoint_url, region=js3_region
        )
        config["JupyterS3"]["mounts"] = {"plain": f"s3://{plain}/p/"}
        server = js3_jupyter_factory(config=config)
        api = ContentsClient(server.url, server.token)
        api.save_text("v.txt", "version 0").expect(201)
        made = api.create_checkpoint("v.txt").expect(201).json
        assert "-v" in made["id"]  # a pointer to an S3 version
        api.save_text("v.txt", "latest").expect(200)
        api.rename("v.txt", "plain/v.txt").expect(200)
        listed = api.checkpoints("plain/v.txt").expect(200).json
        assert [c["last_modified"] for c in listed] == [made["last_modified"]]
        assert raw.keys(plain, "p/v.txt/.checkpoints/")
        api.get("plain/v.txt").expect(200)
        api.restore_checkpoint("plain/v.txt", listed[0]["id"]).expect(204)
        assert raw.get(plain, "p/v.txt") == b"version 0"
        assert api.get("v.txt").status == 404


# ============================================================================
# Hostile input: a clean 4xx, nothing written
# ============================================================================


class TestHostileInput:
    """Renames that must be refused, each with a clean 4xx that writes nothing
    (hostile_harness.py: a server jailed under a prefix, in two modes).
    """

    #: PATCH bodies that must be refused (PATCH {d}/f.txt unless the id says otherwise).
    BAD_RENAMES: dict[str, tuple[str, Any]] = {
        "path-null": ("{d}/f.txt", {"path": None}),
        "path-number": ("{d}/f.txt", {"path": 5}),
        "path-float": ("{d}/f.txt", {"path": 1.5}),
        "path-true": ("{d}/f.txt", {"path": True}),
        "path-list": ("{d}/f.txt", {"path": ["{d}/g.txt"]}),
        "path-object": ("{d}/f.txt", {"path": {"path": "{d}/g.txt"}}),
        "path-empty": ("{d}/f.txt", {"path": ""}),
        "path-slash": ("{d}/f.txt", {"path": "/"}),
        "file-into-itself": ("{d}/f.txt", {"path": "{d}/f.txt/g.txt"}),
        "folder-into-itself": ("{d}/sub", {"path": "{d}/sub/inner/sub"}),
        "onto-existing-folder": ("{d}/f.txt", {"path": "{d}/sub"}),
        "onto-existing-notebook": ("{d}/f.txt", {"path": "{d}/nb.ipynb"}),
        "missing-source": ("{d}/missing.txt", {"path": "{d}/g.txt"}),
        "into-missing-folder": ("{d}/f.txt", {"path": "{d}/nowhere/g.txt"}),
        "the-root": ("", {"path": "{d}/root-moved"}),
        "bucket-root-bait": ("{d}/f.txt", {"path": "../secret.txt"}),
    }

    @pytest.mark.parametrize("source,body", BAD_RENAMES.values(), ids=BAD_RENAMES.keys())
    def test_bad_rename(self, ws: Workspace, source: str, body: dict[str, Any]) -> None:
        before = ws.live.snapshot()
        url = ("api/contents/" + source.format(d=ws.d)).rstrip("/")
        sent = ws.call("PATCH", url, fill_in(body, ws.d))
        ws.refused(before, sent)

    @DEFAULT_ONLY
    def test_rename_of_a_notebook_whose_checkpoints_would_not_fit(self, ws: Workspace) -> None:
        target = name_for_key_bytes(ws, ws.d, 1000, ".ipynb")
        before = ws.live.snapshot()
        sent = ws.call("PATCH", f"api/contents/{ws.d}/nb.ipynb", {"path": target})
        ws.refused(before, sent)

    @DEFAULT_ONLY
    def test_rename_of_a_folder_whose_children_would_not_fit(self, ws: Workspace) -> None:
        target = name_for_key_bytes(ws, ws.d, 1015, "")
        before = ws.live.snapshot()
        sent = ws.call("PATCH", f"api/contents/{ws.d}/sub", {"path": target})
        ws.refused(before, sent)


# ============================================================================
# S3 failing in the middle: nothing lost, repeating finishes
# ============================================================================


def _fail_copies_into(prefix: str, after: int):
    """A rule: CopyObject into ``prefix`` succeeds ``after`` times, then 500s."""
    seen = {"n": 0}

    def rule(req: RequestInfo) -> Fault | None:
        if (
            req.method == "PUT"
            and req.key.startswith(prefix)
            and "x-amz-copy-source" in {h.lower() for h in req.headers}
        ):
            seen["n"] += 1
            if seen["n"] > after:
                return Fault.internal_error()
        return None

    return rule


class TestS3FailingMidway:
    """S3 errors cut a rename short (server A goes through the fault proxy): every
    source stays whole, and the same rename, repeated, finishes the job.
    """

    @pytest.fixture
    def s3(self, fresh_pair: Pair) -> Pair:
        """test_concurrent_writers.py's name for ``fresh_pair`` (e2e/conftest.py)."""
        return fresh_pair

    @pytest.mark.js3_no_chaos
    def test_interrupted_folder_rename_loses_nothing_and_repeating_finishes_it(
        self, s3: Pair
    ) -> None:
        d = s3.folder()
        files = {f"{d}/src/f{i:02d}.txt": f"file {i}" for i in range(20)}
        for path, text in files.items():
            s3.raw.put(s3.bucket, path, text.encode())
        s3.proxy.configure(rule=_fail_copies_into(f"{d}/dst/", after=7))

        failed = s3.a.rename(f"{d}/src", f"{d}/dst")

        assert failed.status in (502, 503)
        assert "Traceback" not in failed.body.decode()
        # Documented state: every source is intact; the target holds some copies
        # and its marker names the source.
        for path, text in files.items():
            assert s3.text(path) == text
        marker = s3.raw.head(s3.bucket, f"{d}/dst/")
        assert marker["Metadata"]["jupyters3-renamed-from"] == f"{d}/src"
        # A rename onto an unrelated existing folder is still refused.
        s3.proxy.reset()
        s3.a.mkdir(f"{d}/other").expect(201)
        assert s3.a.rename(f"{d}/other", f"{d}/dst").status == 409

        s3.a.rename(f"{d}/src", f"{d}/dst").expect(200)

        keys = s3.raw.keys(s3.bucket, f"{d}/")
        assert not [k for k in keys if k.startswith(f"{d}/src")]
        for path, text in files.items():
            assert s3.text(path.replace("/src/", "/dst/")) == text
        assert f"{d}/dst/" not in keys  # the source was an implicit folder: so is the target
        listing = s3.a.get(f"{d}/dst").expect(200).json
        assert len(listing["content"]) == 20

    @pytest.mark.js3_no_chaos
    def test_interrupted_file_rename_is_finished_by_repeating_it(self, s3: Pair) -> None:
        """The copy landed but the delete failed: both exist; repeating completes it."""
        d = s3.folder()
        s3.a.save_text(f"{d}/a.txt", "content").expect(201)
        s3.proxy.configure(
            rule=lambda req: Fault.internal_error() if req.method in ("DELETE", "POST") else None
        )
        assert s3.a.rename(f"{d}/a.txt", f"{d}/b.txt").status in (502, 503)
        assert s3.text(f"{d}/a.txt") == s3.text(f"{d}/b.txt") == "content"
        s3.proxy.reset()

        s3.a.rename(f"{d}/a.txt", f"{d}/b.txt").expect(200)

        assert not s3.raw.exists(s3.bucket, f"{d}/a.txt")
        assert s3.text(f"{d}/b.txt") == "content"


# ============================================================================
# Crashes: the server killed in the middle
# ============================================================================


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

    rule, killed = kill_on(server, tenth_copy)
    proxy.configure(rule=rule)
    with pytest.raises((OSError, http.client.HTTPException)):  # the connection dies with the server
        contents_api(server).rename("src", target)
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

    contents_api(server).rename("src", target).expect(200)

    assert raw.keys(source_bucket, "src/") == []
    for key, body in files.items():
        assert raw.get(target_bucket, target_prefix + key[len("src/") :]) == body


class TestCrashes:
    """The server is killed (SIGKILL) at the 10th copy of a folder rename, by the fault
    proxy: after a restart every source is whole, and repeating the rename finishes it.
    """

    def test_kill_during_a_folder_rename_loses_nothing_and_repeating_finishes(
        self, crashable: tuple[JupyterServer, str, RawS3], js3_fault_proxy: FaultProxy
    ) -> None:
        server, bucket, raw = crashable
        _rename_killed_then_repeated(server, js3_fault_proxy, raw, (bucket, bucket), "dst", "dst/")

    def test_kill_during_a_rename_across_mounts_loses_nothing_and_repeating_finishes(
        self,
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
        _rename_killed_then_repeated(
            server, js3_fault_proxy, raw, (main, team), "team/dst", "p/dst/"
        )


# ============================================================================
# Races: saves on another server during renames are never lost
# ============================================================================


# No acknowledged save is lost to a concurrent rename (issue 15).
#
# Two live Jupyter servers share one moto bucket. Server A renames a folder (or
# a file) to a fresh name again and again; at the same time server B opens and
# saves the files in it, as a user would: it finds the folder in the root
# listing, GETs a file, and saves new content over it. Every save's content is
# unique, and B records which content each save was based on.
#
# Afterwards, read straight from moto: every save that B's server answered 2xx
# is in the bucket with exactly its bytes, unless a later acknowledged save of
# B's was based on it (and so replaced it knowingly). A rename that deleted a
# version it had not copied would break this: that save would be nowhere.


#: Saves B makes, and renames A makes meanwhile, at least: a fixed amount of
#: work, whatever the machine's speed (its throughput is the benchmark's
#: business), bounded in steps; the timeout only guards against a hang.
SAVES = 220
RENAMES = 10


#: Listings of B's (each followed by up to 4 saves, fewer when a rename moved
#: the folder away meanwhile: 1 in 4 on a loaded machine) before the test gives up.
MAX_ROUNDS = 10 * SAVES


FILES = 24


@dataclass
class Servers:
    a: ContentsClient
    b: ContentsClient
    a_server: JupyterServer
    raw: RawS3
    bucket: str


@pytest.fixture(scope="module")
def servers(
    js3_jupyter_session_factory: JupyterFactory, js3_moto_server: MotoServer, js3_region: str
) -> Servers:
    bucket = f"rr-{uuid.uuid4().hex[:12]}"
    js3_moto_server.create_bucket(bucket, js3_region)
    config = jupyters3_config(
        bucket=bucket, endpoint_url=js3_moto_server.endpoint_url, region=js3_region
    )
    a = js3_jupyter_session_factory(config=config)
    b = js3_jupyter_session_factory(config=config)
    return Servers(
        ContentsClient(a.url, a.token),
        ContentsClient(b.url, b.token),
        a,
        RawS3(js3_moto_server.endpoint_url, js3_region),
        bucket,
    )


@dataclass
class Ledger:
    """What B's server acknowledged: each save's content and what it was based on."""

    acknowledged: list[tuple[str, str, str | None]] = field(default_factory=list)
    refused: int = 0
    renames: int = 0
    rename_refusals: int = 0
    statuses: dict[int, int] = field(default_factory=dict)

    def lost(self, final: set[str]) -> list[str]:
        replaced = {base for _, _, base in self.acknowledged if base is not None}
        return [
            f"{path}: {content}"
            for path, content, _ in self.acknowledged
            if content not in final and content not in replaced
        ]


def renamer(
    api: ContentsClient, parent: str, start: str, stop: threading.Event, ledger: Ledger
) -> None:
    """A: rename ``start`` to a fresh name, again and again, until ``stop``."""
    current = start
    pause = random.Random(start)
    for n in range(1, 10_000):
        if stop.wait(pause.uniform(0.0, 0.15)):  # leave B time to find the folder
            return
        stem, dot, ext = start.rpartition(".")
        fresh = f"{stem}-{n}{dot}{ext}" if dot else f"{start}-{n}"
        response = api.rename(f"{parent}/{current}".strip("/"), f"{parent}/{fresh}".strip("/"))
        ledger.statuses[response.status] = ledger.statuses.get(response.status, 0) + 1
        if response.status == 200:
            ledger.renames += 1
            current = fresh
        elif response.status == 409:
            ledger.rename_refusals += 1  # a file left behind (still changing): it moved on
            current = fresh
        else:
            raise AssertionError(f"rename: HTTP {response.status} {response.body[:300]!r}")


def writer_step(
    api: ContentsClient, path: str, rng: random.Random, ledger: Ledger, number: int
) -> bool:
    """B: open ``path`` and save new content over it; False if it is not there."""
    opened = api.get(path)
    if opened.status == 404:
        return False
    assert opened.status == 200, f"GET {path}: HTTP {opened.status} {opened.body[:200]!r}"
    base = opened.json["content"]
    content = f"save {number} {uuid.uuid4().hex} {rng.random()}\n"
    saved = api.save_text(path, content)
    ledger.statuses[saved.status] = ledger.statuses.get(saved.status, 0) + 1
    if saved.status in (200, 201):
        ledger.acknowledged.append((path, content, base))
    elif saved.status == 409:
        ledger.refused += 1  # a version B did not see: nothing written, nothing lost
    else:
        raise AssertionError(f"save {path}: HTTP {saved.status} {saved.body[:300]!r}")
    return True


def contents(raw: RawS3, bucket: str) -> set[str]:
    return {
        raw.get(bucket, key).decode() for key in raw.keys(bucket) if "/.checkpoints/" not in key
    }


class TestRaces:
    """Server A renames while server B opens and saves (see the section's comment above)."""

    @pytest.mark.js3_no_chaos
    @pytest.mark.timeout(900)
    def test_saves_during_folder_renames_are_never_lost(self, servers: Servers) -> None:
        top = f"r-{uuid.uuid4().hex[:8]}"
        for i in range(FILES):
            servers.a.save_text(f"{top}/dir/f-{i:02d}.txt", f"initial {i}\n").expect(201)
        ledger, stop = Ledger(), threading.Event()
        thread = threading.Thread(target=renamer, args=(servers.a, top, "dir", stop, ledger))
        rng = random.Random(15)
        thread.start()
        try:
            number = 0
            for _ in range(MAX_ROUNDS):
                if len(ledger.acknowledged) >= SAVES and ledger.renames >= RENAMES:
                    break
                folders = [
                    m["name"]
                    for m in servers.b.get(top).expect(200).json["content"]
                    if m["type"] == "directory"
                ]
                folder = rng.choice(folders)
                for _ in range(4):
                    number += 1
                    name = f"f-{rng.randrange(FILES):02d}.txt"
                    if not writer_step(servers.b, f"{top}/{folder}/{name}", rng, ledger, number):
                        break
        finally:
            stop.set()
            thread.join(60)
        final = contents(servers.raw, servers.bucket)
        recopies = _recopies(servers.a_server.log_text())
        print(
            f"\nfolder renames: {len(ledger.acknowledged)} saves acknowledged, {ledger.refused} "
            f"refused (409), {ledger.renames} renames, {ledger.rename_refusals} renames that left "
            f"files behind (409), {recopies} sources copied again; statuses {ledger.statuses}"
        )
        assert ledger.lost(final) == []
        assert len(ledger.acknowledged) >= SAVES, f"fewer than {SAVES} saves in {MAX_ROUNDS} rounds"
        assert ledger.renames >= RENAMES

    @pytest.mark.js3_no_chaos
    @pytest.mark.timeout(900)
    def test_saves_during_file_renames_are_never_lost(self, servers: Servers) -> None:
        top = f"s-{uuid.uuid4().hex[:8]}"
        servers.a.save_text(f"{top}/doc.txt", "initial\n").expect(201)
        ledger, stop = Ledger(), threading.Event()
        thread = threading.Thread(target=renamer, args=(servers.a, top, "doc.txt", stop, ledger))
        rng = random.Random(16)
        thread.start()
        try:
            for number in range(1, MAX_ROUNDS + 1):
                if len(ledger.acknowledged) >= SAVES // 2 and ledger.renames >= RENAMES:
                    break
                names = [m["name"] for m in servers.b.get(top).expect(200).json["content"]]
                writer_step(servers.b, f"{top}/{rng.choice(names)}", rng, ledger, number)
        finally:
            stop.set()
            thread.join(60)
        final = contents(servers.raw, servers.bucket)
        print(
            f"\nfile renames: {len(ledger.acknowledged)} saves acknowledged, {ledger.refused} "
            f"refused (409), {ledger.renames} renames, {ledger.rename_refusals} left behind; "
            f"statuses {ledger.statuses}"
        )
        assert ledger.lost(final) == []
        assert len(ledger.acknowledged) >= SAVES // 2, f"too few saves in {MAX_ROUNDS} rounds"
        assert ledger.renames >= RENAMES


def _recopies(log: str) -> int:
    return sum(int(n) for n in re.findall(r"Rename: (\d+) source\(s\) changed meanwhile", log))
