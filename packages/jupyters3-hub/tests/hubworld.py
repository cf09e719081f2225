"""A real JupyterHub on 127.0.0.1 with the credentials service, for the end-to-end tests.

:class:`HubWorld` starts, in this order: a moto S3 server; a fault proxy in
front of it with a :class:`~jupyters3_testing.enforce.PolicyEnforcer`; a
:class:`~jupyters3_testing.sts.FakeSTS` (short credential lifetimes); a fake
instance metadata service that answers (the servers must warn about it);
then ``python -m jupyterhub`` (DummyAuthenticator, SimpleLocalProcessSpawner,
configurable-http-proxy's Python port) configured with
``jupyters3_hub.configure``. The hub starts the credentials service and the
single-user servers; every process of this world carries a marker variable
(``JS3_HUB_E2E=<uuid>``) in its environment, so :meth:`HubWorld.close` finds
and stops each one by PID, the single-user servers, kernels and orphans of a
killed hub included: SIGTERM, then SIGKILL after a timeout (the hub can hang
on SIGTERM while a managed service runs).

The hub's own AWS identity (the key id FakeSTS trusts) is in a shared
credentials file the service reads; the single-user servers are given an
administrator's keys in their environment on purpose: a broad identity their
kernels must not be able to use.
"""

from __future__ import annotations

import contextlib
import http.client
import http.server
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from jupyters3_testing import FaultProxy, MotoServer
from jupyters3_testing.enforce import PolicyEnforcer
from jupyters3_testing.rest import ContentsClient
from jupyters3_testing.s3server import free_port
from jupyters3_testing.sts import FakeSTS

ROLE = "arn:aws:iam::123456789012:role/jupyterhub-users"
HUB_KEY = "AKIAHUBIDENTITY00001"
HUB_SECRET = "hub-secret-not-a-real-key-0000000000000"
ADMIN_KEY = "AKIAADMINBROAD000001"
ADMIN_SECRET = "admin-secret-not-a-real-key-000000000000"
BUCKET, TEAM, LAKE = "hub-notebooks", "hub-team", "hub-lake"
SERVICE = "jupyters3-credentials"
REGION = "us-east-1"

#: What every user's role may do: the whole of the three buckets. Only the session
#: policy keeps users apart, as with one shared IRSA or Pod Identity role.
ROLE_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Action": "s3:*",
            "Resource": [f"arn:aws:s3:::{b}{s}" for b in (BUCKET, TEAM, LAKE) for s in ("", "/*")],
        }
    ],
}

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"

#: The hub's config: the repository's example (examples/jupyterhub_config_scoped.py),
#: then what a test on one machine changes (ports, DummyAuthenticator, short lifetimes).
HUB_CONFIG = """\
import json
import jupyters3_hub

c = get_config()  # noqa: F821
world = json.loads({world!r})
load_subconfig({example!r})  # noqa: F821 - the example, as an administrator would use it

c.JupyterHub.ip = "127.0.0.1"
c.JupyterHub.port = world["proxy_port"]
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = world["hub_port"]
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:%d" % world["proxy_api_port"]
c.ConfigurableHTTPProxy.command = [world["chp"]]
c.JupyterHub.authenticator_class = "dummy"
c.Authenticator.allow_all = True
c.JupyterHub.spawner_class = "simple"
c.SimpleLocalProcessSpawner.home_dir_template = world["dir"] + "/home/{{username}}"
c.JupyterHub.db_url = "sqlite:///" + world["dir"] + "/jupyterhub.sqlite"
c.JupyterHub.cookie_secret_file = world["dir"] + "/cookie_secret"
c.JupyterHub.pid_file = world["dir"] + "/jupyterhub.pid"
c.JupyterHub.cleanup_servers = False   # a hub restart leaves the servers running
c.JupyterHub.services = list(c.JupyterHub.services) + [
    {{"name": "e2e-admin", "api_token": world["admin_token"]}}
]
c.JupyterHub.load_roles = list(c.JupyterHub.load_roles) + [
    {{"name": "e2e-admin", "services": ["e2e-admin"],
      "scopes": ["admin:users", "admin:servers", "tokens", "read:users"]}},
]
c.Spawner.args = ["--allow-root", *c.Spawner.args]  # CI runs as root
c.Spawner.start_timeout = 120
c.Spawner.http_timeout = 120
c.Spawner.environment.update({{
    "JS3_HUB_E2E": world["marker"],
    "AWS_ENDPOINT_URL_S3": world["s3"],
    "AWS_ACCESS_KEY_ID": world["admin_key"],       # a broad identity, on purpose
    "AWS_SECRET_ACCESS_KEY": world["admin_secret"],
    "AWS_SHARED_CREDENTIALS_FILE": world["dir"] + "/no-credentials",
    "AWS_CONFIG_FILE": world["dir"] + "/no-config",
    "JUPYTER_RUNTIME_DIR": lambda spawner: world["dir"] + "/runtime/" + spawner.user.name,
    "JUPYTER_CONFIG_DIR": lambda spawner: world["dir"] + "/jupyter-config/" + spawner.user.name,
    "JUPYTER_DATA_DIR": lambda spawner: world["dir"] + "/jupyter-data/" + spawner.user.name,
    "PYTHONUNBUFFERED": "1",
}})

def fixed_port(spawner):
    spawner.port = world["ports"][spawner.user.name]

c.Spawner.pre_spawn_hook = fixed_port

# Again, with this test's lifetimes (configure() replaces its own service).
jupyters3_hub.configure(
    c,
    role_arn="{role}",
    bucket="{bucket}",
    mounts={{"team": "s3://{team}/shared/", "lake": "s3://{lake}/curated/:ro"}},
    port=world["service_port"],
    duration_seconds=900,
    reuse_seconds=world["reuse_seconds"],
    service_environment_extra={{
        "JS3_HUB_E2E": world["marker"], "JUPYTERS3_HUB_LOG_LEVEL": "DEBUG",
    }},
)
"""

