"""``hatch run demo:lab``: JupyterLab on jupyters3, backed by an embedded in-memory S3 server.

Starts a moto S3 server on 127.0.0.1, creates the bucket, then runs JupyterLab
in the foreground with ``jupyters3.JupyterS3`` as its contents manager, and
prints the URL to open (with the token: a random one, or ``$JUPYTER_TOKEN``).
Ctrl-C (SIGINT) or SIGTERM stops JupyterLab cleanly (SIGTERM, then SIGKILL
after a grace period or on a second Ctrl-C), then the S3 server; the exit
code is JupyterLab's. Arguments it does not know are passed to JupyterLab.
The files live in the S3 server's memory: they are gone once the demo stops.

Usage::

    python -m jupyters3_testing.demo [--port 8888] [--bucket notebooks] [--no-browser]
"""

from __future__ import annotations

import argparse
import http.client
import importlib.util
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from types import FrameType

from jupyters3_testing.jupyter import APPS, JUPYTERS3_MANAGER
from jupyters3_testing.s3server import MotoServer, MotoServerError

__all__ = ["build_command", "main"]

_HOST = "127.0.0.1"
_REGION = "us-east-1"
_STOP_GRACE = 20.0  # seconds between SIGTERM and SIGKILL
_READY_TIMEOUT = 120.0
_LANDING = {"lab": "lab", "notebook": "tree", "server": ""}
_TOKEN_OPTIONS = ("--IdentityProvider.token=", "--ServerApp.token=")
_TITLE = {"lab": "JupyterLab", "notebook": "Notebook", "server": "Jupyter Server"}

#: Dummy credentials (moto accepts any); the developer's own AWS settings are removed.
DEMO_ENV = {"AWS_ACCESS_KEY_ID": "AKIAJS3DEMO000000000", "AWS_SECRET_ACCESS_KEY": "js3-demo"}
_DROPPED_ENV = ("AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_PROFILE")


def build_command(
    *,
    port: int,
    bucket: str,
    endpoint_url: str,
    root_dir: str,
    open_browser: bool = True,
    app: str = "lab",
    contents_manager: str = JUPYTERS3_MANAGER,
    extra_args: Sequence[str] = (),
) -> list[str]:
    """The argv that serves ``bucket`` on ``endpoint_url`` with ``app`` (not started)."""
    return [
        sys.executable,
        "-m",
        APPS[app],
        f"--ServerApp.ip={_HOST}",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--ServerApp.open_browser={open_browser}",
        f"--ServerApp.root_dir={root_dir}",
        f"--ServerApp.contents_manager_class={contents_manager}",
        f"--JupyterS3.aws_s3_bucket={bucket}",
        f"--JupyterS3.endpoint_url={endpoint_url}",
        f"--JupyterS3.aws_region={_REGION}",
        "--JupyterS3.prefix=",
        *extra_args,
    ]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        allow_abbrev=False,
        prog="python -m jupyters3_testing.demo",
        description="JupyterLab on jupyters3 with an embedded in-memory S3 server (moto). "
        "Other arguments are passed to JupyterLab.",
    )
    parser.add_argument("--port", type=int, default=8888, help="JupyterLab's port (8888)")
    parser.add_argument("--bucket", default="notebooks", help="the bucket to create and serve")
    parser.add_argument("--no-browser", action="store_true", help="do not open a browser")
    # For the launcher's own tests, before/without JupyterLab and jupyters3:
    parser.add_argument("--server-app", choices=sorted(APPS), default="lab", help=argparse.SUPPRESS)
    parser.add_argument("--contents-manager", default=JUPYTERS3_MANAGER, help=argparse.SUPPRESS)
    return parser


class _Stopper:
    """SIGINT/SIGTERM handler: remember the signal; once the app runs, SIGTERM it, then SIGKILL.

    It never raises, so no step is cut in half: ``main`` checks :attr:`signum`
    between steps, and forwards a signal that arrived while the app started.
    """

    def __init__(self) -> None:
        self.proc: subprocess.Popen[bytes] | None = None
        self.title = "JupyterLab"
        self.signum: int | None = None
        self.kill_at: float | None = None

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        if self.signum is None:
            self.signum = signum
            self.forward()
        elif self.proc is not None:
            self.proc.kill()  # a second Ctrl-C: no more waiting

    def forward(self) -> None:
        """SIGTERM the app (once) if a stop was requested and it is running."""
        if self.proc is not None and self.signum is not None and self.kill_at is None:
            self.proc.send_signal(signal.SIGTERM)
            self.kill_at = time.monotonic() + _STOP_GRACE

    def wait(self) -> int:
        """Wait for the app (it runs until stopped), killing it after the grace period."""
        assert self.proc is not None
        announced = False
        while True:
            if self.signum is not None and not announced:
                # Printed here, not in the handler: a handler must not write to
                # a stream that the interrupted code may be writing to.
                _say(f"stopping {self.title} and the S3 server ...")
                announced = True
            try:
                return self.proc.wait(timeout=0.5)
            except subprocess.TimeoutExpired:
                if self.kill_at is not None and time.monotonic() > self.kill_at:
                    self.proc.kill()


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((_HOST, port))
        except OSError:
            return False
    return True


