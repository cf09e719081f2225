"""Assume-role profiles: resolution of the files (chains, loops, refusals) and STS AssumeRole."""

from __future__ import annotations

import hashlib
import logging
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
from credential_fakes import T0, FakeClock, FakeFetcher, Sent, creds_json, sts_error_xml

from jupyters3 import JupyterS3DefaultAuthentication
from jupyters3.credentials.assume_role import RoleRequest, assume_role_body, signing_region
from jupyters3.credentials.chain import CredentialChain, default_providers
from jupyters3.credentials.profiles import (
    AssumeRoleSource,
    NamedSource,
    ProcessSource,
    StaticKeys,
    WebIdentitySource,
    resolve_profile,
)
from jupyters3.credentials.providers import SharedFiles
from jupyters3.credentials.types import ProviderContext
from jupyters3.errors import BadConfiguration, CredentialsRejected
from jupyters3.s3.signing import (
    canonical_request,
    credential_scope,
    signature,
    signing_key,
    string_to_sign,
)

LOG = logging.getLogger("test.assume_role")
ROLE = "arn:aws:iam::123456789012:role/notebooks"
SOURCE_SECRET = "source-secret-Pq7vN3xZ1kLw"


def assume_role_xml(n: int, expiration: str = "2027-01-15T09:00:00Z") -> bytes:
    return f"""<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleResult>
    <Credentials>
      <AccessKeyId>ASIAROLE{n:012d}</AccessKeyId>
      <SecretAccessKey>role-secret-{n}</SecretAccessKey>
      <SessionToken>role-token-{n}</SessionToken>
      <Expiration>{expiration}</Expiration>
    </Credentials>
    <AssumedRoleUser><Arn>arn:aws:sts::123456789012:assumed-role/notebooks/s</Arn>
      <AssumedRoleId>AROA:s</AssumedRoleId></AssumedRoleUser>
  </AssumeRoleResult>
  <ResponseMetadata><RequestId>r</RequestId></ResponseMetadata>
</AssumeRoleResponse>""".encode()


class Sts:
    """A fake STS: AssumeRole answers with serial keys; the container endpoint GETs."""

    def __init__(self) -> None:
        self.serial = 0
        self.fail: tuple[int, bytes] | None = None

    def __call__(self, sent: Sent) -> tuple[int, bytes]:
        if sent.method == "GET":
            return 200, creds_json(77)
        if self.fail is not None:
            return self.fail
        self.serial += 1
        return 200, assume_role_xml(self.serial)


