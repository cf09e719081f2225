"""Live Jupyter servers on laptop profiles: credential_process, assume-role, IAM Identity Center.

Each test writes an AWS config (``AWS_CONFIG_FILE``, ``AWS_SHARED_CREDENTIALS_FILE``,
``AWS_PROFILE``) and starts a Jupyter server with the default chain, against
the fault proxy in front of moto. What hands out the credentials:

* credential_process: a Python script that prints new keys at each run and
  writes what it issued to a file;
* assume-role: moto's STS, through a relay (a Tornado server on 127.0.0.1,
  in a thread) that records who signed each AssumeRole and what moto
  returned, and shortens each Expiration to a few seconds;
* IAM Identity Center: a fake portal on 127.0.0.1 that checks the cached
  token and the role it is asked for.

The proxy plays S3's part: a request signed with a key the source did not
hand out gets 403 InvalidAccessKeyId, one signed with a key past its expiry
400 ExpiredToken. Each test runs its server across several expiries and
checks that no request failed and that every S3 request was signed with a key
the source handed out (never the source profile's own key). Every secret
handed out is watched in the server's log.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import shlex
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
from tornado.httpclient import AsyncHTTPClient, HTTPRequest
from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets
from tornado.web import Application, RequestHandler

from jupyters3_testing import (
    Fault,
    FaultProxy,
    JupyterServerError,
    MotoServer,
    RequestInfo,
    merge_config,
)
from jupyters3_testing.jupyter_fixtures import JupyterFactory, jupyters3_config
from jupyters3_testing.leaks import random_secret
from jupyters3_testing.rest import ContentsClient

LIFETIME = 4.0  # seconds each issued key lives
WINDOWS = (2.0, 1.0)  # advisory, mandatory refresh windows of the server
ROLE_ARN = "arn:aws:iam::123456789012:role/notebooks"


def iso(moment: float) -> str:
    stamp = datetime.fromtimestamp(moment, timezone.utc).isoformat(timespec="milliseconds")
    return stamp.replace("+00:00", "Z")


class Issued:
    """The keys a source handed out: key id -> expiry; secrets -> watched in the log."""

    def __init__(self) -> None:
        self.expiry: dict[str, float] = {}
        self.secrets: dict[str, str] = {}
        self.lock = threading.Lock()

    def add(self, key: str, expires: float, secret: str, token: str) -> None:
        with self.lock:
            self.expiry[key] = expires
            self.secrets[f"SecretAccessKey of {key}"] = secret
            self.secrets[f"SessionToken of {key}"] = token

    def rule(self, before: Callable[[], None] = lambda: None) -> Callable[[RequestInfo], Any]:
        """The proxy rule: S3's answers to a key not handed out, or expired."""

        def rule(info: RequestInfo) -> Fault | None:
            before()
            with self.lock:
                expires = self.expiry.get(info.access_key_id)
            if expires is None:
                return Fault.error(403, "InvalidAccessKeyId", "Not a key the source issued.")
            if time.time() >= expires:
                return Fault.error(400, "ExpiredToken", "The provided token has expired.")
            return None

        return rule


