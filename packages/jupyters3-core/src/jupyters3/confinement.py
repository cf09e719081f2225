"""Is this server really confined to its prefix, and what broader identity could kernels use?

Under JupyterHub with scoped credentials (:class:`jupyters3.hub.JupyterS3HubAuthentication`):

* :func:`probe` LISTs the main bucket outside the server's prefix (its parent
  folder, and the bucket's top): both must answer AccessDenied.
  :func:`verdict` turns the outcomes into ``(ok, sentence)``; the server stops
  with that sentence when it is not confined (:func:`check_at_start`), and
  ``jupyters3 check`` prints it as its ``confinement`` line (:func:`report_steps`).
* :func:`broad_identities` (pure) and :func:`metadata_answers` say which
  identities kernels could still reach besides the scoped credentials: AWS
  keys in the server's environment (kernels no longer inherit them, but can
  read ``/proc/<pid>/environ``), IRSA's token file, a container credentials
  endpoint, static keys in the shared AWS files, an instance metadata service
  that answers. Each is one warning sentence with its fix.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from jupyters3 import errors
from jupyters3.contents_errors import StartupRefused
from jupyters3.credentials.http import Fetcher, FetchTimeout, TornadoFetcher, safe_url
from jupyters3.credentials.providers import SharedFiles, env_value, static_keys

if TYPE_CHECKING:
    from jupyters3.check_report import Report
    from jupyters3.manager import JupyterS3
    from jupyters3.store import S3Store

__all__ = [
    "Outcome",
    "broad_identities",
    "check_at_start",
    "metadata_answers",
    "outside_prefixes",
    "probe",
    "report_steps",
    "verdict",
]

#: ``(prefix listed, "refused" | "allowed" | "<error code>")``.
Outcome = tuple[str, str]


def outside_prefixes(prefix: str) -> list[str]:
    """Where a confined server may not list: its prefix's parent folder, and the top."""
    parent = prefix.rstrip("/").rpartition("/")[0]
    return list(dict.fromkeys([parent + "/" if parent else "", ""]))


async def probe(store: S3Store, prefix: str) -> list[Outcome]:
    """LIST (1 key) each of :func:`outside_prefixes`; what S3 answered to each."""
    found: list[Outcome] = []
    for outside in outside_prefixes(prefix):
        try:
            await store.may_list(outside)
        except errors.AccessDenied:
            found.append((outside, "refused"))
        except errors.S3Error as exc:
            found.append((outside, exc.code or type(exc).__name__))
        else:
            found.append((outside, "allowed"))
    return found


def verdict(bucket: str, prefix: str, outcomes: list[Outcome]) -> tuple[bool, str]:
    """``(confined, sentence)`` for the outcomes of :func:`probe`."""
    if not prefix:
        return False, (
            "c.JupyterS3.prefix is empty, so this server's contents are the whole bucket: "
            "under JupyterHub with scoped credentials each server needs its own prefix, "
            "e.g. users/<name>/."
        )
    for outside, outcome in outcomes:
        where = f"s3://{bucket}/{outside}"
        if outcome == "allowed":
            return False, (
                f"The credentials may list {where}, outside this server's prefix {prefix!r}, "
                "so users are not kept apart: the session policy of the hub's credentials "
                f"service must limit s3:ListBucket to {prefix}* (jupyters3 policy prints it), "
                "and the server's prefix must be the one the service scopes."
            )
        if outcome != "refused":
            return False, (
                f"Cannot tell whether the credentials are confined to {prefix!r}: the LIST of "
                f"{where} failed ({outcome}) instead of being refused."
            )
    listed = " and ".join(f"s3://{bucket}/{o}" for o, _ in outcomes)
    return True, f"LIST of {listed} refused (AccessDenied): confined to {prefix}"