#: The single-user servers' config: the example, then this test's refresh windows and the
#: fake instance metadata service.
SINGLEUSER_CONFIG = """\
import json

c = get_config()  # noqa: F821
world = json.loads({world!r})
load_subconfig({example!r})  # noqa: F821
c.ServerApp.ip = "127.0.0.1"
c.JupyterS3HubAuthentication.advisory_refresh_seconds = world["advisory"]
c.JupyterS3HubAuthentication.mandatory_refresh_seconds = world["mandatory"]
c.JupyterS3HubAuthentication.metadata_url = world["imds"]
c.JupyterS3.abandoned_upload_age = -1
"""


class _AnsweringIMDS(http.server.BaseHTTPRequestHandler):
    """Answers IMDSv2's token PUT as EC2's metadata service would (on 127.0.0.1)."""

    def do_PUT(self) -> None:
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"not-a-real-imds-token")

    def log_message(self, *args: Any) -> None:
        pass


class HubWorld:
    """Everything the end-to-end tests need, started by :meth:`start`, stopped by :meth:`close`."""

    def __init__(
        self, directory: Path, *, lifetime: float, reuse: float, advisory: float, mandatory: float
    ) -> None:
        self.dir = directory
        self.marker = uuid.uuid4().hex
        self.admin_token = uuid.uuid4().hex
        self.lifetime, self.reuse, self.advisory, self.mandatory = (
            lifetime,
            reuse,
            advisory,
            mandatory,
        )
        self.hub: subprocess.Popen[bytes] | None = None
        self.log_path = directory / "jupyterhub.log"
        self.ports = {"alice": free_port(), "bob": free_port()}
        self.hub_port, self.proxy_port, self.proxy_api_port = free_port(), free_port(), free_port()
        self.service_port = free_port()
        self.timings: dict[str, float] = {}
        self.tokens: dict[str, str] = {}
        self._closers: list[Any] = []

    # -- start -----------------------------------------------------------------------

    def start(self) -> HubWorld:
        started = time.monotonic()
        self.moto = MotoServer().start()
        self._closers.append(self.moto.stop)
        for bucket in (BUCKET, TEAM, LAKE):
            self.moto.create_bucket(bucket, REGION)
        self.sts = FakeSTS(
            {ROLE: ROLE_POLICY}, trusted_key_ids={HUB_KEY}, lifetime=self.lifetime
        ).start()
        self._closers.append(self.sts.stop)
        self.proxy = FaultProxy(self.moto.endpoint_url).start()
        self._closers.append(self.proxy.stop)
        self.enforcer = PolicyEnforcer(self.sts, allow_keys={ADMIN_KEY})
        self.proxy.add_hook(self.enforcer)
        self.imds = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _AnsweringIMDS)
        threading.Thread(target=self.imds.serve_forever, daemon=True).start()
        self._closers.append(self.imds.shutdown)
        self._write_config()
        self.start_hub()
        self.timings["hub up"] = time.monotonic() - started
        return self

    def _write_config(self) -> None:
        (self.dir / "home").mkdir(exist_ok=True)
        credentials = self.dir / "hub-aws-credentials"
        credentials.write_text(
            f"[default]\naws_access_key_id = {HUB_KEY}\naws_secret_access_key = {HUB_SECRET}\n"
        )
        world = {
            "dir": str(self.dir),
            "marker": self.marker,
            "admin_token": self.admin_token,
            "admin_key": ADMIN_KEY,
            "admin_secret": ADMIN_SECRET,
            "ports": self.ports,
            "hub_port": self.hub_port,
            "proxy_port": self.proxy_port,
            "proxy_api_port": self.proxy_api_port,
            "service_port": self.service_port,
            "chp": str(Path(sys.executable).parent / "configurable-http-proxy"),
            "s3": self.proxy.endpoint_url,
            "imds": f"http://127.0.0.1:{self.imds.server_address[1]}/",
            "reuse_seconds": self.reuse,
            "advisory": self.advisory,
            "mandatory": self.mandatory,
            "singleuser_config": str(self.dir / "singleuser_config.py"),
        }
        text = json.dumps(world)
        fields = {"world": text, "role": ROLE, "bucket": BUCKET, "team": TEAM, "lake": LAKE}
        hub_example = str(EXAMPLES / "jupyterhub_config_scoped.py")
        server_example = str(EXAMPLES / "jupyter_server_config_jupyterhub_scoped.py")
        (self.dir / "jupyterhub_config.py").write_text(
            HUB_CONFIG.format(example=hub_example, **fields)
        )
        (self.dir / "singleuser_config.py").write_text(
            SINGLEUSER_CONFIG.format(world=text, example=server_example)
        )
        self.hub_env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("AWS_", "JUPYTER", "JPY_", "PYTEST_", "CONFIGPROXY"))
        }
        self.hub_env.update(
            JS3_HUB_E2E=self.marker,
            # The hub's own identity, which configure() hands to the service (AWS_*).
            AWS_SHARED_CREDENTIALS_FILE=str(credentials),
            AWS_CONFIG_FILE=str(self.dir / "no-config"),
            AWS_EC2_METADATA_DISABLED="true",
            AWS_ENDPOINT_URL_STS=self.sts.endpoint_url,
            AWS_REGION=REGION,
            # What examples/jupyterhub_config_scoped.py reads.
            JUPYTERS3_ROLE_ARN=ROLE,
            JUPYTERS3_BUCKET=BUCKET,
            JUPYTERS3_TEAM_URL=f"s3://{TEAM}/shared/",
            JUPYTERS3_LAKE_URL=f"s3://{LAKE}/curated/",
            JUPYTERS3_SINGLEUSER_CONFIG=world["singleuser_config"],
            PYTHONUNBUFFERED="1",
        )

    def start_hub(self, timeout: float = 90) -> None:
        """Start ``python -m jupyterhub`` and wait until its API and the service answer."""
        with open(self.log_path, "ab") as log:
            log.write(b"---- e2e: starting jupyterhub ----\n")
            log.flush()
            self.hub = subprocess.Popen(
                [sys.executable, "-m", "jupyterhub", "-f", str(self.dir / "jupyterhub_config.py")],
                cwd=self.dir,
                env=self.hub_env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.hub.poll() is not None:
                raise RuntimeError(f"jupyterhub exited ({self.hub.returncode}):\n{self.log_tail()}")
            if self._answers(self.hub_port, "/hub/api/") and self._answers(
                self.service_port, f"/services/{SERVICE}/"
            ):
                return
            time.sleep(0.2)
        raise RuntimeError(f"jupyterhub did not answer within {timeout} s:\n{self.log_tail()}")

    def stop_hub(self, timeout: float = 15) -> None:
        """SIGTERM the hub, SIGKILL after ``timeout``; then stop what it left of its own
        (the service, the proxy), never the single-user servers and their kernels."""
        hub, self.hub = self.hub, None
        if hub is not None and hub.poll() is None:
            hub.send_signal(signal.SIGTERM)
            try:
                hub.wait(timeout)
            except subprocess.TimeoutExpired:
                hub.kill()
                hub.wait(timeout)
        leftovers = [pid for pid, env, cmd in self.processes() if "JUPYTERHUB_USER" not in env]
        _stop_pids(leftovers)

    def close(self) -> None:
        """Stop the hub, then every process of this world by PID, then the servers in threads."""
        try:
            self.stop_hub()
        finally:
            _stop_pids([pid for pid, _, _ in self.processes()])
            for closer in reversed(self._closers):
                with contextlib.suppress(Exception):
                    closer()

    def processes(self) -> list[tuple[int, dict[str, str], str]]:
        """``(pid, environment, command line)`` of every live process carrying the marker."""
        found = []
        needle = f"JS3_HUB_E2E={self.marker}".encode()
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) == os.getpid():
                continue
            try:
                raw = (entry / "environ").read_bytes()
                if needle not in raw.split(b"\0"):
                    continue
                cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if stat.rsplit(")", 1)[-1].split()[0] == "Z":
                continue  # a zombie: already gone
            env = dict(
                item.decode(errors="replace").partition("=")[::2]
                for item in raw.split(b"\0")
                if item
            )
            found.append((int(entry.name), env, cmd))
        return found

    # -- talking to it ---------------------------------------------------------------

    def api(
        self, method: str, path: str, body: Any = None, token: str | None = None
    ) -> tuple[int, Any]:
        """A request to the hub's REST API (as the e2e-admin service)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.hub_port, timeout=60)
        try:
            headers = {"Authorization": f"token {token or self.admin_token}"}
            data = None if body is None else json.dumps(body)
            if data is not None:
                headers["Content-Type"] = "application/json"
            conn.request(method, f"/hub/api{path}", body=data, headers=headers)
            response = conn.getresponse()
            raw = response.read()
            return response.status, (json.loads(raw) if raw.strip() else None)
        finally:
            conn.close()

    def spawn(self, *users: str, timeout: float = 120) -> None:
        """Create each user, start their servers (together), wait until they answer."""
        started = time.monotonic()
        for user in users:
            status, _ = self.api("POST", f"/users/{user}")
            assert status in (201, 409), status
            status, _ = self.api("POST", f"/users/{user}/server")
            assert status in (201, 202), (status, self.log_tail())
        deadline = time.monotonic() + timeout
        pending = set(users)
        while pending and time.monotonic() < deadline:
            for user in list(pending):
                _, model = self.api("GET", f"/users/{user}")
                if model and model.get("servers", {}).get("", {}).get("ready"):
                    pending.discard(user)
            time.sleep(0.3)
        assert not pending, f"servers of {sorted(pending)} not ready:\n{self.log_tail()}"
        for user in users:
            status, model = self.api(
                "POST",
                f"/users/{user}/tokens",
                {
                    "note": "e2e",
                    "scopes": [f"access:servers!user={user}", f"access:services!service={SERVICE}"],
                },
            )
            assert status == 201, (status, model)
            self.tokens[user] = model["token"]
        self.timings["servers up"] = time.monotonic() - started

    def contents(self, user: str) -> ContentsClient:
        """The contents API of the user's server, straight to its port (the hub may be down)."""
        return ContentsClient(
            f"http://127.0.0.1:{self.ports[user]}/user/{user}/", self.tokens[user]
        )

    def service_credentials(self, token: str) -> tuple[int, Any]:
        """``GET`` the credentials service with ``token`` (what a server's token gets)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.service_port, timeout=30)
        try:
            conn.request(
                "GET",
                f"/services/{SERVICE}/credentials",
                headers={"Authorization": f"token {token}"},
            )
            response = conn.getresponse()
            return response.status, json.loads(response.read() or b"null")
        finally:
            conn.close()

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    def _answers(self, port: int, path: str) -> bool:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        try:
            conn.request("GET", path)
            response = conn.getresponse()
            response.read()
            return response.status < 500
        except (OSError, http.client.HTTPException):
            return False
        finally:
            conn.close()


def _stop_pids(pids: list[int], timeout: float = 10) -> None:
    """SIGTERM each PID, then SIGKILL those still alive after ``timeout``."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    alive = list(pids)
    while alive and time.monotonic() < deadline:
        alive = [pid for pid in alive if _alive(pid)]
        time.sleep(0.1)
    for pid in alive:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"
