"""JupyterS3: a Jupyter Server ``AsyncContentsManager`` that keeps everything in S3.

A file or notebook at API path ``p`` is the object ``prefix + p``; a folder is
the 0-byte marker ``prefix + p + "/"`` (or exists implicitly because keys live
under it); checkpoints of ``p`` live under ``prefix + p + "/.checkpoints/"``.

JupyterS3 holds the settings and the contents API: it validates a request,
calls its :class:`~jupyters3.store.S3Store` (the only owner of S3 requests,
conditional writes and the folder rule), builds the models, runs the hooks and
emits the events. Domain errors become HTTP answers in one place,
:func:`jupyters3.http_errors.http_errors`. Each method states its S3 requests;
the floor is the goal (a listing is one LIST per 1,000 entries, a hash is the
ETag of one HEAD, independent requests run concurrently: one round trip).
"""

from __future__ import annotations

import asyncio
import atexit
import functools
import gc
import os
from typing import Any, cast

from jupyter_server.services.contents.manager import AsyncContentsManager
from tornado.web import HTTPError
from traitlets import (
    Bool,
    Dict,
    Enum,
    Float,
    Instance,
    Int,
    List,
    TraitError,
    Type,
    Unicode,
    default,
    validate,
)

from jupyters3 import (
    fileids,
    keys,
    models,
    names,
    reading,
    saving,
    startup,
    transfers,
    workfolders,
)
from jupyters3.auth import JupyterS3Authentication, JupyterS3DefaultAuthentication
from jupyters3.checkpoints import S3Checkpoints
from jupyters3.contents_errors import InvalidPath, StartupRefused, WriteConflict
from jupyters3.credentials.providers import profile_region
from jupyters3.files import S3FilesHandler
from jupyters3.http_errors import api_path, http_errors
from jupyters3.mounts import (
    MountSpec,
    Stores,
    View,
    check_clashes,
    check_credentials,
    check_overlaps,
    parse_mounts,
)
from jupyters3.s3.endpoint import same_service_key
from jupyters3.settings import BucketSettings
from jupyters3.store import S3Store
from jupyters3.uploads import ChunkedUploads, UploadLimits
from jupyters3.workfolders import kernel_env

__all__ = ["JupyterS3"]

#: new_untitled tries this many names when other servers keep taking them.
_NEW_UNTITLED_TRIES = 10


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