def broad_identities(
    environ: Mapping[str, str], *, pid: int, shared: SharedFiles | None = None
) -> list[str]:
    """One sentence per broad identity in reach of kernels (pure: ``shared`` read by the caller)."""
    found = []
    if env_value(environ, "AWS_ACCESS_KEY_ID") or env_value(environ, "AWS_SECRET_ACCESS_KEY"):
        found.append(
            "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY are in this server's environment: kernels "
            f"no longer inherit them, but code in a kernel can read /proc/{pid}/environ; give "
            "single-user servers no keys of their own (c.Spawner.environment, the image, the "
            "pod spec)."
        )
    token_file = env_value(environ, "AWS_WEB_IDENTITY_TOKEN_FILE")
    if token_file:
        role = env_value(environ, "AWS_ROLE_ARN") or "its role"
        found.append(
            f"AWS_WEB_IDENTITY_TOKEN_FILE ({token_file}) is set (EKS IRSA): the token file stays "
            f"readable to kernels, which can assume {role} beyond this user's prefix; remove "
            "the eks.amazonaws.com/role-arn annotation from the single-user service account."
        )
    container = [
        name
        for name in (
            "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
            "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        )
        if env_value(environ, name)
    ]
    if container:
        found.append(
            f"{container[0]} is set (an ECS task role or EKS Pod Identity): kernels can fetch "
            "that role's credentials themselves; give single-user pods no task role or Pod "
            "Identity association."
        )
    if shared is not None:
        for path, profiles in (
            (shared.credentials_path, shared.credentials),
            (shared.config_path, shared.config),
        ):
            keyed = sorted(name for name, keys in profiles.items() if static_keys(keys))
            if keyed:
                found.append(
                    f"{path} holds static AWS keys (profile {', '.join(keyed)}): AWS SDKs in "
                    "kernels use them before the scoped credentials; remove them from the "
                    "image or the home directory."
                )
    return found


async def metadata_answers(fetcher: Fetcher, url: str, timeout: float = 1.0) -> bool:
    """Whether an instance metadata service answers at ``url`` (one IMDSv2 token PUT).

    Any HTTP answer counts, and so does a connection that opens but stays
    silent (IMDSv1 may still answer behind a hop limit).
    """
    headers = {"X-aws-ec2-metadata-token-ttl-seconds": "60"}
    try:
        await fetcher("PUT", url.rstrip("/") + "/latest/api/token", headers, b"", timeout)
    except FetchTimeout as exc:
        return exc.connected
    except errors.S3Error:
        return False
    return True


def metadata_sentence(url: str) -> str:
    """The warning for an instance metadata service that answers."""
    return (
        f"The instance metadata service at {safe_url(url)} answers this server: kernels can "
        "take the node's instance role from it; block it for single-user servers (Zero to "
        "JupyterHub: singleuser.cloudMetadata.blockWithIptables: true; EC2: a metadata hop "
        "limit of 1 with containers)."
    )


async def _findings(manager: JupyterS3, store: S3Store | None) -> tuple[list[Outcome], list[str]]:
    """The probe's outcomes (none without a main bucket) and the warnings."""
    auth: Any = manager.authentication
    outcomes = await probe(store, manager.prefix) if store is not None else []
    environ: Mapping[str, str] = getattr(auth, "environ", os.environ)
    try:
        shared: SharedFiles | None = SharedFiles.read(environ)
    except errors.BadConfiguration:
        shared = None
    warnings = broad_identities(environ, pid=os.getpid(), shared=shared)
    url = getattr(auth, "metadata_url", "")
    if url:
        fetcher = getattr(auth, "fetcher", None) or TornadoFetcher()
        if await metadata_answers(fetcher, url):
            warnings.append(metadata_sentence(url))
    return outcomes, warnings


def check_at_start(manager: JupyterS3, log: logging.Logger | logging.LoggerAdapter[Any]) -> None:
    """The server's start: warn about broad identities, and stop (:class:`StartupRefused`,
    one sentence) unless confined."""
    from jupyters3 import startup  # the server's own private loop

    found: list[tuple[list[Outcome], list[str]]] = []

    async def work(store: S3Store) -> None:
        found.append(await _findings(manager, store if manager.store is not None else None))

    # Mounts only: no prefix to probe, the warnings still (on a mount's store).
    store = manager.store or next(iter(manager.stores.mounts.values()))
    error = startup.run_aside(store, work)
    if error is not None or not found:
        raise StartupRefused(f"Cannot tell whether the credentials are confined: {error}")
    outcomes, warnings = found[0]
    for sentence in warnings:
        log.warning("JupyterS3: %s", sentence)
    if manager.store is None:
        log.info("JupyterS3: no main bucket, so no prefix to confine; the mounts are shared.")
        return
    ok, sentence = verdict(manager.aws_s3_bucket, manager.prefix, outcomes)
    if not ok:
        raise StartupRefused(sentence)
    log.info("JupyterS3: %s", sentence)


async def report_steps(manager: JupyterS3, report: Report, store: S3Store | None) -> None:
    """``jupyters3 check``: the ``confinement`` line and one ``kernels`` line per warning."""
    outcomes, warnings = await _findings(manager, store)
    if store is not None:
        ok, sentence = verdict(manager.aws_s3_bucket, manager.prefix, outcomes)
        if ok:
            report.add("confinement", "ok", sentence)
        else:
            report.add("confinement", "FAIL", "not confined", sentence)
    if not warnings:
        report.add("kernels", "ok", "no broader AWS identity in reach of kernels")
    for number, sentence in enumerate(warnings, 1):
        name = "kernels" if number == 1 else f"kernels ({number})"
        report.add(name, "WARN", "a broader identity is in reach of kernels", sentence)
