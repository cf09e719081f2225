"""Every file in ``examples/`` loads, configures what it says, and serves contents.

Each example is loaded as Jupyter loads a ``--config`` file (traitlets'
``PyFileConfigLoader``) with the environment variables its header documents;
JupyterS3 is built from the result (``check_on_start=False``) and its traits,
its authentication class and that class's traits are checked against the file.

Then each example saves and reads a file through the manager, in process, on
the moto S3 server, with its credentials from where the example says they
come from: moto's STS (IRSA, assume-role profiles) and instance metadata
service (EC2), a container credentials endpoint on 127.0.0.1 (ECS, EKS Pod
Identity; it also plays the IAM Identity Center portal), a shared
credentials file, a command. The fault proxy in front of moto shows which
access key signed each request. Two examples are also started as the headers
say, ``jupyter lab --config examples/<file>``.

A new example must be added to :data:`EXAMPLES`: a test fails until it is.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
import sys
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from credential_fakes import creds_json
from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets
from tornado.web import Application, HTTPError, RequestHandler
from traitlets import TraitError
from traitlets.config import Config, PyFileConfigLoader
from traitlets.utils.importstring import import_item

from jupyters3 import (
    JupyterS3,
    JupyterS3Authentication,
    JupyterS3DefaultAuthentication,
    JupyterS3ECSRoleAuthentication,
    JupyterS3SecretAccessKeyAuthentication,
)
from jupyters3.auth import JupyterS3RefreshingAuthentication
from jupyters3.hub import JupyterS3HubAuthentication
from jupyters3_auth_ec2 import JupyterS3EC2RoleAuthentication
from jupyters3_testing import (
    ContentsClient,
    FaultProxy,
    JupyterServer,
    JupyterServerError,
    RawS3,
)
from jupyters3_testing.leaks import redact

EXAMPLES_DIR = Path(__file__).resolve().parents[3] / "examples"

BUCKET = "example-notebooks"
ROLE_ARN = "arn:aws:iam::123456789012:role/notebooks"
#: moto's instance metadata service serves this role (and any key it hands out works on its S3).
MOTO_ROLE = "default-role"


# ============================================================================
# What each example must configure
# ============================================================================


@dataclass
class Live:
    """What a live round trip runs against (built per test)."""

    moto: str  # the moto server: S3, STS and the instance metadata service
    s3: str  # the S3 endpoint to configure: the fault proxy in front of moto, which logs keys
    bucket: str
    tmp: Path
    agent: CredentialsAgent


@dataclass
class Setup:
    """A live round trip's environment, config overrides and expected signing key."""

    env: Mapping[str, str | None]
    key_id: str  # the access key id every S3 request must be signed with (a prefix of it)
    config: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    check: Callable[[], None] | None = None  # more assertions after the round trip


@dataclass(frozen=True)
class Example:
    """One example file: the environment it reads, and what it must configure."""

    env: Mapping[str, str | None]
    manager: Mapping[str, Any]  # JupyterS3 traits
    auth: str  # the authentication class's name
    auth_base: type  # ... and a class it is (the class itself when names match)
    auth_traits: Mapping[str, Any]
    live: Callable[[Live], Setup]


def aws(live: Live, **env: str | None) -> dict[str, str | None]:
    """The environment every AWS example needs on moto, plus ``env``."""
    return {"JUPYTERS3_BUCKET": live.bucket, "AWS_ENDPOINT_URL_S3": live.s3, **env}


def live_aws_keys(live: Live) -> Setup:
    env = aws(
        live,
        JUPYTERS3_AWS_ACCESS_KEY_ID="AKIAEXAMPLECONFIG001",
        JUPYTERS3_AWS_SECRET_ACCESS_KEY="config-secret",
        # The machine's own keys are ignored: the file names its own.
        AWS_ACCESS_KEY_ID="AKIAEXAMPLEAMBIENT01",
        AWS_SECRET_ACCESS_KEY="ambient-secret",
    )
    return Setup(env, "AKIAEXAMPLECONFIG001")


def live_environment(live: Live) -> Setup:
    env = aws(
        live,
        AWS_ACCESS_KEY_ID="ASIAEXAMPLEENVIRON01",
        AWS_SECRET_ACCESS_KEY="env-secret",
        AWS_SESSION_TOKEN="env-token",
    )
    return Setup(env, "ASIAEXAMPLEENVIRON01")


def live_aws_profile(live: Live) -> Setup:
    credentials = live.tmp / "credentials"
    credentials.write_text(
        "[default]\naws_access_key_id = AKIAEXAMPLEDEFAULT01\naws_secret_access_key = d\n"
        "[notebooks]\naws_access_key_id = AKIAEXAMPLEPROFILE01\naws_secret_access_key = p\n"
    )
    env = aws(
        live,
        AWS_SHARED_CREDENTIALS_FILE=str(credentials),
        JUPYTERS3_AWS_PROFILE="notebooks",
        # A profile named in configuration wins over the environment's keys.
        AWS_ACCESS_KEY_ID="AKIAEXAMPLEAMBIENT01",
        AWS_SECRET_ACCESS_KEY="ambient-secret",
    )
    return Setup(env, "AKIAEXAMPLEPROFILE01")


