"""What MotoServer and JupyterServer share: a server subprocess on 127.0.0.1,
started on a free port (retried when another process takes the port first)
and stopped by its PID."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Callable
from types import TracebackType
from typing import ClassVar, TypeVar

__all__ = ["ServerProcess"]

_S = TypeVar("_S", bound="ServerProcess")


class ServerProcess:
    """Base of the subprocess servers; subclasses implement ``start``."""

    #: The exception raised for start-up failures and misuse.
    error: ClassVar[type[Exception]] = RuntimeError

    def __init__(self, *, startup_timeout: float, stop_timeout: float, port_attempts: int) -> None:
        self._startup_timeout = startup_timeout
        self._stop_timeout = stop_timeout
        self._port_attempts = max(1, port_attempts)
        self._proc: subprocess.Popen[bytes] | None = None
        self._port: int | None = None

    def start(self) -> ServerProcess:
        """Start the server and wait until it answers (subclasses)."""
        raise NotImplementedError

    def stop(self) -> None:
        """SIGTERM by PID, then SIGKILL after ``stop_timeout``. Idempotent."""
        proc, self._proc = self._proc, None
        if proc is not None:
            self._terminate(proc)

    def close(self) -> None:
        """:meth:`stop` and release whatever else the server holds."""
        self.stop()

    def _start_on_free_ports(self, try_start: Callable[[int], str | None]) -> None:
        """``try_start(attempt)`` returns None once started, else the error text;
        a port taken meanwhile ("already in use") is retried with another one."""
        if self._proc is not None:
            raise self.error(f"{type(self).__name__} already started")
        last_error = ""
        for attempt in range(self._port_attempts):
            error = try_start(attempt)
            if error is None:
                return
            last_error = error
            if "already in use" not in error.lower():
                break
        raise self.error(last_error)

    def _terminate(self, proc: subprocess.Popen[bytes]) -> None:
        if proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=self._stop_timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=self._stop_timeout)

    def __enter__(self: _S) -> _S:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def running(self) -> bool:
        """True while the subprocess is alive."""
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int:
        """PID of the server process."""
        if self._proc is None:
            raise self.error(f"{type(self).__name__} is not running")
        return self._proc.pid

    @property
    def port(self) -> int:
        """TCP port on 127.0.0.1 (a JupyterServer keeps it across restarts)."""
        if self._port is None:
            raise self.error(f"{type(self).__name__} was never started")
        return self._port
