"""JupyterS3: a Jupyter Server ``AsyncContentsManager`` that keeps everything in S3.

A file or notebook at API path ``p`` is the object ``prefix + p``; a folder is
the 0-byte marker ``prefix + p + "/"`` (or exists implicitly because keys live
under it); checkpoints of ``p`` live under ``prefix + p + "/.checkpoints/"``.

S3 errors become HTTP answers in one place: :func:`jupyters3.http_errors.http_errors`.
"""

from __future__ import annotations

import asyncio
import atexit
import gc
import inspect
import os
import threading
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone
from typing import Any, cast

from tornado.web import HTTPError
from traitlets import (
    Bool,
    Enum,
    Float,
    Instance,
    Int,
    TraitError,
    Type,
    Unicode,
    default,
    validate,
)

from jupyters3 import errors, keys
from jupyters3.auth import JupyterS3Authentication, JupyterS3DefaultAuthentication
from jupyters3.checkpoints import S3Checkpoints
from jupyters3.credentials import AwsCreds
from jupyters3.credentials.providers import profile_region
from jupyters3.files import S3FilesHandler
from jupyters3.manager_moves import S3MovesOps
from jupyters3.s3.client import S3Client
from jupyters3.s3.endpoint import AddressingStyle
from jupyters3.s3.retry import RetryPolicy
from jupyters3.s3.transport import HttpClientChoice
from jupyters3.versions import VersionMemo
from jupyters3.writes import ConditionalWrites

__all__ = ["JupyterS3"]


_gc_frozen = False


def _freeze_gc_once(log: Any) -> None:
    """Collect once, then freeze what survives: it runs as the server's event
    loop starts, after every extension has loaded and before the first request."""
    global _gc_frozen
    if _gc_frozen:
        return
    _gc_frozen = True
    gc.collect()
    gc.freeze()
    log.debug("JupyterS3: %d start-up objects frozen out of full GC passes", gc.get_freeze_count())