def live_ecs(live: Live) -> Setup:
    env = aws(live, AWS_CONTAINER_CREDENTIALS_RELATIVE_URI="/v2/credentials/task-1")

    def check() -> None:
        assert live.agent.requests == [("/v2/credentials/task-1", None)]

    # The ECS agent's address (169.254.170.2) is the one thing a test must move.
    config = {"JupyterS3ECSRoleAuthentication": {"container_host": live.agent.url}}
    return Setup(env, "ASIA0000000000000001", config, check)


def live_eks_irsa(live: Live) -> Setup:
    token = live.tmp / "web-identity-token"
    token.write_text("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2EifQ.c2ln")
    env = aws(
        live,
        AWS_ROLE_ARN=ROLE_ARN,
        AWS_WEB_IDENTITY_TOKEN_FILE=str(token),
        AWS_ENDPOINT_URL_STS=live.moto,
    )
    return Setup(env, "ASIA")


def live_eks_pod_identity(live: Live) -> Setup:
    token = live.tmp / "eks-pod-identity-token"
    token.write_text("pod-identity-jwt\n")
    live.agent.token = "pod-identity-jwt"
    env = aws(
        live,
        AWS_CONTAINER_CREDENTIALS_FULL_URI=live.agent.url + "/v1/credentials",
        AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=str(token),
    )

    def check() -> None:
        assert live.agent.requests == [("/v1/credentials", "pod-identity-jwt")]

    return Setup(env, "ASIA0000000000000001", check=check)


def live_ec2(live: Live) -> Setup:
    env = aws(
        live,
        AWS_EC2_METADATA_DISABLED=None,
        AWS_EC2_METADATA_SERVICE_ENDPOINT=live.moto,
        JUPYTERS3_EC2_ROLE_NAME="",  # discovered
    )
    return Setup(env, "test-key")


def live_custom_auth(live: Live) -> Setup:
    env = aws(
        live, AWS_EC2_METADATA_SERVICE_ENDPOINT=live.moto + "/", JUPYTERS3_EC2_ROLE_NAME=MOTO_ROLE
    )
    return Setup(env, "test-key")


PROCESS_SCRIPT = """\
import datetime, json
expires = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1)
print(json.dumps({
    "Version": 1,
    "AccessKeyId": "ASIAEXAMPLEPROCESS01",
    "SecretAccessKey": "process-secret",
    "SessionToken": "process-token",
    "Expiration": expires.strftime("%Y-%m-%dT%H:%M:%SZ"),
}))
"""


def live_credential_process(live: Live) -> Setup:
    script = live.tmp / "print_credentials.py"
    script.write_text(PROCESS_SCRIPT)
    command = f"{shlex.quote(sys.executable)} {shlex.quote(str(script))}"
    return Setup(aws(live, JUPYTERS3_CREDENTIAL_PROCESS=command), "ASIAEXAMPLEPROCESS01")


def live_aws_credential_process(live: Live) -> Setup:
    script = live.tmp / "print_credentials.py"
    script.write_text(PROCESS_SCRIPT)
    config = live.tmp / "config"
    command = f"{shlex.quote(sys.executable)} {shlex.quote(str(script))}"
    config.write_text(f"[profile notebooks]\ncredential_process = {command}\n")
    env = aws(
        live,
        AWS_CONFIG_FILE=str(config),
        JUPYTERS3_AWS_PROFILE="notebooks",
        # A profile named in configuration wins over the environment's keys.
        AWS_ACCESS_KEY_ID="AKIAEXAMPLEAMBIENT01",
        AWS_SECRET_ACCESS_KEY="ambient-secret",
    )
    return Setup(env, "ASIAEXAMPLEPROCESS01")


def live_aws_assume_role(live: Live) -> Setup:
    credentials, config = live.tmp / "credentials", live.tmp / "config"
    credentials.write_text(
        "[default]\naws_access_key_id = AKIAEXAMPLESOURCE001\naws_secret_access_key = s\n"
    )
    config.write_text(
        f"[profile notebooks]\nrole_arn = {ROLE_ARN}\nsource_profile = default\n"
        "role_session_name = example\n"
    )
    env = aws(
        live,
        AWS_SHARED_CREDENTIALS_FILE=str(credentials),
        AWS_CONFIG_FILE=str(config),
        JUPYTERS3_AWS_PROFILE="notebooks",
        AWS_ENDPOINT_URL_STS=live.moto,  # moto's STS answers AssumeRole
    )
    return Setup(env, "ASIA")  # the role's key from moto's STS, not AKIAEXAMPLESOURCE001


def live_aws_sso(live: Live) -> Setup:
    config = live.tmp / "config"
    config.write_text(
        "[profile notebooks]\nsso_session = corp\nsso_account_id = 123456789012\n"
        "sso_role_name = Notebooks\n[sso-session corp]\n"
        "sso_start_url = https://corp.awsapps.com/start\nsso_region = eu-west-1\n"
    )
    cache = live.tmp / ".aws" / "sso" / "cache"
    cache.mkdir(parents=True)
    expires = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3600))
    login = {"accessToken": "example-sso-token", "expiresAt": expires}
    (cache / f"{hashlib.sha1(b'corp').hexdigest()}.json").write_text(json.dumps(login))
    env = aws(
        live,
        HOME=str(live.tmp),
        AWS_CONFIG_FILE=str(config),
        JUPYTERS3_AWS_PROFILE="notebooks",
        AWS_ENDPOINT_URL_SSO=live.agent.url,  # the agent answers GetRoleCredentials too
    )

    def check() -> None:
        assert live.agent.requests == [("/federation/credentials", "example-sso-token")]

    return Setup(env, "ASIA0000000000000001", check=check)


