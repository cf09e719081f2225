"""Mounts: other buckets and prefixes shown as top-level folders of one JupyterS3.

``c.JupyterS3.mounts`` maps a folder name to a mount, either a URL or a dict::

    c.JupyterS3.mounts = {
        "team": "s3://team-bucket/projects/ml/",
        "lake": {"url": "s3://data-lake/", "read_only": True, "region": "eu-west-1"},
        "onprem": {"url": "s3://scratch/", "endpoint_url": "https://minio.corp:9000",
                   "profile": "minio"},
    }

A dict takes ``url`` (required), ``endpoint_url``, ``region``,
``addressing_style``, ``read_only`` (default False) and its own credentials:
``authentication_class`` (a JupyterS3Authentication subclass, or its dotted
name) or ``profile`` (a named AWS profile). What a mount does not set it
inherits from the main bucket's settings, with one exception: a mount on an
endpoint of its own must name its own credentials, or say with
``share_main_credentials: True`` that the main ones may be sent there
(:func:`check_credentials`): they are not sent to a third party unasked.

Each mount is one :class:`~jupyters3.store.S3Store` whose API paths start with
the mount's name; :class:`Stores` says which store holds a path. Parsing is
pure: :func:`parse_mounts` raises :class:`BadMount` with one sentence.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from jupyters3 import keys
from jupyters3.contents_errors import (
    BadMount,
    InvalidPath,
    MountPoint,
    NoStore,
    TopLevelOnlyMounts,
)
from jupyters3.s3.endpoint import same_service_key
from jupyters3.store import S3Store

__all__ = [
    "MountSpec",
    "Stores",
    "View",
    "check_clashes",
    "check_credentials",
    "check_overlaps",
    "parse_mounts",
]

_KEYS = {
    "url",
    "endpoint_url",
    "region",
    "addressing_style",
    "read_only",
    "authentication_class",
    "profile",
    "share_main_credentials",
}
_STYLES = ("auto", "path", "virtual")


@dataclass(frozen=True)
class MountSpec:
    """One mount, as configured (``None``: inherited from the main bucket)."""

    name: str
    bucket: str
    prefix: str = ""
    endpoint_url: str | None = None
    region: str | None = None
    addressing_style: str | None = None
    read_only: bool = False
    authentication_class: object = None  # a class, or its dotted name
    profile: str | None = None
    #: The main credentials may go to this mount's own endpoint.
    share_main_credentials: bool = False

    @property
    def own_credentials(self) -> bool:
        """Whether the mount has credentials of its own."""
        return self.authentication_class is not None or self.profile is not None

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"


def _where(name: str) -> str:
    return f"c.JupyterS3.mounts[{name!r}]"


def _check_name(name: object) -> str:
    if not isinstance(name, str) or not name:
        raise BadMount(f"A mount needs a folder name (a non-empty string), not {name!r}.")
    if "/" in name or "\\" in name:
        raise BadMount(f"Mount name {name!r}: a mount is one top-level folder, without '/'.")
    if keys.is_hidden_name(name):
        raise BadMount(f"Mount name {name!r}: a mount cannot be hidden (start with '.').")
    try:
        if keys.normalize_path(name) != name:
            raise InvalidPath(f"{name!r} is not a folder name")
    except InvalidPath as error:
        raise BadMount(f"Mount name {name!r}: {error}.") from None
    return name


def _parse_url(name: str, url: object) -> tuple[str, str]:
    """``s3://bucket/prefix`` -> ``(bucket, prefix)``."""
    if not isinstance(url, str):
        raise BadMount(f"{_where(name)}: the url must be a string like 's3://bucket/prefix/'.")
    try:
        parts = urlsplit(url)
    except ValueError as error:
        raise BadMount(f"{_where(name)}: {url!r} is not a URL ({error}).") from None
    if parts.scheme != "s3" or not parts.netloc or parts.query or parts.fragment:
        raise BadMount(f"{_where(name)}: {url!r} is not an S3 URL; write 's3://<bucket>/<prefix>'.")
    try:
        prefix = keys.normalize_prefix(parts.path)
    except InvalidPath as error:
        raise BadMount(f"{_where(name)}: {error}.") from None
    return parts.netloc, prefix


