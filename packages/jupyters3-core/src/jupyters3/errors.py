"""The S3 layer's error tree, and the one table from S3 error codes to it.

Everything the S3 layer raises is a :class:`S3Error` (the contents layer's
own refusals are :mod:`jupyters3.contents_errors`). :mod:`jupyters3.http_errors`
is the only place that turns either into ``tornado.web.HTTPError`` answers.

::

    S3Error                      any failure talking to S3
    ├── NotFound                 404 NoSuchKey, NoSuchUpload, ...
    │   └── NoSuchBucket         the configured bucket does not exist
    ├── AccessDenied             403: the credentials may not do this
    │   └── CredentialsRejected  InvalidAccessKeyId, SignatureDoesNotMatch, ExpiredToken, ...
    ├── PreconditionFailed       412: If-Match / If-None-Match did not hold
    ├── Conflict                 409: BucketNotEmpty, OperationAborted, ...
    │   └── ConcurrentWrite      409 ConditionalRequestConflict (retried)
    ├── NotSupported             501 NotImplemented: the store lacks a feature
    ├── InvalidRequest           400: a malformed request (EntityTooSmall, InvalidRange, ...)
    ├── Throttled                503 SlowDown and friends (retried)
    ├── ServerError              5xx, RequestTimeout (retried)
    ├── NetworkError             no HTTP answer: refused, reset, timed out (retried when safe)
    ├── BodyTooLarge             an answer larger than the caller's limit, refused unread
    ├── MalformedResponse        a 2xx answer whose body cannot be read (retried when safe)
    │   ├── RangeNotHonoured     a ranged read answered with other bytes than asked (not retried)
    │   ├── AnswerTooLarge       an answer larger than S3 ever sends for its kind (not retried)
    │   └── RepeatedPage         a listing that names a page it already gave (not retried)
    └── BadConfiguration         a setting that cannot work (wrong region, bad endpoint, ...)
        └── WrongRegion          the bucket lives in another region

Messages carry the S3 code, the request id, the bucket and the key. They never
carry credentials: only S3's ``Message`` element is quoted, never the
``StringToSign`` or ``CanonicalRequest`` elements S3 adds to signature errors.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

__all__ = [
    "S3_ERROR_CODES",
    "AccessDenied",
    "AnswerTooLarge",
    "BadConfiguration",
    "BodyTooLarge",
    "ConcurrentWrite",
    "Conflict",
    "CredentialsRejected",
    "InvalidRequest",
    "MalformedResponse",
    "NetworkError",
    "NoSuchBucket",
    "NotFound",
    "NotSupported",
    "PreconditionFailed",
    "RangeNotHonoured",
    "RepeatedPage",
    "S3Error",
    "ServerError",
    "Throttled",
    "WrongRegion",
    "error_from_response",
]


class S3Error(Exception):
    """A failed S3 request, or a failure to reach S3 at all.

    :ivar code: S3's error code (``NoSuchKey``), or a synthetic one for errors
        without an S3 body (``HTTP404``, ``NetworkError``).
    :ivar status: the HTTP status, or ``None`` when no response arrived.
    :ivar retryable: whether an identical request may succeed later.
    :ivar attempts: how many times the request was sent (set by the transport);
        more than one means an earlier attempt may have taken effect.
    """

    retryable = False

    def __init__(
        self,
        message: str,
        *,
        code: str = "",
        status: int | None = None,
        request_id: str = "",
        bucket: str = "",
        key: str | None = None,
        operation: str = "",
    ) -> None:
        self.message = message
        self.code = code or type(self).__name__
        self.status = status
        self.request_id = request_id
        self.bucket = bucket
        self.key = key
        self.operation = operation
        self.attempts = 1
        super().__init__(self._render())

    def _render(self) -> str:
        where = []
        if self.operation:
            where.append(self.operation)
        if self.bucket:
            where.append(f"bucket {self.bucket!r}")
        if self.key is not None:
            where.append(f"key {self.key!r}")
        if self.request_id:
            where.append(f"request id {self.request_id}")
        suffix = f" ({', '.join(where)})" if where else ""
        return f"{self.code}: {self.message}{suffix}"


class NotFound(S3Error):
    """The key, upload or bucket does not exist."""


class NoSuchBucket(NotFound):
    """The configured bucket does not exist."""


class AccessDenied(S3Error):
    """S3 refused the request for these credentials."""


class CredentialsRejected(AccessDenied):
    """S3 does not accept the credentials at all (unknown, wrong or expired)."""


class PreconditionFailed(S3Error):
    """A conditional request's condition (If-Match, If-None-Match) did not hold."""


