"""JupyterServer: a real Jupyter server subprocess that starts, crashes, restarts and stops."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from jupyters3_testing import (
    ContentsClient,
    JupyterFactory,
    JupyterServer,
    JupyterServerError,
    SecretLeakError,
    merge_config,
)
from jupyters3_testing.leaks import find_secrets, random_secret
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
    # Temporary keys whose secrets are long random strings, so a leak is detectable.
    secret, token = js3_jupyter_env["AWS_SECRET_ACCESS_KEY"], js3_jupyter_env["AWS_SESSION_TOKEN"]
    assert js3_jupyter_env["AWS_ACCESS_KEY_ID"] == "ASIAJS3TESTING000000"
    assert secret is not None and len(secret) == 40 and {"+", "/"} <= set(secret)
    assert token is not None and len(token) == 160
    assert js3_jupyter_env["AWS_SECURITY_TOKEN"] is None  # removed from the inherited env


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


def test_kill_is_a_crash_and_start_runs_it_again(tmp_path: Path) -> None:
    """SIGKILL by PID, reaped, no shutdown; start() again on the same config and root_dir."""
    config = merge_config(LFM_CONFIG, {"ContentsManager": {"untitled_file": "after-kill"}})
    server = JupyterServer(config=config, root_dir=tmp_path)
    try:
        server.start()
        pid, token = server.pid, server.token
        proc = server._proc
        client = ContentsClient(server.url, server.token)
        client.save_text("kept.txt", "survives").expect(201)

        server.kill()
        assert proc is not None and proc.returncode == -9  # SIGKILL, and reaped (waited for)
        assert not _pid_alive(pid) and not _running(server)
        assert not Path(f"/proc/{pid}").exists()  # no zombie left
        assert "received signal" not in server.log_text()  # no shutdown hook ran
        assert "Shutting down" not in server.log_text()
        with pytest.raises(JupyterServerError, match="not running"):
            server.pid  # noqa: B018 - the property raises
        server.kill()  # idempotent

        server.start()  # a new port, the same config, token and root_dir
        assert server.pid != pid and server.token == token and server.root_dir == tmp_path
        client = ContentsClient(server.url, server.token)
        assert client.get("kept.txt").expect(200).json["content"] == "survives"
        assert client.new_untitled(type="file", ext=".txt").json["name"] == "after-kill.txt"
        assert server.log_text().count("---- js3: starting jupyter_server") == 2
    finally:
        server.close()


def test_debug_logging_is_on_by_default(js3_jupyter_debug: bool) -> None:
    assert js3_jupyter_debug is True
    server = JupyterServer(config=LFM_CONFIG)
    quiet = JupyterServer(config=LFM_CONFIG, debug=False)
    for s in (server, quiet):
        s._prepare_dir()
    try:
        assert "--debug" in server.command(1) and "--debug" not in quiet.command(1)
        with server, quiet:
            ContentsClient(server.url, server.token).status().expect(200)
            ContentsClient(quiet.url, quiet.token).status().expect(200)
            assert "[D " in server.log_text() and "[D " not in quiet.log_text()
            # The config file the server read asks for the jupyters3 loggers at DEBUG.
            written = json.loads((server.root_dir.parent / "js3_jupyter_config.json").read_text())
            loggers = written["Application"]["logging_config"]["loggers"]
            assert loggers["jupyters3"]["level"] == "DEBUG"
            assert written["ServerApp"] == LFM_CONFIG["ServerApp"]
    finally:
        server.close()
        quiet.close()


# -- the secret scan --------------------------------------------------------------

LEAKY_EXTENSION = '''
"""A server extension that logs secrets, as a careless one would."""
import base64
import os
from urllib.parse import quote


def _jupyter_server_extension_points():
    return [{"module": "js3_leaky_extension"}]


def _load_jupyter_server_extension(serverapp):
    secret = os.environ["AWS_SECRET_ACCESS_KEY"]
    serverapp.log.info("leaky: a harmless line")
    serverapp.log.debug("leaky: the key is %s", secret)
    serverapp.log.debug("leaky: GET /x?key=%s", quote(secret, safe=""))
    auth = base64.b64encode(b"user:" + os.environ["JS3_OTHER_SECRET"].encode()).decode()
    serverapp.log.debug("leaky: Authorization: Basic %s", auth)
'''


def test_the_scan_fails_on_a_secret_in_the_log(tmp_path: Path) -> None:
    """A server extension logs secrets at DEBUG: stop() names each one and its
    line, never its value."""
    (tmp_path / "js3_leaky_extension.py").write_text(LEAKY_EXTENSION)
    secret, other = random_secret(40), random_secret(50)
    config = merge_config(
        LFM_CONFIG, {"ServerApp": {"jpserver_extensions": {"js3_leaky_extension": True}}}
    )
    env = {"PYTHONPATH": str(tmp_path), "AWS_SECRET_ACCESS_KEY": secret, "JS3_OTHER_SECRET": other}
    server = JupyterServer(config=config, env=env, secrets={"my other secret": other})
    try:
        server.start()
        assert "leaky: a harmless line" in server.log_text()  # the extension ran
        lines = server.log_text().splitlines()
        with pytest.raises(SecretLeakError) as info:
            server.stop()
        assert not _running(server)  # stopped first, then scanned

        message = str(info.value)
        assert secret not in message and other not in message
        assert not find_secrets(message, {"a": secret, "b": other})  # no encoded form either
        by_form = {(leak.label, leak.form): leak.line for leak in info.value.leaks}
        raw = next(n for n, line in enumerate(lines, 1) if "leaky: the key is" in line)
        url = next(n for n, line in enumerate(lines, 1) if "leaky: GET /x?key=" in line)
        basic = next(n for n, line in enumerate(lines, 1) if "Basic" in line)
        assert by_form[("AWS_SECRET_ACCESS_KEY (env)", "as is")] == raw
        assert by_form[("AWS_SECRET_ACCESS_KEY (env)", "URL-encoded")] == url
        assert {line for (label, form), line in by_form.items() if label == "my other secret"} == {
            basic
        }
        assert f"AWS_SECRET_ACCESS_KEY (env) as is at line {raw}" in message
        assert (
            f"{raw}: " in message and "leaky: the key is <AWS_SECRET_ACCESS_KEY (env)>" in message
        )

        server.stop()  # each leak is reported once
        private = server.root_dir.parent
        server.close()
        assert not private.exists()
    finally:
        server.close()


def test_the_factory_fails_the_test_after_closing_every_server(tmp_path: Path) -> None:
    (tmp_path / "js3_leaky_extension.py").write_text(LEAKY_EXTENSION)
    config = merge_config(
        LFM_CONFIG, {"ServerApp": {"jpserver_extensions": {"js3_leaky_extension": True}}}
    )
    env = {
        "PYTHONPATH": str(tmp_path),
        "AWS_SECRET_ACCESS_KEY": random_secret(),
        "JS3_OTHER_SECRET": "x",
    }
    factory = JupyterFactory(config, env)
    leaky, clean = factory(), factory(config=LFM_CONFIG)
    private = [s.root_dir.parent for s in (leaky, clean)]
    with pytest.raises(SecretLeakError, match=r"AWS_SECRET_ACCESS_KEY \(env\) as is at line \d+"):
        factory.close_all()
    assert not _running(leaky) and not _running(clean) and factory.servers == []
    assert not any(p.exists() for p in private)


def test_the_scan_reads_the_whole_log_and_can_be_turned_off() -> None:
    """No server needed: whatever is in the log file is scanned by stop() and close()."""
    secret = random_secret()
    for scan in (True, False):
        server = JupyterServer(env={"AWS_SESSION_TOKEN": secret}, scan_secrets=scan)
        server._prepare_dir()
        assert server.log_path is not None
        server.log_path.write_text("one\ntwo " + secret + "\nthree\n")
        if scan:
            with pytest.raises(
                SecretLeakError, match=r"AWS_SESSION_TOKEN \(env\) as is at line 2\b"
            ):
                server.close()
        else:
            server.stop()
            assert server.find_leaks() == [("AWS_SESSION_TOKEN (env)", "as is", 2)]
            server.close()
        assert server.log_path is None  # removed, even when the scan raised


def test_watched_secrets_come_from_env_files_config_and_the_caller(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    web, container, shared = tmp_path / "web", tmp_path / "container", tmp_path / "credentials"
    web.write_text("web-identity-jwt-1\n")
    container.write_text("container-token-1")
    shared.write_text("[p]\naws_access_key_id = AKID\naws_secret_access_key = profile-secret-1\n")
    monkeypatch.setenv("AWS_SECURITY_TOKEN", "inherited-token-1")  # from the test's own env
    monkeypatch.setenv("AWS_SESSION_TOKEN", "dropped-token-1")
    extra: dict[str, str] = {}
    server = JupyterServer(
        config={
            "JupyterS3SecretAccessKeyAuthentication": {"aws_secret_access_key": "conf-secret-1"}
        },
        env={
            "AWS_SECRET_ACCESS_KEY": "env-secret-1",
            "AWS_SESSION_TOKEN": None,  # unset: not the server's
            "AWS_CONTAINER_AUTHORIZATION_TOKEN": "env-container-1",
            "AWS_WEB_IDENTITY_TOKEN_FILE": str(web),
            "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE": str(container),
            "AWS_SHARED_CREDENTIALS_FILE": str(shared),
        },
        secrets=extra,
    )
    extra["issued later"] = "issued-secret-1"  # read at each scan
    assert server.watched_secrets() == {
        "AWS_SECRET_ACCESS_KEY (env)": "env-secret-1",
        "AWS_SECURITY_TOKEN (env)": "inherited-token-1",
        "AWS_CONTAINER_AUTHORIZATION_TOKEN (env)": "env-container-1",
        "the token in AWS_WEB_IDENTITY_TOKEN_FILE": "web-identity-jwt-1",
        "the token in AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE": "container-token-1",
        "aws_secret_access_key of [p] in AWS_SHARED_CREDENTIALS_FILE": "profile-secret-1",
        "config JupyterS3SecretAccessKeyAuthentication.aws_secret_access_key": "conf-secret-1",
        "issued later": "issued-secret-1",
    }


def test_a_rotated_token_file_stays_watched(tmp_path: Path) -> None:
    """The token file's content at each start is remembered, not only the last one."""
    token = tmp_path / "web"
    token.write_text("first-web-token-value")
    server = JupyterServer(config=LFM_CONFIG, env={"AWS_WEB_IDENTITY_TOKEN_FILE": str(token)})
    try:
        server.start()
        token.write_text("second-web-token-value")  # rotated while the server runs
        watched = server.watched_secrets()
        assert watched["the token in AWS_WEB_IDENTITY_TOKEN_FILE"] == "first-web-token-value"
        assert watched["the token in AWS_WEB_IDENTITY_TOKEN_FILE #2"] == "second-web-token-value"
    finally:
        server.close()


def test_a_startup_failure_message_hides_the_secrets() -> None:
    """The log tail in JupyterServerError has each secret replaced by its name."""
    secret = random_secret()
    bad = {"ServerApp": {"contents_manager_class": "jupyters3_testing.no_such_module.M"}}
    server = JupyterServer(config=bad, env={"AWS_SECRET_ACCESS_KEY": secret}, scan_secrets=False)
    server.extra_args = [f"--ServerApp.base_url=/{secret}/"]  # echoed in the config dump
    try:
        with pytest.raises(JupyterServerError) as info:
            server.start()
        assert find_secrets(server.log_text(), {"s": secret})  # it is in the log...
        assert secret not in str(info.value)  # ...not in the message
        assert "<AWS_SECRET_ACCESS_KEY (env)>" in str(info.value)
    finally:
        server.close()
