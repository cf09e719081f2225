"""Several servers on one bucket, and S3 failing under them: nothing is lost.

Two live Jupyter servers share one moto bucket (server A through the fault
proxy, server B straight to moto). A save based on a version its server did
not last see is refused with 409 and the newer object stays; creations never
replace each other; S3 going away gives clear errors, then the server
recovers. Through the REST API only; the bucket is read with an independent
botocore client. The two servers are ``pair`` (e2e/conftest.py), shared with
test_renames.py, where the renames interrupted by S3 errors are.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from server_setups import Pair

from jupyters3_testing.faults import Fault, RequestInfo


@pytest.fixture
def s3(fresh_pair: Pair) -> Pair:
    """This module's name for ``fresh_pair`` (e2e/conftest.py)."""
    return fresh_pair


def nb(source: str) -> dict[str, Any]:
    return {
        "type": "notebook",
        "content": {
            "nbformat": 4,
            "nbformat_minor": 5,
            "metadata": {},
            "cells": [
                {
                    "cell_type": "markdown",
                    "id": "c1",
                    "metadata": {},
                    "source": source,
                }
            ],
        },
    }


@pytest.mark.js3_no_chaos
def test_stale_save_is_refused_and_the_newer_version_kept(s3: Pair) -> None:
    """A and B open the same file; B saves; A's save (based on the old version) is a 409."""
    d = s3.folder()
    path = f"{d}/shared.txt"
    s3.a.save_text(path, "v0").expect(201)
    s3.a.get(path).expect(200)
    s3.b.get(path).expect(200)

    s3.b.save_text(path, "v1 from B").expect(200)
    refused = s3.a.save_text(path, "v2 from A, based on v0")

    assert refused.status == 409
    assert "changed by someone else" in refused.json["message"]
    assert s3.text(path) == "v1 from B"  # the newer object is intact
    assert s3.proxy.count("PUT", status=412) == 1

    # A reloads (as JupyterLab's "Reload from Disk" does), then saves on top.
    assert s3.a.get(path).expect(200).json["content"] == "v1 from B"
    s3.a.save_text(path, "v2 from A, based on v1").expect(200)
    assert s3.text(path) == "v2 from A, based on v1"
    # And now B is the stale one.
    assert s3.b.save_text(path, "v3 from B, based on v1").status == 409
    assert s3.text(path) == "v2 from A, based on v1"


def test_stale_notebook_save_is_refused(s3: Pair) -> None:
    d = s3.folder()
    path = f"{d}/shared.ipynb"
    s3.a.save(path, nb("v0")).expect(201)
    s3.b.get(path).expect(200)
    s3.a.get(path, content=False).expect(200)  # JupyterLab's pre-save check: a HEAD

    s3.a.save(path, nb("A's edit")).expect(200)
    refused = s3.b.save(path, nb("B's edit of v0"))

    assert refused.status == 409
    saved = json.loads(s3.raw.get(s3.bucket, path))
    assert "".join(saved["cells"][0]["source"]) == "A's edit"


def test_a_restore_over_a_newer_version_from_another_server_is_refused(s3: Pair) -> None:
    """A checkpoint restore is a write like a save: A reverts to its checkpoint
    after B saved a newer version, and B's version is kept (409); once A has
    seen it, the restore goes through."""
    d = s3.folder()
    path = f"{d}/revert.ipynb"
    s3.a.save(path, nb("v0")).expect(201)
    checkpoint = s3.a.create_checkpoint(path).expect(201).json["id"]
    s3.a.save(path, nb("v1 from A")).expect(200)
    s3.b.get(path).expect(200)
    s3.b.save(path, nb("v2 from B")).expect(200)

    refused = s3.a.restore_checkpoint(path, checkpoint)

    assert refused.status == 409, refused.body[:300]
    assert "changed by someone else" in refused.json["message"]
    saved = json.loads(s3.raw.get(s3.bucket, path))
    assert "".join(saved["cells"][0]["source"]) == "v2 from B"
    s3.a.get(path).expect(200)  # "Reload from Disk": A sees B's version
    s3.a.restore_checkpoint(path, checkpoint).expect(204)
    restored = json.loads(s3.raw.get(s3.bucket, path))
    assert "".join(restored["cells"][0]["source"]) == "v0"


@pytest.mark.js3_no_chaos
def test_a_save_never_seen_elsewhere_still_works_and_repeats(s3: Pair) -> None:
    """One server saving again and again is never in conflict with itself."""
    d = s3.folder()
    path = f"{d}/solo.txt"
    for i in range(5):
        s3.a.save_text(path, f"v{i}").expect(201 if i == 0 else 200)
    assert s3.text(path) == "v4"
    assert s3.proxy.count("PUT", status=412) == 0


