"""A real Jupyter server (or JupyterLab / Notebook) in a subprocess on 127.0.0.1."""

from __future__ import annotations

import http.client
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from secrets import token_hex
from typing import Any, Literal

from jupyters3_testing._process import ServerProcess
from jupyters3_testing.leaks import (
    SecretLeak,
    SecretLeakError,
    describe_leaks,
    find_secrets,
    redact,
    secrets_in_config,
    secrets_in_env,
)
from jupyters3_testing.s3server import free_port

__all__ = [
    "APPS",
    "DEBUG_LOGGING_CONFIG",
    "JUPYTERS3_MANAGER",
    "JupyterServer",
    "JupyterServerError",
    "SecretLeakError",
    "merge_config",
]

_HOST = "127.0.0.1"

#: The jupyters3 contents manager class, as configured in ``ServerApp.contents_manager_class``.
JUPYTERS3_MANAGER = "jupyters3.JupyterS3"

#: ``app`` name -> the module run with ``python -m``.
APPS: Mapping[str, str] = {
    "server": "jupyter_server",
    "lab": "jupyterlab",
    "notebook": "notebook",
}

App = Literal["server", "lab", "notebook"]

#: Config added under ``debug=True`` (the server's own config wins): the
#: ``jupyters3`` loggers (``jupyters3.s3``, ``jupyters3.credentials``, ...) at
#: DEBUG on the server's console handler. ``--debug`` does the rest.
DEBUG_LOGGING_CONFIG: Mapping[str, Any] = {
    "Application": {
        "logging_config": {
            "loggers": {
                "jupyters3": {"level": "DEBUG", "handlers": ["console"], "propagate": False},
            },
        },
    },
}


class JupyterServerError(RuntimeError):
    """The Jupyter server could not be started (the message carries the log tail)."""