class JupyterS3(AsyncContentsManager):
    """Jupyter contents (notebooks, files, folders, checkpoints) in an S3 bucket."""

    #: What ``hash`` holds in a model asked for with ``require_hash``: the
    #: object's S3 ETag, so a hash costs no read of the data (jupyter_server's
    #: file managers expose their configurable algorithm under this name).
    hash_algorithm: str = models.HASH_ALGORITHM

    # -- configuration (the original design's names first) -------------------

    aws_region = Unicode(
        help="The bucket's AWS region. Default: AWS_REGION, AWS_DEFAULT_REGION, the region "
        "of the AWS profile in ~/.aws/config (AWS_PROFILE, or the profile the "
        "authentication names), else us-east-1."
    ).tag(config=True)
    aws_s3_bucket = Unicode(
        help="The S3 bucket that holds the contents. Optional with mounts: without it "
        "the top level shows only the mounts, and nothing can be created there."
    ).tag(config=True)
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
    mounts = Dict(
        help="Other buckets or prefixes shown as top-level folders: a dict from folder "
        "name to 's3://<bucket>/<prefix>', or to a dict with 'url' and any of "
        "'endpoint_url', 'region', 'addressing_style', 'read_only' (default False), "
        "'authentication_class' or 'profile' (its own credentials). A mount inherits "
        "the main bucket's endpoint, region, addressing and credentials unless it sets "
        "its own. Copies and renames across mounts are server-side on one endpoint with "
        "the same credentials, streamed through the server otherwise.",
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
    versioned_checkpoints = Enum(
        ["auto", "on", "off"],
        default_value="auto",
        help="On a bucket with S3 versioning Enabled, a checkpoint copies no data: it "
        "names the file's S3 version, and restoring copies that version back. 'auto' "
        "asks S3 once (GetBucketVersioning; without that permission: not versioned); "
        "'on' stops the server at start if the bucket is not versioned; 'off' always "
        "copies the file.",
    ).tag(config=True)
    versioned_checkpoints_history = Int(
        0,
        help="On a versioned bucket, also list the file's N newest earlier S3 versions "
        "(autosaves included) as read-only checkpoints, so File > Revert to Checkpoint "
        "can bring back any of them. 0: only the checkpoints made.",
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
    listing_max_age = Float(
        30.0,
        help="A folder of more than 1,000 entries (several LIST pages) is listed from "
        "a kept copy for up to this many seconds (less for a folder quick to list: ten "
        "times what its listing took, at least 2 s), shared by every tab and user of "
        "the server. This server's own saves, uploads, copies, renames and deletes "
        "update the kept copy at once; another writer's changes (another server, a "
        "pipeline, a kernel's boto3) show within this bound plus one poll of the file "
        "browser (10 s). A folder of up to 1,000 entries is always listed afresh. 0: "
        "never keep a listing.",
    ).tag(config=True)
    listing_cache_entries = Int(
        200_000,
        help="The most folder entries kept in all (see listing_max_age), for the main "
        "bucket and each mount apiece; the folders listed least recently are dropped "
        "first. About 300 bytes each.",
    ).tag(config=True)
    kernel_working_folders = Bool(
        True,
        help="Kernels work on their notebook's files: a kernel starts in a local working "
        "folder that holds its notebook's S3 folder (and its subfolders), what it "
        "writes there is uploaded, and saves made in Jupyter reach it at once. The "
        "kernel manager's root_dir becomes the folder that holds the working folders "
        "(if it is set to a folder of its own, working folders are off). Off: kernels "
        "start in ServerApp.root_dir, on the local disk, as with any contents manager.",
    ).tag(config=True)
    kernel_working_root = Unicode(
        "",
        help="Where kernels' working folders live: each server makes a folder of its own "
        "in it. Default: 'jupyters3-working' in Jupyter's data folder "
        "(~/.local/share/jupyter), which must be on a disk kept across restarts: a "
        "server that crashed has its leftover changes uploaded at the next start.",
    ).tag(config=True)
    kernel_max_file_bytes = Int(
        256 * 1024**2,
        help="The largest file, in bytes, synced between S3 and a kernel's working "
        "folder (either way); a larger one is left out and named in the log and in "
        "the folder's note (.jupyters3-working-folder.txt).",
    ).tag(config=True)
    kernel_max_folder_bytes = Int(
        1024**3,
        help="The most bytes copied into one kernel's working folder from S3; files past "
        "it (the shallowest are taken first) are left out, and named in the log and "
        "the folder's note. The kernel starts either way.",
    ).tag(config=True)
    kernel_max_files = Int(
        10_000,
        help="The most files copied into one kernel's working folder (one GET each); "
        "files past it are left out and named, as for kernel_max_folder_bytes.",
    ).tag(config=True)
    kernel_left_out = List(
        Unicode(),
        default_value=[".*", "__pycache__"],
        help="Names never synced between S3 and kernels' working folders, as shell "
        "patterns matched against each name of a path (default: hidden names and "
        "__pycache__). Checkpoints always stay in S3.",
    ).tag(config=True)
    kernel_upload_interval = Float(
        5.0,
        help="Seconds between two scans of a working folder for what its kernels wrote "
        "(uploaded at once); a kernel going idle (a cell ended) also starts one within "
        "a second.",
    ).tag(config=True)
    kernel_refresh_interval = Float(
        60.0,
        help="Seconds between two listings of a working folder's S3 folder (one LIST "
        "per 1,000 objects, then a GET only for what changed), so that changes made "
        "elsewhere (another server, a pipeline) reach running kernels. Saves made "
        "through this server arrive at once, and a kernel's start or restart lists "
        "again.",
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

    @validate("kernel_upload_interval", "kernel_refresh_interval")
    def _validate_interval(self, proposal: Any) -> float:
        value = float(proposal["value"])
        if value <= 0:
            raise TraitError(f"c.JupyterS3.{proposal['trait'].name}: a number of seconds over 0.")
        return value

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
        except InvalidPath as exc:
            # Jupyter reports a TraitError at start as one line and exits 1.
            raise TraitError(f"c.JupyterS3.prefix: {exc}") from None

    def _environ(self) -> dict[str, str]:
        return dict(os.environ)

    # -- lifecycle -----------------------------------------------------------

    store = Instance(
        S3Store,
        allow_none=True,
        help="The main bucket and prefix, addressed by API path (None with mounts only).",
    )
    stores = Instance(Stores, help="The store of each API path: the mounts and the main one.")

    @property
    def bucket_settings(self) -> BucketSettings:
        """The main bucket's settings, from the traits (made anew on each use:
        the traits may change until the server starts)."""
        return BucketSettings(
            bucket=self.aws_s3_bucket,
            prefix=self.prefix,
            region=self.aws_region,
            endpoint_url=self.endpoint_url,
            addressing_style=self.addressing_style,
            authentication=self.authentication,
            connect_timeout=self.connect_timeout,
            request_timeout=self.request_timeout,
            max_concurrency=self.max_concurrency,
            max_attempts=self.max_attempts,
            validate_cert=self.validate_cert,
            http_client=self.http_client,
            versioned_checkpoints=self.versioned_checkpoints,
            conditional_writes=self.conditional_writes,
            copy_threshold=self.copy_threshold,
            copy_part_size=self.copy_part_size,
            listing_max_age=self.listing_max_age,
            listing_cache_entries=self.listing_cache_entries,
        )

    @default("store")
    def _default_store(self) -> S3Store | None:
        if not self.aws_s3_bucket and self.mounts:
            return None
        return startup.new_store(self.bucket_settings, self.log)

    @default("stores")
    def _default_stores(self) -> Stores:
        mounts = {name: startup.new_store(s, self.log) for name, s in self.mount_settings.items()}
        return Stores(self.store, mounts)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._has_checkpoint: set[str] = set()
        self._uploads: ChunkedUploads | None = None
        try:
            self._mount_specs: list[MountSpec] = parse_mounts(self.mounts)
            check_credentials(self._mount_specs, self.endpoint_url)
            #: Each mount's settings, by name (its credentials are made now).
            self.mount_settings = startup.mount_settings(self.bucket_settings, self._mount_specs)
            check_overlaps(self._views())
            if self.check_on_start:
                self._check_on_start()
        except StartupRefused as refused:
            self.log.critical("JupyterS3: %s", refused.sentence)
            raise
        #: Kernels' working folders (None: off, or not in a Jupyter server).
        self.working_folders = workfolders.attach(self)
        atexit.register(self._abort_uploads_at_exit)
        server_loop = getattr(self.parent, "io_loop", None)  # ServerApp's, not started yet
        serve_kernels = getattr(self.authentication, "serve_kernels", None)  # jupyters3.hub
        if serve_kernels is not None and server_loop is not None:
            serve_kernels(server_loop)
        if self.freeze_gc_at_start and server_loop is not None:
            server_loop.add_callback(_freeze_gc_once, self.log)
        if self.abandoned_upload_age >= 0 and server_loop is not None:
            server_loop.add_callback(self._sweep_abandoned_uploads)

    def _views(self) -> list[View]:
        """What the main bucket and each mount show, for :func:`check_overlaps`."""
        shown = [] if self.store is None else [self.bucket_settings]
        shown += self.mount_settings.values()
        return [
            View(s.label, same_service_key(s.endpoint_url), s.bucket, s.prefix, s.read_only)
            for s in shown
        ]

    def _check_on_start(self) -> None:
        """List each bucket once (the main one, then every mount);
        :class:`StartupRefused` if one cannot work or a mount hides a
        top-level name of the main bucket."""
        checks: list[tuple[BucketSettings, S3Store]] = []
        if self.store is not None:
            checks.append((self.bucket_settings, self.store))
        checks += [(self.mount_settings[n], store) for n, store in self.stores.mounts.items()]
        for settings, store in checks:
            versioned = startup.check_configuration(settings, store, self.log)
            if versioned is not None:
                store.knows_versioning(versioned)
        if self.store is not None and self._mount_specs:
            check_clashes(self._mount_specs, startup.top_level_names(self.store, self.log))
        confine = getattr(self.authentication, "check_at_start", None)  # jupyters3.hub
        if confine is not None:
            confine(self)  # StartupRefused unless confined to the prefix

    async def _sweep_abandoned_uploads(self) -> None:
        for store in self.stores:
            if not store.read_only:
                await store.abort_abandoned_uploads(self.abandoned_upload_age)

    @property
    def uploads(self) -> ChunkedUploads:
        """The chunked uploads in progress on this server."""
        if self._uploads is None:
            limits = UploadLimits(
                self.multipart_threshold, self.multipart_part_size, self.upload_timeout
            )
            self._uploads = ChunkedUploads(self._writable, limits, self)
        return self._uploads

    def _abort_uploads_at_exit(self) -> None:
        """The server is stopping: abort the multipart uploads of unfinished
        chunked uploads, so nothing half-written lingers in the bucket."""
        if self._uploads is not None:
            self._uploads.close_at_exit(lambda doomed: startup.abort_at_exit(doomed, self.log))

    # -- Jupyter hooks -------------------------------------------------------

    async def get_kernel_path(self, path: str, model: Any = None) -> str:
        """Kernels start in the notebook's folder: its working folder, filled
        from S3 now (jupyter_server awaits this before the kernel starts), under
        the kernel manager's root_dir. The kernel's environment also tells it
        where the notebook is (:mod:`jupyters3.workfolders.kernel_env`)."""
        folder = keys.split(api_path(path))[0]
        sessions = getattr(self.parent, "session_manager", None)
        kernel_env.install(
            sessions, functools.partial(workfolders.kernel_variables, self), self.log
        )
        if self.working_folders is not None:
            await self.working_folders.prepare(folder)
        return folder

    async def is_hidden(self, path: str) -> bool:
        """A path is hidden when one of its names starts with a dot."""
        return keys.is_hidden_path(api_path(path))

    def _refuse_hidden(self, *paths: str, message: str) -> None:
        """The hidden-path policy for every write (save, new, copy, rename,
        delete): with ``allow_hidden`` off, a write that names a hidden path
        (one with a segment starting with ``.``) answers 400, as the reference."""
        if not self.allow_hidden and any(keys.is_hidden_path(p) for p in paths):
            raise HTTPError(400, message)

    # -- which store -----------------------------------------------------------

    def _readable(self, path: str) -> S3Store:
        """The store of ``path``; 404 at the top level when there is no main bucket."""
        with http_errors(path):
            return self.stores.readable(path)

    def _mounts_in(self, folder: str) -> set[str]:
        """The names the mounts take in ``folder`` (the root's, else none)."""
        return set() if folder else set(self.stores.mounts)

    def _writable(self, path: str, *, inside: bool = False) -> S3Store:
        """The store of ``path``, for a write at ``path`` (``inside``: into the
        folder ``path``). 403, before any request: a read-only mount, the top
        level without a main bucket, and a mount point itself (unless ``inside``)."""
        with http_errors(path):
            return self.stores.writable(path, inside=inside)

    # -- existence -----------------------------------------------------------

    async def file_exists(self, path: str = "") -> bool:
        """One HEAD; none for a path with a chunked upload in progress here, which
        counts as existing (jupyter_server asks before every chunk; the reference's
        file exists from the first chunk on).

        jupyter_server asks this right before it saves at ``path`` (PUT). The
        LIST that such a save needs to refuse a file over a folder starts now,
        beside the HEAD and without being waited for (:meth:`S3Store.probe_folder`):
        the save then costs no round trip more than the HEAD and the PUT."""
        path = api_path(path)
        store = self.stores.at(path)
        if store is None or store.keymap.is_root(path):
            return False
        if not self._busy(path):
            store.probe_folder(path)
        return await self._is_file(path)

    def _busy(self, path: str) -> bool:
        return self._uploads is not None and self._uploads.busy(path)

    async def _is_file(self, path: str) -> bool:
        """:meth:`file_exists` of a normalised path, without the early folder probe."""
        store = self.stores.at(path)
        if store is None or store.keymap.is_root(path):
            return False
        if self._busy(path):
            return True
        with http_errors(path):
            return await store.head(path) is not None

    async def dir_exists(self, path: str) -> bool:
        """One LIST (delimiter, 2 keys): a marker, a child; none for the root or
        a mount's folder, which always exist."""
        path = api_path(path)
        store = self.stores.at(path)
        if store is None:
            return not path
        with http_errors(path):
            return await store.is_dir(path)

    async def exists(self, path: str) -> bool:
        """HEAD and LIST concurrently: one round trip."""
        path = api_path(path)
        file, folder = await asyncio.gather(self._is_file(path), self.dir_exists(path))
        return file or folder

    # -- get -----------------------------------------------------------------

    async def get(
        self,
        path: str,
        content: bool = True,
        type: str | None = None,
        format: str | None = None,
        require_hash: bool = False,
    ) -> dict[str, Any]:
        """One GET (content) or one HEAD (no content) for a file or notebook; one
        LIST per 1,000 entries for a folder; none for a hidden path (404 unless
        ``allow_hidden``, as the reference answers). Without ``type``, a name without a
        dot is tried as a folder first and anything else as a file first, so
        the common case costs one request and the other case two."""
        path = api_path(path)
        if not self.allow_hidden and keys.is_hidden_path(path):
            # As the reference: a hidden path is served to no caller (the REST
            # API, nbconvert, /files/), and answers as if it did not exist.
            raise HTTPError(404, f"file or directory does not exist: {path!r}")
        if not path and self.stores.mounts:
            with http_errors(path):
                model = await reading.top_level(
                    self, self.stores, content=content, type=type, is_file=self._is_file
                )
            self.emit(data={"action": "get", "path": path})
            return model
        store = self._readable(path)
        with http_errors(path):
            model = await reading.get(
                self,
                store,
                path,
                content=content,
                type=type,
                format=format,
                require_hash=require_hash,
                max_inline=self.max_inline_bytes,
                is_file=self._is_file,
            )
        self.emit(data={"action": "get", "path": path})
        return model

    # -- save ----------------------------------------------------------------

    async def save(self, model: dict[str, Any], path: str = "") -> dict[str, Any]:
        """One PUT. A path this server has not seen as a file costs one LIST first
        (is a folder there?); a notebook's first save here also makes sure it
        has a checkpoint, as the reference does."""
        path = api_path(path)
        if not isinstance(model, dict):
            raise HTTPError(400, "The model must be a JSON object")
        if model.get("chunk") is not None:
            self._refuse_hidden(path, message=f"Cannot create file or directory {path!r}")
            self._writable(path)
            return await self.uploads.save_chunk(model, path)
        store = self._writable(path)  # before the hooks: a refused save runs none
        self.run_pre_save_hooks(model=model, path=path)
        if "type" not in model:
            raise HTTPError(400, "No file type provided")
        if "content" not in model and model["type"] != "directory":
            raise HTTPError(400, "No file content provided")
        if not path:
            raise HTTPError(400, "Can't save over the root directory")
        if not isinstance(model.get("format"), (str, type(None))):
            raise HTTPError(400, "The model's format must be a string: 'text', 'base64' or 'json'")
        kind = model["type"]
        if kind == "directory":
            self._refuse_hidden(path, message=f"Cannot create hidden directory {path!r}")
        else:
            self._refuse_hidden(path, message=f"Cannot create file or directory {path!r}")
        with http_errors(path):
            if kind == "directory":
                if await self._is_file(path):
                    raise HTTPError(400, f"Not a directory: {path}")
                await store.mkdir(path)
                saved = models.directory_model(
                    path, last_modified=models.EPOCH, created=models.EPOCH
                )
            elif kind in ("notebook", "file"):
                saved = await saving.save_object(self, store, model, path, self._has_checkpoint)
            else:
                raise HTTPError(400, f"Unhandled contents type: {kind}")
        self.run_post_save_hooks(model=saved, os_path=store.url(path))
        self.emit(data={"action": "save", "path": path})
        return saved

    # -- new -----------------------------------------------------------------

    async def increment_filename(self, filename: str, path: str = "", insert: str = "") -> str:
        """One LIST of the folder, then the first free name (as the reference numbers them)."""
        path = api_path(path)
        store = self.stores.at(path)
        if store is None:  # the top level without a main bucket: only the mounts
            return names.first_free_name(filename, insert, set(self.stores.mounts))
        with http_errors(path):
            taken = await store.child_names(path) or set()
        return names.first_free_name(filename, insert, taken | self._mounts_in(path))

    async def new_untitled(self, path: str = "", type: str = "", ext: str = "") -> dict[str, Any]:
        """One LIST (existence and taken names) and one PUT."""
        path = api_path(path)
        if not self.allow_hidden and keys.is_hidden_path(path):
            raise HTTPError(404, f"No such directory: {path}")  # hidden folders are not served
        store = self._writable(path, inside=True)
        with http_errors(path):
            taken = await store.child_names(path)
        if taken is None:
            raise HTTPError(404, f"No such directory: {path}")
        taken |= self._mounts_in(path)
        model, untitled, insert = self._untitled(type, ext)
        for _ in range(_NEW_UNTITLED_TRIES):
            with http_errors(path):  # an extension may make the name invalid: 400
                target = keys.join(path, names.first_free_name(untitled, insert, taken))
            store.versions.free(target)  # free in the listing: create, never replace
            try:
                return await self.new(model, target)  # type: ignore[no-any-return]
            except HTTPError as answer:
                conflict = answer.__cause__
                if not isinstance(conflict, WriteConflict) or not conflict.created:
                    raise
                taken.add(keys.split(target)[1])  # another server took it meanwhile
        raise HTTPError(409, f"Could not find a free name for a new {model['type']} in {path!r}")

    def _untitled(self, type: object, ext: object) -> tuple[dict[str, Any], str, str]:
        """The model, the untitled name and the number separator of a new one."""
        if not isinstance(ext, str) or "/" in ext or "\\" in ext:
            raise HTTPError(400, f"Invalid extension {ext!r}: a string without slashes")
        if not isinstance(type, str):
            raise HTTPError(400, f"Invalid type {type!r}")
        kind = type or ("notebook" if ext == ".ipynb" else "file")
        if kind == "directory":
            return {"type": kind}, self.untitled_directory + ext, " "
        if kind == "notebook":
            return {"type": kind}, self.untitled_notebook + ".ipynb", ""
        if kind == "file":
            return {"type": kind}, self.untitled_file + ext, ""
        raise HTTPError(400, f"Unexpected model type: {kind!r}")

    # -- delete --------------------------------------------------------------

    async def delete_file(self, path: str) -> None:
        """HEAD + LIST (one round trip), then DeleteObjects per 1,000 keys: a
        file with its checkpoints, or a folder with everything under it.

        Only what was found is deleted, each key on the condition that it is
        still that version: a file another server saved meanwhile is kept (a
        409 for the file itself; inside a folder, the folder then remains,
        holding what was written into it after it was listed)."""
        path = api_path(path)
        if not path:
            raise HTTPError(400, "Can't delete root")
        self._refuse_hidden(path, message=f"Cannot delete file or directory {path!r}")
        store = self._writable(path)
        with http_errors(path):
            meta, under = await asyncio.gather(store.head(path), store.tree(path))
            if meta is None and not under and not self._busy(path):
                raise HTTPError(404, f"File or directory does not exist: {path}")
            versions: dict[str, str | None] = {key: o.etag for key, o in under.items()}
            file_key = store.keymap.file_key(path)
            if meta is not None:
                versions[file_key] = meta.etag
            kept = await store.delete_versions(versions, emptied=store.keymap.dir_prefix(path))
            if any(f"/{keys.CHECKPOINTS}/" in key for key in under):
                await store.purge_deleted_checkpoints(path)
            if file_key in kept:
                raise WriteConflict(path, created=False, deleting=True)
        if kept:
            # Saved into the folder by another server after it was listed: kept.
            self.log.info("Delete of %s kept %d object(s) written meanwhile", path, len(kept))
        self._has_checkpoint.discard(path)
        store.gone(path)

    async def delete(self, path: str) -> None:
        """:meth:`delete_file`, and the event."""
        path = api_path(path)
        await self.delete_file(path)
        self.emit(data={"action": "delete", "path": path})

    # -- rename --------------------------------------------------------------

    async def rename_file(self, old_path: str, new_path: str) -> None:
        """One round trip (HEAD and LIST of the source, HEAD and LIST of the
        target, LIST of its folder), then the server-side copies of every key,
        then DeleteObjects (see :mod:`jupyters3.transfers`).

        A target that exists is a 409, whatever it holds, unless it is what a
        rename of this very source left when it stopped midway."""
        old_path, new_path = api_path(old_path), api_path(new_path)
        if not old_path or not new_path:
            raise HTTPError(400, "Can't rename the root directory")
        if old_path == new_path:
            return
        self._refuse_hidden(
            old_path, new_path, message=f"Cannot rename file or directory {old_path!r}"
        )
        source, target = self._writable(old_path), self._writable(new_path)
        into_itself = new_path.startswith(old_path + "/")
        parent = keys.split(new_path)[0]
        # The source's own folder exists if the source does.
        check_parent = parent != keys.split(old_path)[0] and not into_itself
        with http_errors(old_path):
            src_file, src_tree, dst_exists, parent_ok = await asyncio.gather(
                source.head(old_path),
                source.tree(old_path),
                self.exists(new_path),
                target.is_dir(parent) if check_parent else asyncio.sleep(0, True),
            )
            if src_file is None and not src_tree:
                raise HTTPError(404, f"File or directory does not exist: {old_path}")
            resuming = (
                dst_exists
                and not into_itself
                and await transfers.unfinished_rename(target, old_path, new_path, src_file)
            )
            if dst_exists and not resuming:
                raise HTTPError(409, f"File already exists: {new_path}")
            if into_itself:
                raise HTTPError(400, f"Cannot move {old_path} into itself")
            if not parent_ok:
                raise HTTPError(404, f"No such directory: {parent}")
            await transfers.move(
                source, target, old_path, new_path, src_file, src_tree, resuming=bool(resuming)
            )
        self._has_checkpoint.discard(old_path)

    async def update(self, model: dict[str, Any], path: str) -> dict[str, Any]:
        """PATCH: rename to ``model["path"]`` (a string), then the new model."""
        new_path = model.get("path", path) if isinstance(model, dict) else None
        if not isinstance(new_path, str):
            raise HTTPError(400, "PATCH needs a JSON object whose 'path' is the new path")
        return await super().update(model, path)  # type: ignore[no-any-return]

    async def rename(self, old_path: str, new_path: str) -> None:
        """Rename a file or folder (with checkpoints) and emit the event."""
        await self.rename_file(old_path, new_path)
        fileids.index_before_rename(self, old_path.strip("/"))
        self.emit(
            data={
                "action": "rename",
                "path": new_path.strip("/"),
                "source_path": old_path.strip("/"),
            }
        )

    # -- copy ----------------------------------------------------------------

    async def copy(self, from_path: str, to_path: str | None = None) -> dict[str, Any]:
        """Server-side copy of a file (one CopyObject) or a folder (one per key).

        One round trip finds the source (HEAD and LIST) and the names taken in
        the target folder (LIST); then the copies run concurrently.
        """
        path = api_path(from_path)
        if not path:
            raise HTTPError(400, "Can't copy the root directory")
        to = api_path(to_path) if to_path is not None else None
        self._refuse_hidden(path, to or "", message=f"Cannot copy file or directory {path!r}")
        from_dir, from_name = keys.split(path)
        target_dir = from_dir if to is None else to
        origin, store = self._readable(path), self._writable(target_dir, inside=True)
        with http_errors(path):
            source, src_tree, taken = await asyncio.gather(
                origin.head(path), origin.tree(path), store.child_names(target_dir)
            )
            if source is None and not src_tree:
                raise HTTPError(404, f"No such file or directory: {path}")
            if taken is not None:
                taken |= self._mounts_in(target_dir)
                destination = keys.join(target_dir, names.copy_name(from_name, taken))
            elif to is not None and source is None:
                # A folder goes *into* a missing target, as the reference's copytree does.
                destination = keys.join(to, names.copy_name(from_name, set()))
            elif to is not None:
                parent = keys.split(to)[0]
                if parent and not await store.is_dir(parent):
                    raise HTTPError(404, f"No such parent directory: {parent} to copy file in")
                destination = to
            else:
                raise HTTPError(404, f"No such directory: {target_dir}")
            if source is not None:
                checkpoints = cast(S3Checkpoints, self.checkpoints)
                self._writable(destination)  # not over a mount point
                saved = await transfers.copy_file(
                    origin, store, checkpoints, path, destination, source
                )
                if models.guess_type(destination) == "notebook":
                    self._has_checkpoint.add(destination)
                model = models.model_by_name(
                    destination, last_modified=saved, created=saved, size=source.size
                )
            else:
                self._writable(destination)
                await transfers.copy_folder(origin, store, path, destination, src_tree)
                model = models.directory_model(
                    destination, last_modified=models.EPOCH, created=models.EPOCH
                )
        self.emit(data={"action": "copy", "path": destination, "source_path": path})
        return model
