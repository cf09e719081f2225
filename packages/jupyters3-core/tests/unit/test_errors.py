"""The S3 error-code table and the messages of the domain error tree."""

import pytest

from jupyters3 import errors
from jupyters3.errors import S3_ERROR_CODES, error_from_response

# Each S3 error code the table must know, with the class and HTTP status S3 sends.
EXPECTED = [
    ("NoSuchKey", 404, errors.NotFound),
    ("NoSuchUpload", 404, errors.NotFound),
    ("NoSuchBucket", 404, errors.NoSuchBucket),
    ("AccessDenied", 403, errors.AccessDenied),
    ("InvalidAccessKeyId", 403, errors.CredentialsRejected),
    ("SignatureDoesNotMatch", 403, errors.CredentialsRejected),
    ("ExpiredToken", 400, errors.CredentialsRejected),
    ("InvalidToken", 400, errors.CredentialsRejected),
    ("RequestTimeTooSkewed", 403, errors.CredentialsRejected),
    ("PreconditionFailed", 412, errors.PreconditionFailed),
    ("ConditionalRequestConflict", 409, errors.ConcurrentWrite),
    ("NotImplemented", 501, errors.NotSupported),
    ("OperationAborted", 409, errors.Conflict),
    ("EntityTooSmall", 400, errors.InvalidRequest),
    ("InvalidPart", 400, errors.InvalidRequest),
    ("InvalidRange", 416, errors.InvalidRequest),
    ("KeyTooLongError", 400, errors.InvalidRequest),
    ("MalformedXML", 400, errors.InvalidRequest),
    ("PermanentRedirect", 301, errors.WrongRegion),
    ("AuthorizationHeaderMalformed", 400, errors.WrongRegion),
    ("SlowDown", 503, errors.Throttled),
    ("Throttling", 400, errors.Throttled),
    ("RequestLimitExceeded", 400, errors.Throttled),
    ("InternalError", 500, errors.ServerError),
    ("ServiceUnavailable", 503, errors.ServerError),
    ("RequestTimeout", 400, errors.ServerError),
]


@pytest.mark.parametrize(("code", "status", "cls"), EXPECTED)
def test_code_maps_to_class(code, status, cls):
    """An S3 error code selects its class whatever the HTTP status."""
    error = error_from_response(status=status, code=code, message="m", key="k")

    assert type(error) is cls
    assert error.code == code
    assert error.status == status


def test_every_table_entry_is_a_domain_error():
    """The table only names classes of the one tree."""
    assert all(issubclass(cls, errors.S3Error) for cls in S3_ERROR_CODES.values())
    assert {c for c, _, _ in EXPECTED} <= set(S3_ERROR_CODES)


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (404, errors.NotFound),
        (403, errors.AccessDenied),
        (412, errors.PreconditionFailed),
        (409, errors.Conflict),
        (400, errors.InvalidRequest),
        (301, errors.WrongRegion),
        (503, errors.Throttled),
        (500, errors.ServerError),
        (502, errors.ServerError),
        (504, errors.ServerError),
        (418, errors.S3Error),
    ],
)
def test_status_fallback_for_bodiless_answers(status, cls):
    """HEAD errors have no body: the status alone chooses the class."""
    error = error_from_response(status=status, code="", message="")

    assert type(error) is cls
    assert error.code == f"HTTP{status}"
    assert error.message  # a default sentence, never empty


def test_retryable_classes():
    """Throttling, server and network errors are retryable; client errors are not."""
    assert errors.Throttled("m").retryable
    assert errors.ServerError("m").retryable
    assert errors.NetworkError("m").retryable
    assert not errors.NotFound("m").retryable
    assert not errors.AccessDenied("m").retryable
    assert not errors.PreconditionFailed("m").retryable


def test_message_names_code_key_bucket_and_request_id():
    """A message says what failed and where, in one line."""
    error = error_from_response(
        status=404,
        code="NoSuchKey",
        message="The specified key does not exist.",
        request_id="REQ123",
        bucket="bkt",
        key="a/b c.txt",
        operation="GetObject",
    )

    assert str(error) == (
        "NoSuchKey: The specified key does not exist. "
        "(GetObject, bucket 'bkt', key 'a/b c.txt', request id REQ123)"
    )


def test_wrong_region_carries_the_region():
    """A redirect names the bucket's real region so the user can fix the config."""
    error = error_from_response(
        status=301, code="PermanentRedirect", message="m", region="eu-west-1"
    )

    assert isinstance(error, errors.BadConfiguration)
    assert error.region == "eu-west-1"
    assert "eu-west-1" in str(error)


def test_network_error_outcome():
    """A network error says whether the request may have reached S3."""
    assert errors.NetworkError("m").outcome_unknown is True
    assert errors.NetworkError("m", outcome_unknown=False).outcome_unknown is False
    assert errors.NetworkError("m").code == "NetworkError"
    # Whether it was a timeout, and which: a typed flag, never read from the message.
    assert errors.NetworkError("Timeout during request").timeout is None
    assert errors.NetworkError("m", timeout="connect").timeout == "connect"
    assert errors.NetworkError("m", timeout="read").timeout == "read"
