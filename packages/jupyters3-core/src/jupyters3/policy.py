"""Least-privilege S3 policies for one server: its prefix and its mounts (pure).

:func:`session_policy` builds the IAM policy a JupyterS3 server needs, no
more: ``s3:ListBucket`` limited by ``s3:prefix``, reads, writes, deletes and
multipart aborts under each writable prefix, reads under each read-only one,
and optionally what versioned checkpoints and the start-up sweep of abandoned
uploads ask. It is what ``jupyters3 policy`` prints and what the JupyterHub
service (jupyters3-hub) sends to STS as each user's session policy.

STS accepts at most :data:`SESSION_POLICY_LIMIT` characters of session policy;
:func:`size_problem` says so in a sentence with the two fallbacks: an ABAC
role policy on a session tag (:func:`abac_role_policy`) or managed policies
passed as ``PolicyArns``.

:func:`user_prefix` maps a JupyterHub user name to one key segment
(``quote(name, safe="@+")``, as the README's single-user configuration does),
so ``team/alice`` is ``users/team%2Falice/``, never a folder of user ``team``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

__all__ = [
    "ABAC_TAG_KEY",
    "SESSION_POLICY_LIMIT",
    "BadPolicyInput",
    "Grant",
    "abac_role_policy",
    "minify",
    "parse_grant",
    "session_policy",
    "size_problem",
    "tag_variable",
    "user_prefix",
    "user_segment",
]

#: The most characters of session policy STS takes (inline plus managed, plaintext).
SESSION_POLICY_LIMIT = 2048

#: The session tag that carries the user's key segment in the ABAC variant.
ABAC_TAG_KEY = "jupyters3-user"

_VERSION = "2012-10-17"
_WRITE_ACTIONS = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"]
_BUCKET_NAME = re.compile(r"[a-z0-9][a-z0-9.\-_]{1,254}")
_TAG_VARIABLE = re.compile(r"\$\{aws:PrincipalTag/[\w+=,.@:/-]{1,128}\}")


class BadPolicyInput(ValueError):
    """A bucket, prefix, mount or user name no policy can be built for (one sentence)."""


@dataclass(frozen=True)
class Grant:
    """One bucket and prefix the server may use (``prefix`` ``""``: the whole bucket)."""

    bucket: str
    prefix: str = ""
    read_only: bool = False


def user_segment(name: str) -> str:
    """One key segment for a user name: ``quote(name, safe="@+")``.

    Injective, never holds ``/`` (``team/alice`` is ``team%2Falice``), ``*``,
    ``?`` or ``$``; an empty name, ``.`` and ``..`` are refused.
    """
    if name in ("", ".", ".."):
        raise BadPolicyInput(f"The user name {name!r} cannot be a key segment.")
    return quote(name, safe="@+")


def user_prefix(template: str, name: str) -> str:
    """``template`` with ``{username}`` replaced by :func:`user_segment` of ``name``.

    ``users/{username}/`` and ``alice`` give ``users/alice/``. The template must
    hold ``{username}`` once, as a whole segment, and end with ``/``.
    """
    check_template(template)
    return template.replace("{username}", user_segment(name))


def check_template(template: str) -> None:
    """Refuse a prefix template that could let one user's prefix hold another's."""
    segments = template.split("/")
    if template.count("{username}") != 1 or "{username}" not in segments:
        raise BadPolicyInput(
            f"The prefix template {template!r} must hold {{username}} once, as a whole "
            "segment, e.g. 'users/{username}/'."
        )
    if not template.endswith("/"):
        raise BadPolicyInput(f"The prefix template {template!r} must end with '/'.")
    _check_prefix(template.replace("{username}", "x"), "prefix template")


def tag_variable(tag_key: str = ABAC_TAG_KEY) -> str:
    """The policy variable of a session tag: ``${aws:PrincipalTag/<tag_key>}``."""
    return "${aws:PrincipalTag/" + tag_key + "}"


def parse_grant(text: str) -> tuple[str, Grant]:
    """``NAME=s3://bucket/prefix/`` (``:ro`` at the end: read-only) -> ``(NAME, Grant)``."""
    name, sep, url = text.partition("=")
    read_only = url.endswith(":ro")
    url = url.removesuffix(":ro")
    if not sep or not name or not url.startswith("s3://"):
        raise BadPolicyInput(
            f"A mount is NAME=s3://BUCKET/PREFIX/ (with :ro at the end when read-only), "
            f"not {text!r}."
        )
    bucket, _, prefix = url[len("s3://") :].partition("/")
    return name, Grant(bucket, _normal_prefix(prefix), read_only)