class JupyterS3(S3MovesOps):
    """Jupyter contents (notebooks, files, folders, checkpoints) in an S3 bucket."""

    # -- configuration (the original design's names first) -------------------

    aws_region = Unicode(
        help="The bucket's AWS region. Default: AWS_REGION, AWS_DEFAULT_REGION, the region "
        "of the AWS profile in ~/.aws/config (AWS_PROFILE, or the profile the "
        "authentication names), else us-east-1."
    ).tag(config=True)
    aws_s3_bucket = Unicode(help="The S3 bucket that holds the contents.").tag(config=True)
    aws_s3_host = Unicode(
        "",
        help="The S3 host[:port], reached over https (the original design's setting). "
        "Prefer endpoint_url, which also accepts plain http for local servers.",
    ).tag(config=True)
    prefix = Unicode(
        "",
        help="The key prefix under which contents live ('' = the whole bucket); "
        "with or without a trailing '/'. E.g. 'users/alice/'.",
    ).tag(config=True)
    authentication_class = Type(
        JupyterS3DefaultAuthentication,
        klass=JupyterS3Authentication,
        help="Where credentials come from: a subclass of JupyterS3Authentication. The "
        "default tries, in order: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, web identity "
        "(IRSA), the AWS_PROFILE profile of ~/.aws, the ECS/EKS container endpoint, and "
        "the EC2 instance role when jupyters3-auth-ec2 is installed. Set "
        "JupyterS3SecretAccessKeyAuthentication for keys from c.JupyterS3SecretAccess"
        "KeyAuthentication.aws_access_key_id / aws_secret_access_key.",
    ).tag(config=True)
    endpoint_url = Unicode(
        "",
        help="A full S3 endpoint URL, e.g. http://127.0.0.1:9000 for a local server. "
        "Default: AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, else the regional AWS endpoint.",
    ).tag(config=True)
    addressing_style = Enum(
        ["auto", "path", "virtual"],
        default_value="auto",
        help="'path' (bucket in the path), 'virtual' (bucket in the host name) or 'auto' "
        "(virtual-hosted on AWS when the bucket name allows, path style elsewhere).",
    ).tag(config=True)
    connect_timeout = Float(10.0, help="Seconds to wait for a connection to S3.").tag(config=True)
    request_timeout = Float(300.0, help="Seconds one S3 request may take in all.").tag(config=True)
    max_concurrency = Int(
        32, help="Most S3 requests in flight at once (folder copies fan out up to this)."
    ).tag(config=True)
    max_attempts = Int(5, help="Attempts per S3 request, the first included.").tag(config=True)
    max_checkpoints = Int(
        0, help="Checkpoints kept per file: the newest this many (0 = unlimited)."
    ).tag(config=True)
    multipart_threshold = Int(
        64 * 1024 * 1024,
        help="Uploads larger than this many bytes go to S3 as a multipart upload.",
    ).tag(config=True)
    multipart_part_size = Int(
        16 * 1024 * 1024,
        help="Bytes per part of a multipart upload (S3: at least 5 MiB, at most 10,000 parts).",
    ).tag(config=True)
    copy_threshold = Int(
        5 * 1024**3,
        help="Objects larger than this many bytes are copied (copy, rename, checkpoints) "
        "part by part with UploadPartCopy; S3's CopyObject takes at most 5 GiB.",
    ).tag(config=True)
    copy_part_size = Int(
        512 * 1024**2, help="Bytes per part when copying a large object part by part."
    ).tag(config=True)
    max_inline_bytes = Int(
        100 * 1024 * 1024,
        help="The largest file or notebook, in bytes, that the contents API sends "
        "inline (a content GET: what JupyterLab does to open a file in an editor or "
        "viewer). A larger one answers 413 with a sentence saying to download it "
        "instead (the file browser's Download streams it from /files/), decided without "
        "reading it from S3: a big file opened by mistake never fills the server's "
        "memory. 0: no limit. "
        "Listings, downloads, copies, renames, checkpoints and uploads are not limited.",
    ).tag(config=True)
    upload_timeout = Float(
        3600.0, help="Seconds without a chunk after which a chunked upload is abandoned."
    ).tag(config=True)
    abandoned_upload_age = Float(
        24 * 3600.0,
        help="At start, multipart uploads under the prefix that began more than this "
        "many seconds ago are aborted: uploads a crashed or killed server left behind "
        "(S3 keeps and bills their parts until then). Another live server's upload is "
        "younger than this unless it has run for longer. Negative: never.",
    ).tag(config=True)
    conditional_writes = Enum(
        ["auto", "on", "off"],
        default_value="auto",
        help="Protect against lost updates between servers sharing the bucket: a save "
        "is sent with If-Match (the ETag this server last served or wrote for the "
        "path) and a creation with If-None-Match: *, so a save based on a stale "
        "version answers 409 instead of replacing the newer one. 'auto' turns them "
        "off, with a warning, the first time the store answers that it does not "
        "implement them; 'on' never turns them off; 'off' never sends them.",
    ).tag(config=True)
    http_client = Enum(
        ["auto", "curl", "simple"],
        default_value="auto",
        help="'curl' reuses connections to S3 (keep-alive; needs pycurl: pip install "
        "'jupyters3-core[curl]'), 'simple' is Tornado's own client (a new connection per "
        "request), 'auto' uses curl when pycurl is installed.",
    ).tag(config=True)
    validate_cert = Bool(
        True, help="Verify the S3 endpoint's TLS certificate. Only turn off for testing."
    ).tag(config=True)
    check_on_start = Bool(
        True,
        help="List the bucket once at start and stop the server with one sentence "
        "if the configuration cannot work.",
    ).tag(config=True)

    freeze_gc_at_start = Bool(
        True,
        help="Once the server has started, move the objects that exist then (modules, "
        "classes, configuration: ~180,000 in a JupyterLab server) out of reach of "
        "Python's full garbage collections (gc.freeze). A full collection scans the "
        "whole heap and otherwise stalls the event loop 50-140 ms every few hundred "
        "requests. Turn off if something else in the process manages the collector.",
    ).tag(config=True)

    authentication = Instance(JupyterS3Authentication)

    @default("aws_region")
    def _default_region(self) -> str:
        env = self._environ()
        if env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION"):
            return env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or ""
        named = getattr(self.authentication, "profile", "")
        return profile_region(env, named if isinstance(named, str) else "") or "us-east-1"

    @default("endpoint_url")
    def _default_endpoint(self) -> str:
        env = self._environ()
        if self.aws_s3_host:
            return f"https://{self.aws_s3_host}"
        return env.get("AWS_ENDPOINT_URL_S3") or env.get("AWS_ENDPOINT_URL") or ""

    @default("authentication")
    def _default_authentication(self) -> JupyterS3Authentication:
        return self.authentication_class(parent=self, log=self.log)

    @default("checkpoints_class")
    def _default_checkpoints_class(self) -> type:
        return S3Checkpoints

    @default("files_handler_class")
    def _default_files_handler_class(self) -> type:
        return S3FilesHandler

    @validate("multipart_part_size", "copy_part_size")
    def _validate_part_size(self, proposal: Any) -> int:
        size = int(proposal["value"])
        if size < 5 * 1024 * 1024:
            name = proposal["trait"].name
            raise TraitError(f"c.JupyterS3.{name}: S3 needs at least 5 MiB per part.")
        return size

    @validate("max_inline_bytes")
    def _validate_max_inline_bytes(self, proposal: Any) -> int:
        size = int(proposal["value"])
        if size < 0:
            raise TraitError("c.JupyterS3.max_inline_bytes: a number of bytes, or 0 for no limit.")
        return size

    @validate("copy_threshold")
    def _validate_copy_threshold(self, proposal: Any) -> int:
        size = int(proposal["value"])
        if not 0 <= size <= 5 * 1024**3:
            raise TraitError("c.JupyterS3.copy_threshold: between 0 and 5 GiB (S3's limit).")
        return size

    @validate("prefix")
    def _validate_prefix(self, proposal: Any) -> str:
        try:
            return keys.normalize_prefix(proposal["value"])
        except keys.InvalidPath as exc:
            # Jupyter reports a TraitError at start as one line and exits 1.
            raise TraitError(f"c.JupyterS3.prefix: {exc}") from None

    def _environ(self) -> dict[str, str]:
        return dict(os.environ)

    # -- lifecycle -----------------------------------------------------------

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.keymap = keys.KeyMap(self.prefix)
        self._client: S3Client | None = None
        self._has_checkpoint: set[str] = set()
        self.versions = VersionMemo()
        self.writes = ConditionalWrites(self.versions, self.conditional_writes, self.log)
        if self.check_on_start:
            self._check_configuration()
        atexit.register(self._abort_uploads_at_exit)
        server_loop = getattr(self.parent, "io_loop", None)  # ServerApp's, not started yet
        if self.freeze_gc_at_start and server_loop is not None:
            server_loop.add_callback(_freeze_gc_once, self.log)
        if self.abandoned_upload_age >= 0 and server_loop is not None:
            server_loop.add_callback(self._abort_abandoned_uploads)

    async def _abort_abandoned_uploads(self) -> None:
        """Abort multipart uploads under the prefix older than ``abandoned_upload_age``
        (one ListMultipartUploads per 1,000, then the aborts). Best effort: a
        policy without s3:ListBucketMultipartUploads only costs a debug line."""
        try:
            uploads = await self.client.list_multipart_uploads(self.keymap.prefix)
        except errors.S3Error as exc:
            self.log.debug("JupyterS3: not looking for abandoned uploads: %s", exc.code)
            return
        now = datetime.now(timezone.utc)
        stale = [
            u
            for u in uploads
            if u.initiated is not None
            and (now - u.initiated).total_seconds() >= self.abandoned_upload_age
        ]
        for upload in stale:
            try:
                await self.client.abort_multipart_upload(upload.key, upload.upload_id)
            except errors.S3Error as exc:
                self.log.debug("JupyterS3: could not abort %s: %s", upload.key, exc.code)
        if stale:
            self.log.info(
                "JupyterS3: aborted %d abandoned multipart upload(s) under %r",
                len(stale),
                self.keymap.prefix,
            )

    @property
    def client(self) -> S3Client:
        """The S3 client, created on first use on the running event loop."""
        if self._client is None:
            self._client = self._make_client()
        return self._client

    def _make_client(self, *, blocking_dns: bool = False) -> S3Client:
        if not self.aws_s3_bucket:
            raise errors.BadConfiguration(
                "c.JupyterS3.aws_s3_bucket is not set: name the S3 bucket that keeps the contents."
            )
        from jupyters3.s3.config import ClientConfig

        config = ClientConfig(
            bucket=self.aws_s3_bucket,
            region=self.aws_region,
            endpoint_url=self.endpoint_url or None,
            addressing_style=cast(AddressingStyle, self.addressing_style),
            connect_timeout=self.connect_timeout,
            request_timeout=self.request_timeout,
            max_concurrency=self.max_concurrency,
            retry=RetryPolicy(max_attempts=self.max_attempts),
            validate_cert=self.validate_cert,
            http_client=cast(HttpClientChoice, self.http_client),
            blocking_dns=blocking_dns,
        )
        return S3Client(
            config,
            credentials=self._credentials,
            on_credentials_rejected=self._credentials_rejected,
        )

    async def _credentials(self) -> Any:
        return await self.authentication.get_credentials()

    async def _credentials_rejected(self, rejected: AwsCreds) -> None:
        """S3 refused ``rejected``: let the authentication forget them (a custom
        class may define ``invalidate`` as a plain method, or not at all)."""
        invalidate = getattr(self.authentication, "invalidate", None)
        if invalidate is not None:
            result = invalidate(rejected)
            if inspect.isawaitable(result):
                await result

    def _run_aside(
        self, work: Callable[[S3Client], Awaitable[None]], timeout: float | None = None
    ) -> BaseException | None:
        """Run ``work`` with a fresh client on a private event loop in a thread
        (Jupyter's loop may be running, or already stopped); return its error."""
        failure: list[BaseException] = []

        async def main() -> None:
            client = self._make_client(blocking_dns=True)
            try:
                await work(client)
            finally:
                client.close()

        def run() -> None:
            try:
                asyncio.run(main())
            except BaseException as exc:
                failure.append(exc)

        thread = threading.Thread(target=run, name="jupyters3-aside", daemon=True)
        thread.start()
        thread.join(timeout)
        if thread.is_alive():
            return TimeoutError(f"S3 did not answer within {timeout} s")
        return failure[0] if failure else None

    def _abort_uploads_at_exit(self) -> None:
        """The server is stopping: abort the multipart uploads of unfinished
        chunked uploads, so nothing half-written lingers in the bucket."""
        uploads = self._uploads
        if uploads is None:
            return

        def abort(doomed: list[tuple[str, str]]) -> None:
            async def work(client: S3Client) -> None:
                for key, upload_id in doomed:
                    await client.abort_multipart_upload(key, upload_id)

            error = self._run_aside(work, timeout=20)
            if error is not None:
                self.log.warning("JupyterS3: could not abort unfinished uploads: %s", error)
            else:
                self.log.info("JupyterS3: aborted %d unfinished upload(s)", len(doomed))

        uploads.close_at_exit(abort)

    def _check_configuration(self) -> None:
        """List the prefix once; on failure log one sentence and stop the server."""
        problem: list[str] = []

        async def probe(client: S3Client) -> None:
            async for _ in client.list_pages(self.keymap.prefix, max_keys=1):
                break

        # Aside: Jupyter may already have an event loop here.
        error = self._run_aside(probe)
        if isinstance(error, errors.S3Error):
            problem.append(self._explain(error))
        elif error is not None:  # the message is all the user needs
            problem.append(f"S3 check failed: {error}")
        if problem:
            self.log.critical("JupyterS3: %s", problem[0])
            raise SystemExit(1)
        self.log.info(
            "JupyterS3: contents in s3://%s/%s (%s)",
            self.aws_s3_bucket,
            self.keymap.prefix,
            self.endpoint_url or f"AWS {self.aws_region}",
        )

    def _explain(self, exc: errors.S3Error) -> str:
        """One sentence: what is wrong and which setting fixes it."""
        bucket = self.aws_s3_bucket
        where = self.endpoint_url or f"AWS region {self.aws_region}"
        if isinstance(exc, errors.WrongRegion):
            if exc.region:
                return (
                    f"Bucket {bucket!r} is in {exc.region}, not {self.aws_region}: "
                    f"set c.JupyterS3.aws_region = {exc.region!r}."
                )
            return (
                f"Bucket {bucket!r} is not in {self.aws_region} ({exc.code}): "
                "set c.JupyterS3.aws_region to the bucket's region."
            )
        if isinstance(exc, errors.NoSuchBucket):
            return (
                f"Bucket {bucket!r} does not exist at {where}: "
                "create it or fix c.JupyterS3.aws_s3_bucket."
            )
        if isinstance(exc, errors.CredentialsRejected):
            return (
                f"S3 rejected the credentials ({exc.code}): check the keys or role that "
                f"{self.authentication_class.__name__} uses."
            )
        if isinstance(exc, errors.AccessDenied):
            return (
                f"The credentials may not list s3://{bucket}/{self.keymap.prefix} ({exc.code}): "
                "grant s3:ListBucket on the bucket for this prefix."
            )
        if isinstance(exc, errors.NetworkError):
            return (
                f"Cannot reach S3 at {where} ({exc.message}): "
                "check c.JupyterS3.endpoint_url and the network."
            )
        if isinstance(exc, errors.BadConfiguration):
            return exc.message
        return f"S3 check failed ({exc}): fix the c.JupyterS3 settings."

    # -- Jupyter hooks ---------------------------------------------------------

    async def get_kernel_path(self, path: str, model: Any = None) -> str:
        """Kernels start in the notebook's folder (mapped to the local root_dir)."""
        path = path.strip("/")
        return path.rsplit("/", 1)[0] if "/" in path else ""

    async def is_hidden(self, path: str) -> bool:
        """A path is hidden when one of its names starts with a dot."""
        if not isinstance(path, str):  # a JSON body's "path" or "copy_from" can be anything
            raise HTTPError(400, f"A path must be a string, not {type(path).__name__}")
        return keys.is_hidden_path(path.strip("/"))
