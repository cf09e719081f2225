"""fileids.index_before_rename: a folder gets a file id before its rename event."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from jupyters3 import fileids


class FakeIds:
    """The two methods of jupyter_server_fileid's managers that are used."""

    def __init__(self, known: dict[str, str] | None = None, fail: bool = False) -> None:
        self.known = dict(known or {})
        self.fail = fail
        self.indexed: list[str] = []

    def get_id(self, path: str) -> str | None:
        if self.fail:
            raise RuntimeError("database is locked")
        return self.known.get(path)

    def index(self, path: str) -> str:
        self.indexed.append(path)
        self.known[path] = f"id-{path}"
        return self.known[path]


def contents_manager(settings: Any) -> Any:
    return SimpleNamespace(parent=SimpleNamespace(web_app=SimpleNamespace(settings=settings)))


def test_an_unindexed_folder_is_indexed() -> None:
    ids = FakeIds()
    fileids.index_before_rename(contents_manager({"file_id_manager": ids}), "team")
    assert ids.indexed == ["team"]


def test_an_indexed_path_keeps_its_id() -> None:
    ids = FakeIds({"team": "abc"})
    fileids.index_before_rename(contents_manager({"file_id_manager": ids}), "team")
    assert ids.indexed == []
    assert ids.known == {"team": "abc"}


@pytest.mark.parametrize(
    "cm",
    [
        SimpleNamespace(parent=None),
        SimpleNamespace(parent=SimpleNamespace()),
        contents_manager({}),
        contents_manager({"file_id_manager": object()}),
        contents_manager(None),
    ],
    ids=["no parent", "no web app", "no fileid extension", "not a file id manager", "no settings"],
)
def test_servers_without_file_ids_are_left_alone(cm: Any) -> None:
    assert fileids.file_id_manager(cm) is None
    fileids.index_before_rename(cm, "team")  # does nothing, raises nothing


def test_an_index_failure_never_fails_the_rename(caplog: pytest.LogCaptureFixture) -> None:
    ids = FakeIds(fail=True)
    fileids.index_before_rename(contents_manager({"file_id_manager": ids}), "team")
    assert ids.indexed == []
    assert "Could not index 'team'" in caplog.text
