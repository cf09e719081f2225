"""Pure helpers of what S3 objects look like on the wire: the check that a
ranged GET was answered with exactly the bytes asked for."""

from __future__ import annotations

import pytest
from tornado import httputil

from jupyters3.s3.objects import range_problem


def _headers(content_range: str | None) -> httputil.HTTPHeaders:
    headers = httputil.HTTPHeaders()
    if content_range is not None:
        headers["Content-Range"] = content_range
    return headers


@pytest.mark.parametrize(
    ("status", "content_range", "first", "last", "length"),
    [
        (206, "bytes 0-9/100", 0, 9, 10),
        (206, "bytes 90-99/100", 90, 120, 10),  # a last byte past the end: up to the end
        (206, "bytes 5-99/100", 5, None, 95),
        (206, "bytes 5-99/100", 5, None, None),  # the length not known yet (a stream)
        (206, "bytes 0-0/1", 0, 0, 1),
    ],
)
def test_the_bytes_asked_for_are_accepted(
    status: int, content_range: str, first: int, last: int | None, length: int | None
) -> None:
    assert range_problem(status, _headers(content_range), first, last, length) is None


@pytest.mark.parametrize(
    ("status", "content_range", "first", "last", "length", "said"),
    [
        (200, None, 0, 9, 100, "HTTP 200 with Content-Range (none)"),  # Range ignored
        (206, None, 0, 9, 10, "Content-Range (none)"),
        (206, "bytes 1-10/100", 0, 9, 10, "bytes 1-10/100"),  # another start
        (206, "bytes 0-19/100", 0, 9, 20, "bytes 0-19/100"),  # another end
        (206, "bytes 0-9/100", 0, 9, 12, "and 12 bytes"),  # another length
        (206, "items 0-9/100", 0, 9, 10, "items 0-9/100"),
        (206, "bytes x-9/100", 0, 9, 10, "bytes x-9/100"),
        (206, "bytes 0-50/100", 0, 99, 51, "bytes 0-50/100"),  # short of what exists
    ],
)
def test_other_bytes_are_named(
    status: int,
    content_range: str | None,
    first: int,
    last: int | None,
    length: int | None,
    said: str,
) -> None:
    problem = range_problem(status, _headers(content_range), first, last, length)
    assert problem is not None and said in problem
