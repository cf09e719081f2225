"""``jupyters3 check`` as a user runs it: a subprocess against the moto server.

Each case writes a ``jupyter_server_config.json`` into a private
``JUPYTER_CONFIG_DIR`` (HOME, the Jupyter dirs and every AWS_* source
isolated, as ``js3_jupyter_env`` does for Jupyter servers), runs
``python -m jupyters3 check`` and reads its lines and exit code. Faults come
from the fault proxy in front of moto.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from jupyters3_testing import Fault, FaultProxy, MotoServer
from jupyters3_testing.faults import RequestInfo
from jupyters3_testing.jupyter_fixtures import jupyters3_config
from jupyters3_testing.leaks import describe_leaks, find_secrets, random_secret, secrets_in_env
from jupyters3_testing.raw import RawS3

_LINE = re.compile(r"^(ok|WARN|FAIL|skip)\s+(\S.*?)\s{2,}(.*)$")
_MOUNT = re.compile(r"^mount '([^']+)': (.*)$")
_S3_STEPS = ("bucket", "checkpoints", "write", "copy", "read", "conditional writes", "delete")


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str

    def mount_steps(self, mount: str | None = None) -> dict[str, tuple[str, str]]:
        """Step title -> (status, rest of the line), of ``mount`` (None: the main bucket).

        A mount's line is ``mount 'NAME': ...``; the rest returned is after that."""
        found = {}
        for line in self.stdout.splitlines():
            match = _LINE.match(line)
            if not match:
                continue
            of_mount = _MOUNT.match(match[3])
            if of_mount is None and mount is None:
                found[match[2]] = (match[1], match[3])
            elif of_mount is not None and of_mount[1] == mount:
                found[match[2]] = (match[1], of_mount[2])
        return found

    @property
    def steps(self) -> dict[str, tuple[str, str]]:
        """Step title -> (status, rest of the line), of the main bucket."""
        return self.mount_steps()

    def status(self, title: str, mount: str | None = None) -> str:
        return self.mount_steps(mount)[title][0]

    def line(self, title: str, mount: str | None = None) -> str:
        return self.mount_steps(mount)[title][1]

    def __str__(self) -> str:
        return f"exit {self.code}\n--- stdout\n{self.stdout}--- stderr\n{self.stderr}"


@dataclass
class CheckRunner:
    """Runs the command with a config dir of its own; ``config`` is written before each run."""

    home: Path
    env: dict[str, str | None]
    config: dict[str, Any]
    #: Written as jupyter_notebook_config.json when not empty.
    notebook_config: dict[str, Any] = field(default_factory=dict)

    def __call__(self, *args: str, env: dict[str, str | None] | None = None) -> Result:
        config_dir = self.home / "jupyter-config"
        config_dir.mkdir(exist_ok=True)
        (config_dir / "jupyter_server_config.json").write_text(json.dumps(self.config))
        if self.notebook_config:
            notebook = config_dir / "jupyter_notebook_config.json"
            notebook.write_text(json.dumps(self.notebook_config))
        environ = dict(os.environ)
        for name in list(environ):
            if name.startswith(("AWS_", "JUPYTER_")):
                del environ[name]
        environ.update(
            HOME=str(self.home),
            JUPYTER_CONFIG_DIR=str(config_dir),
            JUPYTER_DATA_DIR=str(self.home / "jupyter-data"),
            JUPYTER_RUNTIME_DIR=str(self.home / "jupyter-runtime"),
        )
        for name, value in {**self.env, **(env or {})}.items():
            if value is None:
                environ.pop(name, None)
            else:
                environ[name] = value
        proc = subprocess.run(
            [sys.executable, "-m", "jupyters3", "check", *args],
            env=environ,
            cwd=self.home,
            capture_output=True,
            text=True,
            timeout=120,
        )
        result = Result(proc.returncode, proc.stdout, proc.stderr)
        # Every run, whatever it checks: no secret of its environment in its output.
        output = proc.stdout + proc.stderr
        secrets = secrets_in_env({k: v for k, v in environ.items() if v})
        leaks = find_secrets(output, secrets)
        assert not leaks, describe_leaks(leaks, output, secrets, "jupyters3 check's output")
        key_id = environ.get("AWS_ACCESS_KEY_ID", "")
        assert not key_id or key_id not in output  # shown masked at most
        return result


