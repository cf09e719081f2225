"""End to end with a real JupyterHub: alice and bob, one shared role, kept apart.

JupyterHub (DummyAuthenticator, SimpleLocalProcessSpawner, configurable-http-proxy)
runs the credentials service; each user's single-user server runs JupyterS3 with
``JupyterS3HubAuthentication``; moto sits behind the fault proxy in its
policy-enforcing mode, so every S3 request signed with a key the fake STS minted
is judged against that session's policy as AWS would. Credentials live
:data:`LIFETIME` seconds, so the servers refresh them every few seconds.

It is one test, :func:`test_alice_and_bob_on_one_hub`, whose steps (the ``step_*``
functions, in order) share one world: xdist's ``loadgroup`` cannot keep several
tests on one worker under pytest 9 (its ``xdist_group`` node ids are ignored), and
a second hub per worker would double the cost. A failing step names itself in the
traceback.
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
import time
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from hubworld import (
    ADMIN_KEY,
    ADMIN_SECRET,
    BUCKET,
    HUB_SECRET,
    LAKE,
    REGION,
    SERVICE,
    TEAM,
    HubWorld,
)
from jupyter_client import BlockingKernelClient

from jupyters3.credentials import AwsCreds
from jupyters3.errors import AccessDenied
from jupyters3.s3.client import S3Client
from jupyters3.s3.config import ClientConfig

pytestmark = pytest.mark.timeout(900)

#: Seconds each minted key lives; the servers refresh 10 s before expiry (waiting from
#: 5 s before), the service hands out a user's cached key while it lasts 12 s more.
LIFETIME = 20.0

#: Run once in the kernel: boto3 with no configuration at all, and short helpers.
KERNEL_HELPERS = """
import json, os
import boto3
from botocore.exceptions import ClientError
s3 = boto3.client("s3")
def attempt(call):
    try:
        call()
        return "OK"
    except ClientError as exc:
        return exc.response["Error"]["Code"]
def put(bucket, key, body=b"x"):
    return attempt(lambda: s3.put_object(Bucket=bucket, Key=key, Body=body))
def read(bucket, key):
    return s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode()
def get(bucket, key):
    return attempt(lambda: s3.get_object(Bucket=bucket, Key=key))
def keys(bucket, prefix):
    return sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=prefix)["Contents"])
def list_(bucket, **prefix):
    return attempt(lambda: s3.list_objects_v2(Bucket=bucket, **prefix))
def copy(bucket, key, source):
    return attempt(lambda: s3.copy_object(
        Bucket=bucket, Key=key, CopySource={"Bucket": bucket, "Key": source}))
def delete(bucket, key):
    return attempt(lambda: s3.delete_object(Bucket=bucket, Key=key))
def delete_all(bucket, *keys):
    objects = {"Objects": [{"Key": key} for key in keys]}
    return attempt(lambda: s3.delete_objects(Bucket=bucket, Delete=objects))
"""


@pytest.fixture
def world(tmp_path_factory: pytest.TempPathFactory):
    started = time.monotonic()
    hub = HubWorld(
        tmp_path_factory.mktemp("hub"), lifetime=LIFETIME, reuse=12, advisory=10, mandatory=5
    )
    try:
        hub.start()
        hub.spawn("alice", "bob")
        yield hub
    finally:
        hub.close()
        left = hub.processes()
        total = time.monotonic() - started
        print(f"\nJupyterHub e2e: {total:.0f} s in all; {hub.timings}")
        assert not left, f"processes left running: {left}"


def admin_client(world: HubWorld):
    """boto3 as the administrator (the enforcer lets its key through): sets up and inspects."""
    return boto3.client(
        "s3",
        endpoint_url=world.proxy.endpoint_url,
        region_name=REGION,
        aws_access_key_id=ADMIN_KEY,
        aws_secret_access_key=ADMIN_SECRET,
        config=Config(s3={"addressing_style": "path"}),
    )


class Kernel:
    """A kernel of a user's server, driven over its connection file (no hub involved)."""

    def __init__(self, world: HubWorld, user: str) -> None:
        response = world.contents(user).request("POST", "api/kernels", json={"name": "python3"})
        kernel_id = response.expect(201).json["id"]
        self.connection = Path(world.dir) / "runtime" / user / f"kernel-{kernel_id}.json"
        deadline = time.monotonic() + 60
        while not self.connection.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        self.client = BlockingKernelClient(connection_file=str(self.connection))
        self.client.load_connection_file()
        self.client.start_channels()
        self.client.wait_for_ready(timeout=60)
        self.run(KERNEL_HELPERS)

    def run(self, code: str, timeout: float = 60) -> str:
        """Run ``code``; its stdout (an error in the kernel fails the test)."""
        out: list[str] = []
        errors: list[str] = []

        def hook(msg: dict) -> None:
            if msg["msg_type"] == "stream":
                out.append(msg["content"]["text"])
            elif msg["msg_type"] == "error":
                errors.append("\n".join(msg["content"]["traceback"]))

        reply = self.client.execute_interactive(code, timeout=timeout, output_hook=hook)
        assert reply["content"]["status"] == "ok" and not errors, errors
        return "".join(out)

    def json(self, expression: str) -> object:
        return json.loads(self.run(f"print(json.dumps({expression}))"))

    def close(self) -> None:
        self.client.stop_channels()