def _text(name: str, value: Mapping[str, object], key: str) -> str | None:
    found = value.get(key)
    if found is None:
        return None
    if not isinstance(found, str) or not found:
        raise BadMount(f"{_where(name)}[{key!r}] must be a non-empty string, not {found!r}.")
    return found


def parse_mount(name: object, value: object) -> MountSpec:
    """One mount: a URL string or a dict (see the module docstring)."""
    name = _check_name(name)
    if isinstance(value, str):
        bucket, prefix = _parse_url(name, value)
        return MountSpec(name, bucket, prefix)
    if not isinstance(value, Mapping):
        raise BadMount(f"{_where(name)} must be an 's3://bucket/prefix' URL or a dict.")
    unknown = sorted(set(map(str, value)) - _KEYS)
    if unknown:
        raise BadMount(
            f"{_where(name)}: unknown setting(s) {', '.join(unknown)}; "
            f"a mount takes {', '.join(sorted(_KEYS))}."
        )
    if "url" not in value:
        raise BadMount(f"{_where(name)} needs a 'url' like 's3://bucket/prefix/'.")
    bucket, prefix = _parse_url(name, value["url"])
    style = _text(name, value, "addressing_style")
    if style is not None and style not in _STYLES:
        raise BadMount(f"{_where(name)}['addressing_style'] must be one of {', '.join(_STYLES)}.")
    read_only = value.get("read_only", False)
    if not isinstance(read_only, bool):
        raise BadMount(f"{_where(name)}['read_only'] must be True or False, not {read_only!r}.")
    endpoint = _text(name, value, "endpoint_url")
    try:
        scheme = urlsplit(endpoint).scheme if endpoint is not None else "https"
    except ValueError:
        scheme = ""
    if scheme not in ("http", "https"):
        raise BadMount(f"{_where(name)}['endpoint_url'] must be an http(s) URL, not {endpoint!r}.")
    auth = value.get("authentication_class")
    profile = _text(name, value, "profile")
    if auth is not None and profile is not None:
        raise BadMount(f"{_where(name)}: set authentication_class or profile, not both.")
    share = value.get("share_main_credentials", False)
    if not isinstance(share, bool):
        raise BadMount(
            f"{_where(name)}['share_main_credentials'] must be True or False, not {share!r}."
        )
    if share and (auth is not None or profile is not None):
        raise BadMount(
            f"{_where(name)}: share_main_credentials and credentials of its own "
            "(authentication_class or profile) exclude each other."
        )
    if auth is not None and not isinstance(auth, (str, type)):
        raise BadMount(f"{_where(name)}['authentication_class'] must be a class or its name.")
    return MountSpec(
        name,
        bucket,
        prefix,
        endpoint_url=endpoint,
        region=_text(name, value, "region"),
        addressing_style=style,
        read_only=read_only,
        authentication_class=auth,
        profile=profile,
        share_main_credentials=share,
    )


def check_credentials(specs: list[MountSpec], main_endpoint: str) -> None:
    """:class:`BadMount` for a mount on an endpoint other than the main
    bucket's (``main_endpoint``, compared normalised) that would sign with the
    main credentials without saying so: their access key ID and session token
    would go to a third party."""
    main = same_service_key(main_endpoint)
    for spec in specs:
        if spec.endpoint_url is None or spec.own_credentials or spec.share_main_credentials:
            continue
        if same_service_key(spec.endpoint_url) == main:
            continue
        raise BadMount(
            f"{_where(spec.name)} has an endpoint_url of its own ({spec.endpoint_url}) but no "
            "credentials of its own, so the main credentials (their access key ID and session "
            "token) would be sent to it: give the mount a 'profile' or an "
            "'authentication_class', or set 'share_main_credentials': True if that endpoint "
            "may see them."
        )