def session_policy(
    grants: Sequence[Grant],
    *,
    versioning: bool = False,
    find_abandoned_uploads: bool = False,
    partition: str = "aws",
) -> dict[str, Any]:
    """The least-privilege policy for ``grants`` (the main bucket first, then the mounts).

    Per bucket: one ``s3:ListBucket`` statement whose ``StringLike`` on
    ``s3:prefix`` names each prefix (``p*`` also matches ``p`` itself; none for
    a whole bucket). Then one statement for the objects of every writable
    prefix (GetObject, PutObject, DeleteObject, AbortMultipartUpload: every
    write, copy, multipart upload and delete) and one for the objects of the
    read-only ones (GetObject). ``versioning`` adds GetBucketVersioning,
    ListBucketVersions (same prefixes) and GetObjectVersion/DeleteObjectVersion
    on the writable prefixes; ``find_abandoned_uploads`` adds
    ListBucketMultipartUploads on their buckets (it shows the keys of every
    upload in progress in those buckets, other users' too).
    """
    grants = [_checked(g) for g in grants]
    if not grants:
        raise BadPolicyInput("A policy needs at least one bucket: give --bucket or --mount.")
    arn = f"arn:{partition}:s3:::"
    statements: list[dict[str, Any]] = []
    by_bucket = _by_bucket(grants)
    writable = [g for g in grants if not g.read_only]
    readable = [g for g in grants if g.read_only and not _covered(g, writable)]
    rw_buckets = list(_by_bucket(writable))
    for number, (bucket, in_bucket) in enumerate(by_bucket.items(), 1):
        statements.append(
            _list_statement(f"List{number}", "s3:ListBucket", arn + bucket, in_bucket)
        )
    if writable:
        statements.append(_allow("ReadWrite", _WRITE_ACTIONS, _objects(arn, writable)))
    if readable:
        statements.append(_allow("ReadOnly", "s3:GetObject", _objects(arn, readable)))
    if versioning and writable:
        statements.append(
            _allow("VersioningAsk", "s3:GetBucketVersioning", [arn + b for b in rw_buckets])
        )
        for number, bucket in enumerate(rw_buckets, 1):
            in_bucket = [g for g in writable if g.bucket == bucket]
            statements.append(
                _list_statement(
                    f"Versions{number}", "s3:ListBucketVersions", arn + bucket, in_bucket
                )
            )
        statements.append(
            _allow(
                "VersionObjects",
                ["s3:GetObjectVersion", "s3:DeleteObjectVersion"],
                _objects(arn, writable),
            )
        )
    if find_abandoned_uploads and writable:
        statements.append(
            _allow("FindUploads", "s3:ListBucketMultipartUploads", [arn + b for b in rw_buckets])
        )
    return {"Version": _VERSION, "Statement": statements}