def merge_config(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Deep-merge two traitlets config dicts (``override`` wins, neither is modified).

    Example: ``merge_config(js3_jupyter_config, {"JupyterS3": {"prefix": "p/"}})``.
    """
    merged: dict[str, Any] = dict(base)
    for key, value in override.items():
        current = merged.get(key)
        if isinstance(current, Mapping) and isinstance(value, Mapping):
            merged[key] = merge_config(current, value)
        else:
            merged[key] = value
    return merged


class JupyterServer(ServerProcess):
    """``python -m jupyter_server`` (or ``jupyterlab`` / ``notebook``) as a subprocess.

    The server listens on 127.0.0.1 on a free port, with a random token and
    XSRF checks on (requests that send ``Authorization: token ...`` skip them,
    as in any Jupyter server). ``config`` is a traitlets config dict written to
    a JSON file and passed with ``--config``, for example::

        {"ServerApp": {"contents_manager_class": "jupyters3.JupyterS3"},
         "JupyterS3": {"aws_s3_bucket": "b", "endpoint_url": "http://127.0.0.1:5000"}}

    ``env`` adds variables to the inherited environment (a ``None`` value
    removes one). Jupyter's config, data and runtime directories are private
    to the instance, so user-level Jupyter config does not leak in;
    installation-level config (``sys.prefix/etc/jupyter``, which enables
    JupyterLab's server extension) still applies.

    ``root_dir`` defaults to a private temporary directory: Jupyter still needs
    a local directory for kernels' working directory and session files, even
    when the contents live in S3. Stdout and stderr go to :attr:`log_path`.
    Everything private is removed by :meth:`close` (or leaving the ``with``
    block); :meth:`stop` only stops the process, so :meth:`restart` and
    :meth:`log_text` still work after it.

    ``debug`` (default ``True``) runs the server with ``--debug`` and the
    ``jupyters3`` loggers at DEBUG (:data:`DEBUG_LOGGING_CONFIG`), so that
    every log line that could hold a secret is written.

    Secrets: every :meth:`stop` (so also :meth:`restart` and :meth:`close`)
    scans the whole log for the secrets the server was given
    (:meth:`watched_secrets`: those of ``env`` and ``config`` plus ``secrets``,
    a mapping ``label -> value``, read at each scan, so a test may keep adding
    to it, e.g. credentials a fake endpoint hands out) and raises
    :class:`~jupyters3_testing.leaks.SecretLeakError` (an ``AssertionError``)
    naming each secret found and its line, never the value. Each leak is
    reported once. ``scan_secrets=False`` turns the scan off.
    """

    error = JupyterServerError

    def __init__(
        self,
        *,
        config: Mapping[str, Any] | None = None,
        env: Mapping[str, str | None] | None = None,
        app: App = "server",
        root_dir: str | os.PathLike[str] | None = None,
        token: str | None = None,
        extra_args: Sequence[str] = (),
        startup_timeout: float = 60.0,
        stop_timeout: float = 10.0,
        port_attempts: int = 3,
        debug: bool = True,
        secrets: Mapping[str, str] | None = None,
        scan_secrets: bool = True,
    ) -> None:
        if app not in APPS:
            raise ValueError(f"app must be one of {sorted(APPS)}, got {app!r}")
        self.app: App = app
        self.config: dict[str, Any] = dict(config or {})
        self.env: dict[str, str | None] = dict(env or {})
        self.token: str = token or token_hex(24)
        self.extra_args = list(extra_args)
        self.debug = debug
        #: Extra secrets (label -> value) the log must not contain; read at each scan.
        self.secrets: Mapping[str, str] = {} if secrets is None else secrets
        self.scan_secrets = scan_secrets
        super().__init__(
            startup_timeout=startup_timeout, stop_timeout=stop_timeout, port_attempts=port_attempts
        )
        self._user_root = Path(root_dir) if root_dir is not None else None
        self._dir: Path | None = None
        self.log_path: Path | None = None
        self._started_with: dict[str, str] = {}  # value -> label, of every start
        self._reported: set[SecretLeak] = set()

    # -- lifecycle ---------------------------------------------------------

    @staticmethod
    def available(app: App) -> bool:
        """True if ``app``'s module can be imported in this Python."""
        return importlib.util.find_spec(APPS[app]) is not None

    def start(self) -> JupyterServer:
        """Start on a free port and wait until ``GET /api/status`` answers 200."""
        if self._proc is not None:
            raise JupyterServerError("JupyterServer already started")
        if not self.available(self.app):
            raise JupyterServerError(f"app={self.app!r} needs {APPS[self.app]!r}, not installed")
        self._prepare_dir()
        self._start_on_free_ports(lambda _: self._try_start(free_port()))
        return self

    def restart(self) -> JupyterServer:
        """Stop (if running) and start again on the same port, token, config and root_dir.

        Keep the server :meth:`close`-d only at the end: closing removes the
        private ``root_dir`` (and the log), which a restart would recreate empty.
        """
        self.stop()
        if self._port is None:
            return self.start()
        self._prepare_dir()  # rewrites the config file: edits to .config apply
        error = self._try_start(self._port)
        if error is not None:
            raise JupyterServerError(error)
        return self

    def kill(self) -> None:
        """SIGKILL by PID at once and reap the process: a crash, no shutdown hook runs.

        Idempotent. The log is not scanned now (the next :meth:`stop` scans it
        whole), and nothing else is touched: :meth:`start` (a new port) or
        :meth:`restart` (the same port) runs the server again on the same
        config, token and ``root_dir``.
        """
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.kill()  # os.kill(pid, SIGKILL), unless already reaped
        if proc is not None:
            proc.wait(timeout=self._stop_timeout)

    def stop(self) -> None:
        """SIGTERM by PID, SIGKILL after ``stop_timeout``; then :meth:`check_log`. Idempotent.

        Raises :class:`~jupyters3_testing.leaks.SecretLeakError` when the log
        holds a secret not reported before (the process is stopped first).
        """
        super().stop()
        self.check_log()

    def close(self) -> None:
        """:meth:`stop` (SIGTERM by PID, log scanned), then remove the private directory.

        The directory (logs included) is removed even when the scan raises.
        """
        try:
            self.stop()
        finally:
            if self._dir is not None:
                shutil.rmtree(self._dir, ignore_errors=True)
                self._dir = None
                self.log_path = None

    # -- secrets -----------------------------------------------------------

    def watched_secrets(self) -> dict[str, str]:
        """Every secret the log must not contain, ``label -> value``.

        Those :func:`~jupyters3_testing.leaks.secrets_in_env` finds in the
        server's environment (the inherited one with ``env`` applied: AWS
        secret key, session token, container authorization token, the web
        identity and container token files' contents, the shared files'
        keys), those :func:`~jupyters3_testing.leaks.secrets_in_config` finds
        in ``config``, as they are now and as they were at each start, and
        :attr:`secrets`.
        """
        by_value = dict(self._started_with)
        for label, value in [*self._given_secrets().items(), *self.secrets.items()]:
            by_value.setdefault(value, label)
        labels: dict[str, str] = {}
        for value, label in by_value.items():
            unique, number = label, 1
            while unique in labels:
                number += 1
                unique = f"{label} #{number}"
            labels[unique] = value
        return labels

    def find_leaks(self) -> list[SecretLeak]:
        """Where the log holds a :meth:`watched_secrets` value (as is, URL- or base64-encoded)."""
        return find_secrets(self.log_text(), self.watched_secrets())

    def check_log(self) -> None:
        """Raise :class:`~jupyters3_testing.leaks.SecretLeakError` for leaks not reported yet.

        Does nothing when ``scan_secrets`` is false or there is no log.
        """
        if not self.scan_secrets or self.log_path is None:
            return
        text, watched = self.log_text(), self.watched_secrets()
        leaks = [leak for leak in find_secrets(text, watched) if leak not in self._reported]
        if not leaks:
            return
        self._reported.update(leaks)
        source = f"the log of {APPS[self.app]} (port {self._port})"
        raise SecretLeakError(describe_leaks(leaks, text, watched, source), leaks)

    def _given_secrets(self) -> dict[str, str]:
        env = self._inherited_env()
        return {**secrets_in_env(env), **secrets_in_config(self.config)}

    # -- properties --------------------------------------------------------

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT/`` (the base URL, with a trailing slash)."""
        return f"http://{_HOST}:{self.port}/"

    @property
    def root_dir(self) -> Path:
        """The local ``ServerApp.root_dir``."""
        if self._user_root is not None:
            return self._user_root
        if self._dir is None:
            raise JupyterServerError("JupyterServer was never started (or is closed)")
        return self._dir / "root"

    @property
    def runtime_dir(self) -> Path:
        """The server's private Jupyter runtime folder (kernels' connection files)."""
        if self._dir is None:
            raise JupyterServerError("JupyterServer was never started (or is closed)")
        return self._dir / "runtime"

    @property
    def data_dir(self) -> Path:
        """The server's private Jupyter data folder (kept across restarts)."""
        if self._dir is None:
            raise JupyterServerError("JupyterServer was never started (or is closed)")
        return self._dir / "data"

    def log_text(self) -> str:
        """Everything the server wrote to stdout/stderr so far (all restarts)."""
        if self.log_path is None:
            return ""
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def log_tail(self, lines: int = 40) -> str:
        """The last ``lines`` lines of :meth:`log_text`."""
        return "\n".join(self.log_text().splitlines()[-lines:])

    def _safe_tail(self) -> str:
        """:meth:`log_tail` with the watched secrets replaced by their labels (for messages)."""
        return redact(self.log_tail(), self.watched_secrets())

    def command(self, port: int) -> list[str]:
        """The argv used to start the server on ``port``."""
        assert self._dir is not None
        return [
            sys.executable,
            "-m",
            APPS[self.app],
            f"--config={self._dir / 'js3_jupyter_config.json'}",
            f"--ServerApp.ip={_HOST}",
            f"--ServerApp.port={port}",
            "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={self.token}",
            "--ServerApp.open_browser=False",
            "--ServerApp.disable_check_xsrf=False",
            "--ServerApp.allow_root=True",  # CI containers often run as root
            f"--ServerApp.root_dir={self.root_dir}",
            *(["--debug"] if self.debug else []),
            *self.extra_args,
        ]

    # -- internals ---------------------------------------------------------

    def _prepare_dir(self) -> None:
        if self._dir is None:
            self._dir = Path(tempfile.mkdtemp(prefix="js3-jupyter-"))
            for sub in ("root", "config", "data", "runtime"):
                (self._dir / sub).mkdir()
            self.log_path = self._dir / "jupyter.log"
        config = merge_config(DEBUG_LOGGING_CONFIG, self.config) if self.debug else self.config
        (self._dir / "js3_jupyter_config.json").write_text(json.dumps(config, indent=2))

    def _inherited_env(self, **ours: str) -> dict[str, str]:
        """os.environ, plus ``ours``, with ``env`` applied last."""
        env = dict(os.environ)
        env.update(ours)
        env.pop("JUPYTER_TOKEN", None)  # the token is ours, on the command line
        for key, value in self.env.items():
            if value is None:
                env.pop(key, None)
            else:
                env[key] = value
        return env

    def _environ(self) -> dict[str, str]:
        assert self._dir is not None
        return self._inherited_env(
            JUPYTER_CONFIG_DIR=str(self._dir / "config"),
            JUPYTER_DATA_DIR=str(self._dir / "data"),
            JUPYTER_RUNTIME_DIR=str(self._dir / "runtime"),
            PYTHONUNBUFFERED="1",
        )

    def _try_start(self, port: int) -> str | None:
        assert self.log_path is not None
        for label, value in self._given_secrets().items():  # token files may rotate later
            self._started_with.setdefault(value, label)
        with open(self.log_path, "ab") as log:
            log.write(f"---- js3: starting {APPS[self.app]} on port {port} ----\n".encode())
            log.flush()
            proc = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
                self.command(port),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self._environ(),
                cwd=self.root_dir,
            )
        self._proc, self._port = proc, port
        deadline = time.monotonic() + self._startup_timeout
        while time.monotonic() < deadline:
            code = proc.poll()
            if code is not None:
                self._proc = None
                return (
                    f"{APPS[self.app]} exited with code {code} during startup "
                    f"(port {port}); log tail:\n{self._safe_tail()}"
                )
            if self._status_ok(port):
                return None
            time.sleep(0.1)
        self.stop()
        return (
            f"{APPS[self.app]} did not answer GET /api/status on {_HOST}:{port} within "
            f"{self._startup_timeout:.0f}s; log tail:\n{self._safe_tail()}"
        )

    def _status_ok(self, port: int) -> bool:
        conn = http.client.HTTPConnection(_HOST, port, timeout=2.0)
        try:
            conn.request("GET", "/api/status", headers={"Authorization": f"token {self.token}"})
            resp = conn.getresponse()
            resp.read()
        except (OSError, http.client.HTTPException):
            return False
        finally:
            conn.close()
        return resp.status == 200