@pytest.fixture
def check(
    tmp_path: Path,
    js3_jupyter_env: dict[str, str | None],
    js3_moto_server: MotoServer,
    js3_bucket: str,
    js3_region: str,
) -> CheckRunner:
    """The command, configured for ``js3_bucket`` on moto (prefix ``users/alice/``)."""
    config = jupyters3_config(
        bucket=js3_bucket,
        endpoint_url=js3_moto_server.endpoint_url,
        region=js3_region,
        prefix="users/alice/",
    )
    return CheckRunner(tmp_path, dict(js3_jupyter_env), config)


@pytest.fixture
def proxied(check: CheckRunner, js3_fault_proxy: FaultProxy) -> CheckRunner:
    """``check`` through the fault proxy."""
    check.config["JupyterS3"]["endpoint_url"] = js3_fault_proxy.endpoint_url
    return check


def _is_put(req: RequestInfo) -> bool:
    return req.method == "PUT" and bool(req.key)


def _conditional(req: RequestInfo) -> bool:
    return _is_put(req) and any(k.lower() == "if-none-match" for k in req.headers)


def test_healthy_configuration(check: CheckRunner, js3_raw: RawS3, js3_bucket: str) -> None:
    result = check()
    assert result.code == 0, result
    assert set(result.steps) == {
        "configuration",
        "contents manager",
        "credentials",
        *_S3_STEPS,
        "kernel folders",
    }, result
    assert all(status == "ok" for status, _ in result.steps.values()), result
    assert f"s3://{js3_bucket}/users/alice/" in result.line("configuration")
    assert "jupyter_server_config.json" in result.line("configuration")
    key_id = str(check.env["AWS_ACCESS_KEY_ID"])
    assert "environment" in result.line("credentials")
    assert f"key id {key_id[:4]}****{key_id[-4:]}" in result.line("credentials")
    assert "supported" in result.line("conditional writes")
    assert "copies: versioning is not enabled" in result.line("checkpoints")
    assert result.stdout.rstrip().endswith("everything works."), result
    assert js3_raw.keys(js3_bucket) == []  # both temporary objects are gone
    assert "jupyters3-working (writable)" in result.line("kernel folders")


def test_json_output_lists_every_step(check: CheckRunner, js3_bucket: str) -> None:
    result = check("--json")
    assert result.code == 0, result
    document = json.loads(result.stdout)
    assert document["ok"] is True and document["exit_code"] == 0
    assert document["bucket"] == js3_bucket and document["prefix"] == "users/alice/"
    names = [step["name"] for step in document["steps"]]
    assert names == [
        "configuration",
        "contents-manager",
        "credentials",
        "bucket",
        "checkpoints",
        "write",
        "copy",
        "read",
        "conditional-writes",
        "delete",
        "kernel-folders",
    ]
    assert {step["status"] for step in document["steps"]} == {"ok"}
    assert all(
        set(step) == {"name", "title", "status", "detail", "fix"} for step in document["steps"]
    )


@pytest.mark.js3_no_chaos
def test_missing_bucket(check: CheckRunner, js3_moto_server: MotoServer) -> None:
    name = f"missing-{uuid.uuid4().hex[:8]}"
    check.config["JupyterS3"]["aws_s3_bucket"] = name
    result = check()
    assert result.code == 1, result
    assert result.status("bucket") == "FAIL"
    assert f"Bucket '{name}' does not exist at {js3_moto_server.endpoint_url}" in result.line(
        "bucket"
    )
    assert all(result.status(s) == "skip" for s in _S3_STEPS[1:]), result


def test_wrong_region_names_the_right_one(
    proxied: CheckRunner, js3_fault_proxy: FaultProxy
) -> None:
    js3_fault_proxy.configure(rule=lambda req: Fault.wrong_region("eu-west-3"))
    result = proxied()
    assert result.code == 1, result
    assert result.status("bucket") == "FAIL"
    assert "set c.JupyterS3.aws_region = 'eu-west-3'" in result.line("bucket")


def test_no_credentials(check: CheckRunner) -> None:
    result = check(env={"AWS_ACCESS_KEY_ID": None, "AWS_SECRET_ACCESS_KEY": None})
    assert result.code == 1, result
    assert result.status("credentials") == "FAIL"
    assert "No AWS credentials found" in result.line("credentials")
    assert all(result.status(s) == "skip" for s in _S3_STEPS), result


