"""FakeSTS mints and remembers sessions; the fault proxy with a PolicyEnforcer
refuses, as S3 would, what a session's policy does not allow (boto3 as the client,
moto behind the proxy)."""

from __future__ import annotations

import json
import time

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from jupyters3_testing import FaultProxy, MotoServer
from jupyters3_testing.enforce import PolicyEnforcer
from jupyters3_testing.sts import FakeSTS, StsError

ROLE = "arn:aws:iam::123456789012:role/notebook-users"
HUB_KEY = "AKIAHUBSOURCEKEY0001"
ADMIN_KEY = "AKIAADMINKEY00000001"
ROLE_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Action": "s3:*",
            "Resource": ["arn:aws:s3:::hub", "arn:aws:s3:::hub/*"],
        }
    ],
}


def alice_policy() -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": "s3:ListBucket",
                    "Resource": "arn:aws:s3:::hub",
                    "Condition": {"StringLike": {"s3:prefix": "users/alice/*"}},
                },
                {
                    "Effect": "Allow",
                    "Action": [
                        "s3:GetObject",
                        "s3:PutObject",
                        "s3:DeleteObject",
                        "s3:AbortMultipartUpload",
                    ],
                    "Resource": "arn:aws:s3:::hub/users/alice/*",
                },
            ],
        },
        separators=(",", ":"),
    )


@pytest.fixture(scope="module")
def world():
    with MotoServer() as moto, FakeSTS({ROLE: ROLE_POLICY}, trusted_key_ids={HUB_KEY}) as sts:
        moto.create_bucket("hub")
        proxy = FaultProxy(moto.endpoint_url).start()
        try:
            yield moto, sts, proxy
        finally:
            proxy.stop()


@pytest.fixture
def enforcer(world):
    _, sts, proxy = world
    proxy.reset()
    hook = PolicyEnforcer(sts, allow_keys={ADMIN_KEY})
    proxy.add_hook(hook)
    return hook


def sts_client(
    sts: FakeSTS, key: str = HUB_KEY, secret: str = "hub-secret", token: str | None = None
):
    return boto3.client(
        "sts",
        endpoint_url=sts.endpoint_url,
        region_name="us-east-1",
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        aws_session_token=token,
    )


def s3_client(proxy: FaultProxy, key: str, secret: str = "x", token: str | None = None):
    return boto3.client(
        "s3",
        endpoint_url=proxy.endpoint_url,
        region_name="us-east-1",
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        aws_session_token=token,
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )


def code(call) -> str:
    try:
        call()
    except ClientError as exc:
        return str(exc.response["Error"]["Code"])
    return "OK"


def test_assume_role_mints_keys_and_remembers_the_session(world):
    _, sts, _ = world
    answer = sts_client(sts).assume_role(
        RoleArn=ROLE,
        RoleSessionName="jupyters3-alice",
        Policy=alice_policy(),
        DurationSeconds=900,
        Tags=[{"Key": "jupyters3-user", "Value": "alice"}],
        TransitiveTagKeys=["jupyters3-user"],
        SourceIdentity="alice",
    )
    creds = answer["Credentials"]
    session = sts.session(creds["AccessKeyId"])
    assert session is not None
    assert session.role_arn == ROLE and session.caller == HUB_KEY
    assert json.loads(session.policy or "") == json.loads(alice_policy())
    assert session.tags == (("jupyters3-user", "alice"),)
    assert session.source_identity == answer["SourceIdentity"] == "alice"
    assert answer["PackedPolicySize"] == session.packed_policy_size > 0
    assert abs(creds["Expiration"].timestamp() - (session.issued + 900)) < 2
    assert session.context() == {
        "aws:PrincipalTag/jupyters3-user": "alice",
        "aws:SourceIdentity": "alice",
    }
    assert "secret" not in repr(session).lower() or creds["SecretAccessKey"] not in repr(session)


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"RoleArn": "arn:aws:iam::123456789012:role/other"}, "AccessDenied"),
        ({"RoleSessionName": "team/alice"}, "ValidationError"),
        ({"Policy": "x" * 2049}, "ValidationError"),
        ({"Policy": '{"Statement": [{"Effect": "Allow"}]}'}, "MalformedPolicyDocument"),
        ({"DurationSeconds": 7200}, "ValidationError"),  # over the role's 3,600
        ({"PolicyArns": [{"arn": "arn:aws:iam::aws:policy/Unknown"}]}, "ValidationError"),
        ({"Tags": [{"Key": "aws:x", "Value": "v"}]}, "ValidationError"),
        ({"TransitiveTagKeys": ["nope"]}, "ValidationError"),
    ],
)
def test_assume_role_refuses_what_sts_refuses(world, kwargs, error):
    _, sts, _ = world
    request = {"RoleArn": ROLE, "RoleSessionName": "s1", **kwargs}
    with pytest.raises(ClientError) as raised:
        sts_client(sts).assume_role(**request)
    assert raised.value.response["Error"]["Code"] == error


def test_only_trusted_callers_and_chained_sessions_are_capped(world):
    _, sts, _ = world
    with pytest.raises(ClientError) as raised:
        sts_client(sts, key="AKIASTRANGER00000000").assume_role(RoleArn=ROLE, RoleSessionName="s1")
    assert raised.value.response["Error"]["Code"] == "InvalidClientTokenId"
    first = sts_client(sts).assume_role(
        RoleArn=ROLE,
        RoleSessionName="s1",
        Tags=[{"Key": "t", "Value": "v"}],
        TransitiveTagKeys=["t"],
    )["Credentials"]
    chained = sts_client(sts, first["AccessKeyId"], first["SecretAccessKey"], first["SessionToken"])
    with pytest.raises(ClientError):
        chained.assume_role(RoleArn=ROLE, RoleSessionName="s2", DurationSeconds=3601)
    second = chained.assume_role(RoleArn=ROLE, RoleSessionName="s2")["Credentials"]
    assert sts.session(second["AccessKeyId"]).tags == (("t", "v"),)  # transitive