def abac_role_policy(
    template: str,
    bucket: str,
    mounts: Iterable[Grant] = (),
    *,
    tag_key: str = ABAC_TAG_KEY,
    versioning: bool = False,
    find_abandoned_uploads: bool = False,
    partition: str = "aws",
) -> dict[str, Any]:
    """The ABAC variant: one role policy for every user, attached to the role itself.

    The user's prefix is ``template`` with ``{username}`` replaced by the
    session tag's variable (``${aws:PrincipalTag/jupyters3-user}``); the hub
    service tags each session with the user's :func:`user_segment`. No size
    limit applies (a role policy may hold 10,240 characters).
    """
    check_template(template)
    main = Grant(bucket, template.replace("{username}", tag_variable(tag_key)))
    return session_policy(
        [main, *mounts],
        versioning=versioning,
        find_abandoned_uploads=find_abandoned_uploads,
        partition=partition,
    )


def minify(policy: Mapping[str, Any]) -> str:
    """The policy as STS counts it: JSON without spaces."""
    return json.dumps(policy, separators=(",", ":"))


def size_problem(text: str, limit: int = SESSION_POLICY_LIMIT) -> str | None:
    """None when ``text`` fits in a session policy, else the sentence that says what to do."""
    if len(text) <= limit:
        return None
    return (
        f"The session policy is {len(text):,} characters, more than the {limit:,} STS accepts "
        "for a session policy (inline and managed together): attach an ABAC role policy on "
        f"the session tag {tag_variable()} to the role instead (jupyters3 policy --abac prints "
        "it, and the hub service then sends the tag, not a policy), or put the mounts' "
        "statements in managed policies and pass them as PolicyArns."
    )


# -- internals -------------------------------------------------------------------


def _normal_prefix(prefix: str) -> str:
    prefix = prefix.lstrip("/")
    return prefix if not prefix or prefix.endswith("/") else prefix + "/"


def _check_prefix(prefix: str, what: str) -> None:
    if any(c in prefix for c in "*?") or "${" in prefix:
        raise BadPolicyInput(
            f"The {what} {prefix!r} holds '*', '?' or '${{': in a policy they are wildcards or "
            "variables and would grant more than the prefix."
        )
    if "//" in prefix or any(s in (".", "..") for s in prefix.split("/")):
        raise BadPolicyInput(f"The {what} {prefix!r} has an empty, '.' or '..' segment.")


def _checked(grant: Grant) -> Grant:
    if not _BUCKET_NAME.fullmatch(grant.bucket):
        raise BadPolicyInput(f"{grant.bucket!r} is not an S3 bucket name.")
    prefix = _normal_prefix(grant.prefix)
    # An ABAC prefix carries its session tag's variable, the one '${' allowed.
    _check_prefix(_TAG_VARIABLE.sub("x", prefix), "prefix")
    return Grant(grant.bucket, prefix, grant.read_only)


def _by_bucket(grants: Iterable[Grant]) -> dict[str, list[Grant]]:
    found: dict[str, list[Grant]] = {}
    for grant in grants:
        found.setdefault(grant.bucket, []).append(grant)
    return found


def _covered(grant: Grant, writable: Sequence[Grant]) -> bool:
    """A read-only grant inside a writable one of the same bucket adds nothing."""
    return any(w.bucket == grant.bucket and grant.prefix.startswith(w.prefix) for w in writable)


def _objects(arn: str, grants: Iterable[Grant]) -> list[str]:
    return list(dict.fromkeys(f"{arn}{g.bucket}/{g.prefix}*" for g in grants))


def _allow(sid: str, action: str | list[str], resource: list[str] | str) -> dict[str, Any]:
    if isinstance(resource, list) and len(resource) == 1:
        resource = resource[0]
    return {"Sid": sid, "Effect": "Allow", "Action": action, "Resource": resource}


def _list_statement(sid: str, action: str, bucket_arn: str, grants: list[Grant]) -> dict[str, Any]:
    statement = _allow(sid, action, bucket_arn)
    if any(not g.prefix for g in grants):
        return statement  # a whole bucket: no condition
    patterns = list(dict.fromkeys(g.prefix + "*" for g in grants))
    value: str | list[str] = patterns[0] if len(patterns) == 1 else patterns
    statement["Condition"] = {"StringLike": {"s3:prefix": value}}
    return statement
