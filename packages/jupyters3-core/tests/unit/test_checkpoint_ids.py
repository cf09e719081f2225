"""Checkpoint ids that name an S3 version (versioned buckets), without I/O."""

from __future__ import annotations

import re
from datetime import datetime, timezone

from hypothesis import given
from hypothesis import strategies as st

from jupyters3 import keys
from jupyters3.checkpoints import version_of, versioned_id

MADE = datetime(2026, 12, 5, 4, 30, 1, 123456, tzinfo=timezone.utc)


@given(st.text(min_size=1, max_size=80))
def test_a_versioned_id_names_its_version_and_time(version_id: str) -> None:
    checkpoint_id = versioned_id(MADE, version_id)
    assert re.fullmatch(r"[\w-]+", checkpoint_id)  # the REST API's id pattern
    assert version_of(checkpoint_id) == version_id
    assert keys.checkpoint_time(checkpoint_id) == MADE


def test_copied_checkpoints_and_other_ids_name_no_version() -> None:
    assert version_of(keys.new_checkpoint_id(MADE, "0a1b2c")) is None
    assert version_of("v0123") is None  # no time: not one of ours
    assert version_of(keys.new_checkpoint_id(MADE, "v19")) is None  # not base32


def test_ids_sort_by_time_whatever_they_name() -> None:
    later = MADE.replace(second=2)
    ids = [versioned_id(later, "zzz"), keys.new_checkpoint_id(MADE, "ffffff")]
    assert sorted(ids) == ids[::-1]
