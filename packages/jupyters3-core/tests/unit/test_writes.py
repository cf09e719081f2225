"""The conditional-write policy (jupyters3.writes): which conditions a write
carries, and what each S3 outcome becomes, without I/O."""

from __future__ import annotations

import logging

import pytest

from jupyters3 import errors
from jupyters3.contents_errors import WriteConflict
from jupyters3.http_errors import http_error
from jupyters3.versions import Conditions, VersionMemo
from jupyters3.writes import ConditionalWrites

LOG = logging.getLogger("test")


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
    assert not info.value.created and http_error(info.value).status_code == 409
    assert "changed by someone else" in str(info.value)
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


@pytest.mark.parametrize(
    ("error", "refused"),
    [
        (errors.NotSupported("no", code="NotImplemented", status=501), True),
        (
            errors.InvalidRequest("The XML you provided was not well-formed", code="MalformedXML"),
            True,
        ),
        (errors.InvalidRequest("ETag conditions are not supported", code="InvalidArgument"), True),
        (errors.InvalidRequest("Bucket name is wrong", code="InvalidBucketName"), False),
    ],
)
def test_a_store_without_conditional_deletes_is_detected_once_in_auto(
    error: errors.S3Error, refused: bool
) -> None:
    writes = ConditionalWrites(VersionMemo(), "auto", LOG)
    assert writes.refuses_conditional_deletes(error) is refused
    assert writes.deletes_enabled is not refused
    assert writes.enabled  # conditional writes are another question


def test_conditional_deletes_follow_the_mode() -> None:
    refusal = errors.NotSupported("no", code="NotImplemented", status=501)
    on = ConditionalWrites(VersionMemo(), "on", LOG)
    assert not on.refuses_conditional_deletes(refusal) and on.deletes_enabled
    assert not ConditionalWrites(VersionMemo(), "off", LOG).deletes_enabled
