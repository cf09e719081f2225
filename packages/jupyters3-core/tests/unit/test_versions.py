"""The version memory and the conditional-write rules, without I/O."""

from __future__ import annotations

import logging

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jupyters3 import errors
from jupyters3.versions import ABSENT, FREE, Conditions, VersionMemo
from jupyters3.writes import ConditionalWrites, WriteConflict

LOG = logging.getLogger("test")


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


def _precondition() -> errors.PreconditionFailed:
    return errors.PreconditionFailed("no", status=412)


async def test_stale_save_is_a_conflict_and_forgets_the_version() -> None:
    memo = VersionMemo()
    memo.served("a.txt", "v1")
    writes = ConditionalWrites(memo, "auto", LOG)
    seen: list[Conditions] = []

    async def write(conditions: Conditions) -> None:
        seen.append(conditions)
        raise _precondition()

    with pytest.raises(WriteConflict) as info:
        await writes.run("a.txt", write)
    assert info.value.status_code == 409 and not info.value.created
    assert "changed by someone else" in info.value.log_message
    assert seen == [Conditions(if_match="v1")]
    assert memo.basis("a.txt") is None


async def test_create_conflict_says_created() -> None:
    writes = ConditionalWrites(VersionMemo(), "on", LOG)

    async def write(conditions: Conditions) -> None:
        assert conditions.if_none_match
        raise _precondition()

    with pytest.raises(WriteConflict) as info:
        await writes.run("n.ipynb", write, creating=True)
    assert info.value.created


async def test_deleted_elsewhere_is_written_again_as_a_creation() -> None:
    memo = VersionMemo()
    memo.served("a.txt", "v1")
    writes = ConditionalWrites(memo, "auto", LOG)
    seen: list[Conditions] = []

    async def write(conditions: Conditions) -> str:
        seen.append(conditions)
        if conditions.if_match:
            raise errors.NotFound("gone", code="NoSuchKey", status=404)
        return "ok"

    assert await writes.run("a.txt", write) == "ok"
    assert seen == [Conditions(if_match="v1"), Conditions(if_none_match=True)]


@pytest.mark.parametrize(
    "error",
    [
        errors.NotSupported("no", code="NotImplemented", status=501),
        errors.InvalidRequest("If-None-Match is not supported", code="InvalidArgument", status=400),
    ],
)
async def test_store_without_conditions_falls_back_once_in_auto(
    error: errors.S3Error, caplog: pytest.LogCaptureFixture
) -> None:
    memo = VersionMemo()
    memo.absent("a.txt")
    writes = ConditionalWrites(memo, "auto", LOG)
    seen: list[Conditions] = []

    async def write(conditions: Conditions) -> None:
        seen.append(conditions)
        if conditions.any:
            raise error

    await writes.run("a.txt", write)
    await writes.run("a.txt", write)
    assert seen == [Conditions(if_none_match=True), Conditions(), Conditions()]
    assert not writes.enabled
    assert [r.levelname for r in caplog.records].count("WARNING") == 1


async def test_on_mode_keeps_the_error_and_off_sends_nothing() -> None:
    memo = VersionMemo()
    memo.served("a.txt", "v1")

    async def refuse(conditions: Conditions) -> None:
        if conditions.any:
            raise errors.NotSupported("no", code="NotImplemented", status=501)

    with pytest.raises(errors.NotSupported):
        await ConditionalWrites(memo, "on", LOG).run("a.txt", refuse)
    await ConditionalWrites(memo, "off", LOG).run("a.txt", refuse)  # unconditional: fine


async def test_unrelated_bad_request_is_not_taken_for_missing_support() -> None:
    memo = VersionMemo()
    memo.served("a.txt", "v1")
    writes = ConditionalWrites(memo, "auto", LOG)

    async def write(conditions: Conditions) -> None:
        raise errors.InvalidRequest("Your proposed upload exceeds the maximum", status=400)

    with pytest.raises(errors.InvalidRequest):
        await writes.run("a.txt", write)
    assert writes.enabled


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
