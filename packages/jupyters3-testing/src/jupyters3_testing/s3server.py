"""A real moto S3 server in a subprocess, bound to 127.0.0.1 on a free port."""

from __future__ import annotations

import http.client
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from xml.sax.saxutils import escape

from jupyters3_testing._process import ServerProcess

__all__ = ["DUMMY_AUTH_HEADERS", "MotoServer", "MotoServerError", "free_port"]

_HOST = "127.0.0.1"

#: Headers that make a raw request look signed. moto (5.2.5) does not check
#: signatures by default but answers anonymous GET/HEAD/DELETE of objects with
#: 403; any well-formed Authorization header is accepted.
DUMMY_AUTH_HEADERS: Mapping[str, str] = {
    "Authorization": (
        "AWS4-HMAC-SHA256 Credential=testing/20240101/us-east-1/s3/aws4_request, "
        "SignedHeaders=host, Signature=" + "0" * 64
    ),
}


class MotoServerError(RuntimeError):
    """The moto server could not be started or did not answer a helper request."""


def free_port(host: str = _HOST) -> int:
    """Return a TCP port that was free on ``host`` a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


class MotoServer(ServerProcess):
    """``python -m moto.server`` as a subprocess on 127.0.0.1.

    ``env`` adds variables to the server's environment (for example
    ``S3_UPLOAD_PART_MIN_SIZE`` or ``MOTO_S3_DEFAULT_MAX_KEYS``). The server's
    output goes to ``log_path`` in a private temporary directory, which is
    removed by :meth:`stop`.
    """

    error = MotoServerError

    def __init__(
        self,
        env: Mapping[str, str] | None = None,
        *,
        startup_timeout: float = 60.0,
        stop_timeout: float = 10.0,
        port_attempts: int = 3,
    ) -> None:
        super().__init__(
            startup_timeout=startup_timeout, stop_timeout=stop_timeout, port_attempts=port_attempts
        )
        self._extra_env = dict(env or {})
        self._log_dir: Path | None = None
        self.log_path: Path | None = None

    # -- lifecycle ---------------------------------------------------------

    def start(self) -> MotoServer:
        """Start the server and wait until it answers HTTP requests."""
        if self._proc is not None:
            raise MotoServerError("MotoServer already started")
        self._log_dir = Path(tempfile.mkdtemp(prefix="js3-moto-"))
        try:
            self._start_on_free_ports(lambda attempt: self._try_start(free_port(), attempt))
        except MotoServerError:
            self._cleanup_dir()
            raise
        return self

    def _try_start(self, port: int, attempt: int) -> str | None:
        assert self._log_dir is not None
        log_path = self._log_dir / f"moto-{attempt}.log"
        env = dict(os.environ)
        env.update(self._extra_env)
        env["PYTHONUNBUFFERED"] = "1"
        # moto, with object writes and deletes atomic as on S3 (see moto_atomic).
        cmd = [sys.executable, "-m", "jupyters3_testing.moto_atomic", "-H", _HOST, "-p", str(port)]
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
            )
        self._proc, self._port, self.log_path = proc, port, log_path
        deadline = time.monotonic() + self._startup_timeout
        while time.monotonic() < deadline:
            code = proc.poll()
            if code is not None:
                self._proc = None
                return (
                    f"moto server exited with code {code} during startup "
                    f"(port {port}); log tail:\n{_tail(log_path)}"
                )
            if self._answers():
                return None
            time.sleep(0.1)
        self._terminate(proc)
        self._proc = None
        return (
            f"moto server did not answer on {_HOST}:{port} within "
            f"{self._startup_timeout:.0f}s; log tail:\n{_tail(log_path)}"
        )

    def _answers(self) -> bool:
        try:
            status, _ = self.request("GET", "/moto-api/", timeout=1.0)
        except OSError:
            return False
        return status < 500

    def stop(self) -> None:
        """Terminate the server (then kill it after a timeout). Idempotent."""
        super().stop()
        self._cleanup_dir()

    def _cleanup_dir(self) -> None:
        if self._log_dir is not None:
            shutil.rmtree(self._log_dir, ignore_errors=True)
            self._log_dir = None

    # -- properties --------------------------------------------------------

    @property
    def host(self) -> str:
        """Always ``127.0.0.1``."""
        return _HOST

    @property
    def endpoint_url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://{_HOST}:{self.port}"

    def log_tail(self, lines: int = 40) -> str:
        """The last lines of the server's output (empty once stopped)."""
        return _tail(self.log_path, lines) if self.log_path is not None else ""

    # -- helpers -----------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        body: bytes = b"",
        headers: Mapping[str, str] | None = None,
        *,
        auth: bool = False,
        timeout: float = 30.0,
    ) -> tuple[int, bytes]:
        """One raw HTTP request to the server; returns (status, body).

        Unsigned unless ``auth`` adds :data:`DUMMY_AUTH_HEADERS`. A
        ``Content-Type`` is always sent: without it moto (Werkzeug) may treat a
        body as a form.
        """
        hdrs = {"Content-Type": "application/octet-stream"}
        if auth:
            hdrs.update(DUMMY_AUTH_HEADERS)
        hdrs.update(headers or {})
        conn = http.client.HTTPConnection(_HOST, self.port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=hdrs)
            resp = conn.getresponse()
            return resp.status, resp.read()
        finally:
            conn.close()

    def create_bucket(self, name: str, region: str = "us-east-1") -> None:
        """Create ``name`` with an unsigned PUT (moto does not check signatures)."""
        body = b""
        if region != "us-east-1":
            body = (
                '<CreateBucketConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
                f"<LocationConstraint>{escape(region)}</LocationConstraint>"
                "</CreateBucketConfiguration>"
            ).encode()
        status, data = self.request("PUT", f"/{name}", body, {"Content-Type": "application/xml"})
        if status != 200:
            raise MotoServerError(f"CreateBucket {name!r} failed: HTTP {status}: {data[:500]!r}")

    def reset(self) -> None:
        """Forget every bucket and object (``POST /moto-api/reset``)."""
        status, data = self.request("POST", "/moto-api/reset", b"", {"Content-Type": "text/plain"})
        if status != 200:
            raise MotoServerError(f"moto reset failed: HTTP {status}: {data[:500]!r}")


def _tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "<no log>"
    return "\n".join(text.splitlines()[-lines:])