def live_minio(live: Live) -> Setup:
    env = {
        "JUPYTERS3_BUCKET": live.bucket,
        "MINIO_ENDPOINT": live.s3,
        "MINIO_ACCESS_KEY": "minio-example-user",
        "MINIO_SECRET_KEY": "minio-example-password",
    }
    return Setup(env, "minio-example-user")


def live_jupyterhub(live: Live) -> Setup:
    env = aws(
        live,
        JUPYTERHUB_USER="alice",
        AWS_ACCESS_KEY_ID="AKIAEXAMPLEHUB000001",
        AWS_SECRET_ACCESS_KEY="hub-secret",
    )
    return Setup(env, "AKIAEXAMPLEHUB000001")


def live_jupyterhub_scoped(live: Live) -> Setup:
    """The agent stands in for the hub's credentials service (same JSON, token checked)."""
    live.agent.token = "token hub-api-token"
    path = "/services/jupyters3-credentials/credentials"
    env = aws(
        live,
        JUPYTERHUB_USER="alice",
        JUPYTERS3_PREFIX="users/alice/",
        JUPYTERS3_MOUNTS="{}",
        JUPYTERS3_HUB_CREDENTIALS_URL=live.agent.url + path,
        JUPYTERHUB_API_TOKEN="hub-api-token",
        # A broad identity in the environment is never what the server signs with.
        AWS_ACCESS_KEY_ID="AKIAEXAMPLEBROAD0001",
        AWS_SECRET_ACCESS_KEY="broad-secret",
    )

    def check() -> None:
        assert live.agent.requests == [(path, "token hub-api-token")]

    return Setup(env, "ASIA0000000000000001", check=check)


def live_mounts(live: Live) -> Setup:
    env = aws(
        live,
        JUPYTERS3_PREFIX="users/alice/",
        # Other prefixes of the same bucket (test_the_mounts_example_... uses other buckets).
        JUPYTERS3_TEAM_URL=f"s3://{live.bucket}/team/",
        JUPYTERS3_LAKE_URL=f"s3://{live.bucket}/lake/",
        AWS_ACCESS_KEY_ID="AKIAEXAMPLEMOUNTS001",
        AWS_SECRET_ACCESS_KEY="mounts-secret",
    )
    return Setup(env, "AKIAEXAMPLEMOUNTS001")


