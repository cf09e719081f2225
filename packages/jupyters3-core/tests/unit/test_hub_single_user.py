"""The single-user side under JupyterHub: scoped AssumeRole requests, the credentials
service's provider, the kernels' loopback endpoint (read by botocore itself), the
confinement verdicts and the broad-identity warnings."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from pathlib import Path
from urllib.parse import parse_qs

import pytest
from botocore.credentials import ContainerProvider as BotocoreContainerProvider
from credential_fakes import T0, FakeClock, FakeFetcher, answers, creds_json
from tornado.ioloop import IOLoop

from jupyters3.confinement import (
    broad_identities,
    metadata_answers,
    outside_prefixes,
    verdict,
)
from jupyters3.credentials import AwsCreds, TimedCreds
from jupyters3.credentials.assume_role import (
    RoleRequest,
    assume_role,
    assume_role_body,
    is_tag_value,
    packed_policy_size,
    session_name,
    tag_value,
)
from jupyters3.credentials.container import parse_container_credentials
from jupyters3.credentials.http import FetchTimeout
from jupyters3.credentials.hub import HubCredentialsProvider, container_credentials_json
from jupyters3.credentials.providers import SharedFiles
from jupyters3.errors import BadConfiguration, CredentialsRejected, NetworkError
from jupyters3.hub import JupyterS3HubAuthentication, single_user_config
from jupyters3.kernel_credentials import (
    SCRUBBED,
    KernelCredentialsEndpoint,
    install,
    kernel_environ,
)

ROLE = "arn:aws:iam::123456789012:role/jupyterhub-users"
SOURCE = AwsCreds("AKIASOURCE0000000001", "source-secret-xyz", {})


def role_xml(packed: int | None) -> bytes:
    size = "" if packed is None else f"<PackedPolicySize>{packed}</PackedPolicySize>"
    return f"""<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleResult><Credentials><AccessKeyId>ASIAROLE0000000001</AccessKeyId>
  <SecretAccessKey>role-secret</SecretAccessKey><SessionToken>role-token</SessionToken>
  <Expiration>2027-01-15T09:00:00Z</Expiration></Credentials>{size}</AssumeRoleResult>
