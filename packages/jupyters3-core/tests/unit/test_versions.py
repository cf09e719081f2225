"""The version memory (what this server last saw of each path), without I/O."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from jupyters3.versions import ABSENT, FREE, Conditions, VersionMemo


def test_conditions_follow_what_was_seen() -> None:
    memo = VersionMemo()
    assert memo.conditions("a.txt") == Conditions()  # never seen: unconditional
    memo.absent("a.txt")
    assert memo.conditions("a.txt") == Conditions(if_none_match=True)
    memo.served("a.txt", '"abc"')
    assert memo.conditions("a.txt") == Conditions(if_match="abc")
    memo.forget("a.txt")
    assert memo.basis("a.txt") is None


def test_forget_under_a_folder_only() -> None:
    memo = VersionMemo()
    for path in ("d/x", "d/e/y", "dd/z", "d"):
        memo.served(path, "e")
    memo.forget_under("d")
    assert [p for p in ("d/x", "d/e/y", "dd/z", "d") if memo.basis(p)] == ["dd/z", "d"]


@given(st.lists(st.tuples(st.sampled_from("abcdefgh"), st.booleans()), max_size=60))
def test_memory_is_bounded_and_keeps_the_most_recent(ops: list[tuple[str, bool]]) -> None:
    memo = VersionMemo(capacity=3)
    model: dict[str, object] = {}
    order: list[str] = []
    for path, present in ops:
        if present:
            memo.served(path, f"etag-{path}")
            model[path] = f"etag-{path}"
        else:
            memo.absent(path)
            model[path] = ABSENT
        order = [p for p in order if p != path] + [path]
    assert len(memo) <= 3
    for path in order[-3:]:
        assert memo.basis(path) == model[path]


def test_free_is_absent_for_conditions_but_told_apart() -> None:
    memo = VersionMemo()
    memo.free("a")
    memo.absent("b")
    assert memo.basis("a") is FREE and memo.basis("b") is ABSENT
    assert memo.conditions("a") == memo.conditions("b") == Conditions(if_none_match=True)
    memo.served("a", '"e1"')
    assert memo.basis("a") == "e1"


def test_save_times_are_kept_per_version_and_forgotten_with_it() -> None:
    from datetime import datetime, timezone

    when = datetime(2026, 12, 5, 1, 2, 3, 456789, tzinfo=timezone.utc)
    memo = VersionMemo(capacity=2)
    memo.served("a", '"e1"', when)
    assert memo.saved_time("a", '"e1"') == when == memo.saved_time("a", "e1")
    assert memo.saved_time("a", "e2") is None  # another version: not known
    memo.served("a", "e2")  # a new version without a time forgets the old time
    assert memo.saved_time("a", "e1") is None and memo.saved_time("a", "e2") is None
    memo.served("b", "e3", when)
    memo.absent("b")
    assert memo.saved_time("b", "e3") is None
    memo.served("c", "e4", when)
    memo.served("d", "e5", when)
    memo.served("e", "e6", when)  # capacity 2: "c" is evicted with its time
    assert memo.saved_time("c", "e4") is None and memo.saved_time("e", "e6") == when
    memo.forget_under("")
    memo.forget("e")
    assert memo.saved_time("e", "e6") is None


def test_a_version_id_is_kept_with_the_version_it_belongs_to() -> None:
    memo = VersionMemo()
    memo.served("a.txt", "e1", version_id="v1")
    assert memo.version_id("a.txt") == "v1"
    memo.served("a.txt", "e2")  # a newer version whose id is not known
    assert memo.version_id("a.txt") is None
    memo.served("b.txt", "e3", version_id="v3")
    memo.forget("b.txt")
    assert memo.version_id("b.txt") is None