def _wait_http(proc: subprocess.Popen[bytes], port: int) -> bool:
    """True once the app answers any HTTP request (bounded; False if it exited)."""
    deadline = time.monotonic() + _READY_TIMEOUT
    while time.monotonic() < deadline and proc.poll() is None:
        conn = http.client.HTTPConnection(_HOST, port, timeout=2.0)
        try:
            conn.request("GET", "/api")  # unauthenticated: the version
            conn.getresponse().read()
            return True
        except (OSError, http.client.HTTPException):
            time.sleep(0.2)
        finally:
            conn.close()
    return False


def _token_works(port: int, token: str) -> bool:
    """True if ``token`` is accepted (a user's own Jupyter config may set another one)."""
    headers = {"Authorization": f"token {token}"} if token else {}
    conn = http.client.HTTPConnection(_HOST, port, timeout=5.0)
    try:
        conn.request("GET", "/api/status", headers=headers)
        resp = conn.getresponse()
        resp.read()
        return resp.status == 200
    except (OSError, http.client.HTTPException):
        return False
    finally:
        conn.close()


def _choose_token(extra: Sequence[str], env: dict[str, str]) -> str | None:
    """The token the app will use, set in ``env`` if the user chose none (``None``: unknown).

    A ``--IdentityProvider.token=...`` argument or ``$JUPYTER_TOKEN`` is kept
    (``""`` turns authentication off); a token file or other token / password
    options are left to the app, and the URL is then printed without the token.
    """
    given = [a.split("=", 1)[1] for a in extra if a.startswith(_TOKEN_OPTIONS) and "=" in a]
    if given:
        return given[-1]
    if any("token" in a or "password" in a for a in extra) or "JUPYTER_TOKEN_FILE" in env:
        return None
    if "JUPYTER_TOKEN" in env:
        return env["JUPYTER_TOKEN"]
    # In the environment, not on the command line: other users can read argv.
    env["JUPYTER_TOKEN"] = token = secrets.token_hex(24)
    return token


def _say(message: str, *, err: bool = False) -> None:
    print(f"demo: {message}", file=sys.stderr if err else sys.stdout, flush=True)


def _exit_code(returncode: int) -> int:
    return 128 - returncode if returncode < 0 else returncode


def main(argv: Sequence[str] | None = None) -> int:
    """Run the demo; return JupyterLab's exit code."""
    args, extra = _parser().parse_known_args(argv)
    as_root = hasattr(os, "geteuid") and os.geteuid() == 0  # dev containers often do
    if as_root and not any("allow_root" in a or "allow-root" in a for a in extra):
        extra = ["--ServerApp.allow_root=True", *extra]
    module = APPS[args.server_app]
    if importlib.util.find_spec(module) is None:
        _say(f"{module} is not installed (pip install {module})", err=True)
        return 2
    if not _port_free(args.port):
        _say(f"port {args.port} is busy on {_HOST}; choose another with --port", err=True)
        return 2

    stopper = _Stopper()
    previous = {sig: signal.signal(sig, stopper) for sig in (signal.SIGINT, signal.SIGTERM)}
    moto = MotoServer()
    root_dir = tempfile.mkdtemp(prefix="js3-demo-root-")
    try:
        try:
            moto.start()
            moto.create_bucket(args.bucket, _REGION)
        except MotoServerError as exc:
            if stopper.signum is not None:  # Ctrl-C reached moto too (same process group)
                return 128 + stopper.signum
            _say(f"could not start the S3 server (moto): {exc}", err=True)
            return 1
        if stopper.signum is not None:
            return 128 + stopper.signum
        cmd = build_command(
            port=args.port,
            bucket=args.bucket,
            endpoint_url=moto.endpoint_url,
            root_dir=root_dir,
            open_browser=not args.no_browser,
            app=args.server_app,
            contents_manager=args.contents_manager,
            extra_args=extra,
        )
        env = {k: v for k, v in os.environ.items() if k not in _DROPPED_ENV}
        env.update(DEMO_ENV)
        token = _choose_token(extra, env)
        title = stopper.title = _TITLE[args.server_app]
        _say(f"S3 server (moto) at {moto.endpoint_url}, bucket {args.bucket!r}; starting {title}")
        # A session of its own: the terminal's Ctrl-C reaches only this launcher,
        # which stops the app with SIGTERM (no interactive "Shutdown?" prompt).
        stopper.proc = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
            cmd, stdin=subprocess.DEVNULL, env=env, start_new_session=True
        )
        stopper.forward()  # a signal that arrived during the start
        if _wait_http(stopper.proc, args.port) and stopper.signum is None:
            url = f"http://{_HOST}:{args.port}/{_LANDING[args.server_app]}"
            if token is not None and _token_works(args.port, token):
                url += f"?token={token}" if token else ""
            else:
                url += " (with the ?token=... printed above)"
            _say(f"serving {url}")
            _say(
                "WARNING: the demo's files live in the embedded S3 server's memory "
                "and are lost when it stops."
            )
            _say(f"press Ctrl-C to stop {title} and the S3 server.")
        code = _exit_code(stopper.wait())
        if stopper.signum is None:
            _say(f"{title} exited with code {code} (its log is above)", err=True)
        return code
    finally:
        if stopper.proc is not None and stopper.proc.poll() is None:  # an error above
            stopper.proc.kill()
            stopper.proc.wait()
        moto.stop()
        shutil.rmtree(root_dir, ignore_errors=True)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if stopper.signum is not None:
            _say("stopped.")


if __name__ == "__main__":
    sys.exit(main())
