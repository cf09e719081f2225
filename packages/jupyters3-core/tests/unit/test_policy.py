"""jupyters3.policy and `jupyters3 policy`: the least-privilege policy of a prefix and its
mounts, judged by jupyters3_testing's independent IAM evaluator."""

from __future__ import annotations

import json

import pytest

from jupyters3.check import main
from jupyters3.policy import (
    SESSION_POLICY_LIMIT,
    BadPolicyInput,
    Grant,
    abac_role_policy,
    minify,
    parse_grant,
    session_policy,
    size_problem,
    user_prefix,
    user_segment,
)
from jupyters3_testing.iam import AuthRequest, evaluate

ARN = "arn:aws:s3:::"


def allowed(policy: dict, action: str, resource: str, **context: str) -> bool:
    return evaluate([policy], AuthRequest(action, ARN + resource, context)) == "Allow"


def lists(policy: dict, bucket: str, prefix: str | None, **context: str) -> bool:
    extra = {} if prefix is None else {"s3:prefix": prefix}
    return allowed(policy, "s3:ListBucket", bucket, **extra, **context)


@pytest.mark.parametrize(
    ("name", "segment"),
    [
        ("alice", "alice"),
        ("alice@example.com", "alice@example.com"),
        ("a+b", "a+b"),
        ("team/alice", "team%2Falice"),
        ("x*?${y}", "x%2A%3F%24%7By%7D"),
        ("élodie", "%C3%A9lodie"),
    ],
)
def test_a_user_is_one_key_segment_never_a_wildcard(name, segment):
    assert user_segment(name) == segment
    assert user_prefix("users/{username}/", name) == f"users/{segment}/"


@pytest.mark.parametrize("name", ["", ".", ".."])
def test_names_that_are_no_segment_are_refused(name):
    with pytest.raises(BadPolicyInput):
        user_segment(name)


@pytest.mark.parametrize(
    "template",
    [
        "users/",
        "users/u-{username}/",
        "users/{username}",
        "{username}/{username}/",
        "a*/{username}/",
    ],
)
def test_templates_that_could_mix_users_are_refused(template):
    with pytest.raises(BadPolicyInput):
        user_prefix(template, "alice")


def test_team_slash_alice_is_never_inside_team():
    """`team/alice` must not reach user `team`'s prefix, and `team` not hers."""
    team = session_policy([Grant("hub", user_prefix("users/{username}/", "team"))])
    slash = session_policy([Grant("hub", user_prefix("users/{username}/", "team/alice"))])
    assert allowed(team, "s3:GetObject", "hub/users/team/notes.txt")
    assert not allowed(slash, "s3:GetObject", "hub/users/team/alice/notes.txt")
    assert not allowed(slash, "s3:GetObject", "hub/users/team/notes.txt")
    assert allowed(slash, "s3:GetObject", "hub/users/team%2Falice/notes.txt")
    assert not allowed(team, "s3:GetObject", "hub/users/team%2Falice/notes.txt")
    assert not lists(slash, "hub", "users/team/")


def test_the_session_policy_of_a_prefix_and_mounts():
    policy = session_policy(
        [
            Grant("hub", "users/alice/"),
            Grant("team-ml", "projects/"),
            Grant("lake", "curated/", True),
        ]
    )
    assert policy["Version"] == "2012-10-17"
    for bucket, prefix in (("hub", "users/alice/"), ("team-ml", "projects/"), ("lake", "curated/")):
        assert lists(policy, bucket, prefix) and lists(policy, bucket, prefix + "sub/")
        assert not lists(policy, bucket, "") and not lists(policy, bucket, None)
        assert allowed(policy, "s3:GetObject", f"{bucket}/{prefix}a.txt")
    for action in ("s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"):
        assert allowed(policy, action, "hub/users/alice/a")
        assert allowed(policy, action, "team-ml/projects/a")
        assert not allowed(policy, action, "lake/curated/a")  # read-only
        assert not allowed(policy, action, "hub/users/bob/a")
    assert not allowed(policy, "s3:GetObject", "hub/users/bob/a")
    assert not lists(policy, "hub", "users/")
    for optional in (
        "s3:GetBucketVersioning",
        "s3:ListBucketMultipartUploads",
        "s3:ListBucketVersions",
    ):
        assert not allowed(policy, optional, "hub", **{"s3:prefix": "users/alice/"})
    assert len(minify(policy)) < 1000