def scoped_s3_client(creds: dict, world: HubWorld, bucket: str) -> S3Client:
    """jupyters3's own S3 client (what a server signs with) on ``creds``."""
    aws = AwsCreds(
        creds["AccessKeyId"], creds["SecretAccessKey"], {"x-amz-security-token": creds["Token"]}
    )

    async def credentials() -> AwsCreds:
        return aws

    config = ClientConfig(bucket=bucket, region=REGION, endpoint_url=world.proxy.endpoint_url)
    return S3Client(config, credentials=credentials)


def server_refusals(world: HubWorld, user: str) -> list:
    """Requests of the user's keys the enforcer refused, but the start-up confinement probes."""
    keys = {s.access_key_id for s in world.sts.sessions() if s.session_name == f"jupyters3-{user}"}
    return [
        j
        for j in world.enforcer.refused()
        if j.access_key_id in keys
        and not ("list-type" in j.query and j.query.get("prefix") in ("", "users/"))
        and j.refused.action != "s3:GetBucketVersioning"
    ]


# -- start-up ----------------------------------------------------------------------------


def step_each_server_starts_confined_and_warns_about_broad_identities(world: HubWorld):
    log = world.log_text()
    for user in ("alice", "bob"):
        assert (
            f"LIST of s3://{BUCKET}/users/ and s3://{BUCKET}/ refused (AccessDenied): "
            f"confined to users/{user}/" in log
        )
    assert (
        log.count("AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY are in this server's environment") == 2
    )
    assert log.count("The instance metadata service at http://127.0.0.1:") == 2
    assert log.count("kernels get this server's scoped credentials from http://127.0.0.1:") == 2
    # The probes were refused by the enforcer as S3 would: the role allows them, the session not.
    probes = [j for j in world.enforcer.refused() if "list-type" in j.query]
    assert {j.query.get("prefix") for j in probes} == {"", "users/"}
    # GetBucketVersioning (versioned_checkpoints 'auto') is not in the default policy: refused,
    # and the servers go on without versioned checkpoints. Nothing else was refused.
    others = {j.refused.action for j in world.enforcer.refused() if j not in probes}
    assert others <= {"s3:GetBucketVersioning"}
    assert {j.decision for j in probes} == {"ImplicitDeny"}


# -- contents ------------------------------------------------------------------------------


def step_contents_work_on_each_prefix_and_the_shared_mounts(world: HubWorld, admin):
    admin.put_object(Bucket=LAKE, Key="curated/data.csv", Body=b"a,b\n1,2\n")
    alice, bob = world.contents("alice"), world.contents("bob")
    alice.save_text("notes.txt", "alice's notes").expect(201)
    bob.save_text("notes.txt", "bob's notes").expect(201)
    alice.save_text("team/plan.txt", "shared plan").expect(201)
    assert bob.get("team/plan.txt").expect(200).json["content"] == "shared plan"
    assert alice.get("lake/data.csv").expect(200).json["content"] == "a,b\n1,2\n"
    names = {e["name"] for e in alice.get("").expect(200).json["content"]}
    assert names == {"notes.txt", "team", "lake"}
    assert alice.get("notes.txt").expect(200).json["content"] == "alice's notes"
    # A read-only mount: jupyters3 refuses before any request (403 with a sentence).
    assert alice.save_text("lake/new.csv", "x").status == 403
    keys = {o["Key"] for o in admin.list_objects_v2(Bucket=BUCKET)["Contents"]}
    assert {"users/alice/notes.txt", "users/bob/notes.txt"} <= keys
    assert server_refusals(world, "alice") == [] and server_refusals(world, "bob") == []