class Conflict(S3Error):
    """A concurrent operation conflicts with this one."""


class ConcurrentWrite(Conflict):
    """Another write to the same key was in progress; S3 asks to try again."""

    retryable = True


class NotSupported(S3Error):
    """The store does not implement a feature this request used (501)."""


class InvalidRequest(S3Error):
    """S3 rejected the request as malformed or out of range."""


class Throttled(S3Error):
    """S3 asks to slow down; the request may be retried after a pause."""

    retryable = True


class ServerError(S3Error):
    """S3 failed internally or timed out; the request may be retried."""

    retryable = True


class NetworkError(S3Error):
    """No HTTP response was received.

    :ivar outcome_unknown: ``True`` when the request may have reached S3 (the
        connection broke after it was sent), ``False`` when it certainly did
        not (the connection could not be opened).
    :ivar timeout: ``"connect"`` when no connection was made within the
        connect timeout, ``"read"`` when the request was sent (or being sent)
        and no full answer came within the request timeout, ``None`` for any
        other failure (refused, reset, closed, DNS). Set by the HTTP senders
        (:mod:`jupyters3.s3.senders`), from the exception type, never from
        the message.
    """

    retryable = True

    def __init__(
        self,
        message: str,
        *,
        outcome_unknown: bool = True,
        timeout: Literal["connect", "read"] | None = None,
        bucket: str = "",
        key: str | None = None,
        operation: str = "",
    ) -> None:
        self.outcome_unknown = outcome_unknown
        self.timeout = timeout
        super().__init__(message, code="NetworkError", bucket=bucket, key=key, operation=operation)


class BodyTooLarge(S3Error):
    """A successful answer whose body is larger than the caller's limit
    (``Request.max_body``): refused as soon as its size is known, before the
    body is read.

    :ivar size: the body's size in bytes when the answer said it, else ``None``.
    :ivar limit: the limit it passed.
    """

    def __init__(
        self, size: int | None, limit: int, *, bucket: str = "", key: str | None = None
    ) -> None:
        self.size = size
        self.limit = limit
        told = f"{size:,} bytes" if size is not None else "larger"
        super().__init__(
            f"the object is {told}, over the limit of {limit:,} bytes",
            code="BodyTooLarge",
            bucket=bucket,
            key=key,
            operation="GetObject",
        )


class MalformedResponse(S3Error):
    """S3 answered success with a body that is not what the operation returns:
    truncated, not XML, or without a required element. The request may be
    sent again when that is safe (the client does so)."""

    retryable = True


class RangeNotHonoured(MalformedResponse):
    """A ranged GET answered with other bytes than those asked for: a 200 with
    the whole object, another Content-Range, or another length. The endpoint
    (or a proxy in front of it) ignores ``Range``; asking again would get the
    same, so it is not retried, and nothing is built from such an answer."""

    retryable = False


class AnswerTooLarge(MalformedResponse):
    """An answer (a listing page, an error document, any body the client
    buffers) larger than S3 ever sends for its kind: refused as soon as its
    size shows, without reading the rest, and not asked again."""

    retryable = False


class RepeatedPage(MalformedResponse):
    """A paginated listing whose next page is one it already gave (the same
    continuation token or markers): following it would never end."""

    retryable = False


class BadConfiguration(S3Error):
    """A setting can never work as given; the user must change it."""


class WrongRegion(BadConfiguration):
    """The bucket lives in another region than the one configured.

    :ivar region: the bucket's region when S3 said so, else ``""``.
    """

    region = ""