def test_the_optional_statements_and_a_whole_bucket():
    policy = session_policy(
        [Grant("hub", "users/alice/"), Grant("scratch", ""), Grant("lake", "", True)],
        versioning=True,
        find_abandoned_uploads=True,
    )
    assert allowed(policy, "s3:GetBucketVersioning", "hub")
    assert allowed(policy, "s3:ListBucketVersions", "hub", **{"s3:prefix": "users/alice/a"})
    assert not allowed(policy, "s3:ListBucketVersions", "hub", **{"s3:prefix": "users/bob/"})
    assert allowed(policy, "s3:GetObjectVersion", "hub/users/alice/a")
    assert allowed(policy, "s3:DeleteObjectVersion", "hub/users/alice/a")
    assert allowed(policy, "s3:ListBucketMultipartUploads", "hub")
    assert not allowed(policy, "s3:ListBucketMultipartUploads", "lake")  # read-only: no sweep
    assert lists(policy, "scratch", None) and lists(policy, "lake", "")  # whole buckets
    assert allowed(policy, "s3:PutObject", "scratch/any/key")
    assert not allowed(policy, "s3:PutObject", "lake/any/key")


def test_a_read_only_mount_inside_a_writable_prefix_adds_nothing():
    policy = session_policy([Grant("hub", "users/alice/"), Grant("hub", "users/alice/ro/", True)])
    assert [s["Sid"] for s in policy["Statement"]] == ["List1", "ReadWrite"]


@pytest.mark.parametrize(
    "grant",
    [
        Grant("hub", "users/*/"),
        Grant("hub", "a?/"),
        Grant("hub", "${aws:username}/"),
        Grant("X", ""),
    ],
)
def test_wildcards_variables_and_bad_buckets_are_refused(grant):
    with pytest.raises(BadPolicyInput):
        session_policy([grant])


def test_the_abac_role_policy_confines_by_the_session_tag():
    policy = abac_role_policy("users/{username}/", "hub", [Grant("team-ml", "projects/")])
    alice = {"aws:PrincipalTag/jupyters3-user": "alice"}
    assert allowed(policy, "s3:PutObject", "hub/users/alice/a", **alice)
    assert not allowed(policy, "s3:PutObject", "hub/users/bob/a", **alice)
    assert lists(policy, "hub", "users/alice/", **alice) and not lists(
        policy, "hub", "users/", **alice
    )
    assert not allowed(policy, "s3:PutObject", "hub/users/alice/a")  # untagged: nothing
    assert allowed(policy, "s3:PutObject", "team-ml/projects/x", **alice)


def test_the_size_check_names_the_fallbacks():
    mounts = [Grant(f"bucket-number-{i:03d}", f"some/long/prefix/{i}/") for i in range(12)]
    text = minify(session_policy([Grant("hub", "users/alice/"), *mounts]))
    assert len(text) > SESSION_POLICY_LIMIT
    problem = size_problem(text)
    assert (
        problem is not None and "2,048" in problem and "ABAC" in problem and "PolicyArns" in problem
    )
    assert size_problem("x" * SESSION_POLICY_LIMIT) is None


def test_parse_grant():
    assert parse_grant("lake=s3://lake/curated:ro") == ("lake", Grant("lake", "curated/", True))
    assert parse_grant("t=s3://team/") == ("t", Grant("team", "", False))
    for bad in ("s3://x/", "t=http://x/", "=s3://x/"):
        with pytest.raises(BadPolicyInput):
            parse_grant(bad)


def test_the_command_prints_the_minified_policy(capsys):
    argv = [
        *("policy", "--bucket", "hub-notebooks", "--prefix", "users/alice/"),
        *("--mount", "team=s3://team-ml/projects/", "--mount", "lake=s3://lake/curated/:ro"),
    ]
    assert main(argv) == 0
    out, err = capsys.readouterr()
    assert err == "" and out.strip() == minify(json.loads(out))
    assert json.loads(out) == session_policy(
        [
            Grant("hub-notebooks", "users/alice/"),
            Grant("team-ml", "projects/"),
            Grant("lake", "curated/", True),
        ]
    )
    assert main(["policy", "--bucket", "hub-notebooks", "--prefix-template", "users/{username}/",
                 "--user", "team/alice", "--pretty"]) == 0  # fmt: skip
    assert "users/team%2Falice/*" in capsys.readouterr().out


def test_the_command_says_when_the_policy_is_too_long_and_refuses_bad_input(capsys):
    mounts = [f"--mount=m{i}=s3://bucket-number-{i:03d}/some/long/prefix/{i}/" for i in range(12)]
    assert main(["policy", "--bucket", "hub-notebooks", "--prefix", "users/alice/", *mounts]) == 1
    out, err = capsys.readouterr()
    assert json.loads(out) and "more than the 2,048 STS accepts" in err and "--abac" in err
    assert (
        main(
            [
                "policy",
                "--abac",
                "--bucket",
                "hub-notebooks",
                "--prefix-template",
                "users/{username}/",
                *mounts,
            ]
        )
        == 0
    )
    assert "${aws:PrincipalTag/jupyters3-user}" in capsys.readouterr().out
    for bad in (
        ["--prefix", "users/*/", "--bucket", "hub-notebooks"],
        ["--user", "alice"],
        ["--abac"],
        [],
    ):
        assert main(["policy", *bad]) == 2
        assert capsys.readouterr().err.startswith("jupyters3 policy: ")