def test_no_bucket_configured(check: CheckRunner) -> None:
    check.config["JupyterS3"]["aws_s3_bucket"] = ""
    result = check()
    assert result.code == 1, result
    assert result.status("configuration") == "FAIL"
    assert "c.JupyterS3.aws_s3_bucket is not set" in result.line("configuration")


def test_denied_put_names_the_permission_and_still_cleans_up(
    proxied: CheckRunner, js3_fault_proxy: FaultProxy, js3_bucket: str
) -> None:
    js3_fault_proxy.configure(rule=lambda req: Fault.access_denied() if _is_put(req) else None)
    result = proxied()
    assert result.code == 1, result
    assert result.status("write") == "FAIL"
    assert f"grant s3:PutObject on arn:aws:s3:::{js3_bucket}/users/alice/*" in result.line("write")
    assert result.status("bucket") == "ok"
    assert result.status("delete") == "ok"  # cleanup was attempted, for both keys
    assert js3_fault_proxy.count("DELETE", bucket=js3_bucket) == 2


def test_denied_delete(
    proxied: CheckRunner, js3_fault_proxy: FaultProxy, js3_raw: RawS3, js3_bucket: str
) -> None:
    js3_fault_proxy.configure(
        rule=lambda req: Fault.access_denied() if req.method == "DELETE" else None
    )
    result = proxied()
    assert result.code == 1, result
    assert result.status("delete") == "FAIL"
    line = result.line("delete")
    assert f"grant s3:DeleteObject on arn:aws:s3:::{js3_bucket}/users/alice/*" in line
    left = js3_raw.keys(js3_bucket)
    assert len(left) == 2 and all(f"s3://{js3_bucket}/{key}" in line for key in left), left
    assert all(result.status(s) == "ok" for s in ("write", "copy", "read")), result


def test_store_without_conditional_writes_warns(
    proxied: CheckRunner, js3_fault_proxy: FaultProxy, js3_raw: RawS3, js3_bucket: str
) -> None:
    js3_fault_proxy.configure(
        rule=lambda req: (
            Fault.error(501, "NotImplemented", "A header you provided is not implemented.")
            if _conditional(req)
            else None
        )
    )
    result = proxied()
    assert result.code == 0, result  # a warning, not a failure
    assert result.status("conditional writes") == "WARN"
    assert "c.JupyterS3.conditional_writes = 'off'" in result.line("conditional writes")
    assert js3_raw.keys(js3_bucket) == []


