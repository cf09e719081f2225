"""The demo launcher: its command line, and its lifecycle with jupyter_server standing in."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from jupyters3_testing.demo import build_command, main
from jupyters3_testing.rest import ContentsClient
from jupyters3_testing.s3server import free_port

LARGE_FILE_MANAGER = "jupyter_server.services.contents.largefilemanager.AsyncLargeFileManager"


def _children(pid: int) -> dict[int, str]:
    """Live child processes of ``pid`` as {pid: command line} (Linux /proc)."""
    found: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()  # after "pid (comm)": state, ppid, ...
        if int(fields[1]) == pid and fields[0] != "Z":
            found[int(entry.name)] = cmdline
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_command_serves_the_bucket_with_jupyterlab_and_jupyters3() -> None:
    cmd = build_command(
        port=8888,
        bucket="notebooks",
        endpoint_url="http://127.0.0.1:5000",
        root_dir="/tmp/root",
        open_browser=False,
        extra_args=["--debug"],
    )
    assert cmd[:3] == [sys.executable, "-m", "jupyterlab"]
    for arg in (
        "--ServerApp.ip=127.0.0.1",
        "--ServerApp.port=8888",
        "--ServerApp.open_browser=False",
        "--ServerApp.root_dir=/tmp/root",
        "--ServerApp.contents_manager_class=jupyters3.JupyterS3",
        "--JupyterS3.aws_s3_bucket=notebooks",
        "--JupyterS3.endpoint_url=http://127.0.0.1:5000",
        "--JupyterS3.aws_region=us-east-1",
        "--JupyterS3.prefix=",
    ):
        assert arg in cmd
    assert cmd[-1] == "--debug"


def test_busy_port_is_refused_before_anything_starts(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        assert main(["--server-app=server", f"--port={port}"]) == 2
    assert f"port {port} is busy" in capsys.readouterr().err


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")
def test_sigint_stops_jupyter_and_moto(tmp_path: Path) -> None:
    port = free_port()
    token = "js3-demo-test-token"
    out = tmp_path / "demo.log"
    with open(out, "wb") as log:
        demo = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "jupyters3_testing.demo",
                f"--port={port}",
                "--no-browser",
                "--server-app=server",
                f"--contents-manager={LARGE_FILE_MANAGER}",
                "--ContentsManager.untitled_file=passed-through",  # an app argument
            ],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "JUPYTER_TOKEN": token},
        )
    try:
        client = ContentsClient(f"http://127.0.0.1:{port}/", token, timeout=5)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and demo.poll() is None:
            try:
                if client.status().status == 200 and "demo: serving" in out.read_text():
                    break
            except OSError:
                pass
            time.sleep(0.2)
        log_text = out.read_text()
        assert demo.poll() is None, log_text
        assert client.status().status == 200, log_text
        assert f"demo: serving http://127.0.0.1:{port}/" in log_text
        assert "lost when it stops" in log_text
        assert client.new_untitled(type="file").json["name"] == "passed-through"

        children = _children(demo.pid)
        assert sorted(" moto.server " in cmd for cmd in children.values()) == [False, True]
        assert any(" jupyter_server " in cmd for cmd in children.values()), children

        demo.send_signal(signal.SIGINT)
        assert demo.wait(timeout=60) == 0  # the app's own exit code after a clean stop
        assert not [pid for pid in children if _alive(pid)], children
        assert "received signal 15" in out.read_text()  # the app got SIGTERM, no prompt
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait(timeout=30)