</AssumeRoleResponse>""".encode()


# -- AssumeRole that scopes ---------------------------------------------------------------


def test_the_scoped_request_body():
    request = RoleRequest(
        ROLE,
        "jupyters3-alice",
        duration_seconds=3600,
        policy='{"Version":"2012-10-17","Statement":[]}',
        policy_arns=("arn:aws:iam::aws:policy/A", "arn:aws:iam::aws:policy/B"),
        tags=(("jupyters3-user", "alice"), ("team", "ml")),
        transitive_tag_keys=("jupyters3-user",),
        source_identity="alice",
    )
    form = {k: v[0] for k, v in parse_qs(assume_role_body(request).decode()).items()}
    assert form == {
        "Action": "AssumeRole",
        "Version": "2011-06-15",
        "RoleArn": ROLE,
        "RoleSessionName": "jupyters3-alice",
        "DurationSeconds": "3600",
        "Policy": '{"Version":"2012-10-17","Statement":[]}',
        "PolicyArns.member.1.arn": "arn:aws:iam::aws:policy/A",
        "PolicyArns.member.2.arn": "arn:aws:iam::aws:policy/B",
        "Tags.member.1.Key": "jupyters3-user",
        "Tags.member.1.Value": "alice",
        "Tags.member.2.Key": "team",
        "Tags.member.2.Value": "ml",
        "TransitiveTagKeys.member.1": "jupyters3-user",
        "SourceIdentity": "alice",
    }
    assert "Statement" not in repr(request)  # the policy is long: not in reprs


@pytest.mark.parametrize(
    "bad",
    [
        {"session_name": "team/alice"},
        {"session_name": "a"},
        {"source_identity": "x" * 65},
        {"policy_arns": tuple(f"arn:p{i}" for i in range(11))},
        {"tags": tuple((f"k{i}", "v") for i in range(51))},
        {"tags": (("aws:user", "x"),)},
        {"tags": (("k", "a%b"),)},
        {"tags": (("K", "a"), ("k", "b"))},
        {"tags": (("k", "v"),), "transitive_tag_keys": ("other",)},
    ],
)
def test_requests_sts_would_refuse_are_refused_before_sending(bad):
    fields = {"session_name": "jupyters3-alice", **bad}
    with pytest.raises(BadConfiguration):
        RoleRequest(ROLE, **fields)


def test_session_names_and_tag_values_from_user_names():
    assert session_name("alice", "jupyters3-") == "jupyters3-alice"
    slash, dot = session_name("team/alice", "jupyters3-"), session_name("team.alice", "jupyters3-")
    assert dot == "jupyters3-team.alice" and slash.startswith("jupyters3-team-alice-")
    assert slash != session_name("team:alice", "jupyters3-")  # a hash keeps them apart
    long = session_name("x" * 200, "jupyters3-")
    assert len(long) == 64 and long != session_name("x" * 199, "jupyters3-")
    assert 2 <= len(session_name("é")) <= 64
    for name in ("alice", "team/alice", "x" * 200, "é", "a b"):
        RoleRequest(ROLE, session_name(name, "jupyters3-"), source_identity=session_name(name))
    assert tag_value("team/alice") == "team/alice" and tag_value("a%b*") == "a_b_"
    assert is_tag_value("alice@example.com") and not is_tag_value("team%2Falice")


def test_packed_policy_size_is_read_only_from_a_body_without_a_doctype():
    assert packed_policy_size(role_xml(93)) == 93
    assert packed_policy_size(role_xml(None)) is None
    # An entity would give 93 if it were expanded: refused before parsing, as everywhere.
    entity = role_xml(None).replace(
        b"</AssumeRoleResult>", b"<PackedPolicySize>&n;</PackedPolicySize></AssumeRoleResult>"
    )
    hostile = b'<!DOCTYPE AssumeRoleResponse [<!ENTITY n "93">]>' + entity
    assert packed_policy_size(hostile) is None
    assert packed_policy_size(b"not xml") is None


@pytest.mark.parametrize(("packed", "warned"), [(None, False), (89, False), (90, True), (99, True)])
async def test_a_packed_policy_size_from_90_percent_is_a_warning(packed, warned, caplog):
    fetcher = FakeFetcher(answers((200, role_xml(packed))))
    request = RoleRequest(ROLE, "jupyters3-alice", policy="{}")
    with caplog.at_level(logging.WARNING, logger="jupyters3.credentials"):
        found = await assume_role(
            fetcher,
            "https://sts.us-east-1.amazonaws.com/",
            SOURCE,
            request,
            region="",
            clock=FakeClock(),
        )
    assert found.creds.access_key_id == "ASIAROLE0000000001"
    messages = [r.getMessage() for r in caplog.records]
    assert any("PackedPolicySize" in m for m in messages) == warned
    assert not any("role-secret" in m or "source-secret" in m for m in messages)


# -- the credentials service's provider ------------------------------------------------------


async def test_the_hub_provider_sends_the_servers_token_and_reads_container_json():
    fetcher = FakeFetcher(answers((200, creds_json(3))))
    provider = HubCredentialsProvider.from_environ(
        {"JUPYTERS3_HUB_CREDENTIALS_URL": "http://hub:8282/services/c/credentials",
         "JUPYTERHUB_API_TOKEN": "hub-token-123"},
        fetcher,
    )  # fmt: skip
    found = await provider.load()
    assert found == parse_container_credentials(creds_json(3))
    sent = fetcher.sent[0]
    assert (sent.method, sent.url) == ("GET", "http://hub:8282/services/c/credentials")
    assert sent.headers["Authorization"] == "token hub-token-123"


async def test_a_refusal_by_the_service_says_its_sentence():
    answer = (
        403,
        json.dumps({"message": "The token lacks the scope access:services!service=x"}).encode(),
    )
    provider = HubCredentialsProvider("http://hub/c", "tok", FakeFetcher(answers(answer)))
    with pytest.raises(CredentialsRejected) as raised:
        await provider.load()
    assert "403" in str(raised.value) and "lacks the scope" in str(raised.value)
    assert "tok" not in str(raised.value).replace("token", "")


@pytest.mark.parametrize(
    "env",
    [
        {"JUPYTERHUB_API_TOKEN": "t"},
        {"JUPYTERS3_HUB_CREDENTIALS_URL": "http://hub/c"},
        {"JUPYTERS3_HUB_CREDENTIALS_URL": "ftp://hub/c", "JUPYTERHUB_API_TOKEN": "t"},
    ],
)
def test_the_hub_provider_needs_a_url_and_a_token(env):
    with pytest.raises(BadConfiguration):
        HubCredentialsProvider.from_environ(env, FakeFetcher(answers((200, b""))))


def test_container_json_round_trips():
    creds = TimedCreds(AwsCreds("ASIAX", "sec", {"x-amz-security-token": "tok"}), T0 + 60)
    body = json.loads(container_credentials_json(creds, now=T0, role_arn=ROLE))
    assert body["Code"] == "Success" and body["RoleArn"] == ROLE and body["Token"] == "tok"
    assert parse_container_credentials(container_credentials_json(creds, now=T0)) == creds


async def test_the_authentication_class_refreshes_from_the_service():
    clock = FakeClock()
    fetcher = FakeFetcher(answers((200, creds_json(1, T0 + 3600)), (200, creds_json(2, T0 + 7200))))
    env = {"JUPYTERS3_HUB_CREDENTIALS_URL": "http://hub/c", "JUPYTERHUB_API_TOKEN": "t"}
    auth = JupyterS3HubAuthentication(environ=env, clock=clock, fetcher=fetcher)
    assert (await auth.get_credentials()).access_key_id == f"ASIA{1:016d}"
    clock.advance(3600 - 500)  # inside the mandatory window (600 s)
    assert (await auth.get_credentials()).access_key_id == f"ASIA{2:016d}"
    assert (await auth.timed_credentials()).expiration == T0 + 7200
    assert len(fetcher.sent) == 2


def test_single_user_config_reads_what_the_hub_set():
    from traitlets.config import Config

    c = Config()
    env = {
        "JUPYTERHUB_USER": "alice",
        "JUPYTERS3_BUCKET": "hub-notebooks",
        "JUPYTERS3_PREFIX": "users/alice/",
        "JUPYTERS3_MOUNTS": json.dumps({"team": "s3://t/p/", "lake": "s3://l/c/:ro"}),
    }
    single_user_config(c, env)
    assert c.JupyterS3.prefix == "users/alice/" and c.JupyterS3.aws_s3_bucket == "hub-notebooks"
    assert c.JupyterS3.mounts == {
        "team": "s3://t/p/",
        "lake": {"url": "s3://l/c/", "read_only": True},
    }
    assert c.JupyterS3.authentication_class is JupyterS3HubAuthentication
    with pytest.raises(SystemExit, match="JUPYTERS3_PREFIX"):
        single_user_config(Config(), {**env, "JUPYTERS3_PREFIX": ""})


# -- kernels ---------------------------------------------------------------------------------


def test_what_kernels_inherit():
    environ = {name: "x" for name in SCRUBBED} | {"PATH": "/bin", "AWS_REGION": "eu-west-1"}
    kept = kernel_environ(environ, "http://127.0.0.1:1/credentials", "tok")
    assert kept == {
        "PATH": "/bin",
        "AWS_REGION": "eu-west-1",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://127.0.0.1:1/credentials",
        "AWS_CONTAINER_AUTHORIZATION_TOKEN": "tok",
        "AWS_EC2_METADATA_DISABLED": "true",
    }


class _Loop:
    """Runs a Tornado IOLoop in a thread; ``add_callback`` as the server's loop would."""

    def __init__(self) -> None:
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        self.ready.wait(10)

    def _run(self) -> None:
        asyncio.set_event_loop(asyncio.new_event_loop())
        self.loop = IOLoop.current()
        self.loop.add_callback(self.ready.set)
        self.loop.start()

    def add_callback(self, callback, *args) -> None:  # type: ignore[no-untyped-def]
        self.loop.add_callback(callback, *args)

    def stop(self) -> None:
        self.loop.add_callback(self.loop.stop)
        self.thread.join(10)


