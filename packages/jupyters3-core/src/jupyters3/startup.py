"""What JupyterS3 does around requests rather than for them: make the S3
client and the store from a bucket's settings, fetch credentials, check the
configuration at start (and say in one sentence what is wrong), and abort
unfinished uploads at exit.

Works on :class:`~jupyters3.settings.BucketSettings`, so the ``jupyters3
check`` command uses the very same steps as the server. Everything that
reaches S3 here goes through a store (on a private event loop:
:func:`run_aside`).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import threading
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, cast

from traitlets.utils.importstring import import_item

from jupyters3 import errors, keys
from jupyters3.auth import JupyterS3Authentication, JupyterS3DefaultAuthentication
from jupyters3.contents_errors import BadMount, StartupRefused
from jupyters3.credentials import AwsCreds
from jupyters3.mounts import MountSpec
from jupyters3.s3.client import S3Client
from jupyters3.s3.config import ClientConfig, HttpClientChoice
from jupyters3.s3.endpoint import AddressingStyle, same_service_key
from jupyters3.s3.retry import RetryPolicy
from jupyters3.settings import BucketSettings
from jupyters3.store import S3Store, StoreLimits
from jupyters3.tree import CopySizes

__all__ = [
    "abort_at_exit",
    "check_configuration",
    "credentials",
    "explain",
    "make_client",
    "mount_authentication",
    "mount_settings",
    "new_store",
    "run_aside",
    "top_level_names",
]


async def credentials(auth: JupyterS3Authentication) -> Any:
    """The credentials ``auth`` gives now (any coroutine style it uses)."""
    return await auth.get_credentials()


async def _invalidate(auth: JupyterS3Authentication, rejected: AwsCreds) -> None:
    """S3 refused ``rejected``: let the authentication forget them (a custom
    class may define ``invalidate`` as a plain method, or not at all)."""
    invalidate = getattr(auth, "invalidate", None)
    if invalidate is not None:
        result = invalidate(rejected)
        if inspect.isawaitable(result):
            await result


def make_client(settings: BucketSettings, *, blocking_dns: bool = False) -> S3Client:
    """The S3 client the settings describe (:class:`errors.BadConfiguration`
    when they cannot work). ``blocking_dns``: for a private event loop (at
    start, or while the interpreter exits)."""
    if not settings.bucket:
        raise errors.BadConfiguration(
            "c.JupyterS3.aws_s3_bucket is not set: name the S3 bucket that keeps the contents."
        )
    auth = settings.authentication

    async def rejected(creds: AwsCreds) -> None:
        await _invalidate(auth, creds)

    config = ClientConfig(
        bucket=settings.bucket,
        region=settings.region,
        endpoint_url=settings.endpoint_url or None,
        addressing_style=cast(AddressingStyle, settings.addressing_style),
        connect_timeout=settings.connect_timeout,
        request_timeout=settings.request_timeout,
        max_concurrency=settings.max_concurrency,
        retry=RetryPolicy(max_attempts=settings.max_attempts),
        validate_cert=settings.validate_cert,
        http_client=cast(HttpClientChoice, settings.http_client),
        blocking_dns=blocking_dns,
    )
    return S3Client(config, credentials=lambda: credentials(auth), on_credentials_rejected=rejected)


def run_aside(
    store: S3Store,
    work: Callable[[S3Store], Awaitable[None]],
    timeout: float | None = None,
) -> BaseException | None:
    """Run ``work`` with a detached copy of ``store`` (:meth:`S3Store.detached`:
    a client of its own, which resolves names without a loop) on a private
    event loop in a thread (Jupyter's loop may be running, or already
    stopped); return its error."""
    failure: list[BaseException] = []

    async def main() -> None:
        aside = store.detached()
        try:
            await work(aside)
        finally:
            aside.close()

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


def new_store(settings: BucketSettings, log: logging.Logger) -> S3Store:
    """The store the settings describe, its client made on first use. Stores
    with the same endpoint and credentials (one S3 service) copy from each
    other server-side."""
    sizes = CopySizes(
        threshold=settings.copy_threshold, part_size=settings.copy_part_size, parallel=8
    )
    keymap = keys.KeyMap(settings.prefix, mount=settings.mount.name if settings.mount else "")

    def connect(*, blocking_dns: bool = False) -> S3Client:
        return make_client(settings, blocking_dns=blocking_dns)

    return S3Store(
        connect,
        keymap,
        conditional_writes=settings.conditional_writes,
        limits=StoreLimits(
            max_concurrency=settings.max_concurrency,
            copy_sizes=sizes,
            listing_max_age=settings.listing_max_age,
            listing_cache_entries=settings.listing_cache_entries,
        ),
        log=log,
        use_versioning=settings.versioned_checkpoints != "off",
        read_only=settings.read_only,
        service=(same_service_key(settings.endpoint_url), id(settings.authentication)),
    )


def mount_settings(main: BucketSettings, specs: Sequence[MountSpec]) -> dict[str, BucketSettings]:
    """Each mount's settings: the main ones with the mount's own
    (:meth:`BucketSettings.for_mount`); :class:`BadMount` for credentials
    that cannot be made."""
    made: dict[object, JupyterS3Authentication] = {}
    return {
        spec.name: main.for_mount(spec, mount_authentication(spec, main.authentication, made))
        for spec in specs
    }


def mount_authentication(
    spec: MountSpec, default: JupyterS3Authentication, made: dict[object, JupyterS3Authentication]
) -> JupyterS3Authentication:
    """The credentials of a mount: its own (one object per distinct
    ``authentication_class`` or ``profile``, kept in ``made``), else ``default``."""
    if spec.profile is not None:
        wanted: object = ("profile", spec.profile)
    elif spec.authentication_class is not None:
        wanted = spec.authentication_class
    else:
        return default
    if wanted not in made:
        parent, log = default.parent, default.log
        if spec.profile is not None:
            made[wanted] = JupyterS3DefaultAuthentication(
                parent=parent, log=log, profile=spec.profile
            )
        else:
            cls = spec.authentication_class
            if isinstance(cls, str):
                try:
                    cls = import_item(cls)
                except Exception as exc:
                    raise BadMount(
                        f"c.JupyterS3.mounts[{spec.name!r}]: cannot import the "
                        f"authentication_class {spec.authentication_class!r} ({exc})."
                    ) from None
            if not (isinstance(cls, type) and issubclass(cls, JupyterS3Authentication)):
                raise BadMount(
                    f"c.JupyterS3.mounts[{spec.name!r}]: authentication_class must be a "
                    "subclass of JupyterS3Authentication."
                )
            try:
                made[wanted] = cls(parent=parent, log=log)
            except Exception as exc:
                raise BadMount(
                    f"c.JupyterS3.mounts[{spec.name!r}]: its authentication_class "
                    f"{cls.__name__} could not be created ({exc})."
                ) from None
    return made[wanted]


def check_configuration(
    settings: BucketSettings, store: S3Store, log: logging.Logger
) -> bool | None:
    """List the prefix once (:class:`StartupRefused` with one sentence when
    that fails). Unless ``versioned_checkpoints`` is off, also ask whether the
    bucket is versioned: returns True or False, or None when S3 would not say."""
    versioning: list[bool] = []
    problems: list[str] = []

    async def probe(aside: S3Store) -> None:
        await aside.is_empty()
        if settings.versioned_checkpoints == "off":
            return
        try:
            status = await aside.versioning_status()
        except errors.S3Error as exc:
            if settings.versioned_checkpoints == "on":
                raise
            log.debug("JupyterS3: bucket versioning unknown (%s): not versioned", exc.code)
            return
        versioning.append(status == "Enabled")
        if settings.versioned_checkpoints == "on" and status != "Enabled":
            problems.append(
                f"c.JupyterS3.versioned_checkpoints = 'on', but versioning is "
                f"{status or 'not enabled'} on bucket {settings.bucket!r}: enable "
                "it, or set versioned_checkpoints to 'auto' or 'off'."
            )

    # Aside: Jupyter may already have an event loop here.
    error = run_aside(store, probe)
    if problems:
        problem = problems[0]
    elif isinstance(error, errors.S3Error):
        problem = explain(settings, error)
    elif error is not None:  # the message is all the user needs
        problem = f"S3 check failed: {error}"
    else:
        log.info(
            "JupyterS3: %s in s3://%s/%s (%s)%s",
            "contents" if settings.mount is None else f"mount {settings.mount.name!r}",
            settings.bucket,
            settings.prefix,
            settings.endpoint_url or f"AWS {settings.region}",
            "; checkpoints name S3 versions" if versioning and versioning[0] else "",
        )
        return versioning[0] if versioning else None
    mount = "" if settings.mount is None else f"mount {settings.mount.name!r}: "
    raise StartupRefused(f"{mount}{problem}")


def top_level_names(store: S3Store, log: logging.Logger) -> set[str]:
    """The names at the top of the main bucket's prefix (one LIST per 1,000);
    an empty set when S3 cannot say (the start-up check reports that)."""
    found: set[str] = set()

    async def names(aside: S3Store) -> None:
        found.update(await aside.child_names("") or set())

    error = run_aside(store, names)
    if error is not None:
        log.debug("JupyterS3: top-level names unknown: %s", error)
    return found


def explain(settings: BucketSettings, exc: errors.S3Error) -> str:
    """One sentence: what is wrong and which setting fixes it (for a mount,
    the setting of ``c.JupyterS3.mounts`` it is)."""
    if settings.mount is not None:
        return _explain_mount(settings, settings.mount, exc)
    return _explain_main(settings, exc)


def _explain_mount(settings: BucketSettings, spec: MountSpec, exc: errors.S3Error) -> str:
    """:func:`explain` for a mount: the setting to change is the mount's own."""
    setting = settings.setting
    bucket, region = settings.bucket, settings.region
    where = settings.endpoint_url or f"AWS region {region}"
    if isinstance(exc, errors.WrongRegion):
        if exc.region:
            return (
                f"Bucket {bucket!r} is in {exc.region}, not {region}: "
                f"set 'region': {exc.region!r} in {setting}."
            )
        return (
            f"Bucket {bucket!r} is not in {region} ({exc.code}): "
            f"set the 'region' of {setting} to the bucket's region."
        )
    if isinstance(exc, errors.NoSuchBucket):
        return (
            f"Bucket {bucket!r} does not exist at {where}: create it or fix the url of {setting}."
        )
    if isinstance(exc, errors.CredentialsRejected):
        cls = type(settings.authentication).__name__
        if spec.profile is not None:
            return (
                f"S3 rejected the credentials ({exc.code}): check the keys or role of AWS "
                f"profile {spec.profile!r}, the 'profile' of {setting}."
            )
        if spec.own_credentials:
            return (
                f"S3 rejected the credentials ({exc.code}): check the keys or role that {cls} "
                f"uses (the 'authentication_class' of {setting})."
            )
        return (
            f"S3 rejected the credentials ({exc.code}) that {setting} inherits: check the keys "
            f"or role that {cls} uses, or give the mount a 'profile' or 'authentication_class'."
        )
    if isinstance(exc, errors.NetworkError):
        endpoint = (
            f"the 'endpoint_url' of {setting}"
            if spec.endpoint_url is not None
            else f"c.JupyterS3.endpoint_url (which {setting} inherits)"
        )
        return f"Cannot reach S3 at {where} ({exc.message}): check {endpoint} and the network."
    if isinstance(exc, (errors.AccessDenied, errors.BadConfiguration)):
        return _explain_main(settings, exc)
    return f"S3 check failed ({exc}): fix {setting}."


