"""Which keys a kernel's working folder holds and what it leaves out (pure)."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from jupyters3.keys import KeyMap
from jupyters3.s3.xml import ListedObject
from jupyters3.workfolders.disk import Scan
from jupyters3.workfolders.manifest import Entry, Manifest, Origin, Sig
from jupyters3.workfolders.names import FoldedNames, conflict_name, matched_pattern, unsafe
from jupyters3.workfolders.plan import Limits, local_changes, select

WHEN = datetime(2026, 7, 14, 10, 31, 5, tzinfo=timezone.utc)


def _obj(key: str, size: int = 10) -> ListedObject:
    return ListedObject(key, size, f'"{key}-etag"', WHEN)


def _rel_of(root: str):
    keymap = KeyMap("users/a/")

    def rel_of(key: str) -> str | None:
        path = keymap.path_of(key)
        if path == root:
            return None
        return path[len(root) + 1 :] if root else path

    return rel_of


def _select(keys: list[str], limits: Limits | None = None, **kwargs):
    objects = [_obj(k) if not isinstance(k, tuple) else _obj(*k) for k in keys]
    return select(objects, _rel_of("proj"), limits or Limits(), **kwargs)


def test_files_and_folders_are_selected_with_their_versions() -> None:
    chosen = _select(
        ["users/a/proj/", "users/a/proj/data.csv", "users/a/proj/lib/h.py", "users/a/proj/empty/"]
    )
    assert sorted(chosen.files) == ["data.csv", "lib/h.py"]
    remote = chosen.files["data.csv"]
    assert (remote.key, remote.etag, remote.size) == (
        "users/a/proj/data.csv",
        "users/a/proj/data.csv-etag",
        10,
    )
    assert remote.mtime_ns == int(WHEN.timestamp()) * 10**9
    assert chosen.folders == {"empty": '"users/a/proj/empty/-etag"'}
    assert chosen.left_out == []


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        ("users/a/proj/../evil.txt", "'..' segments"),
        ("users/a/proj//abs.txt", "empty path segment"),
        ("users/a/proj/a\x01b.txt", "control character"),
        ("users/a/proj/back\\slash", "backslashes"),
        ("users/a/proj/" + "n" * 300, "longer than 255 bytes"),
        ("users/a/proj/.jupyters3-working-folder.txt", "hidden"),
    ],
)
def test_hostile_keys_are_left_out_with_their_reason(key: str, reason: str) -> None:
    chosen = _select([key, "users/a/proj/ok.txt"], Limits(left_out=()))
    assert list(chosen.files) == ["ok.txt"] or reason == "hidden"
    found = [item for item in chosen.left_out if reason in item.reason or reason == "hidden"]
    assert found, chosen.left_out


def test_checkpoints_are_counted_not_listed() -> None:
    chosen = _select(
        ["users/a/proj/n.ipynb", "users/a/proj/n.ipynb/.checkpoints/20260101T000000000000-ab"]
    )
    assert list(chosen.files) == ["n.ipynb"]
    assert chosen.checkpoints == 1
    assert chosen.left_out == []


def test_left_out_patterns_match_any_name_of_the_path() -> None:
    chosen = _select(
        [
            "users/a/proj/.env",
            "users/a/proj/lib/__pycache__/h.pyc",
            "users/a/proj/.git/HEAD",
            "users/a/proj/keep.py",
        ]
    )
    assert list(chosen.files) == ["keep.py"]
    assert {i.name for i in chosen.left_out} == {".env", "lib/__pycache__/h.pyc", ".git/HEAD"}
    assert all("left-out name" in i.reason for i in chosen.left_out)


def test_case_and_accent_clashes_keep_the_first_only() -> None:
    chosen = _select(
        [
            "users/a/proj/Data.csv",
            "users/a/proj/data.csv",
            "users/a/proj/caf\u00e9.txt",
            "users/a/proj/cafe\u0301.txt",
            "users/a/proj/x",
            "users/a/proj/x/y.txt",
        ]
    )
    # The first in key order stays: "Data" < "data", "cafe\u0301" < "caf\u00e9".
    assert sorted(chosen.files) == ["Data.csv", "cafe\u0301.txt", "x"]
    reasons = {i.name: i.reason for i in chosen.left_out}
    assert "only in case" in reasons["data.csv"]
    assert "only in case" in reasons["caf\u00e9.txt"]
    assert "is a file" in reasons["x/y.txt"]


def test_the_limits_leave_out_large_files_and_what_does_not_fit() -> None:
    limits = Limits(max_file_bytes=100, max_folder_bytes=250, max_files=3, left_out=())
    chosen = _select(
        [
            ("users/a/proj/big.bin", 101),
            ("users/a/proj/a", 100),
            ("users/a/proj/b", 100),
            ("users/a/proj/c", 100),
            ("users/a/proj/d", 10),
            ("users/a/proj/sub/e", 1),
        ],
        limits,
    )
    assert sorted(chosen.files) == ["a", "b", "d"]
    reasons = {i.name: i.reason for i in chosen.left_out}
    assert "over kernel_max_file_bytes" in reasons["big.bin"]
    assert "kernel_max_folder_bytes" in reasons["c"]
    assert "kernel_max_files" in reasons["sub/e"]


def test_an_incomplete_listing_says_so() -> None:
    chosen = _select(["users/a/proj/a"], complete=False)
    assert any("too many objects" in i.reason for i in chosen.left_out)


def test_skipped_top_names_belong_to_others() -> None:
    chosen = select(
        [_obj("team/x"), _obj("mine")], KeyMap().path_of, Limits(), skip=frozenset({"team"})
    )
    assert list(chosen.files) == ["mine"]


def _entry(size: int = 1, mtime: int = 5) -> Entry:
    return Entry("k", "e", Sig(size, mtime, 7), "md5")


def test_local_changes_from_a_scan() -> None:
    scan = Scan(
        files={
            "same": Sig(1, 5, 7),
            "changed": Sig(2, 6, 7),
            "new": Sig(3, 1, 8),
            "huge": Sig(10**12, 1, 9),
            "bad\x01": Sig(1, 1, 1),
        },
        folders={"empty": True, "full": False},
        links=["link"],
        odd=["fifo"],
    )
    files = {"same": _entry(), "changed": _entry(), "gone": _entry(), ".hidden-old": _entry()}
    found = local_changes(scan, files, {"old-empty": "x"}, Limits())
    assert found.created == ["new"]
    assert found.changed == ["changed"]
    assert found.deleted == ["gone"]  # a name left out now is no delete
    assert found.new_folders == ["empty"]
    assert found.gone_folders == ["old-empty"]
    never = {i.name: i.reason for i in found.never}
    assert "symbolic link" in never["link"]
    assert "regular file" in never["fifo"]
    assert "kernel_max_file_bytes" in never["huge"]
    assert "control character" in never["bad\x01"]


def test_a_truncated_scan_infers_no_delete() -> None:
    found = local_changes(Scan(truncated=True), {"gone": _entry()}, {"f": "x"}, Limits())
    assert found.deleted == [] and found.gone_folders == []
    assert any("too many files" in i.reason for i in found.never)


def test_names() -> None:
    assert unsafe("a/b.txt") is None
    assert "255" in (unsafe("x" * 256) or "")
    assert unsafe(".jupyters3-tmp-1") is not None
    assert matched_pattern("lib/__pycache__/x.pyc", [".*", "__pycache__"]) == "__pycache__"
    assert matched_pattern("lib/x.py", [".*", "__pycache__"]) is None
    names = FoldedNames(["a/B.txt"])
    assert names.take("a/b.txt") is not None
    assert names.take("A/c.txt") is not None  # its folder differs only in case
    assert names.take("a/c.txt") is None
    assert names.take_folder("a/B.txt") is not None


def test_conflict_names_are_clear_and_free() -> None:
    assert conflict_name("d/data.csv", WHEN) == "d/data (kernel conflict 2026-07-14 10-31-05).csv"
    assert conflict_name("Makefile", WHEN) == "Makefile (kernel conflict 2026-07-14 10-31-05)"
    assert conflict_name(".env", WHEN) == ".env (kernel conflict 2026-07-14 10-31-05)"
    taken = {"data (kernel conflict 2026-07-14 10-31-05).csv"}
    assert (
        conflict_name("data.csv", WHEN, taken) == "data (kernel conflict 2026-07-14 10-31-05 2).csv"
    )


def test_the_manifest_round_trips_and_refuses_what_it_is_not() -> None:
    manifest = Manifest(
        "proj",
        Origin("http://s3", "b", "p/", "team"),
        {"a": _entry()},
        {"f": "e"},
        {"proj/n.ipynb"},
    )
    again = Manifest.from_json(manifest.to_json())
    assert again == manifest
    with pytest.raises(ValueError):
        Manifest.from_json('{"version": 99}')
    with pytest.raises(ValueError):
        Manifest.from_json('{"version": 1, "root": "x"}')