#: S3 error code -> the class raised for it. Reviewed against the S3 API
#: reference's "List of error codes" and the SDKs' retry tables.
S3_ERROR_CODES: Mapping[str, type[S3Error]] = {
    # 404
    "NoSuchKey": NotFound,
    "NoSuchUpload": NotFound,
    "NoSuchVersion": NotFound,
    "NotFound": NotFound,
    "NoSuchBucket": NoSuchBucket,
    # 403
    "AccessDenied": AccessDenied,
    "AllAccessDisabled": AccessDenied,
    "AccountProblem": AccessDenied,
    "InvalidObjectState": AccessDenied,
    "RequestTimeTooSkewed": CredentialsRejected,
    "InvalidAccessKeyId": CredentialsRejected,
    "SignatureDoesNotMatch": CredentialsRejected,
    "ExpiredToken": CredentialsRejected,
    "InvalidToken": CredentialsRejected,
    "TokenRefreshRequired": CredentialsRejected,
    "InvalidSecurity": CredentialsRejected,
    "MissingSecurityHeader": CredentialsRejected,
    # 412 / 304
    "PreconditionFailed": PreconditionFailed,
    "NotModified": PreconditionFailed,
    # 409
    "ConditionalRequestConflict": ConcurrentWrite,
    "NotImplemented": NotSupported,
    "OperationAborted": Conflict,
    "BucketNotEmpty": Conflict,
    "BucketAlreadyExists": Conflict,
    "BucketAlreadyOwnedByYou": Conflict,
    "InvalidBucketState": Conflict,
    # 400 / 411 / 416
    "BadDigest": InvalidRequest,
    "EntityTooSmall": InvalidRequest,
    "EntityTooLarge": InvalidRequest,
    "IncompleteBody": InvalidRequest,
    "InvalidArgument": InvalidRequest,
    "InvalidDigest": InvalidRequest,
    "InvalidPart": InvalidRequest,
    "InvalidPartOrder": InvalidRequest,
    "InvalidRange": InvalidRequest,
    "InvalidRequest": InvalidRequest,
    "InvalidStorageClass": InvalidRequest,
    "KeyTooLongError": InvalidRequest,
    "MalformedXML": InvalidRequest,
    "MaxMessageLengthExceeded": InvalidRequest,
    "MetadataTooLarge": InvalidRequest,
    "MissingContentLength": InvalidRequest,
    "MissingRequestBodyError": InvalidRequest,
    "TooManyParts": InvalidRequest,
    "InvalidBucketName": BadConfiguration,
    # wrong region / endpoint
    "PermanentRedirect": WrongRegion,
    "AuthorizationHeaderMalformed": WrongRegion,
    "IllegalLocationConstraintException": WrongRegion,
    "TemporaryRedirect": WrongRegion,
    # throttling (retried)
    "SlowDown": Throttled,
    "Throttling": Throttled,
    "ThrottlingException": Throttled,
    "RequestLimitExceeded": Throttled,
    "BandwidthLimitExceeded": Throttled,
    "TooManyRequestsException": Throttled,
    "RequestThrottled": Throttled,
    "RequestThrottledException": Throttled,
    "ProvisionedThroughputExceededException": Throttled,
    # transient server-side failures (retried)
    "InternalError": ServerError,
    "ServiceUnavailable": ServerError,
    "RequestTimeout": ServerError,
    "RequestTimeoutException": ServerError,
    "PriorRequestNotComplete": ServerError,
}

#: The class for an HTTP status when the response carried no usable code
#: (HEAD responses have no body).
_STATUS_FALLBACK: Mapping[int, type[S3Error]] = {
    301: WrongRegion,
    307: WrongRegion,
    400: InvalidRequest,
    403: AccessDenied,
    404: NotFound,
    409: Conflict,
    411: InvalidRequest,
    412: PreconditionFailed,
    416: InvalidRequest,
    429: Throttled,
    501: NotSupported,
    503: Throttled,
}


def error_class(code: str, status: int | None) -> type[S3Error]:
    """The class for an S3 error ``code`` (preferred) or else the HTTP ``status``."""
    if code in S3_ERROR_CODES:
        return S3_ERROR_CODES[code]
    if status is not None and status in _STATUS_FALLBACK:
        return _STATUS_FALLBACK[status]
    if status is not None and status >= 500:
        return ServerError
    return S3Error


def error_from_response(
    *,
    status: int,
    code: str,
    message: str,
    request_id: str = "",
    bucket: str = "",
    key: str | None = None,
    operation: str = "",
    region: str = "",
) -> S3Error:
    """Build the domain error for one failed S3 response (pure: no I/O)."""
    cls = error_class(code, status)
    if not message:
        message = _default_message(cls, status)
    if cls is WrongRegion and region:
        message = f"{message} The bucket is in region {region!r}."
    error = cls(
        message,
        code=code or f"HTTP{status}",
        status=status,
        request_id=request_id,
        bucket=bucket,
        key=key,
        operation=operation,
    )
    if isinstance(error, WrongRegion):
        error.region = region
    return error


def _default_message(cls: type[S3Error], status: int) -> str:
    return {
        NotFound: "Not found.",
        NoSuchBucket: "The bucket does not exist.",
        AccessDenied: "Access denied.",
        PreconditionFailed: "The precondition did not hold.",
        Conflict: "A concurrent operation conflicts with this one.",
        InvalidRequest: "The request was rejected as invalid.",
        Throttled: "S3 asks to reduce the request rate.",
        ServerError: "S3 failed to process the request.",
        WrongRegion: "The bucket is not in the configured region.",
    }.get(cls, f"S3 answered HTTP {status}.")
