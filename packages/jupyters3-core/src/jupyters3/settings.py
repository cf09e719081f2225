"""The settings of one bucket view, typed and frozen: the main bucket's, or a mount's.

:class:`BucketSettings` is everything one :class:`~jupyters3.store.S3Store`
and its S3 client are made from, and what ``jupyters3 check`` and the
start-up sentences name. JupyterS3 makes the main bucket's from its traits
(:meth:`BucketSettings.main` is given them by name), and each mount's with
:meth:`BucketSettings.for_mount`, which states what a mount inherits.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from jupyters3.auth import JupyterS3Authentication
    from jupyters3.mounts import MountSpec

__all__ = ["BucketSettings"]


@dataclass(frozen=True)
class BucketSettings:
    """One bucket and prefix, and how to reach it (see the module docstring).

    ``endpoint_url`` is ``""`` for AWS; ``mount`` is the mount's spec (None
    for the main bucket).
    """

    bucket: str
    prefix: str
    region: str
    endpoint_url: str
    addressing_style: str
    authentication: JupyterS3Authentication
    connect_timeout: float = 10.0
    request_timeout: float = 300.0
    max_concurrency: int = 32
    max_attempts: int = 5
    validate_cert: bool = True
    http_client: str = "auto"
    versioned_checkpoints: str = "auto"
    conditional_writes: str = "auto"
    copy_threshold: int = 5 * 1024**3
    copy_part_size: int = 512 * 1024**2
    listing_max_age: float = 30.0
    listing_cache_entries: int = 200_000
    read_only: bool = False
    mount: MountSpec | None = None

    @property
    def setting(self) -> str:
        """The configuration that holds these settings, for sentences:
        ``c.JupyterS3`` or ``c.JupyterS3.mounts['team']``."""
        return "c.JupyterS3" if self.mount is None else f"c.JupyterS3.mounts[{self.mount.name!r}]"

    @property
    def label(self) -> str:
        """What these settings show, for sentences."""
        if self.mount is None:
            return "the main bucket (c.JupyterS3.aws_s3_bucket)"
        return f"mount {self.mount.name!r}"

    @property
    def own_credentials(self) -> bool:
        """Whether these settings name credentials of their own (the main
        bucket's always are; a mount's when it sets a profile or a class)."""
        return self.mount is None or self.mount.own_credentials

    @property
    def own_endpoint(self) -> bool:
        """Whether the endpoint is set here (the main bucket's always is)."""
        return self.mount is None or self.mount.endpoint_url is not None

    def for_mount(self, spec: MountSpec, authentication: JupyterS3Authentication) -> BucketSettings:
        """A mount's settings: from ``spec``, the bucket, prefix, access and
        (when set) the endpoint, region and addressing style;
        ``authentication`` is the mount's own or these settings'. Everything
        else is inherited: timeouts, concurrency, attempts, TLS verification,
        the HTTP client, conditional writes, copy sizes and the listing cache's
        settings (each store keeps its own listings). A read-only mount
        makes no checkpoint, so ``versioned_checkpoints = 'on'`` asks nothing
        of it."""
        mode = self.versioned_checkpoints
        return replace(
            self,
            bucket=spec.bucket,
            prefix=spec.prefix,
            region=spec.region or self.region,
            endpoint_url=self.endpoint_url if spec.endpoint_url is None else spec.endpoint_url,
            addressing_style=spec.addressing_style or self.addressing_style,
            authentication=authentication,
            read_only=spec.read_only,
            versioned_checkpoints="auto" if spec.read_only and mode == "on" else mode,
            mount=spec,
        )