def test_botocore_reads_the_kernel_endpoint_and_nothing_without_the_token():
    """botocore's own container provider (what boto3 in a kernel uses) is the oracle."""
    served = TimedCreds(
        AwsCreds("ASIAKERNEL0000000001", "kernel-secret", {"x-amz-security-token": "kt"}), T0 + 900
    )
    calls = []

    async def timed() -> TimedCreds:
        calls.append(1)
        return served

    environ = {"AWS_ACCESS_KEY_ID": "AKIABROAD", "AWS_SECRET_ACCESS_KEY": "broad", "HOME": "/h"}
    loop = _Loop()
    try:
        endpoint = install(timed, loop, logging.getLogger("test"), environ)
        assert "AWS_ACCESS_KEY_ID" not in environ and environ["HOME"] == "/h"
        assert environ["AWS_CONTAINER_AUTHORIZATION_TOKEN"] == endpoint.token
        loaded = BotocoreContainerProvider(environ=dict(environ)).load()
        frozen = loaded.get_frozen_credentials()
        assert (frozen.access_key, frozen.secret_key, frozen.token) == (
            "ASIAKERNEL0000000001",
            "kernel-secret",
            "kt",
        )
        wrong = dict(environ, AWS_CONTAINER_AUTHORIZATION_TOKEN="guess")
        with pytest.raises(Exception, match=r"401|Unauthorized|credentials"):
            BotocoreContainerProvider(environ=wrong).load()
        assert len(calls) == 1
    finally:
        loop.add_callback(endpoint.stop)
        loop.stop()


