"""The bucket as the contents layer sees it: S3 operations addressed by API path.

:class:`S3Store` owns every S3 request the contents layer makes and the two
policies that must hold for all of them:

* **One write policy.** Every write of an object at an API path (a save, an
  upload's completion, a new file, each key of a copy or rename, a rename's
  marker, a checkpoint's creation and restore) goes through :meth:`S3Store.write`
  or :meth:`S3Store.copy`, which run it under :class:`~jupyters3.writes.ConditionalWrites`:
  the same conditions (``If-Match`` the version this server saw,
  ``If-None-Match: *`` for a creation), the same ``auto`` fallback and the same
  409 messages.
* **One folder rule.** A folder exists when anything is under ``<key>/`` but
  the checkpoints of a file of the same name (``<key>/.checkpoints/``):
  :func:`is_folder` decides it for every listing.

And every write and delete it made is announced to the listeners of its
``changes`` (:mod:`jupyters3.changes`) once it succeeded: the one hook for
what follows this server's own writes (a listing cache, kernels' working
folders).

The store raises domain errors only: the S3 errors of :mod:`jupyters3.errors`
and the contents errors of :mod:`jupyters3.contents_errors`; the contents
layer turns them into HTTP answers in one place (:mod:`jupyters3.http_errors`).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Awaitable, Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote

from jupyters3 import errors, keys, streamcopy, tree
from jupyters3.changes import Changes, Written
from jupyters3.contents_errors import FolderInTheWay, ReadOnly, SourceMissing
from jupyters3.listings import ListingCache, Walk
from jupyters3.marks import MTIME_META, RENAMED_FROM_META, is_folder, now_stamp, saved_time
from jupyters3.s3.bodies import Body
from jupyters3.s3.client import CopySource, FileBody, ObjectMeta, S3Client
from jupyters3.s3.xml import ListedObject, ObjectVersion
from jupyters3.versions import FREE, Conditions, VersionMemo
from jupyters3.writes import ConditionalWrites

__all__ = ["S3Store", "StoreLimits"]

#: A folder probe started by :meth:`S3Store.probe_folder` serves a write this soon after.
_PROBE_SECONDS = 5.0
#: At most this many early folder probes are kept (unused ones are dropped).
_PROBES_KEPT = 256
_DIRECTORY = "application/x-directory"
#: Objects streamed at once into one store from another S3 service (each holds
#: at most 2 parts of 8 MiB).
_STREAMS = 4


@dataclass(frozen=True)
class StoreLimits:
    """How the store fans out, copies and keeps folder listings (from
    JupyterS3's settings; see :mod:`jupyters3.listings`)."""

    max_concurrency: int = 32
    copy_sizes: tree.CopySizes = field(default_factory=tree.CopySizes)
    listing_max_age: float = 30.0
    listing_cache_entries: int = 200_000


def _stamped(metadata: Mapping[str, str] | None) -> datetime:
    """The save time a write records in ``metadata`` (now when it records none)."""
    stamp = (metadata or {}).get(MTIME_META)
    if stamp:
        with contextlib.suppress(ValueError):
            return datetime.fromisoformat(stamp)
    return datetime.now(timezone.utc)


def _retrieve(task: asyncio.Future[Any]) -> None:
    """Mark a probe's failure as seen (a write that needs it lists again)."""
    if not task.cancelled():
        task.exception()


class S3Store:
    """One bucket and prefix, addressed by API path (see the module docstring).

    ``connect`` makes the S3 client on first use (on the running event loop;
    it takes ``blocking_dns`` for :meth:`new_client`).
    A ``read_only`` store refuses every write with :class:`ReadOnly` before
    any request is sent.
    """

    def __init__(
        self,
        connect: Callable[..., S3Client],
        keymap: keys.KeyMap,
        *,
        conditional_writes: str = "auto",
        limits: StoreLimits | None = None,
        log: logging.Logger | None = None,
        use_versioning: bool = True,
        read_only: bool = False,
        service: Hashable = None,
    ) -> None:
        self.keymap = keymap
        self.read_only = read_only
        #: Stores with equal ``service`` (endpoint and credentials) copy from
        #: each other server-side; between others, data streams through here.
        self.service = service
        self.limits = limits or StoreLimits()
        self.log = log or logging.getLogger("jupyters3")
        self.versions = VersionMemo()
        self.writes = ConditionalWrites(self.versions, conditional_writes, self.log)
        self._connect = connect
        self._client: S3Client | None = None
        self._probes: dict[str, tuple[asyncio.Future[tuple[bool, bool]], float]] = {}
        self._versioned: bool | None = None if use_versioning else False
        #: Streamed copies into this store in flight at once, whatever starts them.
        self._stream_slots = asyncio.Semaphore(_STREAMS)
        #: Every write and delete made here, for whoever follows them.
        self.changes = Changes(self.log)
        #: The listings of folders of several pages, kept exact for this
        #: server's writes (:mod:`jupyters3.listings`).
        self.listings = ListingCache(
            max_age=self.limits.listing_max_age,
            max_entries=self.limits.listing_cache_entries,
            log=self.log,
        )
        self.changes.subscribe(self.listings.apply)

    @property
    def client(self) -> S3Client:
        """The S3 client, created on first use."""
        if self._client is None:
            self._client = self._connect()
        return self._client

    def detached(self) -> S3Store:
        """A store of the same bucket, prefix and policies over a client of its
        own that resolves names without a thread pool, for a private event
        loop (at start, or while the interpreter exits)."""
        return S3Store(
            functools.partial(self._connect, blocking_dns=True),
            self.keymap,
            conditional_writes=self.writes.mode,
            limits=self.limits,
            log=self.log,
            use_versioning=self._versioned is not False,
            read_only=self.read_only,
            service=self.service,
        )

    def close(self) -> None:
        """Close the S3 client (a later use makes a new one)."""
        client, self._client = self._client, None
        if client is not None:
            client.close()

    def url(self, path: str) -> str:
        """``s3://bucket/key`` of an API path (what hooks see as ``os_path``)."""
        keymap = self.keymap
        key = keymap.dir_prefix(path) if keymap.is_root(path) else keymap.file_key(path)
        return f"s3://{self.client.bucket}/{key}"

    def check_writable(self) -> None:
        """:class:`ReadOnly` if this store is read-only."""
        if self.read_only:
            raise ReadOnly(self.keymap.mount or "This folder")

    def copies_from(self, origin: S3Store) -> bool:
        """Whether this store can copy from ``origin`` server-side (same
        endpoint and credentials: one S3 service sees both buckets)."""
        return origin is self or (self.service is not None and origin.service == self.service)

    # -- objects -------------------------------------------------------------

    async def head(self, path: str) -> ObjectMeta | None:
        """One HEAD of the object at ``path``; None (remembered absent) if none."""
        if self.keymap.is_root(path):
            return None
        try:
            return await self.client.head_object(self.keymap.file_key(path))
        except errors.NotFound:
            self.versions.absent(path)  # a write there next is a creation
            return None

    async def head_key(self, key: str, *, version_id: str | None = None) -> ObjectMeta | None:
        """One HEAD of ``key`` (a folder marker, a checkpoint; one S3 version of
        it with ``version_id``); None if there is none."""
        try:
            return await self.client.head_object(key, version_id=version_id)
        except errors.NotFound:
            return None

    async def holds(self, key: str, etag: str) -> bool:
        """Whether ``key`` is still the version ``etag`` (one HEAD with If-Match)."""
        try:
            await self.client.head_object(key, if_match=etag)
        except (errors.PreconditionFailed, errors.NotFound):
            return False
        return True

    async def read(self, path: str, *, max_size: int | None = None) -> tuple[ObjectMeta, bytes]:
        """One GET of the object at ``path`` (:class:`errors.BodyTooLarge` over
        ``max_size``, with the size found by a HEAD when the answer did not say
        it); the version read becomes the basis of the next write."""
        key = self.keymap.file_key(path)
        try:
            meta, data = await self.client.get_object(key, max_size=max_size)
        except errors.NotFound:
            self.versions.absent(path)
            raise
        except errors.BodyTooLarge as too_large:
            if too_large.size is None:  # libcurl refused it before saying how large
                too_large.size = (await self.client.head_object(key)).size
            raise
        self.versions.served(path, meta.etag, saved_time(meta), meta.version_id)
        return meta, data

    async def head_for_model(self, path: str) -> ObjectMeta | None:
        """:meth:`head`, with the version seen becoming the basis of the next write."""
        meta = await self.head(path)
        if meta is not None:
            self.versions.served(path, meta.etag, saved_time(meta), meta.version_id)
        return meta

    async def fetch(
        self,
        path: str,
        sink: Callable[[bytes], Awaitable[None]],
        *,
        etag: str | None = None,
        whole: int = 0,
    ) -> ObjectMeta:
        """One GET of the object at ``path``, streamed to ``sink`` chunk by
        chunk (only the version ``etag``, when given: :class:`errors.PreconditionFailed`
        if it changed); its metadata. An object of at most ``whole`` bytes
        is read into memory and given to ``sink`` at once (over a kept-alive
        connection, where streamed bodies take a new one; larger:
        :class:`errors.BodyTooLarge`). Nothing is remembered of it: a copy for
        a kernel's working folder is not a version served to a client."""
        key = self.keymap.file_key(path)
        if whole:
            meta, data = await self.client.get_object(key, if_match=etag, max_size=whole)
            await sink(data)
            return meta
        return await self.client.get_object_stream(key, sink, if_match=etag)

    async def stream(
        self,
        meta: ObjectMeta,
        path: str,
        sink: Callable[[bytes], Awaitable[None]],
        byte_range: tuple[int, int] | None = None,
    ) -> None:
        """Stream version ``meta`` of the object at ``path`` (or a byte range)
        to ``sink``, chunk by chunk."""
        await self.client.get_object_stream(
            self.keymap.file_key(path), sink, byte_range=byte_range, if_match=meta.etag
        )

    async def write(
        self,
        path: str,
        body: bytes | FileBody,
        content_type: str,
        *,
        creating: bool = False,
    ) -> datetime:
        """PUT the object at ``path`` under the write policy; returns its save time."""
        return (await self.put(path, body, content_type, creating=creating)).saved

    async def put(
        self,
        path: str,
        body: bytes | Body,
        content_type: str,
        *,
        creating: bool = False,
        over: str | None = None,
    ) -> Written:
        """:meth:`write`, returning what was written (its ETag too); ``over``:
        only over the version with that ETag (If-Match), instead of the
        version this server last saw (a kernel's working folder knows which
        version each of its files started from)."""
        self.check_writable()
        saved, metadata = now_stamp()
        key = self.keymap.file_key(path)
        size = len(body) if isinstance(body, bytes) else body.length

        async def put(conditions: Conditions) -> Written:
            result = await self.client.put_object(
                key,
                body,
                content_type=content_type,
                metadata=metadata,
                if_match=conditions.if_match,
                if_none_match=conditions.if_none_match,
            )
            self.versions.served(path, result.etag, saved, result.version_id)
            self.changes.written(key, size, result.etag, saved)
            return Written(key, size, result.etag.strip('"'), saved)

        return await self.writes.run(path, put, creating=creating, over=over)

    async def copy(
        self,
        path: str,
        source_key: str,
        destination_key: str,
        source: ObjectMeta | int,
        *,
        metadata: Mapping[str, str] | None = None,
        creating: bool = True,
        over: str | None = None,
        origin: S3Store | None = None,
        source_version: str | None = None,
    ) -> str:
        """Copy ``source_key`` (version ``source``, or an object of that size;
        the S3 version ``source_version`` of it) of ``origin`` (default: this
        store) to ``destination_key``, under the write policy for ``path``
        (``creating``: only if nothing is there; ``over``: only over the
        version of ``destination_key`` with that ETag); returns the copy's
        ETag. ``metadata`` replaces the source's (the content type is kept).
        Server-side unless ``origin`` is on another S3 service."""
        self.check_writable()
        size = source if isinstance(source, int) else source.size
        meta = None if isinstance(source, int) else source
        copy, _ = self._copier(origin or self)

        copied = CopySource(
            source_key, size, meta.etag if meta else None, version_id=source_version
        )

        async def run(conditions: Conditions) -> str:
            etag = await copy(
                copied,
                destination_key,
                content_type=(meta.content_type or None) if meta else None,
                metadata=metadata,
                if_match=conditions.if_match,
                if_none_match=conditions.if_none_match,
            )
            known = size if meta is not None or size else None  # 0 alone: not known
            self.changes.written(destination_key, known, etag, _stamped(metadata))
            return etag

        return await self.writes.run(path, run, creating=creating, over=over)

    def _copier(self, origin: S3Store) -> tuple[tree.Copier, int]:
        """How objects of ``origin`` are copied here, and how many at once:
        CopyObject (UploadPartCopy over ``copy_threshold``) on one S3 service,
        up to ``max_concurrency``; else streamed through this server
        (:mod:`jupyters3.streamcopy`), a few at a time so memory stays bounded."""
        sizes = self.limits.copy_sizes
        limit = self.limits.max_concurrency
        if origin is self:
            return functools.partial(tree.copy_object, self.client, sizes=sizes), limit
        if self.copies_from(origin):
            source = origin.client
            copy = functools.partial(
                tree.copy_object, self.client, sizes=sizes, source_client=source
            )
            return copy, limit
        streamed = functools.partial(streamcopy.copy_object, origin.client, self.client)

        async def in_a_slot(source: CopySource, destination: str, **kwargs: Any) -> str:
            async with self._stream_slots:
                return await streamed(source, destination, **kwargs)

        return in_a_slot, min(limit, _STREAMS)

    async def restore(
        self, path: str, source_key: str, source_version: str | None = None
    ) -> datetime:
        """Copy ``source_key`` (a checkpoint) back over the object at ``path``,
        only over the version of it this server last saw (a newer one that
        another server wrote is kept: :class:`~jupyters3.writes.WriteConflict`).
        One HEAD of the source and, when a version is known, one HEAD of the
        object with If-Match (some stores ignore the condition on a copy), in
        one round trip; then the copy. :class:`SourceMissing` if there is no
        ``source_key`` (or no ``source_version`` of it: one version of an
        object on a versioned bucket). Returns the restored version's save time (now)."""
        self.check_writable()
        key = self.keymap.file_key(path)
        saved, metadata = now_stamp()

        async def source() -> ObjectMeta:
            try:
                return await self.client.head_object(source_key, version_id=source_version)
            except errors.NotFound:
                raise SourceMissing(source_key) from None

        async def run(conditions: Conditions) -> None:
            checks: list[Awaitable[ObjectMeta]] = [source()]
            if conditions.if_match:
                checks.append(self.client.head_object(key, if_match=conditions.if_match))
            meta = (await asyncio.gather(*checks))[0]
            etag = await tree.copy_object(
                self.client,
                CopySource(source_key, meta.size, meta.etag, version_id=source_version),
                key,
                sizes=self.limits.copy_sizes,
                content_type=meta.content_type or None,
                metadata=metadata,
                if_match=conditions.if_match,
                if_none_match=conditions.if_none_match,
            )
            self.versions.served(path, etag, saved)  # the client reloads what it restored
            self.changes.written(key, meta.size, etag, saved)

        await self.writes.run(path, run)
        return saved

    async def put_empty(self, path: str, key: str, metadata: Mapping[str, str]) -> str | None:
        """Create the 0-byte object ``key`` (a checkpoint's pointer to a version
        of ``path``) under the write policy: a creation. Returns its version id."""
        self.check_writable()

        async def put(conditions: Conditions) -> str | None:
            result = await self.client.put_object(
                key,
                b"",
                content_type="application/octet-stream",
                metadata=metadata,
                if_none_match=conditions.if_none_match,
            )
            self.changes.written(key, 0, result.etag, _stamped(metadata))
            return result.version_id

        return await self.writes.run(path, put, creating=True)

    def knows_versioning(self, enabled: bool) -> None:
        """Whether versioning is Enabled, as found at start (when it is used)."""
        if self._versioned is None:
            self._versioned = enabled

    async def versioning_status(self) -> str:
        """GetBucketVersioning: ``"Enabled"``, ``"Suspended"`` or ``""`` (S3
        errors are raised: at start they say what is wrong)."""
        return await self.client.get_bucket_versioning()

    async def versioned(self) -> bool:
        """Whether the bucket has versioning Enabled and it is used
        (``use_versioning``): one GetBucketVersioning, the first time only. A
        store or policy that does not answer counts as unversioned (one debug line)."""
        if self._versioned is None:
            try:
                status = await self.client.get_bucket_versioning()
            except errors.S3Error as exc:
                self.log.debug("JupyterS3: bucket versioning unknown (%s): not versioned", exc.code)
                status = ""
            self._versioned = status == "Enabled"
        return self._versioned

    async def purge_deleted_checkpoints(self, path: str) -> None:
        """On a versioned bucket, remove for good every version (and delete
        marker) of the deleted checkpoint keys under ``path``'s folder prefix:
        our own objects, whose history nobody needs, and whose delete markers
        some stores (moto) would list as a folder. One ListObjectVersions and
        one DeleteObjects per 1,000 versions; nothing on other buckets."""
        if not await self.versioned():
            return
        found = await self.client.list_object_versions(self.keymap.dir_prefix(path))
        deleted = {v.key for v in found if v.is_latest and v.delete_marker}
        doomed = [
            (v.key, v.version_id)
            for v in found
            if v.key in deleted and f"/{keys.CHECKPOINTS}/" in v.key and v.version_id
        ]
        if doomed:
            await self.client.delete_object_versions(doomed)

    async def mkdir(self, path: str, *, renamed_from: str | None = None) -> None:
        """The folder marker of ``path``; ``renamed_from`` tags it while a rename
        into it runs (a creation then: If-None-Match)."""
        self.check_writable()
        marker = self.keymap.dir_marker(path)
        assert marker is not None
        metadata = {RENAMED_FROM_META: quote(renamed_from, safe="/")} if renamed_from else None

        async def put(conditions: Conditions) -> None:
            result = await self.client.put_object(
                marker,
                b"",
                content_type=_DIRECTORY,
                metadata=metadata,
                if_none_match=conditions.if_none_match,
            )
            self.changes.written(marker, 0, result.etag, _stamped(None))

        if renamed_from is None:
            await put(Conditions())  # a marker over a marker changes nothing
        else:
            await self.writes.run(path + "/", put, creating=True)

    async def delete_key(self, key: str) -> None:
        """One DeleteObject of ``key`` (a checkpoint), whatever it holds."""
        self.check_writable()
        await self.client.delete_object(key)
        self.changes.removed([key])

    async def delete_version(self, key: str, version_id: str) -> None:
        """Remove one S3 version of ``key`` for good (no delete marker is left)."""
        self.check_writable()
        result = await self.client.delete_object_versions([(key, version_id)])
        if result.errors:
            raise tree.delete_error(self.client, result.errors, 1)
        self.changes.removed([key])

    async def checkpoint_objects(self, path: str) -> list[ListedObject]:
        """Every object under the checkpoints' holder of ``path``, all pages."""
        objects, _ = await self.client.list_all(self.keymap.checkpoint_prefix(path))
        return objects

    async def file_versions(self, path: str) -> list[ObjectVersion]:
        """One ListObjectVersions of the file key of ``path`` (all pages): the
        file's versions and, after them, those of the keys under it (its
        checkpoints), newest first per key."""
        return await self.client.list_object_versions(self.keymap.file_key(path))

    # -- multipart uploads ----------------------------------------------------

    async def begin_upload(self, path: str, content_type: str) -> tuple[str, datetime]:
        """Start a multipart upload of ``path``; its id and the save time it records."""
        self.check_writable()
        saved, metadata = now_stamp()
        upload_id = await self.client.create_multipart_upload(
            self.keymap.file_key(path), content_type=content_type, metadata=metadata
        )
        return upload_id, saved

    async def upload_part(self, path: str, upload_id: str, number: int, body: FileBody) -> str:
        """One part of a multipart upload of ``path``; its ETag."""
        return await self.client.upload_part(self.keymap.file_key(path), upload_id, number, body)

    async def complete_upload(
        self,
        path: str,
        upload_id: str,
        parts: Sequence[tuple[int, str]],
        saved: datetime,
        size: int,
    ) -> None:
        """Complete a multipart upload of ``path`` (``size`` bytes in all) under
        the write policy."""
        self.check_writable()
        key = self.keymap.file_key(path)

        async def complete(conditions: Conditions) -> None:
            result = await self.client.complete_multipart_upload(
                key,
                upload_id,
                list(parts),
                if_match=conditions.if_match,
                if_none_match=conditions.if_none_match,
            )
            self.versions.served(path, result.etag, saved)
            self.changes.written(key, size, result.etag, saved)

        await self.writes.run(path, complete)

    async def abort_upload(self, key: str, upload_id: str) -> None:
        """Abort a multipart upload (its parts are dropped)."""
        await self.client.abort_multipart_upload(key, upload_id)

    async def abort_abandoned_uploads(self, age: float) -> int:
        """Abort the multipart uploads under the prefix begun ``age`` seconds
        ago or more: what a crashed server left (one ListMultipartUploads per
        1,000, then the aborts); returns how many. Best effort: a policy
        without s3:ListBucketMultipartUploads only costs a debug line."""
        prefix = self.keymap.prefix
        try:
            uploads = await self.client.list_multipart_uploads(prefix)
        except errors.S3Error as exc:
            self.log.debug("JupyterS3: not looking for abandoned uploads: %s", exc.code)
            return 0
        now = datetime.now(timezone.utc)
        stale = [
            u
            for u in uploads
            if u.initiated is not None and (now - u.initiated).total_seconds() >= age
        ]
        for upload in stale:
            try:
                await self.client.abort_multipart_upload(upload.key, upload.upload_id)
            except errors.S3Error as exc:
                self.log.debug("JupyterS3: could not abort %s: %s", upload.key, exc.code)
        if stale:
            self.log.info(
                "JupyterS3: aborted %d abandoned multipart upload(s) under %r", len(stale), prefix
            )
        return len(stale)

    # -- folders -------------------------------------------------------------

    async def folder_listing(self, path: str) -> tuple[bool, bool]:
        """One LIST: whether a folder is at ``path``, and whether ``path`` has
        checkpoints (``.checkpoints/`` is the only thing under it)."""
        prefix = self.keymap.dir_prefix(path)
        async for page in self.client.list_pages(prefix, delimiter="/", max_keys=2):
            if is_folder(prefix, page.objects, page.common_prefixes):
                return True, False
            return False, bool(page.common_prefixes)  # only the checkpoints' holder
        return False, False

    async def is_empty(self) -> bool:
        """One LIST of at most one entry under the prefix: whether nothing is
        there (what the check at start asks: it fails as S3 would refuse)."""
        async for page in self.client.list_pages(self.keymap.prefix, max_keys=1):
            return not page.objects and not page.common_prefixes
        return True

    async def may_list(self, key_prefix: str) -> None:
        """One LIST of at most one key under ``key_prefix``, anywhere in the
        bucket (not an API path): whether these credentials may list there
        (raises S3's refusal). What a server checks to see it is confined."""
        async for _ in self.client.list_pages(key_prefix, max_keys=1):
            break

    async def is_dir(self, path: str) -> bool:
        """One short LIST (none for the root, which always exists)."""
        if self.keymap.is_root(path):
            return True
        found, _ = await self.folder_listing(path)
        return found

    async def list_dir(
        self, path: str, *, complete: bool = True
    ) -> tuple[list[ListedObject], list[str]] | None:
        """The objects and sub-folder prefixes directly in folder ``path`` (every
        page; one short page unless ``complete``); None if there is no such folder."""
        prefix = self.keymap.dir_prefix(path)
        if complete:

            async def walk() -> Walk:
                objects: list[ListedObject] = []
                prefixes: list[str] = []
                pages = 0
                async for page in self.client.list_pages(prefix, delimiter="/"):
                    objects += page.objects
                    prefixes += page.common_prefixes
                    pages += 1
                return objects, prefixes, pages

            objects, prefixes = await self.listings.listing(prefix, walk)
        else:
            objects, prefixes = [], []
            async for page in self.client.list_pages(prefix, delimiter="/", max_keys=2):
                objects, prefixes = list(page.objects), list(page.common_prefixes)
                break
        if not self.keymap.is_root(path) and not is_folder(prefix, objects, prefixes):
            return None
        return objects, prefixes

    async def child_names(self, path: str) -> set[str] | None:
        """The names in folder ``path``; None if there is no such folder."""
        listed = await self.list_dir(path)
        if listed is None:
            return None
        prefix = self.keymap.dir_prefix(path)
        objects, prefixes = listed
        names = {o.key[len(prefix) :] for o in objects if o.key != prefix}
        return names | {p[len(prefix) :].rstrip("/") for p in prefixes}

    def probe_folder(self, path: str) -> None:
        """Start, without waiting, the LIST that :meth:`check_not_a_folder` will
        need for ``path`` (when it will need one and the name looks like a file's)."""
        basis = self.versions.basis(path)
        if isinstance(basis, str) or basis is FREE or "." not in path.rsplit("/", 1)[-1]:
            return
        probes = self._probes
        if path in probes and time.monotonic() - probes[path][1] < _PROBE_SECONDS:
            return
        task = asyncio.ensure_future(self.folder_listing(path))
        task.add_done_callback(_retrieve)
        probes[path] = (task, time.monotonic())
        while len(probes) > _PROBES_KEPT:
            del probes[next(iter(probes))]

    async def check_not_a_folder(self, path: str) -> bool | None:
        """Raise :class:`FolderInTheWay` when a folder is at ``path``.

        Free when this server knows what is there: a version of a file it
        served or wrote (returns None), or a listing of the parent that showed
        the name free (returns False: no checkpoints either). Otherwise one LIST
        (started early by :meth:`probe_folder` when it could be), which also
        tells whether ``path`` has checkpoints (True or False)."""
        basis = self.versions.basis(path)
        if isinstance(basis, str):
            return None
        if basis is FREE:
            return False
        early = self._probes.pop(path, None)
        found: tuple[bool, bool] | None = None
        if early is not None and time.monotonic() - early[1] < _PROBE_SECONDS:
            with contextlib.suppress(errors.S3Error):
                found = await early[0]
        folder, has_checkpoints = found or await self.folder_listing(path)
        if folder:
            raise FolderInTheWay(path)
        return has_checkpoints

    # -- key trees -----------------------------------------------------------

    async def walk(self, path: str, *, limit: int) -> tuple[list[ListedObject], bool]:
        """The objects under ``path``'s folder prefix, all depths, in key order,
        page by page until more than ``limit`` were seen; and whether that is
        all of them (one LIST per 1,000)."""
        objects: list[ListedObject] = []
        async for page in self.client.list_pages(self.keymap.dir_prefix(path)):
            objects += page.objects
            if len(objects) > limit:
                return objects, not page.is_truncated
        return objects, True

    async def tree(self, path: str) -> dict[str, ListedObject]:
        """Every object under ``path``'s folder prefix (a folder's contents, or a
        file's checkpoints) by key, all pages."""
        objects, _ = await self.client.list_all(self.keymap.dir_prefix(path))
        return {o.key: o for o in objects}

    async def copy_tree(
        self,
        path: str,
        pairs: Sequence[tuple[str, str]],
        listed: Mapping[str, ListedObject],
        *,
        creating: bool = True,
        label: str = "",
        origin: S3Store | None = None,
    ) -> dict[str, str]:
        """Copy each ``(source, destination)`` key of ``origin`` (default: this
        store), metadata kept, up to ``max_concurrency`` at a time, under the
        write policy for folder ``path`` (``creating``: every destination must
        be new); returns each destination's ETag."""
        self.check_writable()
        sizes_of = {key: listed[key].size for key, _ in pairs if key in listed}
        copy, limit = self._copier(origin or self)

        async def run(conditions: Conditions) -> dict[str, str]:
            copied = await tree.copy_keys(
                copy,
                pairs,
                sizes_of,
                limit=limit,
                label=label,
                if_none_match=conditions.if_none_match,
            )
            now = _stamped(None)
            for source, destination in pairs:
                if destination in copied:
                    self.changes.written(
                        destination, sizes_of.get(source), copied[destination], now
                    )
            return copied

        if not pairs:
            return {}
        if creating:
            return await self.writes.run(path, run, creating=True)
        return await run(Conditions())

    async def delete_keys(self, doomed: Sequence[str]) -> None:
        """Delete ``doomed``, whatever they hold (one DeleteObjects per 1,000 keys)."""
        self.check_writable()
        await tree.delete_keys(self.client, doomed)
        self.changes.removed(doomed)

    async def delete_versions(
        self, versions: Mapping[str, str | None], *, emptied: str | None = None
    ) -> set[str]:
        """Delete each key only while it is still the version named (its ETag;
        None: whatever is there), so that a version another server wrote after
        it was listed or copied is never deleted unseen. Returns the keys kept
        because they changed. One DeleteObjects per 1,000 keys with each key's
        ETag (one DeleteObject with If-Match for a single key); on a store
        without conditional deletes, one HEAD per key right before (see
        :mod:`jupyters3.writes`). ``emptied``: the keys are all there was
        under that prefix, as listed (a file's or folder's whole tree): when
        none was kept, it is announced gone with them."""
        self.check_writable()
        if not versions:
            return set()
        kept: set[str] | None = None
        if self.writes.deletes_enabled:
            try:
                kept = await tree.delete_if_unchanged(self.client, versions)
            except (errors.NotSupported, errors.InvalidRequest) as error:
                if not self.writes.refuses_conditional_deletes(error):
                    raise
        if kept is None:
            limit = self.limits.max_concurrency
            kept = await tree.delete_after_checking(self.client, versions, limit=limit)
        gone = [key for key in versions if key not in kept]
        self.changes.removed(gone, [emptied] if emptied and not kept else [])
        return kept

    def forget(self, *paths: str) -> None:
        """Forget what was seen at ``paths`` and under them (after a move or delete)."""
        for path in paths:
            self.versions.forget(path)
            self.versions.forget_under(path)

    def gone(self, path: str) -> None:
        """This server removed ``path`` and everything under it."""
        self.versions.absent(path)
        self.versions.forget_under(path)
