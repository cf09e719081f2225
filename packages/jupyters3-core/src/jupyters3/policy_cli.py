"""``jupyters3 policy``: print the least-privilege IAM policy of one server.

::

    jupyters3 policy --bucket hub-notebooks --prefix users/alice/ \\
        --mount team=s3://team-ml/projects/ --mount lake=s3://lake/curated/:ro
    jupyters3 policy --bucket hub-notebooks --prefix-template 'users/{username}/' --user alice
    jupyters3 policy --abac --bucket hub-notebooks --prefix-template 'users/{username}/' ...

It prints the minified JSON (what STS counts) on stdout, or indented with
``--pretty``. A session policy longer than the 2,048 characters STS accepts
is still printed, and a sentence on stderr says so and names the fallbacks;
the exit code is then 1. ``--abac`` prints the role policy of the ABAC
variant instead (the user's prefix from a session tag), checked against the
6,144 characters of a managed policy. A bad argument exits 2 with a sentence.
See :mod:`jupyters3.policy` for what each statement grants.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from jupyters3.policy import (
    ABAC_TAG_KEY,
    BadPolicyInput,
    Grant,
    abac_role_policy,
    minify,
    parse_grant,
    session_policy,
    size_problem,
    user_prefix,
)

__all__ = ["add_parser", "run"]

#: A customer managed policy's limit (whitespace not counted): the ABAC role policy's.
MANAGED_POLICY_LIMIT = 6144


def add_parser(commands: Any) -> argparse.ArgumentParser:
    """Add the ``policy`` command to ``commands`` (an argparse subparsers object)."""
    policy: argparse.ArgumentParser = commands.add_parser(
        "policy",
        help="print the least-privilege IAM policy of one server (prefix and mounts)",
        description="Print the IAM policy a JupyterS3 server needs for its prefix and mounts "
        "and nothing more, as minified JSON: a session policy for STS AssumeRole (checked "
        "against STS's 2,048 characters), or with --abac the role policy of the ABAC variant.",
    )
    policy.add_argument("--bucket", default="", help="the main bucket (c.JupyterS3.aws_s3_bucket)")
    where = policy.add_mutually_exclusive_group()
    where.add_argument(
        "--prefix", default="", help="the prefix in the main bucket, e.g. users/alice/"
    )
    where.add_argument(
        "--prefix-template",
        default="",
        metavar="TEMPLATE",
        help="a prefix per user, e.g. 'users/{username}/'; with --user NAME, or --abac",
    )
    policy.add_argument("--user", default=None, help="the JupyterHub user of --prefix-template")
    policy.add_argument(
        "--mount",
        action="append",
        default=[],
        metavar="NAME=s3://BUCKET/PREFIX/[:ro]",
        help="a mount (c.JupyterS3.mounts), ':ro' when read-only (repeatable)",
    )
    policy.add_argument(
        "--versioning",
        action="store_true",
        help="also what versioned checkpoints need (GetBucketVersioning, ListBucketVersions, "
        "GetObjectVersion, DeleteObjectVersion)",
    )
    policy.add_argument(
        "--find-abandoned-uploads",
        action="store_true",
        help="also ListBucketMultipartUploads (it shows the keys of every upload in progress "
        "in the bucket, other users' too)",
    )
    policy.add_argument(
        "--abac",
        action="store_true",
        help="print the role policy of the ABAC variant: the user's prefix comes from the "
        f"session tag {ABAC_TAG_KEY} (needs --prefix-template, no --user)",
    )
    policy.add_argument("--tag-key", default=ABAC_TAG_KEY, help="the session tag of --abac")
    policy.add_argument("--partition", default="aws", help="the ARN partition (aws-cn, aws-us-gov)")
    policy.add_argument("--pretty", action="store_true", help="indented JSON")
    return policy


def build(args: argparse.Namespace) -> tuple[dict[str, Any], str | None]:
    """The policy the arguments describe, and the sentence when it is too long."""
    mounts = [parse_grant(text)[1] for text in args.mount]
    options = {
        "versioning": args.versioning,
        "find_abandoned_uploads": args.find_abandoned_uploads,
        "partition": args.partition,
    }
    if args.abac:
        if not args.prefix_template or args.user is not None or not args.bucket:
            raise BadPolicyInput(
                "--abac needs --bucket and --prefix-template (every user's prefix), no --user."
            )
        policy = abac_role_policy(
            args.prefix_template, args.bucket, mounts, tag_key=args.tag_key, **options
        )
        text = minify(policy)
        if len(text) > MANAGED_POLICY_LIMIT:
            return policy, (
                f"The role policy is {len(text):,} characters, more than the "
                f"{MANAGED_POLICY_LIMIT:,} of a managed policy: split it into two policies."
            )
        return policy, None
    if args.prefix_template:
        if args.user is None:
            raise BadPolicyInput("--prefix-template needs --user NAME (or --abac).")
        prefix = user_prefix(args.prefix_template, args.user)
    elif args.user is not None:
        raise BadPolicyInput("--user needs --prefix-template.")
    else:
        prefix = args.prefix
    grants = ([Grant(args.bucket, prefix)] if args.bucket else []) + mounts
    if prefix and not args.bucket:
        raise BadPolicyInput("--prefix needs --bucket.")
    policy = session_policy(grants, **options)
    return policy, size_problem(minify(policy))


def run(args: argparse.Namespace) -> int:
    """Print the policy; 0, 1 (too long for STS, still printed) or 2 (bad input)."""
    try:
        policy, problem = build(args)
    except BadPolicyInput as exc:
        print(f"jupyters3 policy: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(policy, indent=2) if args.pretty else minify(policy), flush=True)
    if problem:
        print(f"jupyters3 policy: {problem}", file=sys.stderr)
        return 1
    return 0