EXAMPLES: dict[str, Example] = {
    "jupyter_server_config_aws_keys.py": Example(
        env={
            "JUPYTERS3_BUCKET": BUCKET,
            "JUPYTERS3_PREFIX": "team/",
            "JUPYTERS3_AWS_ACCESS_KEY_ID": "AKIAEXAMPLECONFIG001",
            "JUPYTERS3_AWS_SECRET_ACCESS_KEY": "config-secret",
            "JUPYTERS3_AWS_SESSION_TOKEN": "config-token",
        },
        manager={"aws_s3_bucket": BUCKET, "prefix": "team/", "endpoint_url": ""},
        auth="ServerKeys",  # the keys are read when needed, never configuration
        auth_base=JupyterS3SecretAccessKeyAuthentication,
        auth_traits={
            "aws_access_key_id": "AKIAEXAMPLECONFIG001",
            "aws_secret_access_key": "config-secret",
            "aws_session_token": "config-token",
        },
        live=live_aws_keys,
    ),
    "jupyter_server_config_environment.py": Example(
        env={"JUPYTERS3_BUCKET": BUCKET, "AWS_REGION": "eu-west-1"},
        manager={"aws_s3_bucket": BUCKET, "prefix": "", "aws_region": "eu-west-1"},
        auth="JupyterS3DefaultAuthentication",
        auth_base=JupyterS3DefaultAuthentication,
        auth_traits={"profile": "", "entry_point_providers": True},
        live=live_environment,
    ),
    "jupyter_server_config_aws_profile.py": Example(
        env={"JUPYTERS3_BUCKET": BUCKET, "JUPYTERS3_AWS_PROFILE": "notebooks"},
        manager={"aws_s3_bucket": BUCKET},
        auth="JupyterS3DefaultAuthentication",
        auth_base=JupyterS3DefaultAuthentication,
        auth_traits={"profile": "notebooks"},
        live=live_aws_profile,
    ),
    "jupyter_server_config_ecs.py": Example(
        env={
            "JUPYTERS3_BUCKET": BUCKET,
            "AWS_REGION": "eu-west-1",
            "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "/v2/credentials/task-1",
        },
        manager={"aws_s3_bucket": BUCKET, "aws_region": "eu-west-1"},
        auth="JupyterS3ECSRoleAuthentication",
        auth_base=JupyterS3ECSRoleAuthentication,
        auth_traits={
            "timeout": 2.0,
            "attempts": 3,
            "advisory_refresh_seconds": 900.0,
            "mandatory_refresh_seconds": 600.0,
            "container_host": "http://169.254.170.2",
        },
        live=live_ecs,
    ),
    "jupyter_server_config_eks_irsa.py": Example(
        env={
            "JUPYTERS3_BUCKET": BUCKET,
            "AWS_REGION": "eu-west-1",
            "AWS_ROLE_ARN": ROLE_ARN,
            "AWS_WEB_IDENTITY_TOKEN_FILE": "/var/run/secrets/eks.amazonaws.com/serviceaccount/"
            "token",
        },
        manager={"aws_s3_bucket": BUCKET, "aws_region": "eu-west-1"},
        auth="JupyterS3DefaultAuthentication",
        auth_base=JupyterS3DefaultAuthentication,
        auth_traits={"entry_point_providers": False, "sts_endpoint_url": ""},
        live=live_eks_irsa,
    ),
    "jupyter_server_config_eks_pod_identity.py": Example(
        env={
            "JUPYTERS3_BUCKET": BUCKET,
            "AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://169.254.170.23/v1/credentials",
            "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE": "/var/run/secrets/pods.eks.amazonaws.com/"
            "serviceaccount/eks-pod-identity-token",
        },
        manager={"aws_s3_bucket": BUCKET},
        auth="JupyterS3ECSRoleAuthentication",
        auth_base=JupyterS3ECSRoleAuthentication,
        auth_traits={"timeout": 2.0, "attempts": 3},
        live=live_eks_pod_identity,
    ),
    "jupyter_server_config_ec2.py": Example(
        env={"JUPYTERS3_BUCKET": BUCKET, "JUPYTERS3_EC2_ROLE_NAME": "notebooks"},
        manager={"aws_s3_bucket": BUCKET, "aws_region": "us-east-1"},
        auth="JupyterS3EC2RoleAuthentication",
        auth_base=JupyterS3EC2RoleAuthentication,
        auth_traits={"role_name": "notebooks", "timeout": 1.0, "attempts": 2},
        live=live_ec2,
    ),
    "jupyter_server_config_custom_auth.py": Example(
        env={
            "JUPYTERS3_BUCKET": BUCKET,
            "JUPYTERS3_EC2_ROLE_NAME": "notebooks",
            "AWS_EC2_METADATA_SERVICE_ENDPOINT": "http://127.0.0.1:1/",
        },
        manager={"aws_s3_bucket": BUCKET},
        auth="EC2MetadataRoleAuthentication",
        auth_base=JupyterS3Authentication,
        auth_traits={"role_name": "notebooks", "metadata_url": "http://127.0.0.1:1"},
        live=live_custom_auth,
    ),
    "jupyter_server_config_credential_process.py": Example(
        env={"JUPYTERS3_BUCKET": BUCKET, "JUPYTERS3_CREDENTIAL_PROCESS": "my-broker --json"},
        manager={"aws_s3_bucket": BUCKET},
        auth="CredentialProcessAuthentication",
        auth_base=JupyterS3RefreshingAuthentication,
        auth_traits={"command": "my-broker --json", "command_timeout": 60.0},
        live=live_credential_process,
    ),
    "jupyter_server_config_aws_credential_process.py": Example(
        env={"JUPYTERS3_BUCKET": BUCKET, "JUPYTERS3_AWS_PROFILE": "notebooks"},
        manager={"aws_s3_bucket": BUCKET},
        auth="JupyterS3DefaultAuthentication",
        auth_base=JupyterS3DefaultAuthentication,
        auth_traits={"profile": "notebooks"},
        live=live_aws_credential_process,
    ),
    "jupyter_server_config_aws_assume_role.py": Example(
        env={"JUPYTERS3_BUCKET": BUCKET, "JUPYTERS3_AWS_PROFILE": "notebooks"},
        manager={"aws_s3_bucket": BUCKET},
        auth="JupyterS3DefaultAuthentication",
        auth_base=JupyterS3DefaultAuthentication,
        auth_traits={"profile": "notebooks"},
        live=live_aws_assume_role,
    ),
    "jupyter_server_config_aws_sso.py": Example(
        env={"JUPYTERS3_BUCKET": BUCKET, "JUPYTERS3_AWS_PROFILE": "notebooks"},
        manager={"aws_s3_bucket": BUCKET},
        auth="JupyterS3DefaultAuthentication",
        auth_base=JupyterS3DefaultAuthentication,
        auth_traits={"profile": "notebooks"},
        live=live_aws_sso,
    ),
    "jupyter_server_config_minio.py": Example(
        env={
            "JUPYTERS3_BUCKET": BUCKET,
            "MINIO_ENDPOINT": "http://minio.internal:9000",
            "MINIO_REGION": "eu-central-1",
            "MINIO_ACCESS_KEY": "minio-example-user",
            "MINIO_SECRET_KEY": "minio-example-password",
        },
        manager={
            "aws_s3_bucket": BUCKET,
            "endpoint_url": "http://minio.internal:9000",
            "addressing_style": "path",
            "aws_region": "eu-central-1",
        },
        auth="JupyterS3SecretAccessKeyAuthentication",
        auth_base=JupyterS3SecretAccessKeyAuthentication,
        auth_traits={
            "aws_access_key_id": "minio-example-user",
            "aws_secret_access_key": "minio-example-password",
        },
        live=live_minio,
    ),
    "jupyter_server_config_jupyterhub.py": Example(
        env={"JUPYTERS3_BUCKET": BUCKET, "JUPYTERHUB_USER": "alice"},
        manager={"aws_s3_bucket": BUCKET, "prefix": "users/alice/"},
        auth="JupyterS3DefaultAuthentication",
        auth_base=JupyterS3DefaultAuthentication,
        auth_traits={},
        live=live_jupyterhub,
    ),
    "jupyter_server_config_jupyterhub_scoped.py": Example(
        env={
            "JUPYTERHUB_USER": "alice",
            "JUPYTERS3_BUCKET": BUCKET,
            "JUPYTERS3_PREFIX": "users/alice/",
            "JUPYTERS3_MOUNTS": json.dumps(
                {"team": "s3://team-ml/projects/", "lake": "s3://lake/curated/:ro"}
            ),
        },
        manager={
            "aws_s3_bucket": BUCKET,
            "prefix": "users/alice/",
            "mounts": {
                "team": {"url": "s3://team-ml/projects/", "read_only": False},
                "lake": {"url": "s3://lake/curated/", "read_only": True},
            },
        },
        auth="JupyterS3HubAuthentication",
        auth_base=JupyterS3HubAuthentication,
        auth_traits={"check_confinement": True, "kernel_credentials": True},
        live=live_jupyterhub_scoped,
    ),
    "jupyter_server_config_mounts.py": Example(
        env={
            "JUPYTERS3_BUCKET": BUCKET,
            "JUPYTERS3_PREFIX": "users/alice/",
            "JUPYTERS3_TEAM_URL": "s3://team-ml/projects/churn/",
            "JUPYTERS3_LAKE_URL": "s3://corp-data-lake/curated/",
            "JUPYTERS3_LAKE_REGION": "us-west-2",
        },
        manager={
            "aws_s3_bucket": BUCKET,
            "prefix": "users/alice/",
            "mounts": {
                "team": "s3://team-ml/projects/churn/",
                "lake": {
                    "url": "s3://corp-data-lake/curated/",
                    "read_only": True,
                    "region": "us-west-2",
                },
            },
        },
        auth="JupyterS3DefaultAuthentication",
        auth_base=JupyterS3DefaultAuthentication,
        auth_traits={},
        live=live_mounts,
    ),
}


