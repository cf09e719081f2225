"""Kernel sessions on a live Jupyter server, started the way JupyterLab 4 starts them.

JupyterLab (``@jupyterlab/apputils`` ``SessionContext``) opens a notebook's
kernel with ``POST /api/sessions`` on a temporary path ``<folder>/<uuid>``
with ``name=<notebook>``, then ``PATCH``-es the session to the notebook's
path. :class:`Sessions` does the same, and :class:`KernelSession` runs code in
the kernel over ZeroMQ with jupyter_client's ``BlockingKernelClient`` (the
connection file is in the server's runtime folder).
"""

from __future__ import annotations

import json
import re
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from queue import Empty
from typing import Any

from jupyter_client.blocking.client import BlockingKernelClient

from jupyters3_testing.jupyter import JupyterServer
from jupyters3_testing.rest import ContentsClient, Response

__all__ = ["KernelError", "KernelSession", "Sessions", "wait_for"]

_ANSI = re.compile(r"\x1b\[[0-9;]*m")


class KernelError(AssertionError):
    """Code run in a kernel raised (the message holds the traceback)."""


@dataclass
class KernelSession:
    """One session: its id, notebook path, kernel id, and a client of the kernel."""

    id: str
    path: str
    kernel_id: str
    client: BlockingKernelClient = field(repr=False)

    def run(self, code: str, timeout: float = 60.0) -> str:
        """Execute ``code``; its standard output. :class:`KernelError` if it raised."""
        out: list[str] = []
        errors: list[str] = []

        def output(msg: dict[str, Any]) -> None:
            kind, content = msg["msg_type"], msg["content"]
            if kind == "stream" and content.get("name") == "stdout":
                out.append(content["text"])
            elif kind == "error":
                errors.append("\n".join(content.get("traceback", [])) or content.get("evalue", ""))

        reply = self.client.execute_interactive(
            code, timeout=timeout, output_hook=output, allow_stdin=False
        )
        if errors or reply["content"].get("status") != "ok":
            trace = _ANSI.sub("", "\n".join(errors))
            raise KernelError(f"the kernel raised running {code!r}:\n{trace}")
        return "".join(out)

    def value(self, expression: str, timeout: float = 60.0) -> Any:
        """The value of a Python ``expression`` in the kernel (through JSON;
        ``os`` is imported first)."""
        text = self.run(f"import json as _j, os; print(_j.dumps({expression}))", timeout)
        return json.loads(text.strip().splitlines()[-1])

    def close(self) -> None:
        self.client.stop_channels()


class Sessions:
    """The sessions API of ``server`` (token auth)."""

    def __init__(self, server: JupyterServer, *, timeout: float = 120.0) -> None:
        self.server = server
        self.api = ContentsClient(server.url, server.token, timeout=timeout)
        self.opened: list[KernelSession] = []

    def _expect(self, answer: Response, *statuses: int) -> Any:
        return answer.expect(*statuses).json

    def start(
        self, path: str, *, kernel: str = "python3", type: str = "notebook", ready: float = 60.0
    ) -> KernelSession:
        """Open a kernel for the notebook (or console) at API path ``path`` as
        JupyterLab does, wait until it answers, and return its session."""
        folder, _, name = path.rpartition("/")
        temporary = f"{folder}/{uuid.uuid4()}" if folder else str(uuid.uuid4())
        model = self._expect(
            self.api.request(
                "POST",
                "api/sessions",
                json={"path": temporary, "name": name, "type": type, "kernel": {"name": kernel}},
            ),
            201,
        )
        self._expect(
            self.api.request("PATCH", f"api/sessions/{model['id']}", json={"path": path}), 200
        )
        session = KernelSession(model["id"], path, model["kernel"]["id"], self._client(model))
        self._ready(session, ready)
        self.opened.append(session)
        return session

    def _client(self, model: dict[str, Any]) -> BlockingKernelClient:
        connection = Path(self.server.runtime_dir) / f"kernel-{model['kernel']['id']}.json"
        client = BlockingKernelClient(connection_file=str(connection))
        client.load_connection_file()
        # No heartbeat: on a busy machine a late beat reads as a dead kernel.
        client.start_channels(hb=False)
        return client

    def _ready(self, session: KernelSession, timeout: float) -> None:
        """Wait until the kernel answers. A kernel that could not bind its
        ports at once is restarted by the server on other ports (the
        connection file is rewritten): the client reconnects every 10 s."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                _wait_ready(session.client, min(10.0, max(1.0, deadline - time.monotonic())))
                return
            except AssertionError as error:
                if time.monotonic() >= deadline:
                    told = [
                        line
                        for line in self.server.log_text().splitlines()
                        if (session.kernel_id in line or "KernelRestarter" in line)
                        and "activity on" not in line
                    ][-30:]
                    raise AssertionError(
                        f"{error}; the server's log of kernel {session.kernel_id}:\n"
                        + "\n".join(told)
                    ) from None
            session.client.stop_channels()
            session.client = self._client({"kernel": {"id": session.kernel_id}})

    def restart(self, session: KernelSession, ready: float = 60.0) -> None:
        """Restart the session's kernel and wait until it answers again."""
        self._expect(
            self.api.request("POST", f"api/kernels/{session.kernel_id}/restart", json={}), 200
        )
        session.client.stop_channels()
        session.client = self._client({"kernel": {"id": session.kernel_id}})
        self._ready(session, ready)

    def shutdown(self, session: KernelSession) -> None:
        """Close the session (its kernel stops), as closing the notebook's tab does."""
        session.close()
        self._expect(self.api.request("DELETE", f"api/sessions/{session.id}"), 204)
        if session in self.opened:
            self.opened.remove(session)

    def close_all(self) -> None:
        """Shut down every session still open (errors ignored: the server may be gone)."""
        for session in list(self.opened):
            try:
                self.shutdown(session)
            except Exception:
                session.close()
        self.opened.clear()

    def running_kernels(self) -> list[str]:
        """The ids of the kernels the server runs."""
        return [k["id"] for k in self._expect(self.api.request("GET", "api/kernels"), 200)]


def _wait_ready(client: BlockingKernelClient, timeout: float) -> None:
    """Ask for kernel_info until the kernel answers on the shell channel and
    IOPub delivers (its subscription is connected: no output is lost)."""
    deadline = time.monotonic() + timeout
    replies = published = 0
    while time.monotonic() < deadline:
        client.kernel_info()
        try:
            client.get_shell_msg(timeout=1.0)
            replies += 1
            client.get_iopub_msg(timeout=1.0)
            published += 1
        except Empty:
            continue
        while True:  # what IOPub holds from the start is no cell's output
            try:
                client.get_iopub_msg(timeout=0.2)
            except Empty:
                break
        while True:
            try:
                client.get_shell_msg(timeout=0.2)
            except Empty:
                return
    raise AssertionError(
        f"the kernel did not answer within {timeout} s "
        f"({replies} kernel_info replies, {published} IOPub messages)"
    )


def wait_for(check: Any, timeout: float = 30.0, every: float = 0.1) -> Any:
    """Call ``check()`` until it returns something truthy (returned), for at
    most ``timeout`` seconds; AssertionError after that."""
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {timeout} s: {check!r}")
        time.sleep(every)
