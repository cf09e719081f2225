"""The demo launcher: its command line, its lifecycle with jupyter_server standing in, and
the real thing (``hatch run demo:lab``: JupyterLab on jupyters3 on an embedded moto server)."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from jupyters3_testing.demo import _choose_token, build_command, main
from jupyters3_testing.raw import RawS3
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


def test_token_is_random_unless_the_user_chose_one() -> None:
    env: dict[str, str] = {}
    token = _choose_token([], env)
    assert token is not None and len(token) == 48 and env["JUPYTER_TOKEN"] == token
    assert _choose_token([], {}) != token
    assert _choose_token([], {"JUPYTER_TOKEN": "mine"}) == "mine"
    assert _choose_token([], {"JUPYTER_TOKEN": ""}) == ""  # authentication off
    env = {"JUPYTER_TOKEN": "env"}
    assert _choose_token(["--IdentityProvider.token=arg"], env) == "arg"
    assert env == {"JUPYTER_TOKEN": "env"}
    # Left to the app (the demo then prints the URL without a token):
    env = {"JUPYTER_TOKEN_FILE": "/some/file"}
    assert _choose_token([], env) is None and "JUPYTER_TOKEN" not in env
    assert _choose_token(["--PasswordIdentityProvider.hashed_password=x"], {}) is None


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
    children: dict[int, str] = {}
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
        children.update(_children(demo.pid))  # first: the finally block stops them
        log_text = out.read_text()
        assert demo.poll() is None, log_text
        assert client.status().status == 200, log_text
        assert f"demo: serving http://127.0.0.1:{port}/" in log_text
        assert "lost when it stops" in log_text
        assert client.new_untitled(type="file").json["name"] == "passed-through"

        assert sorted(" jupyters3_testing.moto_atomic " in cmd for cmd in children.values()) == [
            False,
            True,
        ]
        assert any(" jupyter_server " in cmd for cmd in children.values()), children

        demo.send_signal(signal.SIGINT)
        assert demo.wait(timeout=60) == 0  # the app's own exit code after a clean stop
        assert not [pid for pid in children if _alive(pid)], children
        assert "received signal 15" in out.read_text()  # the app got SIGTERM, no prompt
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait(timeout=30)
        for pid in children:  # the app runs in its own session; moto outlives a killed demo
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)


NOTEBOOK = {
    "cells": [
        {"cell_type": "markdown", "id": "c1", "metadata": {}, "source": "# saved by the demo test"}
    ],
    "metadata": {},
    "nbformat": 4,
    "nbformat_minor": 5,
}


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")
@pytest.mark.skipif(
    importlib.util.find_spec("jupyterlab") is None,
    reason="needs JupyterLab (the `lab` extra of jupyters3-testing)",
)
@pytest.mark.timeout(120)
def test_real_demo_serves_jupyterlab_on_s3_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    """``python -m jupyters3_testing.demo --no-browser`` as ``hatch run demo:lab`` runs it."""
    port = free_port()
    out = tmp_path / "demo.log"
    env = {k: v for k, v in os.environ.items() if k != "JUPYTER_TOKEN"}  # the demo picks one
    with open(out, "wb") as log:
        # A session of its own, so that SIGINT to its process group is a terminal's Ctrl-C.
        demo = subprocess.Popen(
            [sys.executable, "-m", "jupyters3_testing.demo", f"--port={port}", "--no-browser"],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    children: dict[int, str] = {}
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and demo.poll() is None:
            if "demo: press Ctrl-C" in out.read_text():
                break
            time.sleep(0.2)
        children.update(_children(demo.pid))  # first: the finally block stops them
        log_text = out.read_text()
        assert demo.poll() is None, log_text
        served = re.search(
            rf"^demo: serving (http://127.0.0.1:{port}/)lab\?token=(\w+)$", log_text, re.M
        )
        assert served, log_text
        base_url, token = served.groups()
        moto = re.search(
            r"^demo: S3 server \(moto\) at (http://127.0.0.1:\d+), bucket 'notebooks'",
            log_text,
            re.M,
        )
        assert moto, log_text
        assert "WARNING: the demo's files live in the embedded S3 server's memory" in log_text
        assert "lost when it stops" in log_text

        client = ContentsClient(base_url, token, timeout=10)
        lab = client.request("GET", "lab").expect(200)
        assert lab.headers["Content-Type"].startswith("text/html")
        assert b"<title>JupyterLab</title>" in lab.body
        assert b"jupyter-config-data" in lab.body
        assert ContentsClient(base_url, None).get("").status == 403  # the token is required
        root = client.get("").expect(200).json
        assert (root["type"], root["content"]) == ("directory", [])  # a new, empty bucket

        client.save("demo test.ipynb", {"type": "notebook", "content": NOTEBOOK}).expect(201)
        listing = client.get("").expect(200).json
        assert [c["name"] for c in listing["content"]] == ["demo test.ipynb"]
        # In the demo's S3 server, seen without jupyters3:
        raw = RawS3(moto.group(1))
        assert "demo test.ipynb" in raw.keys("notebooks")
        saved = json.loads(raw.get("notebooks", "demo test.ipynb"))
        assert "".join(saved["cells"][0]["source"]) == "# saved by the demo test"  # nbformat: lines

        assert sorted(" jupyters3_testing.moto_atomic " in cmd for cmd in children.values()) == [
            False,
            True,
        ]
        assert any(" jupyterlab " in cmd for cmd in children.values()), children

        stop_started = time.monotonic()
        os.killpg(demo.pid, signal.SIGINT)  # Ctrl-C: the demo and moto (Jupyter has its own)
        assert demo.wait(timeout=30) == 0, out.read_text()
        gone_by = time.monotonic() + 10
        while time.monotonic() < gone_by and any(_alive(pid) for pid in children):
            time.sleep(0.1)
        assert not [pid for pid in children if _alive(pid)], children
        assert time.monotonic() - stop_started < 30
        log_text = out.read_text()
        assert "received signal 15" in log_text  # JupyterLab got SIGTERM, no prompt
        assert log_text.rstrip().endswith("demo: stopped."), log_text[-2000:]
        assert "Traceback" not in log_text, log_text
    finally:
        if demo.poll() is None:
            os.killpg(demo.pid, signal.SIGKILL)  # the demo and moto: all started here
            demo.wait(timeout=30)
        for pid in children:  # JupyterLab, in its own session
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
