"""``jupyters3 check`` for the mounts of ``c.JupyterS3.mounts``.

Each mount gets the steps of the main bucket (:mod:`jupyters3.check_steps`)
under its own bucket and prefix, with the client the server makes for it
(its endpoint, region, addressing and credentials, or the main ones it
inherits): the credentials, one LIST of its prefix, the checkpoint mode (the
server asks it of every mount at start), then for a writable mount the PUT,
copy, GET, conditional PUT and DELETE of two temporary objects; a read-only
mount skips those. Every step carries the mount's name (its line starts with
``mount 'team':``) and a fix names the mount's setting where one is to change
(``c.JupyterS3.mounts['team']``).

With mounts but no ``c.JupyterS3.aws_s3_bucket``, the main bucket's steps are
skipped (:func:`without_main_bucket`), which is no failure. When the main
bucket is listed, its top level is listed too: a mount named like a
top-level file or folder there stops the server at start, so its
configuration step FAILs with that sentence.
"""

from __future__ import annotations

from typing import Any

from jupyters3 import errors, startup
from jupyters3.check_report import Report, Status
from jupyters3.check_steps import Checker
from jupyters3.contents_errors import BadMount
from jupyters3.manager import JupyterS3
from jupyters3.mounts import MountSpec, check_clashes, parse_mounts
from jupyters3.s3.client import S3Client
from jupyters3.settings import BucketSettings

__all__ = [
    "MountChecker",
    "check_mounts",
    "describe_mounts",
    "without_main_bucket",
]


def _setting(spec: MountSpec) -> str:
    return f"c.JupyterS3.mounts[{spec.name!r}]"


def _own_credentials(spec: MountSpec) -> str:
    if spec.profile is not None:
        return f"its own credentials (profile {spec.profile!r})"
    cls = spec.authentication_class
    name = cls if isinstance(cls, str) else getattr(cls, "__qualname__", repr(cls))
    return f"its own credentials (authentication_class {name})"


class MountChecker(Checker):
    """The steps of one mount; ``clash``: the sentence saying that the mount
    hides a top-level name of the main bucket ("" when it does not)."""

    def __init__(
        self, settings: BucketSettings, spec: MountSpec, report: Report, clash: str = ""
    ) -> None:
        credentials = _own_credentials(spec) if spec.own_credentials else "the main credentials"
        access = f"read-only (read_only in {_setting(spec)})" if spec.read_only else "writable"
        super().__init__(settings, report, f"{access}; {credentials}", mount=spec.name)
        self.spec = spec
        self.clash = clash

    def explain(self, error: errors.S3Error) -> str:
        return startup.explain(self.settings, error)

    def explain_other(self, error: BaseException) -> str:
        return f"S3 check failed ({error}): fix {_setting(self.spec)}."

    def unusable(self, exc: errors.S3Error) -> tuple[str, str]:
        return f"{self.spec.url}; {self.about}", f"{_setting(self.spec)}: {exc.message}"

    def configuration(self, client: S3Client) -> tuple[Status, str, str]:
        if self.clash:
            return "FAIL", self.describe_configuration(client), self.clash
        return super().configuration(client)

    async def credentials(self) -> bool:
        """Its own credentials, fetched; the main ones, as the main step found them."""
        if self.spec.own_credentials:
            return await super().credentials()
        main = self.report.status_of("credentials")
        if main == "ok":
            what = "the main credentials (the credentials line above)"
            self.add("credentials", "ok", f"{what}: {_setting(self.spec)} sets none of its own")
            return True
        if main == "FAIL":
            self.add("credentials", "skip", "not tried: the main credentials it uses failed")
            return False
        return await super().credentials()  # the main step did not fetch them

    async def writes(self, client: S3Client) -> None:
        if self.spec.read_only:
            why = f"the mount is read-only (read_only in {_setting(self.spec)})"
            self.skip(["write", "copy", "read", "conditional-writes", "delete"], why)
            return
        await super().writes(client)


def _specs(manager: JupyterS3) -> list[MountSpec]:
    """The mounts, parsed again (the manager was made: they are valid)."""
    return parse_mounts(manager.mounts)


def describe_mounts(manager: JupyterS3) -> dict[str, dict[str, Any]]:
    """For the JSON output: each mount's bucket, prefix, region, endpoint and access."""
    found = {}
    for spec in _specs(manager):
        settings = manager.mount_settings[spec.name]
        found[spec.name] = {
            "bucket": spec.bucket,
            "prefix": spec.prefix,
            "region": settings.region,
            "endpoint_url": settings.endpoint_url,
            "read_only": spec.read_only,
        }
    return found


async def without_main_bucket(manager: JupyterS3, report: Report, origin: str) -> None:
    """The main steps when only mounts are set: skipped, but the main
    credentials are fetched when a mount uses them."""
    what = "no main bucket: c.JupyterS3.aws_s3_bucket is not set, the top level shows the mounts"
    report.add("configuration", "ok", f"{what}; {origin}")
    checker = Checker(manager.bucket_settings, report, origin)
    if any(not spec.own_credentials for spec in _specs(manager)):
        await checker.credentials()
    else:
        checker.skip(["credentials"], "no main bucket, and every mount has its own credentials")
    why = "no main bucket (c.JupyterS3.aws_s3_bucket is not set); each mount is tried below"
    checker.skip(Checker.S3_STEPS, why)


async def _clashes(manager: JupyterS3, specs: list[MountSpec]) -> dict[str, str]:
    """Mount name -> why it cannot be: it hides a top-level name of the main
    bucket (one LIST per 1,000 names, as at start; nothing when S3 will not say)."""
    store = startup.new_store(manager.bucket_settings, manager.log)
    try:
        top = await store.child_names("") or set()
    except Exception:
        return {}
    finally:
        store.close()
    found = {}
    for spec in specs:
        try:
            check_clashes([spec], top)
        except BadMount as bad:
            found[spec.name] = str(bad)
    return found


async def check_mounts(manager: JupyterS3, report: Report) -> None:
    """Every mount's steps, one mount after the other (after the main bucket's)."""
    specs = _specs(manager)
    clashes: dict[str, str] = {}
    if manager.aws_s3_bucket and report.status_of("bucket") == "ok":
        clashes = await _clashes(manager, specs)
    for spec in specs:
        settings = manager.mount_settings[spec.name]
        await MountChecker(settings, spec, report, clashes.get(spec.name, "")).run()