def test_a_kernel_working_root_that_cannot_be_written_is_a_warning(
    check: CheckRunner, tmp_path: Path
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    check.config["JupyterS3"]["kernel_working_root"] = str(blocker / "working")
    result = check()
    assert result.code == 0, result
    assert result.status("kernel folders") == "WARN", result
    assert f"cannot be made under {blocker / 'working'}" in result.line("kernel folders")
    assert "c.JupyterS3.kernel_working_root" in result.line("kernel folders")
    check.config["JupyterS3"]["kernel_working_folders"] = False
    result = check()
    assert result.status("kernel folders") == "ok"
    assert "off" in result.line("kernel folders")


def test_contents_manager_not_set_is_a_warning(check: CheckRunner) -> None:
    del check.config["ServerApp"]
    result = check()
    assert result.code == 0, result
    assert result.status("contents manager") == "WARN"
    assert "c.ServerApp.contents_manager_class = 'jupyters3.JupyterS3'" in result.line(
        "contents manager"
    )


def test_old_notebookapp_setting_is_read(check: CheckRunner) -> None:
    """``c.NotebookApp.contents_manager_class`` in jupyter_notebook_config counts too."""
    check.notebook_config = {"NotebookApp": check.config.pop("ServerApp"), "JupyterS3": {}}
    result = check()
    assert result.code == 0, result
    assert result.status("contents manager") == "ok"
    line = result.line("contents manager")
    assert "c.NotebookApp.contents_manager_class = jupyters3.JupyterS3" in line
    assert "jupyter_notebook_config.json" in result.line("configuration")


def test_a_broken_config_file_is_named(check: CheckRunner) -> None:
    config_dir = check.home / "jupyter-config"
    config_dir.mkdir()
    (config_dir / "jupyter_server_config.py").write_text("c.JupyterS3.prefix = undefined_name\n")
    result = check()
    assert result.code == 1, result
    assert result.status("configuration") == "FAIL"
    line = result.line("configuration")
    assert f"{config_dir}/jupyter_server_config.py cannot be loaded (NameError" in line
    assert "Traceback" not in result.stderr


def test_config_file_and_set_options(check: CheckRunner, tmp_path: Path) -> None:
    """``--config FILE`` replaces jupyter_server_config; ``--set`` wins over every file."""
    good = dict(check.config)
    check.config = {"JupyterS3": {"aws_s3_bucket": "not-this-one"}}
    other = tmp_path / "elsewhere.py"
    lines = ["c.ServerApp.contents_manager_class = 'jupyters3.JupyterS3'"]
    lines += [f"c.JupyterS3.{name} = {value!r}" for name, value in good["JupyterS3"].items()]
    other.write_text("\n".join(lines) + "\n")
    result = check("--config", str(other), "--set", "JupyterS3.prefix=team/")
    assert result.code == 0, result
    assert "elsewhere.py" in result.line("configuration")
    assert "/team/ at" in result.line("configuration")
    bad = check("--set", "JupyterS3.prefix")
    assert bad.code == 2 and "expected Section.trait=VALUE" in bad.stderr, bad


@pytest.mark.parametrize("case", ["healthy", "rejected", "keys-in-config"])
def test_secrets_never_printed(
    proxied: CheckRunner, js3_fault_proxy: FaultProxy, case: str
) -> None:
    """Neither the secret key nor the session token, in any form, in text or JSON output
    (the runner scans every run for the environment's; here also for the config's)."""
    secret, token = random_secret(40), random_secret(160)
    env: dict[str, str | None] = {"AWS_SECRET_ACCESS_KEY": secret, "AWS_SESSION_TOKEN": token}
    if case == "rejected":
        js3_fault_proxy.configure(
            rule=lambda req: Fault.error(403, "InvalidAccessKeyId", "The key does not exist.")
        )
    if case == "keys-in-config":
        env = {"AWS_ACCESS_KEY_ID": None, "AWS_SECRET_ACCESS_KEY": None, "AWS_SESSION_TOKEN": None}
        proxied.config["JupyterS3"]["authentication_class"] = (
            "jupyters3.JupyterS3SecretAccessKeyAuthentication"
        )
        proxied.config["JupyterS3SecretAccessKeyAuthentication"] = {
            "aws_access_key_id": "AKIACONFIGKEY0001234",
            "aws_secret_access_key": secret,
            "aws_session_token": token,
        }
    secrets = {"secret key": secret, "session token": token}
    text, as_json = proxied(env=env), proxied("--json", env=env)
    for result in (text, as_json):
        assert result.code == (1 if case == "rejected" else 0), result
        output = result.stdout + result.stderr
        leaks = find_secrets(output, secrets)
        assert not leaks, describe_leaks(leaks, output, secrets, "jupyters3 check's output")
        assert "AKIACONFIGKEY0001234" not in output
    if case == "rejected":
        assert "S3 rejected the credentials (InvalidAccessKeyId)" in text.line("bucket")
    else:
        assert "temporary (session token)" in text.line("credentials")
    if case == "keys-in-config":
        line = text.line("credentials")
        assert "keys in the Jupyter configuration" in line and "AKIA****1234" in line


def _bucket(moto: MotoServer, region: str, kind: str) -> str:
    name = f"check-{kind}-{uuid.uuid4().hex[:8]}"
    moto.create_bucket(name, region)
    return name


_WRITES = ("write", "copy", "read", "conditional writes", "delete")


def test_mounts_writable_and_read_only(
    proxied: CheckRunner,
    js3_fault_proxy: FaultProxy,
    js3_moto_server: MotoServer,
    js3_raw: RawS3,
    js3_region: str,
    js3_bucket: str,
) -> None:
    """A writable mount with its own profile gets every step under its prefix; a
    read-only one (the main credentials) is listed only, with nothing written to it."""
    team = _bucket(js3_moto_server, js3_region, "team")
    lake = _bucket(js3_moto_server, js3_region, "lake")
    js3_raw.put(lake, "data/readme.txt", b"the lake\n")
    secret = random_secret(40)
    credentials = proxied.home / "aws-credentials"
    credentials.write_text(
        f"[teamkeys]\naws_access_key_id = AKIATEAMPROFILE00001\naws_secret_access_key = {secret}\n"
    )
    proxied.config["JupyterS3"]["mounts"] = {
        "team": {"url": f"s3://{team}/projects/ml/", "profile": "teamkeys"},
        "lake": {"url": f"s3://{lake}/data/", "read_only": True},
    }
    env: dict[str, str | None] = {"AWS_SHARED_CREDENTIALS_FILE": str(credentials)}
    result = proxied(env=env)
    assert result.code == 0, result
    assert secret not in result.stdout + result.stderr
    assert "AKIATEAMPROFILE00001" not in result.stdout + result.stderr
    # The main bucket's steps are those of a configuration without mounts.
    assert set(result.steps) == {
        "configuration",
        "contents manager",
        "credentials",
        *_S3_STEPS,
        "kernel folders",  # the server's, once
    }
    assert all(status == "ok" for status, _ in result.steps.values()), result
    assert result.stdout.splitlines()[0].endswith(
        f"s3://{js3_bucket}/users/alice/ and mounts team, lake"
    )
    steps = result.mount_steps("team")
    assert set(steps) == {"configuration", "credentials", *_S3_STEPS}, result
    assert all(status == "ok" for status, _ in steps.values()), result
    assert f"s3://{team}/projects/ml/ at " in result.line("configuration", "team")
    assert "writable; its own credentials (profile 'teamkeys')" in result.line(
        "configuration", "team"
    )
    assert "key id AKIA****0001" in result.line("credentials", "team")
    assert f"listed s3://{team}/projects/ml/ (empty)" in result.line("bucket", "team")
    assert "PUT projects/ml/.jupyters3-check-" in result.line("write", "team")
    steps = result.mount_steps("lake")
    assert all(steps[s][0] == "ok" for s in ("configuration", "credentials", "bucket")), result
    assert "read-only" in result.line("configuration", "lake")
    assert "the main credentials" in result.line("credentials", "lake")
    assert f"listed s3://{lake}/data/ (not empty)" in result.line("bucket", "lake")
    for title in _WRITES:
        assert result.status(title, "lake") == "skip", result
        assert "read-only (read_only in c.JupyterS3.mounts['lake'])" in result.line(title, "lake")
    assert js3_raw.keys(team) == []  # both temporary objects are gone
    assert js3_fault_proxy.count("PUT", bucket=lake) == 0
    assert js3_fault_proxy.count("DELETE", bucket=lake) == 0
    assert js3_raw.keys(lake) == ["data/readme.txt"]
    # --json: the same steps, each of a mount naming it.
    document = json.loads(proxied("--json", env=env).stdout)
    assert document["ok"] is True
    assert document["mounts"]["lake"] == {
        "bucket": lake,
        "prefix": "data/",
        "region": js3_region,
        "endpoint_url": js3_fault_proxy.endpoint_url,
        "read_only": True,
    }
    by_mount: dict[str | None, list[str]] = {}
    for step in document["steps"]:
        by_mount.setdefault(step.get("mount"), []).append(step["name"])
        assert step["detail"] and not step["detail"].startswith("mount ")
    assert list(by_mount) == [None, "team", "lake"]
    assert (
        by_mount["team"]
        == by_mount["lake"]
        == [
            "configuration",
            "credentials",
            "bucket",
            "checkpoints",
            "write",
            "copy",
            "read",
            "conditional-writes",
            "delete",
        ]
    )


@pytest.mark.js3_no_chaos
def test_missing_mount_bucket_fails_naming_the_mount(
    check: CheckRunner, js3_moto_server: MotoServer, js3_region: str
) -> None:
    gone = f"missing-{uuid.uuid4().hex[:8]}"
    fine = _bucket(js3_moto_server, js3_region, "fine")
    check.config["JupyterS3"]["mounts"] = {"gone": f"s3://{gone}/p/", "fine": f"s3://{fine}/"}
    result = check()
    assert result.code == 1, result
    assert all(status == "ok" for status, _ in result.steps.values()), result
    assert result.status("bucket", "gone") == "FAIL"
    line = result.line("bucket", "gone")
    assert f"ListObjectsV2 on s3://{gone}/p/: NoSuchBucket" in line
    assert (
        f"Bucket '{gone}' does not exist at {js3_moto_server.endpoint_url}: "
        "create it or fix the url of c.JupyterS3.mounts['gone']."
    ) in line
    assert (
        f"FAIL  bucket              mount 'gone': ListObjectsV2 on s3://{gone}/p/" in result.stdout
    )
    assert all(result.status(s, "gone") == "skip" for s in _S3_STEPS[1:]), result
    assert all(status == "ok" for status, _ in result.mount_steps("fine").values()), result
    assert result.stdout.rstrip().endswith("1 step(s) failed."), result
    document = json.loads(check("--json").stdout)
    assert document["exit_code"] == 1
    (failed,) = [s for s in document["steps"] if s["status"] == "FAIL"]
    assert (failed["name"], failed["mount"]) == ("bucket", "gone")
    assert "c.JupyterS3.mounts['gone']" in failed["fix"]


def test_mounts_without_a_main_bucket(
    check: CheckRunner, js3_moto_server: MotoServer, js3_raw: RawS3, js3_region: str
) -> None:
    only = _bucket(js3_moto_server, js3_region, "only")
    check.config["JupyterS3"]["aws_s3_bucket"] = ""
    check.config["JupyterS3"]["mounts"] = {"only": f"s3://{only}/work/"}
    result = check()
    assert result.code == 0, result
    assert result.stdout.splitlines()[0] == "jupyters3 check mounts only"
    assert result.status("configuration") == "ok"
    assert "no main bucket: c.JupyterS3.aws_s3_bucket is not set" in result.line("configuration")
    assert result.status("credentials") == "ok"  # the mount uses them
    for title in _S3_STEPS:
        assert result.status(title) == "skip", result
        assert "no main bucket (c.JupyterS3.aws_s3_bucket is not set)" in result.line(title)
    steps = result.mount_steps("only")
    assert set(steps) == {"configuration", "credentials", *_S3_STEPS}, result
    assert all(status == "ok" for status, _ in steps.values()), result
    assert js3_raw.keys(only) == []


@pytest.mark.parametrize(
    ("mounts", "sentence"),
    [
        (
            {"team": "https://example.com/x"},
            "c.JupyterS3.mounts['team']: 'https://example.com/x' is not an S3 URL; "
            "write 's3://<bucket>/<prefix>'.",
        ),
        (
            {"team": {"url": "s3://b/", "authentication_class": "nowhere.Nothing"}},
            "c.JupyterS3.mounts['team']: cannot import the authentication_class 'nowhere.Nothing'",
        ),
    ],
)
def test_a_bad_mount_fails_the_configuration(
    check: CheckRunner, mounts: dict[str, Any], sentence: str
) -> None:
    check.config["JupyterS3"]["mounts"] = mounts
    result = check()
    assert result.code == 1, result
    assert result.status("configuration") == "FAIL"
    assert sentence in result.line("configuration")
    assert all(result.status(s) == "skip" for s in ("credentials", *_S3_STEPS)), result
    assert "Traceback" not in result.stderr and "CRITICAL" not in result.stderr, result


def test_a_mount_hiding_a_top_level_folder_fails(
    check: CheckRunner,
    js3_moto_server: MotoServer,
    js3_raw: RawS3,
    js3_region: str,
    js3_bucket: str,
) -> None:
    """The server refuses to start then: the check says so on the mount's configuration."""
    team = _bucket(js3_moto_server, js3_region, "team")
    js3_raw.put(js3_bucket, "users/alice/team/notes.txt", b"hidden by the mount\n")
    check.config["JupyterS3"]["mounts"] = {"team": f"s3://{team}/"}
    result = check()
    assert result.code == 1, result
    assert result.status("configuration", "team") == "FAIL"
    assert "Mount 'team' has the name of a top-level file or folder of the main bucket" in (
        result.line("configuration", "team")
    )
    assert result.status("bucket", "team") == "ok"


def test_help() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "jupyters3", "check", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0
    for option in ("--config", "--set", "--json"):
        assert option in proc.stdout