# ============================================================================
# Helpers and fixtures
# ============================================================================


@pytest.fixture(autouse=True)
def isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No AWS, JupyterS3, MinIO or JupyterHub variable of the machine leaks in."""
    for name in list(os.environ):
        if name.startswith(("AWS_", "JUPYTERS3_", "MINIO_", "JUPYTERHUB_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def set_env(monkeypatch: pytest.MonkeyPatch, env: Mapping[str, str | None]) -> None:
    for name, value in env.items():
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)


def load(name: str) -> Config:
    """The config of ``examples/<name>``, loaded as ``jupyter lab --config`` loads it."""
    return PyFileConfigLoader(name, path=str(EXAMPLES_DIR)).load_config()


def trait_names(cls: type) -> set[str]:
    return set(cls.class_trait_names(config=True))  # type: ignore[attr-defined]


class AgentHandler(RequestHandler):
    def initialize(self, agent: CredentialsAgent) -> None:
        self.agent = agent

    def get(self, path: str) -> None:
        if path == "/federation/credentials":  # IAM Identity Center's GetRoleCredentials
            self.agent.requests.append((path, self.request.headers.get("x-amz-sso_bearer_token")))
            self.agent.served += 1
            doc = json.loads(creds_json(self.agent.served, time.time() + 3600))
            role = {
                "accessKeyId": doc["AccessKeyId"],
                "secretAccessKey": doc["SecretAccessKey"],
                "sessionToken": doc["Token"],
                "expiration": int((time.time() + 3600) * 1000),
            }
            self.write({"roleCredentials": role})
            return
        authorization = self.request.headers.get("Authorization")
        self.agent.requests.append((path, authorization))
        if self.agent.token is not None and authorization != self.agent.token:
            self.set_status(401)
            return
        self.agent.served += 1
        self.write(creds_json(self.agent.served, time.time() + 3600))


class CredentialsAgent:
    """A container credentials endpoint (the ECS agent, the EKS Pod Identity agent)."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str | None]] = []
        self.token: str | None = None  # the Authorization value required, if any
        self.served = 0
        self.http = HTTPServer(Application([(r"(/.*)", AgentHandler, {"agent": self})]))
        sockets = bind_sockets(0, "127.0.0.1")
        self.http.add_sockets(sockets)
        self.url = f"http://127.0.0.1:{sockets[0].getsockname()[1]}"

    async def stop(self) -> None:
        self.http.stop()
        await self.http.close_all_connections()


@pytest.fixture
async def agent() -> AsyncIterator[CredentialsAgent]:
    server = CredentialsAgent()
    yield server
    await server.stop()


# ============================================================================
# Every file is an example, and every example is tested
# ============================================================================