def files_of(tmp_path: Path, config: str, credentials: str = "") -> dict[str, str]:
    (tmp_path / "config").write_text(config)
    (tmp_path / "credentials").write_text(credentials)
    return {
        "HOME": str(tmp_path),
        "AWS_CONFIG_FILE": str(tmp_path / "config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "credentials"),
    }


BASE = (
    f"[base]\naws_access_key_id = AKIASOURCE0000000001\naws_secret_access_key = {SOURCE_SECRET}\n"
)


def resolve(env: dict[str, str], profile: str) -> Any:
    return resolve_profile(SharedFiles.read(env), profile, default_session="jupyters3-1")


# -- resolution ----------------------------------------------------------------------


def test_a_role_with_a_static_source_profile(tmp_path: Path) -> None:
    env = files_of(
        tmp_path,
        f"[profile ops]\nrole_arn = {ROLE}\nsource_profile = base\nexternal_id = x-1\n"
        "duration_seconds = 1800\nrole_session_name = alice\nregion = eu-west-2\n",
        BASE,
    )
    source = resolve(env, "ops")
    assert source == AssumeRoleSource(
        "ops",
        RoleRequest(ROLE, "alice", "x-1", 1800),
        "eu-west-2",
        StaticKeys(
            "base", env["AWS_SHARED_CREDENTIALS_FILE"], "AKIASOURCE0000000001", SOURCE_SECRET
        ),
    )
    assert source.describe() == (
        f"role {ROLE} assumed by profile 'ops' (session alice) with the static keys of "
        f"profile 'base' in {env['AWS_SHARED_CREDENTIALS_FILE']}"
    )
    assert SOURCE_SECRET not in repr(source)


def test_chains_are_followed_to_any_kind_of_source(tmp_path: Path) -> None:
    env = files_of(
        tmp_path,
        "[profile a]\nrole_arn = arn:aws:iam::1:role/a\nsource_profile = b\n"
        "[profile b]\nrole_arn = arn:aws:iam::1:role/b\nsource_profile = c\n"
        "[profile c]\ncredential_process = /opt/broker --token s3cr3t\n"
        "[profile w]\nrole_arn = arn:aws:iam::1:role/w\nsource_profile = wi\n"
        "[profile wi]\nrole_arn = arn:aws:iam::1:role/wi\nweb_identity_token_file = /t\n"
        "[profile n]\nrole_arn = arn:aws:iam::1:role/n\ncredential_source = EcsContainer\n",
    )
    a = resolve(env, "a")
    assert isinstance(a, AssumeRoleSource) and isinstance(a.source, AssumeRoleSource)
    assert a.source.source == ProcessSource("c", "/opt/broker --token s3cr3t")
    assert "s3cr3t" not in a.describe() and "s3cr3t" not in repr(a)
    assert a.describe().endswith("with the credential_process of profile 'c' (broker)")
    w = resolve(env, "w")
    assert isinstance(w.source, WebIdentitySource)
    assert w.source.config.role_arn == "arn:aws:iam::1:role/wi"
    assert resolve(env, "n").source == NamedSource("n", "EcsContainer")


def test_a_profile_may_source_its_own_static_keys(tmp_path: Path) -> None:
    env = files_of(
        tmp_path,
        f"[profile me]\nrole_arn = {ROLE}\nsource_profile = me\n",
        "[me]\naws_access_key_id = AKIAME\naws_secret_access_key = s\n",
    )
    source = resolve(env, "me")
    assert isinstance(source, AssumeRoleSource)
    assert isinstance(source.source, StaticKeys) and source.source.key_id == "AKIAME"


@pytest.mark.parametrize(
    ("config", "profile", "sentence"),
    [
        (
            "[profile a]\nrole_arn = r\nsource_profile = b\n"
            "[profile b]\nrole_arn = r\nsource_profile = c\n"
            "[profile c]\nrole_arn = r\nsource_profile = a\n",
            "a",
            "The source_profile settings of AWS profiles 'a' -> 'b' -> 'c' -> 'a' form a loop: "
            "end the chain at a profile with keys, credential_process, SSO or web identity.",
        ),
        (
            "[profile a]\nrole_arn = r\nsource_profile = a\n",
            "a",
            "The source_profile settings of AWS profiles 'a' -> 'a' form a loop: end the chain "
            "at a profile with keys, credential_process, SSO or web identity.",
        ),
        (
            f"[profile a]\nrole_arn = {ROLE}\nsource_profile = base\n"
            "mfa_serial = arn:aws:iam::123456789012:mfa/alice\n",
            "a",
            f"AWS profile 'a' assumes role {ROLE} with an MFA code (mfa_serial), which a server "
            "cannot ask for: give the server a profile whose credential_process prints the "
            "role's credentials from a tool that asks for the code (such as "
            "aws-vault exec --json <profile>).",
        ),
        (
            "[profile a]\nrole_arn = r\nsource_profile = base\ncredential_source = Environment\n",
            "a",
            "AWS profile 'a' has both source_profile and credential_source: keep one.",
        ),
        (
            "[profile a]\nrole_arn = r\n",
            "a",
            "AWS profile 'a' has role_arn but neither source_profile nor credential_source: name "
            "where the credentials that assume the role come from.",
        ),
        (
            "[profile a]\nrole_arn = r\ncredential_source = Ec2Metadata\n",
            "a",
            "The credential_source 'Ec2Metadata' of AWS profile 'a' is not one of Environment, "
            "EcsContainer, Ec2InstanceMetadata.",
        ),
        (
            "[profile a]\nrole_arn = r\nsource_profile = empty\n[profile empty]\nregion = x\n",
            "a",
            "The source_profile 'empty' of AWS profile 'a' has no credentials: give it keys, "
            "role_arn, credential_process, SSO or web identity.",
        ),
        (
            "[profile a]\nrole_arn = r\nsource_profile = base\nduration_seconds = 1h\n",
            "a",
            "The duration_seconds of AWS profile 'a' is not a whole number.",
        ),
        (
            "[profile a]\nrole_arn = r\nsource_profile = base\nrole_session_name = a b\n",
            "a",
            "The role_session_name of AWS profile 'a' must be 2 to 64 letters, digits or any "
            "of _+=,.@-.",
        ),
    ],
)
def test_refusals_are_one_sentence(
    tmp_path: Path, config: str, profile: str, sentence: str
) -> None:
    env = files_of(tmp_path, config, BASE)
    with pytest.raises(BadConfiguration) as info:
        resolve(env, profile)
    assert info.value.message == sentence
    assert SOURCE_SECRET not in str(info.value)


def test_a_missing_source_profile_names_both_files(tmp_path: Path) -> None:
    env = files_of(tmp_path, "[profile a]\nrole_arn = r\nsource_profile = gone\n")
    with pytest.raises(BadConfiguration, match=r"The source_profile 'gone' of AWS profile 'a' is"):
        resolve(env, "a")


# -- the STS request ---------------------------------------------------------------------


def test_the_request_body_and_signing_region() -> None:
    body = assume_role_body(RoleRequest(ROLE, "s-1", "ext", 900))
    assert parse_qs(body.decode()) == {
        "Action": ["AssumeRole"],
        "Version": ["2011-06-15"],
        "RoleArn": [ROLE],
        "RoleSessionName": ["s-1"],
        "ExternalId": ["ext"],
        "DurationSeconds": ["900"],
    }
    assert b"ExternalId" not in assume_role_body(RoleRequest(ROLE, "s-1"))
    assert signing_region("https://sts.eu-west-1.amazonaws.com/", "") == "eu-west-1"
    assert signing_region("https://sts.amazonaws.com/", "") == "us-east-1"
    assert signing_region("http://127.0.0.1:5000/", "ap-south-1") == "ap-south-1"


def context(env: dict[str, str], fetcher: FakeFetcher, clock: FakeClock | None = None) -> Any:
    return ProviderContext(env, clock or FakeClock(), fetcher, LOG)


async def load(env: dict[str, str], fetcher: FakeFetcher, profile: str = "") -> Any:
    ctx = context(env, fetcher)
    chain = CredentialChain(default_providers(ctx, profile=profile, entry_points=False), ctx)
    found = await chain.load()
    return chain, found


async def test_assume_role_is_signed_with_the_source_keys(tmp_path: Path) -> None:
    env = files_of(
        tmp_path,
        f"[profile ops]\nrole_arn = {ROLE}\nsource_profile = base\nregion = eu-west-2\n",
        BASE + "aws_session_token = source-token\n",
    )
    fetcher = FakeFetcher(Sts())
    chain, found = await load(env, fetcher, "ops")
    assert found.creds.access_key_id == "ASIAROLE000000000001"
    assert found.creds.pre_auth_headers == {"x-amz-security-token": "role-token-1"}
    assert chain.chosen.description.startswith(f"role {ROLE} assumed by profile 'ops'")
    [sent] = fetcher.sent
    assert (sent.method, sent.url) == ("POST", "https://sts.eu-west-2.amazonaws.com/")
    form = {k: v[0] for k, v in parse_qs((sent.body or b"").decode()).items()}
    assert form["RoleArn"] == ROLE and form["RoleSessionName"] == f"jupyters3-{int(T0)}"
    headers = {k.lower(): v for k, v in sent.headers.items()}
    assert headers["x-amz-security-token"] == "source-token"
    assert headers["x-amz-content-sha256"] == hashlib.sha256(sent.body or b"").hexdigest()
    auth = headers["authorization"]
    match = re.fullmatch(
        r"AWS4-HMAC-SHA256 Credential=AKIASOURCE0000000001/(\d{8})/eu-west-2/sts/aws4_request, "
        r"SignedHeaders=([a-z0-9;-]+), Signature=([0-9a-f]{64})",
        auth,
    )
    assert match is not None, auth
    assert match.group(2) == (
        "content-type;host;x-amz-content-sha256;x-amz-date;x-amz-security-token"
    )
    # The signature, recomputed step by step from what was sent.
    date = match.group(1)
    signed = {k: v for k, v in headers.items() if k != "authorization"}
    creq = canonical_request("POST", "/", [], signed, headers["x-amz-content-sha256"])
    scope = credential_scope(date, "eu-west-2", "sts")
    key = signing_key(SOURCE_SECRET, date, "eu-west-2", "sts")
    assert match.group(3) == signature(key, string_to_sign(headers["x-amz-date"], scope, creq))
    assert (
        datetime.fromtimestamp(T0, timezone.utc).strftime("%Y%m%dT%H%M%SZ") == headers["x-amz-date"]
    )


async def test_the_endpoint_honours_aws_endpoint_url_sts_and_the_environment_region(
    tmp_path: Path,
) -> None:
    env = files_of(
        tmp_path, f"[profile ops]\nrole_arn = {ROLE}\nsource_profile = base\nregion = x-1\n", BASE
    )
    fetcher = FakeFetcher(Sts())
    await load({**env, "AWS_REGION": "ca-central-1"}, fetcher, "ops")
    assert fetcher.sent[-1].url == "https://sts.ca-central-1.amazonaws.com/"
    await load({**env, "AWS_ENDPOINT_URL_STS": "http://127.0.0.1:9/sts"}, fetcher, "ops")
    assert fetcher.sent[-1].url == "http://127.0.0.1:9/sts/"
    assert "/x-1/sts/aws4_request" in fetcher.sent[-1].headers["Authorization"]


async def test_a_refusal_by_sts_is_a_rejection_without_the_source_secret(tmp_path: Path) -> None:
    env = files_of(tmp_path, f"[default]\nrole_arn = {ROLE}\nsource_profile = base\n", BASE)
    sts = Sts()
    sts.fail = (403, sts_error_xml("AccessDenied", "not authorized to perform sts:AssumeRole"))
    with pytest.raises(
        CredentialsRejected, match=r"STS AssumeRole failed \(AccessDenied\)"
    ) as info:
        await load(env, FakeFetcher(sts))
    assert SOURCE_SECRET not in str(info.value)
    assert ROLE in str(info.value)


async def test_credential_source_environment_and_container(tmp_path: Path) -> None:
    env = files_of(
        tmp_path,
        f"[profile e]\nrole_arn = {ROLE}\ncredential_source = Environment\n"
        f"[profile c]\nrole_arn = {ROLE}\ncredential_source = EcsContainer\n",
    )
    fetcher = FakeFetcher(Sts())
    keys = {"AWS_ACCESS_KEY_ID": "AKIAENVSOURCE", "AWS_SECRET_ACCESS_KEY": "env-secret"}
    # A profile named in configuration skips the environment step: the keys only source the role.
    chain, found = await load({**env, **keys}, fetcher, "e")
    assert found.creds.access_key_id == "ASIAROLE000000000001"
    assert "Credential=AKIAENVSOURCE/" in fetcher.sent[-1].headers["Authorization"]
    assert chain.chosen.description.endswith(
        "with the credential_source Environment of profile 'e'"
    )

    container = {"AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://127.0.0.1:1/creds"}
    await load({**env, **container}, fetcher, "c")
    assert fetcher.sent[-2].method == "GET"
    assert "Credential=ASIA0000000000000077/" in fetcher.sent[-1].headers["Authorization"]

    with pytest.raises(BadConfiguration, match=r"credential_source = Environment, but AWS_ACC"):
        await load(env, fetcher, "e")
    with pytest.raises(BadConfiguration, match=r"credential_source = EcsContainer, but neither"):
        await load(env, fetcher, "c")


async def test_ec2_instance_metadata_needs_the_add_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib.metadata

    env = files_of(
        tmp_path, f"[default]\nrole_arn = {ROLE}\ncredential_source = Ec2InstanceMetadata\n"
    )
    monkeypatch.setattr(importlib.metadata, "entry_points", lambda group: [])
    ctx = context(env, FakeFetcher(Sts()))
    chain = CredentialChain(default_providers(ctx, entry_points=True), ctx)
    with pytest.raises(BadConfiguration) as info:
        await chain.load()
    assert info.value.message == (
        "AWS profile 'default' assumes its role with credentials from credential_source = "
        "Ec2InstanceMetadata, which needs the EC2 instance role of jupyters3-auth-ec2: "
        "pip install jupyters3-auth-ec2."
    )
    chain = CredentialChain(default_providers(ctx, entry_points=False), ctx)
    with pytest.raises(BadConfiguration, match="entry_point_providers = False turns the EC2"):
        await chain.load()


async def test_role_refreshes_reuse_the_source_until_it_expires(tmp_path: Path) -> None:
    """Two roles deep: the inner role's credentials source the outer one, cached."""
    env = files_of(
        tmp_path,
        f"[profile outer]\nrole_arn = {ROLE}\nsource_profile = inner\n"
        "[profile inner]\nrole_arn = arn:aws:iam::1:role/inner\nsource_profile = base\n",
        BASE,
    )
    clock = FakeClock()
    sts = Sts()
    fetcher = FakeFetcher(sts)

    def expiring(sent: Sent) -> tuple[int, bytes]:  # each answer lives one hour from now
        sts.serial += 1
        stamp = datetime.fromtimestamp(clock() + 3600, timezone.utc)
        return 200, assume_role_xml(sts.serial, stamp.strftime("%Y-%m-%dT%H:%M:%SZ"))

    fetcher.handler = expiring
    auth = JupyterS3DefaultAuthentication(
        environ={**env, "AWS_PROFILE": "outer"}, clock=clock, fetcher=fetcher
    )
    auth.entry_point_providers = False
    first = await auth.get_credentials()
    assert first.access_key_id == "ASIAROLE000000000002"  # inner (1), then outer (2)
    signers = [re.search(r"Credential=(\w+)/", s.headers["Authorization"]) for s in fetcher.sent]
    assert [m.group(1) for m in signers if m] == ["AKIASOURCE0000000001", "ASIAROLE000000000001"]

    clock.advance(3600 - 600 + 1)  # both in their mandatory window: both refreshed
    second = await auth.get_credentials()
    assert second.access_key_id == "ASIAROLE000000000004"
    assert len(fetcher.sent) == 4
    for sent in fetcher.sent:
        assert "Credential=" in sent.headers["Authorization"]


async def test_an_sts_message_never_carries_the_source_token(tmp_path: Path) -> None:
    env = files_of(
        tmp_path,
        f"[default]\nrole_arn = {ROLE}\nsource_profile = base\n",
        BASE + "aws_session_token = source-token-Mn5bV8cX\n",
    )
    sts = Sts()
    sts.fail = (400, sts_error_xml("InvalidParameterValue", "bad token source-token-Mn5bV8cX"))
    with pytest.raises(BadConfiguration) as info:
        await load(env, FakeFetcher(sts))
    assert info.value.message == "STS AssumeRole failed (InvalidParameterValue): bad token ***"