def step_alices_kernel_uses_boto3_with_no_configuration(
    world: HubWorld, alice_kernel: Kernel, admin
):
    names = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_CONTAINER_CREDENTIALS_FULL_URI")
    env = alice_kernel.json(f"{{k: os.environ.get(k) for k in {names!r}}}")
    assert env["AWS_ACCESS_KEY_ID"] is None and env["AWS_SECRET_ACCESS_KEY"] is None
    assert env["AWS_CONTAINER_CREDENTIALS_FULL_URI"].startswith("http://127.0.0.1:")
    result = alice_kernel.json(
        f"""{{
        "put": put("{BUCKET}", "users/alice/from-kernel.txt", b"hello"),
        "get": read("{BUCKET}", "users/alice/notes.txt"),
        "list": keys("{BUCKET}", "users/alice/"),
        "team": put("{TEAM}", "shared/from-kernel.txt", b"t"),
        "lake": read("{LAKE}", "curated/data.csv"),
        "lake write": put("{LAKE}", "curated/x.csv"),
        "key": s3._request_signer._credentials.get_frozen_credentials().access_key[:4],
        }}"""
    )
    assert result["put"] == "OK" and result["team"] == "OK"
    assert result["get"] == "alice's notes"
    assert "users/alice/from-kernel.txt" in result["list"]
    assert result["lake"] == "a,b\n1,2\n"
    assert result["lake write"] == "AccessDenied"  # a read-only mount refuses writes at S3 too
    assert result["key"] == "ASIA"  # minted by STS for alice, not the administrator's key
    assert world.contents("alice").get("from-kernel.txt").expect(200).json["content"] == "hello"
    assert world.contents("bob").get("team/from-kernel.txt").expect(200).json["content"] == "t"


# -- another user's prefix ---------------------------------------------------------------------

BOB = "users/bob/notes.txt"


def step_alice_server_and_kernel_are_refused_on_bobs_prefix(
    world: HubWorld, alice_kernel: Kernel, admin
):
    before = {
        o["Key"]: o["ETag"]
        for o in admin.list_objects_v2(Bucket=BUCKET, Prefix="users/bob/")["Contents"]
    }
    world.enforcer.clear()

    # The credentials alice's server holds (what the service gives her server's token),
    # used by jupyters3's own client: every operation on bob's prefix is refused.
    status, creds = world.service_credentials(world.tokens["alice"])
    assert status == 200
    session = world.sts.session(creds["AccessKeyId"])
    assert session is not None and session.session_name == "jupyters3-alice"

    async def server_side() -> dict[str, str]:
        client = scoped_s3_client(creds, world, BUCKET)
        outcomes = {}
        calls = {
            "list": lambda: client.list_all("users/bob/"),
            "get": lambda: client.get_object(BOB),
            "put": lambda: client.put_object(BOB, b"overwritten"),
            "copy-from": lambda: client.copy_object(BOB, "users/alice/stolen.txt"),
            "delete": lambda: client.delete_object(BOB),
            "batch delete": lambda: client.delete_objects([BOB, "users/alice/notes.txt"]),
        }
        try:
            for name, call in calls.items():
                try:
                    await call()
                    outcomes[name] = "OK"
                except AccessDenied as exc:
                    outcomes[name] = exc.code
        finally:
            client.close()
        return outcomes

    refused = {"list", "get", "put", "copy-from", "delete", "batch delete"}
    assert asyncio.run(server_side()) == dict.fromkeys(refused, "AccessDenied")

    kernel = alice_kernel.json(
        f"""{{
        "list": list_("{BUCKET}", Prefix="users/bob/"),
        "get": get("{BUCKET}", "{BOB}"),
        "put": put("{BUCKET}", "{BOB}", b"overwritten"),
        "copy-from": copy("{BUCKET}", "users/alice/stolen.txt", "{BOB}"),
        "delete": delete("{BUCKET}", "{BOB}"),
        "batch delete": delete_all("{BUCKET}", "{BOB}"),
        "list everything": list_("{BUCKET}"),
        }}"""
    )
    assert kernel == dict.fromkeys([*refused, "list everything"], "AccessDenied")

    after = {
        o["Key"]: o["ETag"]
        for o in admin.list_objects_v2(Bucket=BUCKET, Prefix="users/bob/")["Contents"]
    }
    assert after == before
    assert admin.get_object(Bucket=BUCKET, Key=BOB)["Body"].read() == b"bob's notes"
    assert "users/alice/stolen.txt" not in {
        o["Key"] for o in admin.list_objects_v2(Bucket=BUCKET, Prefix="users/alice/")["Contents"]
    }
    actions = {j.refused.action for j in world.enforcer.refused()}
    assert actions == {"s3:ListBucket", "s3:GetObject", "s3:PutObject", "s3:DeleteObject"}


