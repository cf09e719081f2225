"""The IAM evaluator against the cases of AWS's policy evaluation documentation
(IAM User Guide: "Policy evaluation logic", "The difference between explicit and
implicit denies", "Condition operators", "Conditions with multiple context keys
or values", "Policy variables", "Session policies"), and the S3 request mapping."""

from __future__ import annotations

import pytest

from jupyters3_testing.iam import (
    AuthRequest,
    MalformedPolicy,
    evaluate,
    evaluate_session,
    wildcard_match,
)
from jupyters3_testing.s3_actions import (
    MalformedRequest,
    copy_source,
    delete_objects_keys,
    s3_authorizations,
)

V = "2012-10-17"


def policy(*statements: dict) -> dict:
    return {"Version": V, "Statement": list(statements)}


def allow(action, resource="*", **extra) -> dict:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def deny(action, resource="*", **extra) -> dict:
    return {"Effect": "Deny", "Action": action, "Resource": resource, **extra}


def req(action: str, resource: str = "*", **context: str) -> AuthRequest:
    return AuthRequest(action, resource, context)


# -- explicit and implicit denies ---------------------------------------------------------

#: "The difference between explicit and implicit denies": Get*/List* allowed, any
#: action with Report in its name denied, everything else implicitly denied.
GET_LIST_NO_REPORTS = policy(
    {
        "Sid": "AllowGetList",
        "Effect": "Allow",
        "Action": ["iam:Get*", "iam:List*"],
        "Resource": "*",
    },
    {"Sid": "DenyReports", "Effect": "Deny", "Action": "iam:*Report", "Resource": "*"},
)


@pytest.mark.parametrize(
    ("action", "decision"),
    [
        ("iam:GetUser", "Allow"),
        ("iam:ListRoles", "Allow"),
        ("iam:GetOrganizationsAccessReport", "ExplicitDeny"),  # Get*, but *Report is denied
        ("iam:GenerateCredentialReport", "ExplicitDeny"),
        ("iam:CreatePolicy", "ImplicitDeny"),
    ],
)
def test_explicit_deny_wins_and_nothing_matching_is_an_implicit_deny(action, decision):
    assert evaluate([GET_LIST_NO_REPORTS], req(action)) == decision


def test_a_deny_in_another_policy_overrides_an_allow():
    grant = policy(allow("s3:*", "arn:aws:s3:::logs/*"))
    fence = policy(deny("s3:DeleteObject", "arn:aws:s3:::logs/*"))
    assert evaluate([grant], req("s3:DeleteObject", "arn:aws:s3:::logs/a")) == "Allow"
    assert evaluate([grant, fence], req("s3:DeleteObject", "arn:aws:s3:::logs/a")) == "ExplicitDeny"
    assert evaluate([grant, fence], req("s3:GetObject", "arn:aws:s3:::logs/a")) == "Allow"
    assert evaluate([], req("s3:GetObject", "arn:aws:s3:::logs/a")) == "ImplicitDeny"


def test_session_permissions_are_the_intersection_of_role_and_session_policies():
    """ "Session policies": the session gets what both allow; a session policy cannot
    grant what the role does not have; an explicit deny in either wins."""
    role = [policy(allow("s3:*", ["arn:aws:s3:::hub/*", "arn:aws:s3:::hub"]))]
    alice = [policy(allow("s3:GetObject", "arn:aws:s3:::hub/users/alice/*"))]
    greedy = [policy(allow("s3:*", "*"))]
    own = req("s3:GetObject", "arn:aws:s3:::hub/users/alice/a.txt")
    other = req("s3:GetObject", "arn:aws:s3:::hub/users/bob/b.txt")
    assert evaluate_session(role, alice, own) == "Allow"
    assert evaluate_session(role, alice, other) == "ImplicitDeny"  # role allows, session not
    assert evaluate_session(role, None, other) == "Allow"  # no session policy: the role alone
    assert (
        evaluate_session(role, [], other) == "ImplicitDeny"
    )  # a session policy that allows nothing
    elsewhere = req("s3:GetObject", "arn:aws:s3:::other/x")
    assert evaluate_session(role, greedy, elsewhere) == "ImplicitDeny"  # session cannot add
    fenced = [*alice, policy(deny("s3:GetObject", "arn:aws:s3:::hub/users/alice/private/*"))]
    private = req("s3:GetObject", "arn:aws:s3:::hub/users/alice/private/k")
    assert evaluate_session(role, fenced, private) == "ExplicitDeny"


# -- matching ---------------------------------------------------------------------------


def test_actions_match_without_case_resources_with_case():
    p = [policy(allow("S3:getobject", "arn:aws:s3:::Bucket/Key"))]
    assert evaluate(p, req("s3:GetObject", "arn:aws:s3:::Bucket/Key")) == "Allow"
    assert evaluate(p, req("s3:GetObject", "arn:aws:s3:::bucket/key")) == "ImplicitDeny"


