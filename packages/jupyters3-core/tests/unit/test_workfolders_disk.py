"""A working folder on disk never follows a symbolic link (real files in a temporary folder)."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

import pytest

from jupyters3.workfolders.disk import Changed, InTheWay, LocalFolder

pytestmark = pytest.mark.skipif(os.name != "posix", reason="working folders need POSIX")


@pytest.fixture
def places(tmp_path: Path) -> tuple[LocalFolder, Path, Path]:
    base, outside = tmp_path / "tree", tmp_path / "outside"
    base.mkdir()
    outside.mkdir()
    folder = LocalFolder(str(base), ["proj"])
    folder.ensure()
    return folder, base / "proj", outside


def _put(folder: LocalFolder, rel: str, data: bytes, expected=None, mtime_ns: int = 10**18):
    pending = folder.begin(rel)
    folder.write(pending, data)
    return folder.commit(pending, expected, mtime_ns), pending.md5.hexdigest()


def test_a_file_is_written_whole_under_its_name(places) -> None:
    folder, root, _ = places
    sig, md5 = _put(folder, "lib/h.py", b"x = 1\n", mtime_ns=1_700_000_000_123_456_000)
    assert (root / "lib/h.py").read_bytes() == b"x = 1\n"
    assert sig.size == 6 and sig.mtime_ns == 1_700_000_000_123_456_000
    assert md5 == hashlib.md5(b"x = 1\n").hexdigest()
    assert folder.stat("lib/h.py") == sig
    assert [p.name for p in (root / "lib").iterdir()] == ["h.py"]  # no temporary file left


def test_a_file_changed_meanwhile_is_not_replaced(places) -> None:
    folder, root, _ = places
    sig, _ = _put(folder, "a.txt", b"first")
    (root / "a.txt").write_bytes(b"the kernel's")
    pending = folder.begin("a.txt")
    folder.write(pending, b"second")
    with pytest.raises(Changed):
        folder.commit(pending, sig, 10**18)
    assert (root / "a.txt").read_bytes() == b"the kernel's"
    assert sorted(p.name for p in root.iterdir()) == ["a.txt"]


def test_a_link_in_the_path_is_never_followed(places) -> None:
    folder, root, outside = places
    (root / "data").symlink_to(outside, target_is_directory=True)
    with pytest.raises(InTheWay):
        folder.begin("data/x.txt")
    assert list(outside.iterdir()) == []
    (outside / "secret").write_bytes(b"not yours")
    (root / "link.txt").symlink_to(outside / "secret")
    with pytest.raises(InTheWay):
        folder.snapshot("link.txt", str(outside / "copy"))
    with pytest.raises(InTheWay):
        folder.stat("link.txt")
    # A file is never written over a link (nor through it).
    with pytest.raises(InTheWay):
        _put(folder, "link.txt", b"mine")
    assert (outside / "secret").read_bytes() == b"not yours"
    assert (root / "link.txt").is_symlink()


def test_a_scan_reports_links_and_odd_entries_without_following_them(places) -> None:
    folder, root, outside = places
    (outside / "big").write_bytes(b"x" * 100)
    _put(folder, "a.txt", b"a")
    (root / "sub").mkdir()
    (root / "empty").mkdir()
    (root / "sub" / "b.txt").write_bytes(b"b")
    (root / "linkdir").symlink_to(outside, target_is_directory=True)
    (root / "link.txt").symlink_to(outside / "big")
    os.mkfifo(root / "fifo")
    (root / "__pycache__").mkdir()
    (root / "__pycache__" / "x.pyc").write_bytes(b"c")
    (root / ".jupyters3-working-folder.txt").write_text("note")
    scan = folder.scan([".*", "__pycache__"], 100)
    assert sorted(scan.files) == ["a.txt", "sub/b.txt"]
    assert scan.folders == {"sub": False, "empty": True}
    assert sorted(scan.links) == ["link.txt", "linkdir"]
    assert scan.odd == ["fifo"]
    assert not scan.truncated
    assert folder.scan([], 2).truncated


def test_snapshot_copies_and_hashes_without_following(places, tmp_path: Path) -> None:
    folder, root, _ = places
    (root / "f.bin").write_bytes(b"abc" * 1000)
    sig, md5 = folder.snapshot("f.bin", str(tmp_path / "snap"))
    assert (tmp_path / "snap").read_bytes() == b"abc" * 1000
    assert sig.size == 3000
    assert folder.md5("f.bin") == (sig, md5)


def test_remove_move_aside_and_prune(places) -> None:
    folder, root, _ = places
    sig, _ = _put(folder, "d/e/f.txt", b"f")
    assert folder.move_aside("d/e/f.txt", "d/e/g.txt", sig)
    assert not folder.move_aside("d/e/f.txt", "d/e/h.txt", sig)
    moved = folder.stat("d/e/g.txt")
    assert moved is not None
    (root / "d/e/g.txt").write_bytes(b"changed by the kernel")
    assert not folder.remove("d/e/g.txt", moved)
    assert folder.remove("d/e/g.txt", folder.stat("d/e/g.txt"))
    folder.prune("d/e")
    assert list(root.iterdir()) == []


def test_remove_all_never_follows_links_and_keeps_skipped_names(tmp_path: Path) -> None:
    base, outside = tmp_path / "tree", tmp_path / "outside"
    base.mkdir()
    outside.mkdir()
    (outside / "keep.txt").write_bytes(b"keep")
    root = LocalFolder(str(base), [], skip=frozenset({"team"}))
    _put(root, "a/b/c.txt", b"c")
    (base / "a" / "out").symlink_to(outside, target_is_directory=True)
    (base / "team").mkdir()
    (base / "team" / "x").write_bytes(b"a mount's")
    root.remove_all()
    assert sorted(p.name for p in base.iterdir()) == ["team"]
    assert (outside / "keep.txt").read_bytes() == b"keep"
    LocalFolder(str(base), ["team"]).remove_all()
    assert list(base.iterdir()) == []


def test_a_read_only_folder_is_read_only_for_the_kernel_but_not_for_the_sync(
    tmp_path: Path,
) -> None:
    folder = LocalFolder(str(tmp_path), ["lake", "x"], read_only=True)
    folder.ensure()
    _put(folder, "sub/a.csv", b"1,2")
    root = tmp_path / "lake" / "x"
    assert stat.S_IMODE((root / "sub/a.csv").stat().st_mode) == 0o444
    assert stat.S_IMODE((root / "sub").stat().st_mode) == 0o555
    assert stat.S_IMODE(root.stat().st_mode) == 0o555
    assert stat.S_IMODE((tmp_path / "lake").stat().st_mode) != 0o555  # above the folder
    folder.write_text(".jupyters3-working-folder.txt", "note")
    sig = folder.stat("sub/a.csv")
    assert sig is not None and folder.remove("sub/a.csv", sig)
    if os.geteuid() != 0:  # root writes anyway
        with pytest.raises(PermissionError):
            (root / "new.txt").write_text("no")
    folder.remove_all()
    assert not root.exists()