def parse_mounts(value: Mapping[Any, Any]) -> list[MountSpec]:
    """Every mount of ``c.JupyterS3.mounts``, in the order given."""
    specs = [parse_mount(name, mount) for name, mount in value.items()]
    folded: dict[str, str] = {}
    for spec in specs:
        other = folded.setdefault(spec.name.casefold(), spec.name)
        if other != spec.name:
            raise BadMount(
                f"Mounts {other!r} and {spec.name!r} differ only by case: some browsers and "
                "file systems would confuse them. Rename one."
            )
    return specs


@dataclass(frozen=True)
class View:
    """What one store shows: ``label`` (for messages), the S3 service's
    endpoint, the bucket and the (normalised) prefix, and whether it is read-only."""

    label: str
    endpoint: str
    bucket: str
    prefix: str
    read_only: bool


def check_overlaps(views: list[View]) -> None:
    """:class:`BadMount` when a read-only mount's keys are also shown by a
    writable store (the same bucket on the same endpoint, under a prefix that
    holds the read-only one's): ``read_only`` would protect nothing."""
    for guarded in (v for v in views if v.read_only):
        for other in views:
            same = (other.endpoint, other.bucket) == (guarded.endpoint, guarded.bucket)
            if other.read_only or not same or not guarded.prefix.startswith(other.prefix):
                continue
            raise BadMount(
                f"{guarded.label} is read-only, but {other.label} shows the same keys "
                f"writable (s3://{other.bucket}/{other.prefix} holds "
                f"s3://{guarded.bucket}/{guarded.prefix}): move one of the two prefixes, "
                "or make both read-only."
            )


def check_clashes(specs: list[MountSpec], top_level: set[str]) -> None:
    """:class:`BadMount` when a mount has the name of a top-level file or
    folder of the main bucket (``top_level``): the mount would hide it."""
    for spec in specs:
        if spec.name in top_level:
            raise BadMount(
                f"Mount {spec.name!r} has the name of a top-level file or folder of the main "
                f"bucket, which it would hide. Rename the mount (or that {spec.name!r})."
            )


class Stores:
    """Which store holds an API path: the mount its first name is, else the
    main bucket (``main``; ``None`` when only mounts are configured)."""

    def __init__(self, main: S3Store | None, mounts: Mapping[str, S3Store]) -> None:
        self.main = main
        self.mounts = dict(mounts)

    def __iter__(self) -> Iterator[S3Store]:
        if self.main is not None:
            yield self.main
        yield from self.mounts.values()

    def mount_of(self, path: str) -> str | None:
        """The mount's name if ``path`` (normalised) is in one, else None."""
        head = path.split("/", 1)[0]
        return head if head in self.mounts else None

    def is_mount_point(self, path: str) -> bool:
        return path in self.mounts

    def at(self, path: str) -> S3Store | None:
        """The store of normalised ``path``; None for a path at the top level
        when there is no main bucket (the root itself included)."""
        mount = self.mount_of(path)
        if mount is not None:
            return self.mounts[mount]
        return self.main

    def readable(self, path: str) -> S3Store:
        """The store of ``path``; :class:`NoStore` where there is none."""
        store = self.at(path)
        if store is None:
            raise NoStore(path)
        return store

    def writable(self, path: str, *, inside: bool = False) -> S3Store:
        """The store of ``path`` for a write at ``path`` (``inside``: into the
        folder ``path``), refused before any request:
        :class:`TopLevelOnlyMounts`, :class:`MountPoint` (unless ``inside``),
        :class:`~jupyters3.contents_errors.ReadOnly`."""
        store = self.at(path)
        if store is None:
            raise TopLevelOnlyMounts
        if not inside and path in self.mounts:
            raise MountPoint(path)
        store.check_writable()
        return store