def test_wildcards_span_slashes_and_question_mark_is_one_character():
    assert wildcard_match("arn:aws:s3:::b/users/*", "arn:aws:s3:::b/users/a/b/c")
    assert wildcard_match("users/alice/*", "users/alice/")  # * matches nothing too
    assert not wildcard_match("users/alice/*", "users/alice")
    assert wildcard_match("file-?.txt", "file-1.txt")
    assert not wildcard_match("file-?.txt", "file-12.txt")
    assert wildcard_match("a.b", "a.b") and not wildcard_match("a.b", "aXb")  # no regex leaks


def test_not_action_and_not_resource():
    everything_but_iam = [policy({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"})]
    assert evaluate(everything_but_iam, req("s3:GetObject")) == "Allow"
    assert evaluate(everything_but_iam, req("iam:CreateUser")) == "ImplicitDeny"
    fence = policy(
        allow("s3:*", "*"),
        {"Effect": "Deny", "Action": "s3:*", "NotResource": "arn:aws:s3:::mine/*"},
    )
    assert evaluate([fence], req("s3:GetObject", "arn:aws:s3:::mine/a")) == "Allow"
    assert evaluate([fence], req("s3:GetObject", "arn:aws:s3:::theirs/a")) == "ExplicitDeny"


# -- conditions ------------------------------------------------------------------------

LIST_HOME = policy(
    allow(
        "s3:ListBucket",
        "arn:aws:s3:::hub",
        Condition={"StringLike": {"s3:prefix": ["", "home/", "home/alice/*"]}},
    )
)


@pytest.mark.parametrize(
    ("prefix", "decision"),
    [
        ("home/alice/", "Allow"),
        ("home/alice/notes/", "Allow"),
        ("home/", "Allow"),
        ("", "Allow"),
        ("home/bob/", "ImplicitDeny"),
        ("home/alice", "ImplicitDeny"),
        (None, "ImplicitDeny"),  # no prefix in the request: the key is absent, no match
    ],
)
def test_string_like_on_s3_prefix(prefix, decision):
    context = {} if prefix is None else {"s3:prefix": prefix}
    request = AuthRequest("s3:ListBucket", "arn:aws:s3:::hub", context)
    assert evaluate([LIST_HOME], request) == decision


def test_an_absent_key_fails_positive_operators_and_passes_negated_ones():
    """ "Condition operators": a key missing from the request context makes the
    condition false, except for negated operators (true), ...IfExists and Null."""
    action, resource = "s3:GetObject", "*"

    def decide(condition: dict, **context: str) -> str:
        return evaluate(
            [policy(allow(action, resource, Condition=condition))], req(action, **context)
        )

    assert decide({"StringEquals": {"aws:PrincipalTag/team": "ml"}}) == "ImplicitDeny"
    assert decide({"StringNotEquals": {"aws:PrincipalTag/team": "ml"}}) == "Allow"
    assert decide({"StringNotLike": {"aws:PrincipalTag/team": "m*"}}) == "Allow"
    assert decide({"StringEqualsIfExists": {"aws:PrincipalTag/team": "ml"}}) == "Allow"
    assert (
        decide(
            {"StringEqualsIfExists": {"aws:PrincipalTag/team": "ml"}},
            **{"aws:PrincipalTag/team": "x"},
        )
        == "ImplicitDeny"
    )
    assert decide({"Null": {"aws:PrincipalTag/team": "true"}}) == "Allow"
    assert decide({"Null": {"aws:PrincipalTag/team": "false"}}) == "ImplicitDeny"
    assert (
        decide(
            {"StringNotEquals": {"aws:PrincipalTag/team": "ml"}}, **{"aws:PrincipalTag/team": "ml"}
        )
        == "ImplicitDeny"
    )


def test_several_values_or_several_keys_and_negated_values_nor():
    """ "Conditions with multiple context keys or values"."""
    values = {"StringEquals": {"s3:prefix": ["a/", "b/"]}}
    keys = {"StringEquals": {"s3:prefix": "a/", "s3:delimiter": "/"}}
    nor = {"StringNotEquals": {"s3:prefix": ["a/", "b/"]}}

    def decide(condition: dict, **context: str) -> str:
        p = policy(allow("s3:ListBucket", "*", Condition=condition))
        return evaluate([p], req("s3:ListBucket", **context))

    assert decide(values, **{"s3:prefix": "b/"}) == "Allow"
    assert decide(values, **{"s3:prefix": "c/"}) == "ImplicitDeny"
    assert decide(keys, **{"s3:prefix": "a/", "s3:delimiter": "/"}) == "Allow"
    assert decide(keys, **{"s3:prefix": "a/"}) == "ImplicitDeny"
    assert decide(nor, **{"s3:prefix": "c/"}) == "Allow"
    assert decide(nor, **{"s3:prefix": "b/"}) == "ImplicitDeny"


def test_numeric_bool_and_set_operators():
    def decide(condition: dict, context: dict) -> str:
        p = policy(allow("s3:ListBucket", "*", Condition=condition))
        return evaluate([p], AuthRequest("s3:ListBucket", "*", context))

    assert (
        decide({"NumericLessThanEquals": {"s3:max-keys": "100"}}, {"s3:max-keys": "10"}) == "Allow"
    )
    assert (
        decide({"NumericLessThanEquals": {"s3:max-keys": "100"}}, {"s3:max-keys": "1000"})
        == "ImplicitDeny"
    )
    assert (
        decide({"Bool": {"aws:SecureTransport": True}}, {"aws:SecureTransport": "true"}) == "Allow"
    )
    assert (
        decide({"Bool": {"aws:SecureTransport": "true"}}, {"aws:SecureTransport": "false"})
        == "ImplicitDeny"
    )
    tags = {"aws:TagKeys": ["team", "project"]}
    assert (
        decide({"ForAllValues:StringEquals": {"aws:TagKeys": ["team", "project", "x"]}}, tags)
        == "Allow"
    )
    assert decide({"ForAllValues:StringEquals": {"aws:TagKeys": ["team"]}}, tags) == "ImplicitDeny"
    assert decide({"ForAnyValue:StringEquals": {"aws:TagKeys": ["project"]}}, tags) == "Allow"
    assert (
        decide({"ForAllValues:StringEquals": {"aws:TagKeys": ["team"]}}, {}) == "Allow"
    )  # vacuous


# -- policy variables ---------------------------------------------------------------------

HOME_BY_TAG = policy(
    allow(
        "s3:ListBucket",
        "arn:aws:s3:::hub",
        Condition={"StringLike": {"s3:prefix": "users/${aws:PrincipalTag/user}/*"}},
    ),
    allow("s3:GetObject", "arn:aws:s3:::hub/users/${aws:PrincipalTag/user}/*"),
)


def test_policy_variables_in_resources_and_condition_values():
    """ "Policy variables": replaced by the request's value, literally."""
    tag = {"aws:PrincipalTag/user": "alice"}
    own = AuthRequest("s3:GetObject", "arn:aws:s3:::hub/users/alice/a", tag)
    other = AuthRequest("s3:GetObject", "arn:aws:s3:::hub/users/bob/a", tag)
    listing = AuthRequest("s3:ListBucket", "arn:aws:s3:::hub", {**tag, "s3:prefix": "users/alice/"})
    assert evaluate([HOME_BY_TAG], own) == "Allow"
    assert evaluate([HOME_BY_TAG], other) == "ImplicitDeny"
    assert evaluate([HOME_BY_TAG], listing) == "Allow"
    untagged = AuthRequest("s3:GetObject", "arn:aws:s3:::hub/users/alice/a")
    assert evaluate([HOME_BY_TAG], untagged) == "ImplicitDeny"  # no tag: matches nothing
    # A tag value is literal: a '*' in it is not a wildcard.
    star = AuthRequest(
        "s3:GetObject", "arn:aws:s3:::hub/users/bob/a", {"aws:PrincipalTag/user": "*"}
    )
    assert evaluate([HOME_BY_TAG], star) == "ImplicitDeny"


def test_variables_only_in_version_2012_10_17_and_special_characters():
    old = {
        "Version": "2008-10-17",
        "Statement": [allow("s3:GetObject", "arn:aws:s3:::b/${aws:username}")],
    }
    literal = AuthRequest("s3:GetObject", "arn:aws:s3:::b/${aws:username}", {"aws:username": "x"})
    assert evaluate([old], literal) == "Allow"
    stars = policy(allow("s3:GetObject", "arn:aws:s3:::b/${*}${?}${$}"))
    assert evaluate([stars], req("s3:GetObject", "arn:aws:s3:::b/*?$")) == "Allow"
    assert evaluate([stars], req("s3:GetObject", "arn:aws:s3:::b/xyz")) == "ImplicitDeny"


@pytest.mark.parametrize(
    "bad",
    [
        "not json",
        {"Version": V},
        policy({"Effect": "Maybe", "Action": "s3:*", "Resource": "*"}),
        policy({"Effect": "Allow", "Resource": "*"}),
        policy({"Effect": "Allow", "Action": "s3:*", "NotAction": "s3:Get*", "Resource": "*"}),
        policy({"Effect": "Allow", "Action": "s3:*"}),
        policy(allow("s3:*", Condition={"StringSortOf": {"k": "v"}})),
        policy({**allow("s3:*"), "Principal": "*"}),
    ],
)
def test_malformed_policies_are_refused(bad):
    with pytest.raises(MalformedPolicy):
        evaluate([bad], req("s3:GetObject"))


# -- S3 requests -> authorizations -----------------------------------------------------------


def actions(method, bucket, key="", query=None, headers=None, body=None):
    found = s3_authorizations(method, bucket, key, query or {}, headers or {}, body)
    return [(a.action, a.resource, dict(a.context)) for a in found]


def test_s3_requests_map_to_their_actions():
    b = "arn:aws:s3:::hub"
    assert actions("GET", "hub", query={"list-type": "2", "prefix": "u/a/", "delimiter": "/"}) == [
        ("s3:ListBucket", b, {"s3:prefix": "u/a/", "s3:delimiter": "/"})
    ]
    assert actions("GET", "hub", query={"list-type": "2"}) == [("s3:ListBucket", b, {})]
    assert actions("GET", "hub", query={"versions": "", "prefix": "p/"})[0][:2] == (
        "s3:ListBucketVersions",
        b,
    )
    assert actions("GET", "hub", query={"uploads": ""})[0][0] == "s3:ListBucketMultipartUploads"
    assert actions("GET", "hub", query={"versioning": ""})[0][0] == "s3:GetBucketVersioning"
    assert actions("HEAD", "hub")[0][0] == "s3:ListBucket"
    assert actions("HEAD", "hub", "k")[0][:2] == ("s3:GetObject", f"{b}/k")
    assert actions("GET", "hub", "k", {"versionId": "v1"})[0][0] == "s3:GetObjectVersion"
    assert actions("PUT", "hub", "k")[0][0] == "s3:PutObject"
    assert actions("POST", "hub", "k", {"uploads": ""})[0][0] == "s3:PutObject"
    assert actions("PUT", "hub", "k", {"partNumber": "1", "uploadId": "u"})[0][0] == "s3:PutObject"
    assert actions("POST", "hub", "k", {"uploadId": "u"})[0][0] == "s3:PutObject"
    assert actions("DELETE", "hub", "k", {"uploadId": "u"})[0][0] == "s3:AbortMultipartUpload"
    assert actions("GET", "hub", "k", {"uploadId": "u"})[0][0] == "s3:ListMultipartUploadParts"
    assert actions("DELETE", "hub", "k")[0][0] == "s3:DeleteObject"
    assert actions("DELETE", "hub", "k", {"versionId": "v"})[0][0] == "s3:DeleteObjectVersion"
    assert actions("GET", "")[0][0] == "s3:ListAllMyBuckets"
    assert actions("GET", "hub", query={"policyStatus": ""})[0][0].startswith("s3:Unrecognized")


def test_a_copy_needs_the_source_too():
    found = actions(
        "PUT", "hub", "u/alice/c", headers={"X-Amz-Copy-Source": "/hub/u/bob/secret%20file"}
    )
    assert [(a, r) for a, r, _ in found] == [
        ("s3:PutObject", "arn:aws:s3:::hub/u/alice/c"),
        ("s3:GetObject", "arn:aws:s3:::hub/u/bob/secret file"),
    ]
    part = actions(
        "PUT", "hub", "u/alice/c", {"partNumber": "2", "uploadId": "x"},
        {"x-amz-copy-source": "other/k?versionId=v9"},
    )  # fmt: skip
    assert part[1][:2] == ("s3:GetObjectVersion", "arn:aws:s3:::other/k")
    assert copy_source("b/a/b%2Fc?versionId=1") == ("b", "a/b/c", "1")
    with pytest.raises(MalformedRequest):
        copy_source("bucket-only")


def test_delete_objects_is_judged_key_by_key():
    body = (
        b'<?xml version="1.0"?><Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
        b"<Object><Key>u/alice/a</Key></Object>"
        b"<Object><Key>u/bob/b</Key><VersionId>v2</VersionId></Object><Quiet>true</Quiet></Delete>"
    )
    assert delete_objects_keys(body) == [("u/alice/a", None), ("u/bob/b", "v2")]
    found = actions("POST", "hub", query={"delete": ""}, body=body)
    assert [(a, r) for a, r, _ in found] == [
        ("s3:DeleteObject", "arn:aws:s3:::hub/u/alice/a"),
        ("s3:DeleteObjectVersion", "arn:aws:s3:::hub/u/bob/b"),
    ]
    with pytest.raises(MalformedRequest):
        actions("POST", "hub", query={"delete": ""}, body=None)
    with pytest.raises(MalformedRequest):
        actions("POST", "hub", query={"delete": ""}, body=b"<Delete><Object>")
