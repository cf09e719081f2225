"""JupyterServer: a real Jupyter server subprocess that starts, crashes, restarts and stops."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from jupyters3_testing import ContentsClient, JupyterServer, JupyterServerError, merge_config
from jupyters3_testing.s3server import MotoServer

LARGE_FILE_MANAGER = "jupyter_server.services.contents.largefilemanager.AsyncLargeFileManager"
LFM_CONFIG = {"ServerApp": {"contents_manager_class": LARGE_FILE_MANAGER}}


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _running(server: JupyterServer) -> bool:
    return server.running  # a call, so mypy does not narrow the property


def test_default_config_serves_the_test_bucket_with_jupyters3(
    js3_jupyter_config: dict[str, Any],
    js3_jupyter_env: dict[str, str | None],
    js3_bucket: str,
    js3_moto_server: MotoServer,
) -> None:
    assert js3_jupyter_config == {
        "ServerApp": {"contents_manager_class": "jupyters3.JupyterS3"},
        "JupyterS3": {
            "aws_s3_bucket": js3_bucket,
            "endpoint_url": js3_moto_server.endpoint_url,
            "aws_region": "us-east-1",
            "prefix": "",
        },
    }
    assert js3_jupyter_env["AWS_ACCESS_KEY_ID"] and js3_jupyter_env["AWS_SECRET_ACCESS_KEY"]
    assert js3_jupyter_env["AWS_SESSION_TOKEN"] is None  # removed from the inherited env


def test_merge_config_is_deep_and_pure() -> None:
    base = {"ServerApp": {"a": 1, "b": 2}, "X": {"k": 1}}
    merged = merge_config(base, {"ServerApp": {"b": 3}, "Y": {"z": 0}})
    assert merged == {"ServerApp": {"a": 1, "b": 3}, "X": {"k": 1}, "Y": {"z": 0}}
    assert base == {"ServerApp": {"a": 1, "b": 2}, "X": {"k": 1}}


def test_unknown_app_is_rejected() -> None:
    with pytest.raises(ValueError, match="app must be one of"):
        JupyterServer(app="voila")  # type: ignore[arg-type]


def test_lifecycle_config_env_kill_restart_stop(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JS3_DROP_ME", "inherited")
    config = merge_config(LFM_CONFIG, {"ContentsManager": {"untitled_file": "from-config"}})
    server = JupyterServer(config=config, env={"JS3_MARKER": "on", "JS3_DROP_ME": None})
    with server:
        pid, port, token = server.pid, server.port, server.token
        assert server.url == f"http://127.0.0.1:{port}/"
        assert _running(server) and _pid_alive(pid)
        assert "is running at" in server.log_text()
        environ = Path(f"/proc/{pid}/environ")
        if environ.exists():
            env = dict(
                item.split("=", 1) for item in environ.read_text().split("\0") if "=" in item
            )
            assert env["JS3_MARKER"] == "on" and "JS3_DROP_ME" not in env
            assert env["JUPYTER_CONFIG_DIR"].startswith(str(server.root_dir.parent))

        client = ContentsClient(server.url, server.token)
        assert client.status().status == 200
        created = client.new_untitled(type="file", ext=".txt").expect(201)
        assert created.json["path"] == "from-config.txt"  # the --config file was read
        assert ContentsClient(server.url, "wrong").status().status == 403

        server.kill()  # a crash: SIGKILL, no shutdown
        assert not _running(server) and not _pid_alive(pid)
        server.kill()  # idempotent

        server.restart()
        assert (server.port, server.token) == (port, token) and server.pid != pid
        assert client.get("from-config.txt").expect(200).json["content"] == ""
        assert server.log_text().count("---- js3: starting jupyter_server") == 2

        restarted = server.pid
        server.stop()
        server.stop()  # idempotent
        assert not _pid_alive(restarted)
        assert "received signal 15" in server.log_text()  # SIGTERM, a clean stop
        private = server.root_dir.parent
    assert not private.exists()  # close() removed config, logs and root_dir


def test_early_exit_raises_with_exit_code_and_log_tail() -> None:
    bad = {"ServerApp": {"contents_manager_class": "jupyters3_testing.no_such_module.Manager"}}
    server = JupyterServer(config=bad, startup_timeout=60)
    try:
        with pytest.raises(JupyterServerError, match=r"exited with code \d+") as info:
            server.start()
        assert "no_such_module" in str(info.value)
        assert not _running(server)
    finally:
        server.close()
    with pytest.raises(JupyterServerError, match="not running"):
        server.pid  # noqa: B018 - the property raises