def test_an_endpoint_token_is_compared_whole():
    endpoint = KernelCredentialsEndpoint(lambda: None, log=logging.getLogger("t"), token="abc")  # type: ignore[arg-type,return-value]
    assert (
        endpoint.authorized("abc") and not endpoint.authorized("ab") and not endpoint.authorized("")
    )


# -- confinement and warnings ---------------------------------------------------------------------


def test_outside_prefixes():
    assert outside_prefixes("users/alice/") == ["users/", ""]
    assert outside_prefixes("alice/") == [""]
    assert outside_prefixes("a/b/c/") == ["a/b/", ""]


def test_verdicts():
    ok, sentence = verdict("hub", "users/alice/", [("users/", "refused"), ("", "refused")])
    assert ok and sentence == (
        "LIST of s3://hub/users/ and s3://hub/ refused (AccessDenied): confined to users/alice/"
    )
    ok, sentence = verdict("hub", "users/alice/", [("users/", "allowed"), ("", "refused")])
    assert not ok and "may list s3://hub/users/" in sentence and "users/alice/*" in sentence
    ok, sentence = verdict("hub", "users/alice/", [("users/", "refused"), ("", "SlowDown")])
    assert not ok and "Cannot tell" in sentence and "SlowDown" in sentence
    ok, sentence = verdict("hub", "", [])
    assert not ok and "prefix is empty" in sentence


def test_broad_identities(tmp_path: Path):
    assert broad_identities({}, pid=1) == []
    env = {
        "AWS_ACCESS_KEY_ID": "AKIA",
        "AWS_SECRET_ACCESS_KEY": "s",
        "AWS_WEB_IDENTITY_TOKEN_FILE": "/var/run/secrets/eks/token",
        "AWS_ROLE_ARN": ROLE,
        "AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://169.254.170.23/v1/credentials",
    }
    (tmp_path / "credentials").write_text(
        "[default]\naws_access_key_id = A\naws_secret_access_key = B\n"
    )
    shared = SharedFiles.read({"AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "credentials"),
                               "AWS_CONFIG_FILE": str(tmp_path / "none")})  # fmt: skip
    found = broad_identities(env, pid=4242, shared=shared)
    assert len(found) == 4
    assert "/proc/4242/environ" in found[0]
    assert (
        "/var/run/secrets/eks/token" in found[1]
        and ROLE in found[1]
        and "role-arn annotation" in found[1]
    )
    assert "AWS_CONTAINER_CREDENTIALS_FULL_URI" in found[2]
    assert "profile default" in found[3]
    assert not any(w == "s" for w in found)


async def test_metadata_probe():
    assert await metadata_answers(FakeFetcher(answers((200, b"t"))), "http://imds/")
    assert await metadata_answers(FakeFetcher(answers((403, b""))), "http://imds/")
    refused = NetworkError("connection refused", outcome_unknown=False)
    assert not await metadata_answers(FakeFetcher(answers(refused)), "http://imds/")
    silent = FetchTimeout("timed out", connected=True)
    assert await metadata_answers(FakeFetcher(answers(silent)), "http://imds/")
    unreachable = FetchTimeout("timed out", connected=False)
    assert not await metadata_answers(FakeFetcher(answers(unreachable)), "http://imds/")
    fetcher = FakeFetcher(answers((200, b"")))
    await metadata_answers(fetcher, "http://imds/")
    assert (fetcher.sent[0].method, fetcher.sent[0].url) == ("PUT", "http://imds/latest/api/token")