def test_packed_policy_too_large(world):
    _, sts, _ = world
    modelled, sts.packed_size = sts.packed_size, lambda policy, arns, tags: 101
    try:
        with pytest.raises(ClientError) as raised:
            sts_client(sts).assume_role(RoleArn=ROLE, RoleSessionName="s1", Policy=alice_policy())
        assert raised.value.response["Error"]["Code"] == "PackedPolicyTooLarge"
    finally:
        sts.packed_size = modelled
    sts.fail_next(StsError(503, "ServiceUnavailable", "try later"))
    try:
        with pytest.raises(ClientError):
            sts_client(sts).assume_role(RoleArn=ROLE, RoleSessionName="s1")
    finally:
        sts.fail_next(None)


def test_the_enforcer_confines_a_session_to_its_policy(world, enforcer):
    _, sts, proxy = world
    admin = s3_client(proxy, ADMIN_KEY)
    admin.put_object(Bucket="hub", Key="users/bob/notes.txt", Body=b"bob's")
    creds = sts_client(sts).assume_role(
        RoleArn=ROLE, RoleSessionName="alice", Policy=alice_policy()
    )["Credentials"]
    alice = s3_client(proxy, creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"])

    # Her own prefix: every operation, multipart included.
    alice.put_object(Bucket="hub", Key="users/alice/a.txt", Body=b"a")
    assert alice.get_object(Bucket="hub", Key="users/alice/a.txt")["Body"].read() == b"a"
    assert alice.list_objects_v2(Bucket="hub", Prefix="users/alice/")["KeyCount"] == 1
    alice.copy_object(Bucket="hub", Key="users/alice/b.txt", CopySource="hub/users/alice/a.txt")
    upload = alice.create_multipart_upload(Bucket="hub", Key="users/alice/big")["UploadId"]
    part = alice.upload_part(
        Bucket="hub", Key="users/alice/big", UploadId=upload, PartNumber=1, Body=b"z"
    )
    alice.complete_multipart_upload(
        Bucket="hub", Key="users/alice/big", UploadId=upload,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]},
    )  # fmt: skip
    alice.delete_objects(Bucket="hub", Delete={"Objects": [{"Key": "users/alice/b.txt"}]})
    assert not enforcer.refused()

    # Bob's prefix, and the bucket outside any prefix: refused as S3 refuses.
    bob = "users/bob/notes.txt"
    assert code(lambda: alice.list_objects_v2(Bucket="hub", Prefix="users/bob/")) == "AccessDenied"
    assert code(lambda: alice.list_objects_v2(Bucket="hub")) == "AccessDenied"
    assert code(lambda: alice.get_object(Bucket="hub", Key=bob)) == "AccessDenied"
    assert code(lambda: alice.put_object(Bucket="hub", Key=bob, Body=b"x")) == "AccessDenied"
    assert (
        code(lambda: alice.copy_object(Bucket="hub", Key="users/alice/c", CopySource=f"hub/{bob}"))
        == "AccessDenied"
    )
    assert code(lambda: alice.delete_object(Bucket="hub", Key=bob)) == "AccessDenied"
    batch = {"Objects": [{"Key": "users/alice/a.txt"}, {"Key": bob}]}
    assert code(lambda: alice.delete_objects(Bucket="hub", Delete=batch)) == "AccessDenied"
    upload = alice.create_multipart_upload(Bucket="hub", Key="users/alice/c2")["UploadId"]
    stolen = lambda: alice.upload_part_copy(  # noqa: E731
        Bucket="hub", Key="users/alice/c2", UploadId=upload, PartNumber=1, CopySource=f"hub/{bob}"
    )
    assert code(stolen) == "AccessDenied"
    alice.abort_multipart_upload(Bucket="hub", Key="users/alice/c2", UploadId=upload)

    refused = {(j.decision, j.refused.action) for j in enforcer.refused()}
    assert refused == {
        ("ImplicitDeny", "s3:ListBucket"),
        ("ImplicitDeny", "s3:GetObject"),
        ("ImplicitDeny", "s3:PutObject"),
        ("ImplicitDeny", "s3:DeleteObject"),
    }
    assert admin.get_object(Bucket="hub", Key=bob)["Body"].read() == b"bob's"
    assert (
        admin.get_object(Bucket="hub", Key="users/alice/a.txt")["Body"].read() == b"a"
    )  # batch refused whole


def test_expired_unknown_and_unsigned_keys(world, enforcer):
    _, sts, proxy = world
    sts.lifetime = 1.0
    try:
        creds = sts_client(sts).assume_role(RoleArn=ROLE, RoleSessionName="short")["Credentials"]
    finally:
        sts.lifetime = None
    alice = s3_client(proxy, creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"])
    deadline = time.monotonic() + 10
    while not sts.session(creds["AccessKeyId"]).expired() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert code(lambda: alice.list_objects_v2(Bucket="hub", Prefix="x/")) == "ExpiredToken"
    stranger = s3_client(proxy, "AKIANOTMINTED0000000")
    assert code(lambda: stranger.list_objects_v2(Bucket="hub")) == "InvalidAccessKeyId"
    status, _ = proxy_request(proxy, "GET", "/hub/some-key")
    assert status == 403
    assert [j.decision for j in enforcer.refused()] == ["Expired", "UnknownKey", "Unsigned"]


def proxy_request(proxy: FaultProxy, method: str, path: str) -> tuple[int, bytes]:
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=10)
    try:
        conn.request(method, path)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()
