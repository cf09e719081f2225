"""An async S3 client for one bucket, on Tornado, with our own SigV4.

Each method is one S3 operation (or, for listings and batch deletes, the
pages of one). Every failure is an :class:`jupyters3.errors.S3Error`.

Example::

    config = ClientConfig(bucket="notebooks", region="eu-west-1")
    client = S3Client(config, credentials=my_async_credentials_callable)
    try:
        await client.put_object("a/b.txt", b"hello", content_type="text/plain")
        meta, data = await client.get_object("a/b.txt")
    finally:
        client.close()
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import TypeVar

from jupyters3 import errors
from jupyters3.credentials import AwsCreds
from jupyters3.s3 import endpoint as ep
from jupyters3.s3 import xml
from jupyters3.s3.config import ClientConfig
from jupyters3.s3.objects import (
    DELETE_BATCH,
    CopySource,
    ObjectMeta,
    PutResult,
    check_part_number,
    copy_source,
    file_md5,
    meta_from_headers,
    multipart_etag,
    put_headers,
    quote_etag,
    range_header,
    range_problem,
    unquote_etag,
)
from jupyters3.s3.senders import HttpSender
from jupyters3.s3.transport import (
    Body,
    CredentialsSource,
    FileBody,
    IterBody,
    Request,
    Response,
    Transport,
)

__all__ = [
    "DELETE_BATCH",
    "Body",
    "ClientConfig",
    "CopySource",
    "FileBody",
    "IterBody",
    "ListPage",
    "ObjectMeta",
    "PutResult",
    "S3Client",
    "copy_source",
]

ListPage = xml.ListPage
log = logging.getLogger(__name__)
T = TypeVar("T")


class S3Client:
    """Async client for one S3 bucket. Create it on the event loop that uses it.

    ``config`` says where and how (:class:`~jupyters3.s3.config.ClientConfig`:
    bucket, region, endpoint, timeouts, concurrency, retries, TLS, HTTP
    client). ``credentials`` is awaited for the credentials to sign each
    request with. When S3 answers that they expired or were rotated
    (ExpiredToken, InvalidAccessKeyId, ...), ``on_credentials_rejected(creds)``
    is awaited with the credentials S3 refused (it should drop them if still
    cached) and the request is sent once more with fresh ones. ``clock`` dates
    signatures (tests); ``sender`` replaces the HTTP sender the configuration
    asks for (:mod:`jupyters3.s3.senders`; tests pass a fake).
    """

    def __init__(
        self,
        config: ClientConfig,
        *,
        credentials: CredentialsSource,
        on_credentials_rejected: Callable[[AwsCreds], Awaitable[None]] | None = None,
        clock: Callable[[], datetime] | None = None,
        sender: HttpSender | None = None,
    ) -> None:
        self.config = config
        self._transport = Transport(
            config,
            credentials,
            sender=sender,
            on_credentials_rejected=on_credentials_rejected,
            clock=clock,
        )

    @property
    def bucket(self) -> str:
        """The bucket every request goes to."""
        return self.config.bucket

    @property
    def max_concurrency(self) -> int:
        """Most requests in flight at once."""
        return self.config.max_concurrency

    @property
    def keeps_alive(self) -> bool:
        """Whether requests reuse connections (the curl client is in use)."""
        return self._transport.keeps_alive

    @property
    def endpoint(self) -> ep.Endpoint:
        """The endpoint requests go to."""
        return self._transport.endpoint

    def close(self) -> None:
        """Release the HTTP client."""
        self._transport.close()

    async def _send(self, request: Request) -> Response:
        return await self._transport.send(request)

    async def _parsed(self, request: Request, parse: Callable[[bytes], T]) -> tuple[Response, T]:
        """Send ``request``; its answer's body read with ``parse`` inside each
        attempt (an unreadable one is retried by the transport like a 503)."""
        request.parse = parse
        response = await self._send(request)
        return response, response.parsed

    def _next_page(
        self, seen: set[tuple[str, str]], marks: tuple[str, str], operation: str, prefix: str
    ) -> None:
        """Remember the marks of the next page; :class:`RepeatedPage` if a
        page with the same marks came before (the listing would never end)."""
        if marks in seen:
            raise errors.RepeatedPage(
                f"{self.endpoint.netloc} gave the same next page twice (continuation "
                f"{marks[0]!r}) while listing {prefix!r}: the listing would never end, so it "
                "stops here",
                bucket=self.bucket,
                operation=operation,
            )
        seen.add(marks)

    # -- bucket ---------------------------------------------------------------

    async def head_bucket(self) -> str:
        """Check that the bucket exists and is reachable; return its region if S3 says."""
        response = await self._send(Request("HeadBucket", "HEAD", None))
        return response.headers.get("x-amz-bucket-region", "")

    async def create_bucket(self) -> None:
        """Create the bucket in the client's region (used by tests and the demo)."""
        region = self._transport.region
        body = b""
        if region != "us-east-1":
            body = (
                "<CreateBucketConfiguration><LocationConstraint>"
                f"{region}</LocationConstraint></CreateBucketConfiguration>"
            ).encode()
        await self._send(
            Request(
                "CreateBucket", "PUT", None, headers={"content-type": "application/xml"}, body=body
            )
        )

    async def get_bucket_versioning(self) -> str:
        """GetBucketVersioning: ``"Enabled"``, ``"Suspended"`` or ``""`` (never enabled)."""
        request = Request("GetBucketVersioning", "GET", None, query=[("versioning", "")])
        _, status = await self._parsed(request, xml.parse_versioning)
        return status

    async def list_object_versions(self, prefix: str) -> list[xml.ObjectVersion]:
        """ListObjectVersions under ``prefix``, every page: versions and delete
        markers by key, newest first."""
        found: list[xml.ObjectVersion] = []
        key_marker = version_marker = ""
        seen: set[tuple[str, str]] = set()
        while True:
            query = [("encoding-type", "url"), ("prefix", prefix), ("versions", "")]
            if key_marker:
                query.append(("key-marker", key_marker))
            if version_marker:
                query.append(("version-id-marker", version_marker))
            request = Request("ListObjectVersions", "GET", None, query=query)
            _, (page, truncated, key_marker, version_marker) = await self._parsed(
                request, xml.parse_list_versions
            )
            found.extend(page)
            if not truncated or not key_marker:
                return found
            self._next_page(seen, (key_marker, version_marker), "ListObjectVersions", prefix)

    # -- listing --------------------------------------------------------------

    async def list_pages(
        self,
        prefix: str = "",
        *,
        delimiter: str | None = None,
        start_after: str | None = None,
        max_keys: int | None = None,
    ) -> AsyncIterator[xml.ListPage]:
        """ListObjectsV2, one page (up to 1,000 entries) at a time, every page
        (:class:`RepeatedPage` if a continuation token comes back)."""
        token: str | None = None
        seen: set[tuple[str, str]] = set()
        while True:
            query = [("list-type", "2"), ("encoding-type", "url"), ("prefix", prefix)]
            if delimiter is not None:
                query.append(("delimiter", delimiter))
            if start_after is not None and token is None:
                query.append(("start-after", start_after))
            if max_keys is not None:
                query.append(("max-keys", str(max_keys)))
            if token is not None:
                query.append(("continuation-token", token))
            _, page = await self._parsed(
                Request("ListObjectsV2", "GET", None, query=query), xml.parse_list_objects_v2
            )
            yield page
            if not page.is_truncated or not page.next_continuation_token:
                return
            token = page.next_continuation_token
            self._next_page(seen, (token, ""), "ListObjectsV2", prefix)

    async def list_all(
        self, prefix: str = "", *, delimiter: str | None = None
    ) -> tuple[list[xml.ListedObject], list[str]]:
        """Every object and common prefix under ``prefix``, across all pages."""
        objects: list[xml.ListedObject] = []
        prefixes: list[str] = []
        async for page in self.list_pages(prefix, delimiter=delimiter):
            objects.extend(page.objects)
            prefixes.extend(page.common_prefixes)
        return objects, prefixes

    # -- objects --------------------------------------------------------------

    async def head_object(
        self, key: str, *, if_match: str | None = None, version_id: str | None = None
    ) -> ObjectMeta:
        """HeadObject: the metadata, no body (of one version, with ``version_id``)."""
        headers = {"if-match": quote_etag(if_match)} if if_match else {}
        query = [("versionId", version_id)] if version_id else []
        response = await self._send(
            Request("HeadObject", "HEAD", key, headers=headers, query=query)
        )
        return meta_from_headers(key, response.headers)

    async def get_object(
        self,
        key: str,
        *,
        byte_range: tuple[int, int | None] | None = None,
        max_size: int | None = None,
        if_match: str | None = None,
        version_id: str | None = None,
    ) -> tuple[ObjectMeta, bytes]:
        """GetObject into memory. ``byte_range`` is ``(first, last)``, inclusive;
        ``last=None`` means to the end. ``max_size``: an object larger than
        this is refused with :class:`BodyTooLarge` as soon as S3's answer
        tells its size, without reading it. ``if_match``: only that version
        (:class:`PreconditionFailed` otherwise); ``version_id``: that S3 version."""
        headers = {}
        if byte_range is not None:
            headers["range"] = range_header(*byte_range)
        if if_match:
            headers["if-match"] = quote_etag(if_match)
        query = [("versionId", version_id)] if version_id else []
        request = Request("GetObject", "GET", key, headers=headers, query=query, max_body=max_size)
        if byte_range is not None and byte_range[1] is not None and max_size is None:
            request.max_body = byte_range[1] - byte_range[0] + 1  # more is not the range
        try:
            if max_size is None or self.keeps_alive:
                response = await self._send(request)
                body = response.body
            else:
                # Tornado's own client: the body goes through a sink, which sees
                # the size before the first chunk is kept; an attempt that breaks
                # off midway starts the body over.
                buffer = bytearray()
                request.sink, request.restart_sink = buffer.extend, buffer.clear
                response = await self._send(request)
                body = bytes(buffer)
        except errors.BodyTooLarge as too_large:
            if byte_range is None or max_size is not None:
                raise
            told = f"{too_large.size:,} bytes" if too_large.size is not None else "more bytes"
            answered = f"{told} than the {too_large.limit:,} asked for"
            raise self._range_ignored(key, byte_range, answered) from None
        if byte_range is not None:
            problem = range_problem(response.status, response.headers, *byte_range, len(body))
            if problem is not None:
                raise self._range_ignored(key, byte_range, problem)
        return meta_from_headers(key, response.headers), body

    def _range_ignored(
        self, key: str, byte_range: tuple[int, int | None], answered: str
    ) -> errors.RangeNotHonoured:
        first, last = byte_range
        asked = f"bytes {first:,}-{'' if last is None else f'{last:,}'}"
        return errors.RangeNotHonoured(
            f"{self.endpoint.netloc} answered a ranged GET ({asked}) with {answered}: it (or a "
            "proxy in front of it) does not honour Range, so nothing is built from that answer",
            bucket=self.bucket,
            key=key,
            operation="GetObject",
        )

    async def get_object_stream(
        self,
        key: str,
        sink: Callable[[bytes], Awaitable[None] | None],
        *,
        byte_range: tuple[int, int | None] | None = None,
        if_match: str | None = None,
        version_id: str | None = None,
    ) -> ObjectMeta:
        """GetObject streamed to ``sink`` chunk by chunk (an awaitable result is
        awaited: that is the backpressure).

        If the connection breaks midway, the transport fetches the rest with a
        Range request pinned to the first answer's ETag (``Request.resume``),
        so ``sink`` sees each byte once, in order, of one single version of
        the object. ``if_match`` pins the version from the start
        (:class:`PreconditionFailed` if it changed).
        """
        headers = {}
        if byte_range is not None:
            headers["range"] = range_header(*byte_range)
        if if_match:
            headers["if-match"] = quote_etag(if_match)
        response = await self._send(
            Request(
                "GetObject",
                "GET",
                key,
                headers=headers,
                query=[("versionId", version_id)] if version_id else [],
                sink=sink,
                resume=True,
            )
        )
        return meta_from_headers(key, response.headers)

    async def put_object(
        self,
        key: str,
        body: bytes | Body,
        *,
        content_type: str | None = None,
        metadata: Mapping[str, str] | None = None,
        if_match: str | None = None,
        if_none_match: bool = False,
    ) -> PutResult:
        """PutObject. In-memory bodies carry a Content-MD5 so S3 verifies them.

        ``if_match=etag`` writes only over that version; ``if_none_match=True``
        writes only if the key is absent (412 :class:`PreconditionFailed` otherwise).
        A conditional PUT is retried like any other (and libcurl itself resends
        a request whose reused connection died), so a false condition may be
        this PUT's own earlier attempt: one HEAD tells. If the object holds
        exactly this body (MD5 ETag) and this ``metadata`` (JupyterS3 always
        sends a high-resolution save time), the PUT had landed and succeeded.
        """
        request = Request(
            "PutObject",
            "PUT",
            key,
            headers=put_headers(content_type, metadata, if_match, if_none_match),
            body=body,
            content_md5=isinstance(body, bytes),
        )
        try:
            response = await self._send(request)
        except errors.PreconditionFailed:
            landed = await self._holds_body(key, body, metadata or {})
            if landed is None:
                raise
            log.info("PutObject %s: an earlier attempt had landed (ETag matches)", key)
            return PutResult(etag=landed, version_id=None)
        return PutResult(
            etag=unquote_etag(response.headers.get("ETag", "")),
            version_id=response.headers.get("x-amz-version-id"),
        )

    async def _holds_body(
        self, key: str, body: bytes | Body, metadata: Mapping[str, str]
    ) -> str | None:
        """The key's ETag if the object there is exactly ``body`` (by MD5) with
        ``metadata``, else None."""
        try:
            meta = await self.head_object(key)
        except errors.NotFound:
            return None
        if meta.size != (len(body) if isinstance(body, bytes) else body.length):
            return None
        if any(meta.metadata.get(name.lower()) != value for name, value in metadata.items()):
            return None
        if isinstance(body, bytes):
            digest = hashlib.md5(body, usedforsecurity=False).hexdigest()
        elif isinstance(body, FileBody):
            digest = await asyncio.to_thread(file_md5, body.path, body.offset, body.length)
        else:
            return None
        return meta.etag if meta.etag.strip('"') == digest else None

    async def copy_object(
        self,
        source: CopySource | str,
        key: str,
        *,
        metadata_directive: str = "COPY",
        content_type: str | None = None,
        metadata: Mapping[str, str] | None = None,
        if_match: str | None = None,
        if_none_match: bool = False,
    ) -> xml.CopyResult:
        """CopyObject of ``source`` (a :class:`CopySource`, or a key of this
        bucket) to ``key``: server side, sources up to 5 GB. ``if_match`` writes
        only over that version of ``key``, ``if_none_match`` only creates (412
        :class:`PreconditionFailed` otherwise; AWS enforces both since 2025,
        some stores ignore them)."""
        source = source if isinstance(source, CopySource) else CopySource(source)
        headers = put_headers(
            content_type if metadata_directive == "REPLACE" else None,
            metadata if metadata_directive == "REPLACE" else None,
            if_match,
            if_none_match,
        )
        headers["x-amz-copy-source"] = copy_source(
            source.bucket or self.bucket, source.key, source.version_id
        )
        headers["x-amz-metadata-directive"] = metadata_directive
        if source.etag:
            headers["x-amz-copy-source-if-match"] = quote_etag(source.etag)
        request = Request("CopyObject", "PUT", key, headers=headers, may_fail_with_200=True)
        try:
            _, result = await self._parsed(request, xml.parse_copy_result)
        except errors.PreconditionFailed:
            if not if_none_match:
                raise
            # A resent create (ours, or libcurl's): did an earlier attempt land?
            # Same ETag and size as the source (in another bucket: the ETag
            # the copy was pinned to).
            if source.bucket not in (None, self.bucket):
                target = await self.head_object(key)
                if not source.etag or target.etag != unquote_etag(source.etag):
                    raise
                return xml.CopyResult(etag=target.etag, last_modified=target.last_modified)
            target, found = await asyncio.gather(
                self.head_object(key), self.head_object(source.key)
            )
            if (target.etag, target.size) != (found.etag, found.size):
                raise
            return xml.CopyResult(etag=target.etag, last_modified=target.last_modified)
        return xml.CopyResult(etag=unquote_etag(result.etag), last_modified=result.last_modified)

    async def delete_object(
        self, key: str, *, if_match: str | None = None, version_id: str | None = None
    ) -> None:
        """DeleteObject (S3 answers success for a missing key too). With
        ``if_match``, only while the key has that ETag: 412
        :class:`PreconditionFailed` otherwise, 404 :class:`NotFound` when the
        key is gone, which is also what a repeat of a delete that landed
        answers (so it is sent again after a lost answer, like any delete).
        With ``version_id``: that version, for good."""
        headers = {"if-match": quote_etag(if_match)} if if_match else {}
        query = [("versionId", version_id)] if version_id else []
        await self._send(Request("DeleteObject", "DELETE", key, headers=headers, query=query))

    async def delete_objects(
        self, keys: Iterable[str] | Mapping[str, str | None]
    ) -> xml.DeleteResult:
        """DeleteObjects in batches of at most 1,000 keys, batches sent concurrently
        (bounded by the client's concurrency). Per-key failures are returned in
        ``errors``, not raised. Given a mapping of keys to ETags, each key with
        an ETag is deleted only while it has it (AWS since September 2025).

        A key that XML cannot carry (a control character, written by another
        tool) cannot be named in a DeleteObjects body: it is deleted with a
        DeleteObject of its own (with its ETag as If-Match), and named in the log."""
        etags = keys if isinstance(keys, Mapping) else None
        unique = list(dict.fromkeys(keys))
        safe = [k for k in unique if xml.xml_safe(k)]
        batches = [safe[i : i + DELETE_BATCH] for i in range(0, len(safe), DELETE_BATCH)]
        alone = [k for k in unique if not xml.xml_safe(k)]
        if alone:
            log.info(
                "DeleteObjects: %d key(s) XML cannot carry, deleted one by one: %s",
                len(alone),
                ", ".join(repr(k) for k in alone[:10]),
            )
        results = await asyncio.gather(
            *(self._delete_batch(batch, etags) for batch in batches),
            *(self._delete_alone(key, (etags or {}).get(key)) for key in alone),
        )
        deleted: list[str] = []
        errors: list[xml.DeleteError] = []
        for result in results:
            deleted.extend(result.deleted)
            errors.extend(result.errors)
        return xml.DeleteResult(deleted=deleted, errors=errors)

    async def _delete_alone(
        self, key: str, etag: str | None, version_id: str | None = None
    ) -> xml.DeleteResult:
        """One key of a batch delete, by DeleteObject; a failure is a per-key error."""
        try:
            await self.delete_object(key, if_match=etag, version_id=version_id)
        except errors.S3Error as error:
            if isinstance(error, errors.NoSuchBucket) or error.status is None:
                raise
            return xml.DeleteResult(errors=[xml.DeleteError(key, error.code, error.message)])
        return xml.DeleteResult(deleted=[key])

    async def delete_object_versions(self, items: Sequence[tuple[str, str]]) -> xml.DeleteResult:
        """Delete these ``(key, version_id)`` versions for good (DeleteObjects,
        1,000 per request; a key XML cannot carry by a DeleteObject of its
        own): no delete marker is left."""
        safe = [(k, v) for k, v in items if xml.xml_safe(k) and xml.xml_safe(v)]
        batches = [safe[i : i + DELETE_BATCH] for i in range(0, len(safe), DELETE_BATCH)]
        found: list[xml.DeleteError] = []
        for batch in batches:
            request = Request(
                "DeleteObjectVersions",  # DeleteObjects of versions: s3:DeleteObjectVersion
                "POST",
                None,
                query=[("delete", "")],
                headers={"content-type": "application/xml"},
                body=xml.build_delete((), quiet=True, versions=batch),
                content_md5=True,
            )
            _, result = await self._parsed(request, xml.parse_delete_result)
            found.extend(result.errors)
        for key, version_id in items:
            if not (xml.xml_safe(key) and xml.xml_safe(version_id)):
                found.extend((await self._delete_alone(key, None, version_id)).errors)
        return xml.DeleteResult(deleted=[], errors=found)

    async def _delete_batch(
        self, keys: Sequence[str], etags: Mapping[str, str | None] | None = None
    ) -> xml.DeleteResult:
        _, result = await self._parsed(
            Request(
                "DeleteObjects",
                "POST",
                None,
                query=[("delete", "")],
                headers={"content-type": "application/xml"},
                body=xml.build_delete(keys, quiet=True, etags=etags),
                content_md5=True,  # required by S3 for DeleteObjects
            ),
            xml.parse_delete_result,
        )
        # Quiet mode lists only failures; report the rest as deleted.
        failed = {e.key for e in result.errors}
        return xml.DeleteResult(
            deleted=[k for k in keys if k not in failed], errors=list(result.errors)
        )

    # -- multipart ------------------------------------------------------------

    async def create_multipart_upload(
        self,
        key: str,
        *,
        content_type: str | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> str:
        """CreateMultipartUpload; returns the upload id."""
        headers = put_headers(content_type or "application/octet-stream", metadata, None, False)
        _, upload_id = await self._parsed(
            Request("CreateMultipartUpload", "POST", key, query=[("uploads", "")], headers=headers),
            xml.parse_initiate_multipart,
        )
        return upload_id

    async def upload_part(
        self, key: str, upload_id: str, part_number: int, body: bytes | Body
    ) -> str:
        """UploadPart (numbers 1..10,000); returns the part's unquoted ETag."""
        check_part_number(part_number)
        response = await self._send(
            Request(
                "UploadPart",
                "PUT",
                key,
                query=[("partNumber", str(part_number)), ("uploadId", upload_id)],
                body=body,
                content_md5=isinstance(body, bytes),
            )
        )
        return unquote_etag(response.headers.get("ETag", ""))

    async def upload_part_copy(
        self,
        key: str,
        upload_id: str,
        part_number: int,
        source: CopySource | str,
        *,
        byte_range: tuple[int, int] | None = None,
    ) -> str:
        """UploadPartCopy from ``source`` (a :class:`CopySource`, or a key of
        this bucket; ``byte_range`` inclusive); returns the ETag."""
        check_part_number(part_number)
        source = source if isinstance(source, CopySource) else CopySource(source)
        headers = {
            "x-amz-copy-source": copy_source(
                source.bucket or self.bucket, source.key, source.version_id
            )
        }
        if byte_range is not None:
            headers["x-amz-copy-source-range"] = f"bytes={byte_range[0]}-{byte_range[1]}"
        if source.etag:
            headers["x-amz-copy-source-if-match"] = quote_etag(source.etag)
        _, result = await self._parsed(
            Request(
                "UploadPartCopy",
                "PUT",
                key,
                query=[("partNumber", str(part_number)), ("uploadId", upload_id)],
                headers=headers,
                may_fail_with_200=True,
            ),
            xml.parse_copy_result,
        )
        return unquote_etag(result.etag)

    async def complete_multipart_upload(
        self,
        key: str,
        upload_id: str,
        parts: Sequence[tuple[int, str]],
        *,
        if_match: str | None = None,
        if_none_match: bool = False,
    ) -> PutResult:
        """CompleteMultipartUpload with ``(part_number, etag)`` pairs, optionally
        conditional like :meth:`put_object` (and, like it, safe to retry)."""
        headers = put_headers(None, None, if_match, if_none_match)
        headers["content-type"] = "application/xml"
        body = xml.build_complete_multipart([(n, quote_etag(etag)) for n, etag in parts])
        request = Request(
            "CompleteMultipartUpload",
            "POST",
            key,
            query=[("uploadId", upload_id)],
            headers=headers,
            body=body,
            may_fail_with_200=True,
        )
        try:
            response, completed = await self._parsed(request, xml.parse_complete_multipart)
        except (errors.PreconditionFailed, errors.NotFound) as error:
            # A retry after an attempt that completed the upload finds the
            # upload gone or the key taken: the object's ETag tells.
            if isinstance(error, errors.NoSuchBucket):
                raise
            expected = multipart_etag([etag for _, etag in parts])
            try:
                meta = await self.head_object(key)
            except errors.NotFound:
                raise error from None
            if expected is None or meta.etag.strip('"') != expected:
                raise
            return PutResult(etag=meta.etag, version_id=None)
        return PutResult(
            etag=unquote_etag(completed), version_id=response.headers.get("x-amz-version-id")
        )

    async def abort_multipart_upload(self, key: str, upload_id: str) -> None:
        """AbortMultipartUpload (NoSuchUpload is raised as :class:`NotFound`)."""
        await self._send(
            Request("AbortMultipartUpload", "DELETE", key, query=[("uploadId", upload_id)])
        )

    async def list_multipart_uploads(self, prefix: str = "") -> list[xml.MultipartUploadInfo]:
        """Every in-progress multipart upload under ``prefix``."""
        uploads: list[xml.MultipartUploadInfo] = []
        key_marker = upload_marker = ""
        seen: set[tuple[str, str]] = set()
        while True:
            query = [("uploads", ""), ("prefix", prefix), ("encoding-type", "url")]
            if key_marker:
                query += [("key-marker", key_marker), ("upload-id-marker", upload_marker)]
            _, parsed = await self._parsed(
                Request("ListMultipartUploads", "GET", None, query=query),
                xml.parse_list_multipart_uploads,
            )
            page, truncated, key_marker, upload_marker = parsed
            uploads.extend(page)
            if not truncated or not key_marker:
                return uploads
            self._next_page(seen, (key_marker, upload_marker), "ListMultipartUploads", prefix)