class Issuer:
    """A Tornado server on 127.0.0.1 in a thread: the STS relay and the SSO portal."""

    def __init__(self, moto_url: str, issued: Issued) -> None:
        self.moto_url = moto_url
        self.issued = issued
        self.sts_calls: list[dict[str, str]] = []  # form + who signed
        self.portal_calls: list[dict[str, str]] = []
        self.sso_token = random_secret(80)
        self.oidc_calls: list[dict[str, str]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._started = threading.Event()
        sockets = bind_sockets(0, "127.0.0.1")
        self.url = f"http://127.0.0.1:{sockets[0].getsockname()[1]}"
        self._thread = threading.Thread(target=self._run, args=(sockets,), daemon=True)
        self._thread.start()
        assert self._started.wait(10), "issuer did not start"

    def _run(self, sockets: list[Any]) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        issuer = self

        class Sts(RequestHandler):
            async def post(self) -> None:
                form = {k: v[0] for k, v in parse_qs(self.request.body.decode()).items()}
                signed = re.search(r"Credential=([^/]+)/", self.request.headers["Authorization"])
                form["signed-by"] = signed.group(1) if signed else ""
                form["token"] = self.request.headers.get("X-Amz-Security-Token", "")
                issuer.sts_calls.append(form)
                client = AsyncHTTPClient(force_instance=True)
                try:
                    answer = await client.fetch(
                        HTTPRequest(
                            issuer.moto_url + "/",
                            method="POST",
                            headers=dict(self.request.headers),
                            body=self.request.body,
                        ),
                        raise_error=False,
                    )
                finally:
                    client.close()
                body = answer.body.decode()
                expires = time.time() + LIFETIME
                if answer.code == 200:
                    key = re.search(r"<AccessKeyId>(.*?)</AccessKeyId>", body)
                    secret = re.search(r"<SecretAccessKey>(.*?)</SecretAccessKey>", body)
                    token = re.search(r"<SessionToken>(.*?)</SessionToken>", body)
                    assert key and secret and token
                    issuer.issued.add(key.group(1), expires, secret.group(1), token.group(1))
                    body = re.sub(
                        r"<Expiration>.*?</Expiration>",
                        f"<Expiration>{iso(expires)}</Expiration>",
                        body,
                    )
                self.set_status(answer.code)
                self.set_header("Content-Type", "text/xml")
                self.write(body)

        class Portal(RequestHandler):
            def get(self) -> None:
                call = {k: v[0] for k, v in parse_qs(self.request.query).items()}
                call["token-ok"] = str(
                    self.request.headers.get("x-amz-sso_bearer_token") == issuer.sso_token
                )
                issuer.portal_calls.append(call)
                if call["token-ok"] != "True":
                    self.set_status(401)
                    self.write({"message": "Session token not found or invalid"})
                    return
                n = len(issuer.issued.expiry) + 1
                key, secret, token = f"ASIASSO{n:013d}", random_secret(40), random_secret(200)
                expires = time.time() + LIFETIME
                issuer.issued.add(key, expires, secret, token)
                self.write(
                    {
                        "roleCredentials": {
                            "accessKeyId": key,
                            "secretAccessKey": secret,
                            "sessionToken": token,
                            "expiration": int(expires * 1000),
                        }
                    }
                )

        class Oidc(RequestHandler):
            def post(self) -> None:  # CreateToken: a new access token for the refresh token
                issuer.oidc_calls.append(json.loads(self.request.body))
                issuer.sso_token = random_secret(80)  # the old one is refused from now on
                issuer.issued.secrets[f"SSO token #{len(issuer.oidc_calls)}"] = issuer.sso_token
                self.write({"accessToken": issuer.sso_token, "expiresIn": 3600})

        async def serve() -> None:
            app = Application(
                [
                    (r"/sts/?", Sts),
                    (r"/sso/federation/credentials", Portal),
                    (r"/oidc/token", Oidc),
                ]
            )
            server = HTTPServer(app)
            server.add_sockets(sockets)
            self._started.set()

        loop.run_until_complete(serve())
        loop.run_forever()
        loop.close()

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


@pytest.fixture
def issued() -> Issued:
    return Issued()


@pytest.fixture
def issuer(js3_moto_server: MotoServer, issued: Issued) -> Iterator[Issuer]:
    server = Issuer(js3_moto_server.endpoint_url, issued)
    yield server
    server.stop()


def start(
    factory: JupyterFactory,
    moto: MotoServer,
    proxy: FaultProxy,
    region: str,
    home: Path,
    profile: str,
    issued: Issued,
    **env: str,
) -> ContentsClient:
    """A server whose credentials come from ``profile`` of ``home/.aws``."""
    bucket = f"prof-{uuid.uuid4().hex[:12]}"
    moto.create_bucket(bucket, region)
    advisory, mandatory = WINDOWS
    config = merge_config(
        jupyters3_config(bucket=bucket, endpoint_url=proxy.endpoint_url, region=region),
        {
            "JupyterS3DefaultAuthentication": {
                "advisory_refresh_seconds": advisory,
                "mandatory_refresh_seconds": mandatory,
                "entry_point_providers": False,
            },
        },
    )
    server_env: dict[str, str | None] = {
        "HOME": str(home),
        "AWS_CONFIG_FILE": str(home / ".aws" / "config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(home / ".aws" / "credentials"),
        "AWS_PROFILE": profile,
        "AWS_ACCESS_KEY_ID": None,
        "AWS_SECRET_ACCESS_KEY": None,
        "AWS_SESSION_TOKEN": None,
        **env,
    }
    server = factory(config=config, env=server_env, secrets=issued.secrets)
    assert server.debug
    return ContentsClient(server.url, server.token)


def drive(api: ContentsClient, seconds: float) -> tuple[int, list[Any]]:
    """Save, read and list for ``seconds``; the count and the failed answers."""
    failures: list[Any] = []
    operations = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        name = f"f{operations % 5}.txt"
        for response in (api.save_text(name, str(operations)), api.get(name), api.get("")):
            operations += 1
            if not response.ok:
                failures.append((response.status, response.body[:200]))
        time.sleep(0.05)
    return operations, failures


def aws_dir(home: Path) -> Path:
    path = home / ".aws"
    path.mkdir(parents=True, exist_ok=True)
    return path


def signed_keys(proxy: FaultProxy) -> set[str]:
    return {r.access_key_id for r in proxy.records()}


# -- credential_process ------------------------------------------------------------

PROCESS = """\
import json, pathlib, secrets, sys, time
from datetime import datetime, timezone
log, lifetime = pathlib.Path(sys.argv[1]), float(sys.argv[2])
n = len(log.read_text().splitlines()) + 1 if log.exists() else 1
key, expires = f"ASIAPROC{n:012d}", time.time() + lifetime
secret, token = secrets.token_urlsafe(30) + "+/", secrets.token_urlsafe(150) + "+/"
with log.open("a") as fh:
    fh.write(json.dumps({"key": key, "expires": expires, "secret": secret, "token": token}) + "\\n")
stamp = datetime.fromtimestamp(expires, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
print(json.dumps({"Version": 1, "AccessKeyId": key, "SecretAccessKey": secret,
                  "SessionToken": token, "Expiration": stamp}))
"""


@pytest.mark.js3_no_chaos
def test_credential_process_profile_serves_across_expiries(
    js3_jupyter_factory: JupyterFactory,
    js3_moto_server: MotoServer,
    js3_fault_proxy: FaultProxy,
    js3_region: str,
    tmp_path: Path,
    issued: Issued,
) -> None:
    home = tmp_path / "home"
    script, log = tmp_path / "broker.py", tmp_path / "issued.jsonl"
    script.write_text(PROCESS)
    command = f"{shlex.quote(sys.executable)} {shlex.quote(str(script))} {log} {LIFETIME}"
    (aws_dir(home) / "config").write_text(f"[profile laptop]\ncredential_process = {command}\n")

    def read_log() -> None:  # the script's own record of what it issued
        if log.exists():
            for line in log.read_text().splitlines():
                doc = json.loads(line)
                if doc["key"] not in issued.expiry:
                    issued.add(doc["key"], doc["expires"], doc["secret"], doc["token"])

    js3_fault_proxy.configure(rule=issued.rule(read_log))
    api = start(
        js3_jupyter_factory, js3_moto_server, js3_fault_proxy, js3_region, home, "laptop", issued
    )
    operations, failures = drive(api, 9)

    read_log()
    assert not failures, failures[:5]
    assert operations > 60
    used = signed_keys(js3_fault_proxy)
    assert used <= set(issued.expiry)  # only keys the script printed
    assert len(used) >= 3  # refreshed across at least two expiries
    assert js3_fault_proxy.count(fault="ExpiredToken") == 0
    assert js3_fault_proxy.count(fault="InvalidAccessKeyId") == 0
    text = js3_jupyter_factory.servers[-1].log_text()
    assert "AWS credentials from profile (credential_process of profile 'laptop' (py" in text


# -- assume-role -------------------------------------------------------------------


@pytest.mark.js3_no_chaos
def test_assume_role_profile_signs_with_the_role_and_refreshes(
    js3_jupyter_factory: JupyterFactory,
    js3_moto_server: MotoServer,
    js3_fault_proxy: FaultProxy,
    js3_region: str,
    tmp_path: Path,
    issued: Issued,
    issuer: Issuer,
) -> None:
    home = tmp_path / "home"
    source_secret = random_secret(40)
    (aws_dir(home) / "credentials").write_text(
        "[base]\naws_access_key_id = AKIASOURCE0000000001\n"
        f"aws_secret_access_key = {source_secret}\n"
    )
    (aws_dir(home) / "config").write_text(
        "[profile notebooks]\n"
        f"role_arn = {ROLE_ARN}\n"
        "source_profile = base\n"
        "role_session_name = jupyters3-live\n"
        "external_id = ext-7\n"
        "duration_seconds = 900\n"
        f"region = {js3_region}\n"
    )
    js3_fault_proxy.configure(rule=issued.rule())
    api = start(
        js3_jupyter_factory,
        js3_moto_server,
        js3_fault_proxy,
        js3_region,
        home,
        "notebooks",
        issued,
        AWS_ENDPOINT_URL_STS=issuer.url + "/sts",
    )
    operations, failures = drive(api, 9)

    assert not failures, failures[:5]
    assert operations > 60
    used = signed_keys(js3_fault_proxy)
    assert used <= set(issued.expiry)  # only keys moto's STS returned
    assert "AKIASOURCE0000000001" not in used
    assert len(used) >= 3
    calls = issuer.sts_calls
    assert len(calls) >= 3
    for call in calls:
        assert call["Action"] == "AssumeRole"
        assert call["signed-by"] == "AKIASOURCE0000000001"  # signed with the source's key
        assert call["token"] == ""
        assert (call["RoleArn"], call["RoleSessionName"]) == (ROLE_ARN, "jupyters3-live")
        assert (call["ExternalId"], call["DurationSeconds"]) == ("ext-7", "900")
    text = js3_jupyter_factory.servers[-1].log_text()
    assert f"AWS credentials from profile (role {ROLE_ARN} assumed by profile 'notebooks'" in text
    assert source_secret not in text


# -- IAM Identity Center ----------------------------------------------------------


@pytest.mark.js3_no_chaos
def test_sso_profile_gets_role_credentials_for_the_cached_token(
    js3_jupyter_factory: JupyterFactory,
    js3_moto_server: MotoServer,
    js3_fault_proxy: FaultProxy,
    js3_region: str,
    tmp_path: Path,
    issued: Issued,
    issuer: Issuer,
) -> None:
    home = tmp_path / "home"
    (aws_dir(home) / "config").write_text(
        "[profile sso-dev]\n"
        "sso_session = corp\n"
        "sso_account_id = 111122223333\n"
        "sso_role_name = Notebooks\n"
        "[sso-session corp]\n"
        "sso_start_url = https://corp.awsapps.com/start\n"
        "sso_region = eu-west-1\n"
    )
    cache = home / ".aws" / "sso" / "cache"
    cache.mkdir(parents=True)
    # The login expires in 10 minutes: the server refreshes it first (CreateToken).
    login = {
        "startUrl": "https://corp.awsapps.com/start",
        "region": "eu-west-1",
        "accessToken": issuer.sso_token,
        "expiresAt": iso(time.time() + 600),
        "clientId": "client-1",
        "clientSecret": random_secret(60),
        "registrationExpiresAt": iso(time.time() + 86400),
        "refreshToken": random_secret(60),
    }
    token_file = cache / f"{hashlib.sha1(b'corp').hexdigest()}.json"
    token_file.write_text(json.dumps(login))
    issued.secrets["the SSO access token"] = issuer.sso_token
    issued.secrets["the SSO client secret"] = str(login["clientSecret"])
    issued.secrets["the SSO refresh token"] = str(login["refreshToken"])
    js3_fault_proxy.configure(rule=issued.rule())
    api = start(
        js3_jupyter_factory,
        js3_moto_server,
        js3_fault_proxy,
        js3_region,
        home,
        "sso-dev",
        issued,
        AWS_ENDPOINT_URL_SSO=issuer.url + "/sso",
        AWS_ENDPOINT_URL_SSO_OIDC=issuer.url + "/oidc",
    )
    operations, failures = drive(api, 9)

    assert not failures, failures[:5]
    assert operations > 60
    used = signed_keys(js3_fault_proxy)
    assert used <= set(issued.expiry)
    assert len(used) >= 3
    assert len(issuer.portal_calls) >= 3
    for call in issuer.portal_calls:
        assert call == {"account_id": "111122223333", "role_name": "Notebooks", "token-ok": "True"}
    # One refresh of the login, saved where `aws sso login` keeps it.
    assert issuer.oidc_calls == [
        {
            "grantType": "refresh_token",
            "clientId": "client-1",
            "clientSecret": login["clientSecret"],
            "refreshToken": login["refreshToken"],
        }
    ]
    assert json.loads(token_file.read_text())["accessToken"] == issuer.sso_token
    text = js3_jupyter_factory.servers[-1].log_text()
    assert (
        "AWS credentials from profile (IAM Identity Center (SSO) of profile 'sso-dev': "
        "role Notebooks in account 111122223333, sso-session 'corp')" in text
    )


# -- `jupyters3 check` names the source behind the profile ---------------------------


def run_check(home: Path, config: dict[str, Any], **env: str) -> subprocess.CompletedProcess[str]:
    """``python -m jupyters3 check`` with ``home`` as HOME and only the AWS variables given."""
    config_dir = home / "jupyter-config"
    config_dir.mkdir(parents=True, exist_ok=True)
    (config_dir / "jupyter_server_config.json").write_text(json.dumps(config))
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "JUPYTER_"))}
    environ.update(
        HOME=str(home),
        JUPYTER_CONFIG_DIR=str(config_dir),
        JUPYTER_DATA_DIR=str(home / "jupyter-data"),
        JUPYTER_RUNTIME_DIR=str(home / "jupyter-runtime"),
        AWS_CONFIG_FILE=str(home / ".aws" / "config"),
        AWS_SHARED_CREDENTIALS_FILE=str(home / ".aws" / "credentials"),
        AWS_EC2_METADATA_DISABLED="true",
        **env,
    )
    return subprocess.run(
        [sys.executable, "-m", "jupyters3", "check"],
        env=environ,
        cwd=home,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def credentials_line(output: str) -> str:
    return next(line for line in output.splitlines() if re.match(r"^\S+\s+credentials\s", line))


def test_check_names_the_role_the_process_and_the_sso_session(
    js3_moto_server: MotoServer,
    js3_bucket: str,
    js3_region: str,
    tmp_path: Path,
    issuer: Issuer,
) -> None:
    home = tmp_path / "home"
    source_secret = random_secret(40)
    (aws_dir(home) / "credentials").write_text(
        "[base]\naws_access_key_id = AKIASOURCE0000000001\n"
        f"aws_secret_access_key = {source_secret}\n"
    )
    broker = tmp_path / "broker.py"
    broker.write_text(PROCESS)
    process = f"{shlex.quote(sys.executable)} {shlex.quote(str(broker))} {tmp_path / 'log'} 3600"
    (aws_dir(home) / "config").write_text(
        f"[profile role]\nrole_arn = {ROLE_ARN}\nsource_profile = base\n"
        "role_session_name = checker\n"
        f"[profile process]\ncredential_process = {process}\n"
        "[profile sso]\nsso_session = corp\nsso_account_id = 111122223333\n"
        "sso_role_name = Notebooks\n"
        "[sso-session corp]\nsso_start_url = https://corp.awsapps.com/start\n"
        "sso_region = eu-west-1\n"
    )
    cache = home / ".aws" / "sso" / "cache"
    cache.mkdir(parents=True)
    token_file = cache / f"{hashlib.sha1(b'corp').hexdigest()}.json"
    login = {"accessToken": issuer.sso_token, "expiresAt": iso(time.time() + 3600)}
    token_file.write_text(json.dumps(login))
    config = jupyters3_config(
        bucket=js3_bucket, endpoint_url=js3_moto_server.endpoint_url, region=js3_region
    )
    endpoints = {
        "AWS_ENDPOINT_URL_STS": js3_moto_server.endpoint_url,
        "AWS_ENDPOINT_URL_SSO": issuer.url + "/sso",
    }
    expected = {
        "role": f"default chain: profile (role {ROLE_ARN} assumed by profile 'role' (session "
        f"checker) with the static keys of profile 'base' in {home}/.aws/credentials); key id "
        "ASIA****",
        "process": "default chain: profile (credential_process of profile 'process' (python",
        "sso": "default chain: profile (IAM Identity Center (SSO) of profile 'sso': role "
        "Notebooks in account 111122223333, sso-session 'corp'); key id ASIA****",
    }
    for profile, says in expected.items():
        result = run_check(home, config, AWS_PROFILE=profile, **endpoints)
        line = credentials_line(result.stdout)
        assert result.returncode == 0, result.stdout + result.stderr
        assert line.startswith("ok") and says in line, line
        for secret in [source_secret, issuer.sso_token, *issued_secrets(tmp_path / "log")]:
            assert secret not in result.stdout + result.stderr

    login["expiresAt"] = iso(time.time() - 60)
    token_file.write_text(json.dumps(login))
    result = run_check(home, config, AWS_PROFILE="sso", **endpoints)
    line = credentials_line(result.stdout)
    assert result.returncode == 1
    assert line.startswith("FAIL") and line.endswith(
        "AWS profile 'sso' uses IAM Identity Center (sso-session 'corp') and its login has "
        'expired: run "aws sso login --profile sso".'
    ), line


def issued_secrets(log: Path) -> list[str]:
    if not log.exists():
        return []
    docs = [json.loads(line) for line in log.read_text().splitlines()]
    return [d[k] for d in docs for k in ("secret", "token")]


def test_a_failing_credential_process_stops_the_server_with_a_sentence(
    js3_jupyter_factory: JupyterFactory,
    js3_fault_proxy: FaultProxy,
    js3_region: str,
    tmp_path: Path,
) -> None:
    """It names the profile and the exit status; what the command printed is never logged."""
    home = tmp_path / "home"
    printed = random_secret(40)
    script = tmp_path / "broker.py"
    script.write_text(f"import sys\nprint({printed!r})\nprint({printed!r}, file=sys.stderr)\n")
    script.write_text(script.read_text() + "sys.exit(7)\n")
    command = f"{shlex.quote(sys.executable)} {shlex.quote(str(script))} --password {printed}"
    (aws_dir(home) / "config").write_text(f"[profile laptop]\ncredential_process = {command}\n")
    config = merge_config(
        jupyters3_config(
            bucket="unused-bucket", endpoint_url=js3_fault_proxy.endpoint_url, region=js3_region
        ),
        {"JupyterS3DefaultAuthentication": {"entry_point_providers": False}},
    )
    env: dict[str, str | None] = {
        "HOME": str(home),
        "AWS_CONFIG_FILE": str(home / ".aws" / "config"),
        "AWS_PROFILE": "laptop",
        "AWS_ACCESS_KEY_ID": None,
        "AWS_SECRET_ACCESS_KEY": None,
        "AWS_SESSION_TOKEN": None,
    }
    with pytest.raises(JupyterServerError, match=r"exited with code 1") as info:
        js3_jupyter_factory(config=config, env=env, secrets={"what the command printed": printed})
    message = str(info.value)
    assert "The credential_process of AWS profile 'laptop' (python" in message
    assert "exited with status 7; run it in a terminal to see why." in message
    assert printed not in message
    assert js3_jupyter_factory.servers[-1].find_leaks() == []