def test_creation_races_do_not_overwrite(s3: Pair) -> None:
    """A finds the name free; B creates it; A's creation is a 409 and B's file stays."""
    d = s3.folder()
    path = f"{d}/new.txt"
    assert s3.a.get(path).status == 404
    s3.b.save_text(path, "B was first").expect(201)

    refused = s3.a.save_text(path, "A thought it was free")

    assert refused.status == 409
    assert "created by someone else" in refused.json["message"]
    assert s3.text(path) == "B was first"


def test_chunked_upload_over_a_newer_version_is_refused(s3: Pair) -> None:
    d = s3.folder()
    path = f"{d}/data.bin"
    s3.a.upload_chunked(path, b"0" * 100).pop().expect(201)
    s3.a.get(path, content=False).expect(200)
    s3.b.upload_chunked(path, b"B" * 100).pop().expect(200)

    last = s3.a.upload_chunked(path, b"A" * (3 * 1024 * 1024), 1024 * 1024).pop()

    assert last.status == 409
    assert s3.raw.get(s3.bucket, path) == b"B" * 100
    assert s3.raw.multipart_uploads(s3.bucket, d) == []


def test_deleted_elsewhere_then_saved_here_keeps_the_work(s3: Pair) -> None:
    d = s3.folder()
    path = f"{d}/gone.txt"
    s3.a.save_text(path, "v0").expect(201)
    s3.b.delete(path).expect(204)

    s3.a.save_text(path, "A's unsaved work").expect(200, 201)

    assert s3.text(path) == "A's unsaved work"


@pytest.mark.js3_no_chaos
def test_new_untitled_raced_by_another_server_takes_the_next_name(s3: Pair) -> None:
    """A lists the folder and picks Untitled.ipynb; just before A's PUT reaches
    S3, B creates Untitled.ipynb itself (the proxy runs B's request at that
    moment). A's create-only PUT gets 412, A takes Untitled1.ipynb, and B's
    notebook is untouched.

    (The race is staged rather than left to chance: moto checks If-None-Match
    and stores the object without a lock, so truly simultaneous PUTs can both
    pass there, which S3 itself does not allow.)"""
    d = s3.folder()
    raced: dict[str, Any] = {}

    def rule(req: RequestInfo) -> Fault | None:
        if req.method == "PUT" and req.key == f"{d}/Untitled.ipynb" and not raced:
            raced["b"] = s3.b.new_untitled(d, type="notebook")  # B goes straight to moto
        return None

    s3.proxy.configure(rule=rule)
    mine = s3.a.new_untitled(d, type="notebook").expect(201).json

    theirs = raced["b"].expect(201).json
    assert theirs["path"] == f"{d}/Untitled.ipynb"
    assert mine["path"] == f"{d}/Untitled1.ipynb"
    assert s3.proxy.count("PUT", status=412, key=f"{d}/Untitled.ipynb") == 1
    head = s3.raw.head(s3.bucket, f"{d}/Untitled.ipynb")
    assert head["LastModified"] <= s3.raw.head(s3.bucket, f"{d}/Untitled1.ipynb")["LastModified"]


def test_many_new_untitled_from_two_servers(s3: Pair) -> None:
    """Both servers create untitled notebooks in one folder, interleaved one by
    one: each answer names a distinct notebook and all of them exist."""
    d = s3.folder()
    paths = []
    for client in [s3.a, s3.b] * 6:
        paths.append(client.new_untitled(d, type="notebook").expect(201).json["path"])
    assert len(set(paths)) == 12
    notebooks = [k for k in s3.raw.keys(s3.bucket, f"{d}/") if k.endswith(".ipynb")]
    assert sorted(notebooks) == sorted(paths)


# -- S3 failing under a live server --------------------------------------------


@pytest.mark.js3_no_chaos
def test_s3_unreachable_gives_clear_errors_then_recovers(s3: Pair) -> None:
    d = s3.folder()
    s3.a.save_text(f"{d}/keep.txt", "safe").expect(201)
    s3.proxy.configure(rule=lambda req: Fault.drop())

    answers = [
        s3.a.get(f"{d}/keep.txt"),
        s3.a.save_text(f"{d}/keep.txt", "during the outage"),
        s3.a.get(d),
        s3.a.rename(f"{d}/keep.txt", f"{d}/moved.txt"),
    ]

    for answer in answers:
        assert answer.status in (502, 503), answer.body[:300]
        assert answer.json["message"] and "Traceback" not in answer.body.decode()
    s3.proxy.reset()
    assert s3.a.get(f"{d}/keep.txt").expect(200).json["content"] == "safe"
    s3.a.save_text(f"{d}/keep.txt", "after").expect(200)
    assert s3.text(f"{d}/keep.txt") == "after"