def step_jupyters3_check_prints_the_confinement_lines(world: HubWorld) -> None:
    """`jupyters3 check` with alice's single-user config and environment says what her
    server logs at start: confined, and the broader identities in reach of kernels."""
    env = {k: v for k, v in world.hub_env.items() if not k.startswith(("AWS_", "JUPYTERS3_"))}
    env.update(
        JUPYTERHUB_USER="alice",
        JUPYTERHUB_API_TOKEN=world.tokens["alice"],
        JUPYTERS3_BUCKET=BUCKET,
        JUPYTERS3_PREFIX="users/alice/",
        JUPYTERS3_MOUNTS=json.dumps(
            {"team": f"s3://{TEAM}/shared/", "lake": f"s3://{LAKE}/curated/:ro"}
        ),
        JUPYTERS3_HUB_CREDENTIALS_URL=f"http://127.0.0.1:{world.service_port}/services/{SERVICE}/credentials",
        AWS_ENDPOINT_URL_S3=world.proxy.endpoint_url,
        AWS_REGION=REGION,
        AWS_ACCESS_KEY_ID=ADMIN_KEY,  # a broad identity in the environment: a warning
        AWS_SECRET_ACCESS_KEY=ADMIN_SECRET,
        AWS_SHARED_CREDENTIALS_FILE=str(world.dir / "no-credentials"),
        AWS_CONFIG_FILE=str(world.dir / "no-config"),
        JUPYTER_CONFIG_DIR=str(world.dir / "check-config"),
    )
    checked = subprocess.run(
        [
            sys.executable,
            "-m",
            "jupyters3",
            "check",
            "--config",
            str(world.dir / "singleuser_config.py"),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    out = checked.stdout
    assert checked.returncode == 0, out + checked.stderr
    confined = (
        f"LIST of s3://{BUCKET}/users/ and s3://{BUCKET}/ refused (AccessDenied): "
        "confined to users/alice/"
    )
    assert re.search(r"^ok\s+confinement\s+" + re.escape(confined), out, re.M), out
    assert re.search(
        r"^WARN\s+kernels\s+.*AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY are in", out, re.M
    ), out
    assert "The instance metadata service at http://127.0.0.1:" in out
    assert ADMIN_SECRET not in out and ADMIN_SECRET not in checked.stderr


def step_the_service_refuses_tokens_that_are_not_a_users_with_its_scope(world: HubWorld):
    assert world.service_credentials("")[0] == 401
    assert world.service_credentials("not-a-token")[0] == 401
    status, model = world.api(
        "POST",
        "/users/alice/tokens",
        {"note": "no service scope", "scopes": ["access:servers!user=alice"]},
    )
    assert status == 201
    status, answer = world.service_credentials(model["token"])
    assert status == 403 and f"access:services!service={SERVICE}" in answer["message"]
    assert world.service_credentials(world.admin_token)[0] == 403  # a service's token


# -- refresh and restarts ------------------------------------------------------------------------


def exercise(world: HubWorld, kernel: Kernel, seconds: float, *, until=None) -> dict:
    """Use alice's server and kernel once a second for ``seconds`` (or until ``until()``
    holds); every request must succeed."""
    alice = world.contents("alice")
    failures: list[str] = []
    rounds = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and rounds < int(seconds) + 5:
        if until is not None and until():
            break
        rounds += 1
        saved = alice.save_text("tick.txt", str(rounds))
        if saved.status != 200 and saved.status != 201:
            failures.append(f"save {rounds}: {saved.status} {saved.body[:200]!r}")
        listed = alice.get("")
        if listed.status != 200:
            failures.append(f"list {rounds}: {listed.status}")
        result = kernel.json(
            f"""[put("{BUCKET}", "users/alice/kernel-tick.txt", b"{rounds}"),
                list_("{BUCKET}", Prefix="users/alice/")]"""
        )
        if result != ["OK", "OK"]:
            failures.append(f"kernel {rounds}: {result}")
        time.sleep(1.0)
    return {"rounds": rounds, "failures": failures}


def step_credentials_refresh_across_three_expiries_without_a_failed_request(
    world: HubWorld, alice_kernel: Kernel
):
    first = {s.access_key_id for s in world.sts.sessions() if s.session_name == "jupyters3-alice"}
    world.proxy.clear()
    started = time.time()
    outcome = exercise(world, alice_kernel, 3 * LIFETIME + 3)
    assert outcome["failures"] == []
    minted = [
        s
        for s in world.sts.sessions()
        if s.session_name == "jupyters3-alice" and s.issued >= started
    ]
    assert len(minted) >= 3, [s.issued - started for s in minted]
    expired = [
        s
        for s in world.sts.sessions()
        if s.session_name == "jupyters3-alice" and s.expiration < time.time()
    ]
    assert len(expired) >= 3
    # S3 saw no refused or expired request at all, and alice's requests used several keys.
    records = world.proxy.records()
    assert [r for r in records if r.fault is not None] == []
    used = {r.access_key_id for r in records} - {ADMIN_KEY}
    assert len(used - first) >= 3


def step_a_hub_restart_does_not_break_a_running_server(world: HubWorld, alice_kernel: Kernel):
    """The hub (and its service) stop and start again while alice's server runs on
    credentials it holds; it goes on serving, then refreshes from the new service."""
    world.sts.lifetime = 60.0  # the restart must fit in one credential's life
    switched = time.time()
    deadline = time.monotonic() + 3 * LIFETIME
    alice = world.contents("alice")
    while time.monotonic() < deadline and not [
        s
        for s in world.sts.sessions()
        if s.session_name == "jupyters3-alice" and s.issued >= switched
    ]:
        # A server refreshes when it uses its credentials: keep it busy until it has
        # refreshed to a long-lived key (within ~LIFETIME).
        alice.get("").expect(200)
        time.sleep(0.5)
    assert time.monotonic() < deadline, "alice's server did not refresh"
    world.proxy.clear()
    stopped = time.monotonic()
    before_restart = time.time()
    world.stop_hub()
    assert world.hub is None
    during = exercise(world, alice_kernel, 5)
    world.start_hub()
    world.timings["hub restart"] = time.monotonic() - stopped
    world.sts.lifetime = LIFETIME

    def minted() -> list:
        return [
            s
            for s in world.sts.sessions()
            if s.session_name == "jupyters3-alice" and s.issued > before_restart
        ]

    # On until the key held through the restart is refreshed, from the new service.
    after = exercise(world, alice_kernel, 90, until=minted)
    assert during["failures"] == [] and after["failures"] == []
    assert [r for r in world.proxy.records() if r.fault is not None] == []
    assert minted(), "alice's server never refreshed from the restarted service"
    status, model = world.api("GET", "/users/alice")
    assert status == 200 and model["servers"][""]["ready"]


# -- secrets ---------------------------------------------------------------------------------


def step_no_log_holds_a_secret(world: HubWorld):
    log = world.log_text()
    secrets = {"the hub's secret key": HUB_SECRET, "the administrator's secret key": ADMIN_SECRET}
    for session in world.sts.sessions():
        secrets[f"secret of {session.access_key_id}"] = session.secret_access_key
        secrets[f"token of {session.access_key_id}"] = session.session_token
    for label, token in world.tokens.items():
        secrets[f"{label}'s hub token"] = token
    found = [label for label, value in secrets.items() if value in log]
    assert found == [], found
    assert len(world.sts.sessions()) > 10


def test_alice_and_bob_on_one_hub(world: HubWorld):
    """Every check of the issue, in order, on one JupyterHub."""
    admin = admin_client(world)
    step_each_server_starts_confined_and_warns_about_broad_identities(world)
    step_contents_work_on_each_prefix_and_the_shared_mounts(world, admin)
    kernel = Kernel(world, "alice")
    try:
        step_alices_kernel_uses_boto3_with_no_configuration(world, kernel, admin)
        step_alice_server_and_kernel_are_refused_on_bobs_prefix(world, kernel, admin)
        step_the_service_refuses_tokens_that_are_not_a_users_with_its_scope(world)
        step_jupyters3_check_prints_the_confinement_lines(world)
        started = time.monotonic()
        step_credentials_refresh_across_three_expiries_without_a_failed_request(world, kernel)
        world.timings["refresh steps"] = time.monotonic() - started
        step_a_hub_restart_does_not_break_a_running_server(world, kernel)
    finally:
        kernel.close()
    step_no_log_holds_a_secret(world)
