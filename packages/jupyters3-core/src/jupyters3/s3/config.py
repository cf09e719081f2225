"""One S3 client's settings, in one frozen object.

:class:`ClientConfig` is everything that shapes how a client talks to its
bucket: where (bucket, region, endpoint, addressing), how long it waits
(timeouts), how many requests it keeps in flight, how it retries
(:class:`~jupyters3.s3.retry.RetryPolicy`), and over what (TLS verification,
the HTTP client). It holds no state and no secrets: credentials and the
callbacks that refresh them are given to :class:`~jupyters3.s3.client.S3Client`
beside it. Building one validates it: a setting that can never work raises
:class:`~jupyters3.errors.BadConfiguration` (or ``ValueError`` for a number
out of range) here, not at the first request.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from jupyters3.s3 import endpoint as ep
from jupyters3.s3.retry import RetryPolicy

__all__ = ["ClientConfig", "HttpClientChoice"]

#: ``"curl"``: libcurl, connections kept alive (needs pycurl); ``"simple"``:
#: Tornado's own client, a connection per request; ``"auto"``: curl when installed.
HttpClientChoice = Literal["auto", "curl", "simple"]


@dataclass(frozen=True)
class ClientConfig:
    """How one S3 client reaches one bucket.

    ``endpoint_url`` is a full URL (``http://127.0.0.1:9000`` for a local
    server); ``None``: the regional AWS endpoint over https. TLS certificates
    are verified unless ``validate_cert=False``. ``blocking_dns``: resolve
    host names in the calling thread and use Tornado's own client only, for
    use while the interpreter exits (no thread pool may start any more).
    """

    bucket: str
    region: str = "us-east-1"
    endpoint_url: str | None = None
    addressing_style: ep.AddressingStyle = "auto"
    #: Seconds to wait for a connection.
    connect_timeout: float = 10.0
    #: Seconds one attempt may take in all, body included.
    request_timeout: float = 300.0
    #: Most requests in flight at once (and the size of the connection pool).
    max_concurrency: int = 32
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    validate_cert: bool = True
    http_client: HttpClientChoice = "auto"
    blocking_dns: bool = False
    #: The parsed endpoint (derived from ``endpoint_url`` and ``region``).
    endpoint: ep.Endpoint = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.max_concurrency < 1:
            raise ValueError("max_concurrency must be at least 1")
        if self.connect_timeout <= 0 or self.request_timeout <= 0:
            raise ValueError("connect_timeout and request_timeout must be positive")
        if self.http_client not in ("auto", "curl", "simple"):
            raise ValueError(f"http_client must be auto, curl or simple, not {self.http_client!r}")
        endpoint = (
            ep.parse_endpoint(self.endpoint_url)
            if self.endpoint_url
            else ep.aws_endpoint(self.region)
        )
        object.__setattr__(self, "endpoint", endpoint)
        # A bad bucket / addressing combination is a configuration error, now.
        ep.target(endpoint, self.bucket, None, style=self.addressing_style)
