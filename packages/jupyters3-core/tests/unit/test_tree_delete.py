"""tree.delete_keys: DeleteObjects' per-key errors go through the same error table."""

from __future__ import annotations

from typing import Any

import pytest
from tornado.web import HTTPError

from jupyters3 import errors, tree
from jupyters3.http_errors import http_errors
from jupyters3.s3.xml import DeleteError, DeleteResult


class FakeClient:
    """Answers DeleteObjects with the per-key errors it is given (no HTTP)."""

    bucket = "b"

    def __init__(self, *failed: tuple[str, str]) -> None:
        self.failed = failed
        self.calls: list[tuple[str, list[str]]] = []

    async def delete_object(self, key: str) -> None:
        self.calls.append(("DeleteObject", [key]))

    async def delete_objects(self, keys: Any) -> DeleteResult:
        self.calls.append(("DeleteObjects", list(keys)))
        errs = [DeleteError(key, code, f"{code} message") for key, code in self.failed]
        return DeleteResult([k for k in keys if k not in dict(self.failed)], errs)


async def test_no_errors_no_exception() -> None:
    client = FakeClient()
    await tree.delete_keys(client, ["a", "b"])  # type: ignore[arg-type]
    assert client.calls == [("DeleteObjects", ["a", "b"])]


async def test_one_key_is_one_delete_object_and_none_is_no_request() -> None:
    client = FakeClient()
    await tree.delete_keys(client, ["a"])  # type: ignore[arg-type]
    await tree.delete_keys(client, [])  # type: ignore[arg-type]
    assert client.calls == [("DeleteObject", ["a"])]


@pytest.mark.parametrize(
    ("code", "cls", "status"),
    [
        ("AccessDenied", errors.AccessDenied, 403),
        ("InternalError", errors.ServerError, 503),
        ("SomethingNew", errors.S3Error, 502),
    ],
)
async def test_per_key_errors_map_like_whole_requests(
    code: str, cls: type[errors.S3Error], status: int
) -> None:
    client = FakeClient(("a", code), ("b", code))
    with pytest.raises(cls) as caught:
        await tree.delete_keys(client, ["a", "b", "c"])  # type: ignore[arg-type]
    error = caught.value
    assert type(error) is cls
    assert "2 of 3 objects could not be deleted" in str(error)
    assert (error.code, error.key, error.operation) == (code, "a", "DeleteObjects")
    with pytest.raises(HTTPError) as answered, http_errors("folder"):
        raise error
    assert answered.value.status_code == status