#: The hub's side (jupyterhub_config.py files, jupyters3-hub): name -> the environment
#: it reads and the service URL it registers, and how single-user servers reach it.
#: jupyterhub_config_scoped.py also runs a real JupyterHub in
#: packages/jupyters3-hub/tests/test_hub_e2e.py.
HUB_CONFIGS: dict[str, tuple[dict[str, str], str, str]] = {
    "jupyterhub_config_scoped.py": (
        {
            "JUPYTERS3_TEAM_URL": "s3://team-ml/projects/",
            "JUPYTERS3_LAKE_URL": "s3://lake/curated/",
        },
        "http://127.0.0.1:8282",
        "http://127.0.0.1:8282/services/jupyters3-credentials/credentials",
    ),
    "jupyterhub_config_scoped_kubernetes.py": (
        {"JUPYTERS3_TEAM_URL": "s3://team-ml/projects/"},
        "http://hub:8282",
        "http://hub:8282/services/jupyters3-credentials/credentials",
    ),
}
HUB_ROLE = "arn:aws:iam::123456789012:role/jupyterhub-users"


def test_every_example_is_tested() -> None:
    files = {p.name for p in EXAMPLES_DIR.iterdir() if p.name != "README.md"}
    assert files == set(EXAMPLES) | set(HUB_CONFIGS), "add the new example to EXAMPLES in this file"


def test_the_readme_lists_every_example() -> None:
    readme = (EXAMPLES_DIR / "README.md").read_text()
    for name in [*EXAMPLES, *HUB_CONFIGS]:
        assert f"({name})" in readme, f"examples/README.md does not link {name}"