def _explain_main(settings: BucketSettings, exc: errors.S3Error) -> str:
    bucket, region = settings.bucket, settings.region
    where = settings.endpoint_url or f"AWS region {region}"
    if isinstance(exc, errors.WrongRegion):
        if exc.region:
            return (
                f"Bucket {bucket!r} is in {exc.region}, not {region}: "
                f"set c.JupyterS3.aws_region = {exc.region!r}."
            )
        return (
            f"Bucket {bucket!r} is not in {region} ({exc.code}): "
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
            f"{type(settings.authentication).__name__} uses."
        )
    if isinstance(exc, errors.AccessDenied):
        return (
            f"The credentials may not list s3://{bucket}/{settings.prefix} ({exc.code}): "
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


def abort_at_exit(doomed: list[tuple[S3Store, str, str]], log: logging.Logger) -> None:
    """The server is stopping: abort the multipart uploads ``(store, key,
    upload_id)`` of unfinished chunked uploads, on a private loop (Jupyter's
    has stopped)."""
    by_store: dict[S3Store, list[tuple[str, str]]] = {}
    for store, key, upload_id in doomed:
        by_store.setdefault(store, []).append((key, upload_id))
    for store, uploads in by_store.items():

        async def abort_all(aside: S3Store, uploads: list[tuple[str, str]] = uploads) -> None:
            for key, upload_id in uploads:
                await aside.abort_upload(key, upload_id)

        error = run_aside(store, abort_all, timeout=20)
        if error is not None:
            log.warning("JupyterS3: could not abort unfinished uploads: %s", error)
        else:
            log.info("JupyterS3: aborted %d unfinished upload(s)", len(uploads))