@pytest.mark.parametrize("name", sorted(HUB_CONFIGS))
def test_a_hub_config_registers_the_credentials_service(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from jupyters3_hub import HubSettings

    env, url, internal = HUB_CONFIGS[name]
    set_env(monkeypatch, {"JUPYTERS3_ROLE_ARN": HUB_ROLE, "JUPYTERS3_BUCKET": BUCKET, **env})
    text = (EXAMPLES_DIR / name).read_text()
    top = header(name)
    assert top.startswith("# JupyterHub ") and f"jupyterhub -f examples/{name}" in top
    read = set(re.findall(r"os\.environ(?:\.get\(|\[)\s*\"([A-Z0-9_]+)\"", text))
    assert read and not {var for var in read if f"#   {var} " not in top}
    cfg = PyFileConfigLoader(name, path=str(EXAMPLES_DIR)).load_config()
    (service,) = cfg.JupyterHub.services
    assert (service["name"], service["url"]) == ("jupyters3-credentials", url)
    settings = HubSettings.from_json(service["environment"]["JUPYTERS3_HUB_SETTINGS"])
    assert (settings.role_arn, settings.bucket) == (HUB_ROLE, BUCKET)
    assert settings.mounts["team"] == "s3://team-ml/projects/"
    assert "access:services!service=jupyters3-credentials" in cfg.Spawner.server_token_scopes
    environment = cfg.Spawner.environment.get_value({})
    assert environment["JUPYTERS3_HUB_CREDENTIALS_URL"] == internal
    assert environment["JUPYTERS3_BUCKET"] == BUCKET
    set_env(monkeypatch, {"JUPYTERS3_ROLE_ARN": None})
    with pytest.raises(ValueError, match="not an IAM role ARN"):
        PyFileConfigLoader(name, path=str(EXAMPLES_DIR)).load_config()


def header(name: str) -> str:
    """The example's leading comment block."""
    lines = (EXAMPLES_DIR / name).read_text().splitlines()
    return "\n".join(line for line in lines[: next(i for i, s in enumerate(lines) if not s)])


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_the_header_says_how_to_run_it_and_what_it_reads(name: str) -> None:
    text = (EXAMPLES_DIR / name).read_text()
    top = header(name)
    assert top.startswith("# JupyterS3 ")
    assert "jupyter lab " in top and f"--config examples/{name}" in top
    read = set(re.findall(r"os\.environ(?:\.get\(|\[)\s*\"([A-Z0-9_]+)\"", text))
    assert read, "an example reads its settings from the environment"
    undocumented = {var for var in read if f"#   {var} " not in top}
    assert not undocumented, f"the header's Environment list lacks {sorted(undocumented)}"
    assert 'c.ServerApp.contents_manager_class = "jupyters3.JupyterS3"' in text
    assert "\nc = get_config()\n" in text
    # Placeholders only: no access key id (AKIA/ASIA + 16) is written into an example.
    assert not re.search(r"\b(AKIA|ASIA)[A-Z0-9]{16}\b", text)


SETTINGS_OWNERS: dict[str, type] = {
    cls.__name__: cls
    for cls in (
        JupyterS3,
        JupyterS3DefaultAuthentication,
        JupyterS3ECSRoleAuthentication,
        JupyterS3EC2RoleAuthentication,
        JupyterS3SecretAccessKeyAuthentication,
        JupyterS3HubAuthentication,
    )
}


@pytest.mark.parametrize(
    "readme",
    [
        "README.md",
        "examples/README.md",
        "packages/jupyters3-core/README.md",
        "packages/jupyters3-auth-ec2/README.md",
        "packages/jupyters3-hub/README.md",
        *sorted(
            str(p.relative_to(EXAMPLES_DIR.parent))
            for p in (EXAMPLES_DIR.parent / "docs").rglob("*.md")
            if "_build" not in p.parts
        ),
    ],
)
def test_the_readmes_name_real_settings(readme: str) -> None:
    """Every ``c.<JupyterS3 class>.<name>`` a README or a page of the
    documentation mentions is a setting of that class."""
    text = (EXAMPLES_DIR.parent / readme).read_text()
    named = re.findall(r"\bc\.(JupyterS3\w*)\.(\w+)", text)
    wrong = [
        f"c.{owner}.{name}"
        for owner, name in named
        if owner in SETTINGS_OWNERS and name not in trait_names(SETTINGS_OWNERS[owner])
    ]
    assert not wrong


# ============================================================================
# Loaded as Jupyter loads them
# ============================================================================


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_the_example_configures_what_it_says(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    example = EXAMPLES[name]
    set_env(monkeypatch, example.env)
    cfg = load(name)

    assert import_item(cfg.ServerApp.contents_manager_class) is JupyterS3
    cm = JupyterS3(config=cfg, check_on_start=False)
    for trait, value in example.manager.items():
        assert getattr(cm, trait) == value, trait

    auth = cm.authentication
    assert type(auth).__name__ == example.auth
    assert isinstance(auth, example.auth_base)
    if example.auth_base.__name__ == example.auth:
        assert type(auth) is example.auth_base
    assert auth.parent is cm
    for trait, value in example.auth_traits.items():
        assert getattr(auth, trait) == value, trait

    # Whatever else the file sets reaches the objects unchanged (and names real traits).
    for section, obj in (("JupyterS3", cm), (type(auth).__name__, auth)):
        for trait, value in cfg[section].items():
            assert trait in trait_names(type(obj)), f"c.{section}.{trait} is not a setting"
            if trait != "authentication_class":
                assert getattr(obj, trait) == value, f"c.{section}.{trait}"
    unknown = set(cfg) - {"ServerApp", "JupyterS3", type(auth).__name__}
    assert not unknown, f"sections that configure nothing: {sorted(unknown)}"


def test_the_profile_example_defaults_to_the_default_profile(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cm = JupyterS3(config=load("jupyter_server_config_aws_profile.py"), check_on_start=False)
    assert cm.authentication.profile == "default"


def test_the_jupyterhub_example_refuses_to_start_without_a_user() -> None:
    with pytest.raises(SystemExit, match="JUPYTERHUB_USER is not set"):
        load("jupyter_server_config_jupyterhub.py")


@pytest.mark.parametrize(
    ("user", "prefix"),
    [
        ("alice@example.com", "users/alice@example.com/"),
        ("team/alice", "users/team%2Falice/"),  # one segment: never inside user "team"
        ("bob smith", "users/bob%20smith/"),
    ],
)
def test_the_jupyterhub_prefix_is_one_segment_per_user(
    monkeypatch: pytest.MonkeyPatch, user: str, prefix: str
) -> None:
    monkeypatch.setenv("JUPYTERHUB_USER", user)
    cm = JupyterS3(config=load("jupyter_server_config_jupyterhub.py"), check_on_start=False)
    assert cm.prefix == prefix


def test_the_jupyterhub_example_refuses_a_dot_dot_user(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JUPYTERHUB_USER", "..")
    with pytest.raises(TraitError, match=r"c\.JupyterS3\.prefix"):
        JupyterS3(config=load("jupyter_server_config_jupyterhub.py"), check_on_start=False)


# ============================================================================
# Real HTTP: one save and one read through the manager, on moto
# ============================================================================


@pytest.mark.parametrize("name", sorted(EXAMPLES))
async def test_the_example_serves_contents_from_s3(
    name: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    js3_moto_server: Any,
    js3_fault_proxy: FaultProxy,
    js3_bucket: str,
    js3_raw: RawS3,
    agent: CredentialsAgent,
) -> None:
    moto = js3_moto_server.endpoint_url
    live = Live(moto, js3_fault_proxy.endpoint_url, js3_bucket, tmp_path, agent)
    setup = EXAMPLES[name].live(live)
    set_env(monkeypatch, setup.env)
    cfg = load(name)
    for section, traits in setup.config.items():
        for trait, value in traits.items():
            cfg[section][trait] = value

    cm = JupyterS3(config=cfg, check_on_start=False)
    text = f"saved through {name}\n"
    try:
        saved = await cm.save({"type": "file", "format": "text", "content": text}, "x.txt")
        assert saved["path"] == "x.txt"
        assert (await cm.get("x.txt"))["content"] == text
    finally:
        cm.store.client.close()
    assert js3_raw.get(js3_bucket, cm.prefix + "x.txt") == text.encode()
    signed_with = sorted({r.access_key_id for r in js3_fault_proxy.records()})
    assert len(signed_with) == 1, f"requests signed with several keys: {signed_with}"
    assert signed_with[0].startswith(setup.key_id), f"signed with {signed_with[0]}"
    if setup.check is not None:
        setup.check()


async def test_the_mounts_example_writes_the_team_mount_and_refuses_the_lake(
    monkeypatch: pytest.MonkeyPatch,
    js3_moto_server: Any,
    js3_fault_proxy: FaultProxy,
    js3_bucket: str,
    js3_region: str,
    js3_raw: RawS3,
) -> None:
    team, lake = f"{js3_bucket}-team", f"{js3_bucket}-lake"
    for bucket in (team, lake):
        js3_moto_server.create_bucket(bucket, js3_region)
    js3_raw.put(lake, "curated/readme.txt", b"the lake's readme\n")
    env = {
        "JUPYTERS3_BUCKET": js3_bucket,
        "JUPYTERS3_PREFIX": "users/alice/",
        "JUPYTERS3_TEAM_URL": f"s3://{team}/projects/churn/",
        "JUPYTERS3_LAKE_URL": f"s3://{lake}/curated/",
        "AWS_ENDPOINT_URL_S3": js3_fault_proxy.endpoint_url,
        "AWS_ACCESS_KEY_ID": "AKIAEXAMPLEMOUNTS001",
        "AWS_SECRET_ACCESS_KEY": "mounts-secret",
    }
    set_env(monkeypatch, env)

    cm = JupyterS3(config=load("jupyter_server_config_mounts.py"))  # lists the three buckets
    text = "team notes\n"
    try:
        saved = await cm.save({"type": "file", "format": "text", "content": text}, "team/n.txt")
        assert saved["path"] == "team/n.txt"
        assert (await cm.get("lake/readme.txt"))["content"] == "the lake's readme\n"
        js3_fault_proxy.clear()
        with pytest.raises(HTTPError) as refused:
            await cm.save({"type": "file", "format": "text", "content": text}, "lake/n.txt")
        assert refused.value.status_code == 403
        assert js3_fault_proxy.records() == []  # refused before any request
    finally:
        for store in cm.stores:
            store.close()
    assert js3_raw.get(team, "projects/churn/n.txt") == text.encode()
    assert js3_raw.keys(lake) == ["curated/readme.txt"]
    assert js3_raw.keys(js3_bucket) == []


# ============================================================================
# `jupyter lab --config examples/<file>`, as the headers say
# ============================================================================


class ExampleServer(JupyterServer):
    """A live server started with ``--config=examples/<name>`` instead of the harness's file."""

    def __init__(self, name: str, **options: Any) -> None:
        super().__init__(**options)
        self.example = EXAMPLES_DIR / name

    def command(self, port: int) -> list[str]:
        argv = super().command(port)
        return [f"--config={self.example}" if a.startswith("--config=") else a for a in argv]


@pytest.mark.parametrize(
    ("name", "env"),
    [
        (
            "jupyter_server_config_minio.py",
            {"MINIO_ACCESS_KEY": "minio-example-user", "MINIO_SECRET_KEY": "minio-example-pw"},
        ),
        # A class defined in the config file itself, as in the original design's example.
        ("jupyter_server_config_custom_auth.py", {"JUPYTERS3_EC2_ROLE_NAME": MOTO_ROLE}),
    ],
)
def test_jupyter_lab_starts_with_the_example(
    name: str,
    env: dict[str, str],
    js3_jupyter_env: dict[str, str | None],
    js3_moto_server: Any,
    js3_bucket: str,
    js3_raw: RawS3,
) -> None:
    if not JupyterServer.available("lab"):
        pytest.skip("JupyterLab is not installed")
    env = {
        **js3_jupyter_env,
        "JUPYTERS3_BUCKET": js3_bucket,
        "MINIO_ENDPOINT": js3_moto_server.endpoint_url,
        "AWS_ENDPOINT_URL_S3": js3_moto_server.endpoint_url,
        "AWS_EC2_METADATA_SERVICE_ENDPOINT": js3_moto_server.endpoint_url,
        **env,
    }
    # The example's own secret (read by the config file) is watched too. traitlets
    # prints the whole config at DEBUG ("Config changed: {...}"), values set in a
    # config file included: the only lines allowed to hold it.
    watched = {f"{k} (env)": v for k, v in env.items() if "SECRET" in k}
    with ExampleServer(name, env=env, app="lab", secrets=watched, scan_secrets=False) as server:
        client = ContentsClient(server.url, server.token)
        client.save_text("from-lab.txt", "hello").expect(201)
        assert client.get("from-lab.txt").expect(200).json["content"] == "hello"
        assert js3_raw.get(js3_bucket, "from-lab.txt") == b"hello"
        assert "JupyterS3: contents in s3://" in server.log_text()  # the start-up check passed
        server.stop()
        lines = server.log_text().splitlines()
        elsewhere = [
            redact(lines[leak.line - 1], server.watched_secrets())[:300]
            for leak in server.find_leaks()
            if "] Config changed: {" not in lines[leak.line - 1]
        ]
        assert not elsewhere, elsewhere


def test_jupyter_refuses_to_start_the_jupyterhub_example_without_a_user(
    js3_jupyter_env: dict[str, str | None],
) -> None:
    server = ExampleServer("jupyter_server_config_jupyterhub.py", env=js3_jupyter_env)
    try:
        with pytest.raises(JupyterServerError, match="JUPYTERHUB_USER is not set"):
            server.start()
    finally:
        server.close()
