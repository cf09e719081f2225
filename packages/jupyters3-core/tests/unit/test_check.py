"""``jupyters3 check`` in process: verdicts, masking, rendering, reading the config."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
from traitlets.config import Config

from jupyters3 import JupyterS3, errors, startup
from jupyters3.auth import JupyterS3DefaultAuthentication
from jupyters3.check_config import CheckError, load_jupyter_config, manager_class, parse_overrides
from jupyters3.check_report import (
    Report,
    conditional_write_verdict,
    mask_key_id,
    needs_permission,
)
from jupyters3.mounts import parse_mount
from jupyters3.settings import BucketSettings


def test_conditional_put_refused_with_412_means_supported() -> None:
    status, detail, fix = conditional_write_verdict(
        errors.error_from_response(status=412, code="PreconditionFailed", message="")
    )
    assert (status, fix) == ("ok", "")
    assert "supported" in detail


def test_store_ignoring_if_none_match_warns_with_the_fix() -> None:
    status, detail, fix = conditional_write_verdict(None)
    assert status == "WARN"
    assert "ignores If-None-Match" in detail
    assert "overwrite each other" in fix
    assert "c.JupyterS3.conditional_writes = 'off'" in fix


@pytest.mark.parametrize(
    ("status_code", "code"),
    [(501, "NotImplemented"), (400, "NotImplemented"), (400, "InvalidArgument"), (501, "")],
)
def test_store_refusing_the_header_is_unsupported(status_code: int, code: str) -> None:
    error = errors.error_from_response(status=status_code, code=code, message="")
    status, detail, fix = conditional_write_verdict(error)
    assert status == "WARN"
    assert "does not support If-None-Match" in detail
    assert "c.JupyterS3.conditional_writes = 'off'" in fix


@pytest.mark.parametrize("outcome", [None, "unsupported"])
def test_conditional_writes_off_silences_the_warning(outcome: str | None) -> None:
    error = (
        errors.error_from_response(status=501, code="NotImplemented", message="")
        if outcome
        else None
    )
    status, detail, fix = conditional_write_verdict(error, "off")
    assert (status, fix) == ("ok", "")
    assert "not used" in detail


def test_conditional_writes_on_with_an_unsupporting_store_fails() -> None:
    error = errors.error_from_response(status=501, code="NotImplemented", message="")
    assert conditional_write_verdict(error, "on")[0] == "FAIL"
    assert conditional_write_verdict(None, "on")[0] == "WARN"


def test_other_errors_fail() -> None:
    denied = errors.error_from_response(status=403, code="AccessDenied", message="")
    assert conditional_write_verdict(denied)[0] == "FAIL"
    assert conditional_write_verdict(OSError("boom"))[0] == "FAIL"


def test_key_id_is_masked() -> None:
    assert mask_key_id("AKIAIOSFODNN7EXAMPLE") == "AKIA****MPLE"
    assert mask_key_id("short") == "****"


def test_needs_permission_sentence() -> None:
    assert needs_permission(["PutObject"], "b", "p/") == "grant s3:PutObject on arn:aws:s3:::b/p/*"
    assert needs_permission(["GetObject", "PutObject"], "b", "") == (
        "grant s3:GetObject and s3:PutObject on arn:aws:s3:::b/*"
    )


def test_overrides_parse_json_values_and_strings() -> None:
    assert parse_overrides(["JupyterS3.max_attempts=5", "JupyterS3.prefix=a/b"]) == {
        "JupyterS3": {"max_attempts": 5, "prefix": "a/b"}
    }
    with pytest.raises(ValueError, match=r"Section\.trait=VALUE"):
        parse_overrides(["prefix=a"])


def test_report_redacts_secrets_and_orders_steps() -> None:
    report = Report(secrets={"s3cr3t-value"})
    report.add("delete", "ok", "done")
    report.add("configuration", "FAIL", "leaked s3cr3t-value", "fix it.")
    text = report.text("header")
    assert "s3cr3t-value" not in text and "****" in text
    lines = text.splitlines()
    assert lines[0] == "header"
    assert lines[1].startswith("FAIL  configuration") and lines[1].endswith(": fix it.")
    assert lines[2].startswith("ok    delete")
    assert report.exit_code == 1
    document = json.loads(report.json(bucket="b"))
    assert document["ok"] is False and document["bucket"] == "b"
    assert [s["name"] for s in document["steps"]] == ["configuration", "delete"]
    assert "s3cr3t-value" not in report.json()


def test_mount_steps_follow_the_main_ones_and_name_their_mount() -> None:
    report = Report()
    report.add("bucket", "FAIL", "ListObjectsV2: NoSuchBucket", "create it.", mount="team")
    report.add("configuration", "ok", "s3://main/")
    report.add("bucket", "skip", "not tried: the mount is read-only", mount="lake")
    report.add("configuration", "ok", "s3://team/", mount="team")
    report.add("bucket", "ok", "listed")
    assert [(s.mount, s.name) for s in report.ordered()] == [
        (None, "configuration"),
        (None, "bucket"),
        ("team", "configuration"),
        ("team", "bucket"),
        ("lake", "bucket"),
    ]
    assert report.status_of("bucket") == "ok"
    assert report.status_of("bucket", "team") == "FAIL"
    assert report.status_of("bucket", "other") is None
    assert report.exit_code == 1
    lines = report.text().splitlines()
    assert lines[1].startswith("ok    bucket ") and lines[1].endswith("  listed")
    assert lines[3].startswith("FAIL  bucket ")
    assert lines[3].endswith("  mount 'team': ListObjectsV2: NoSuchBucket: create it.")
    assert lines[4].endswith("  mount 'lake': not tried: the mount is read-only")
    steps = json.loads(report.json())["steps"]
    assert "mount" not in steps[0]
    assert steps[3]["mount"] == "team" and steps[3]["detail"] == "ListObjectsV2: NoSuchBucket"
    # A later step of the same name and mount replaces it; another mount's stays.
    report.add("bucket", "ok", "listed", mount="team")
    assert report.status_of("bucket", "team") == "ok" and not report.failed
    assert report.status_of("bucket", "lake") == "skip"


def _mount_settings(**mount: Any) -> tuple[Any, Any]:
    spec = parse_mount("team", {"url": "s3://team-bucket/ml/", **mount})
    auth = JupyterS3DefaultAuthentication()
    main = BucketSettings("main", "", "us-east-1", "", "auto", auth)
    return main.for_mount(spec, auth), spec


def _error(status: int, code: str, region: str = "") -> errors.S3Error:
    return errors.error_from_response(status=status, code=code, message="", region=region)


def test_mount_fixes_name_the_mount_setting() -> None:
    settings, _ = _mount_settings()
    setting = "c.JupyterS3.mounts['team']"
    missing = startup.explain(settings, _error(404, "NoSuchBucket"))
    assert missing == (
        "Bucket 'team-bucket' does not exist at AWS region us-east-1: "
        f"create it or fix the url of {setting}."
    )
    moved = startup.explain(settings, _error(301, "PermanentRedirect", "eu-west-3"))
    assert moved.endswith(f"set 'region': 'eu-west-3' in {setting}.")
    rejected = startup.explain(settings, _error(403, "InvalidAccessKeyId"))
    assert f"that {setting} inherits" in rejected and "'profile'" in rejected
    unreachable = startup.explain(settings, errors.NetworkError("refused"))
    assert f"check c.JupyterS3.endpoint_url (which {setting} inherits)" in unreachable
    assert startup.explain(settings, _error(500, "InternalError")).endswith(f"fix {setting}.")
    denied = startup.explain(settings, _error(403, "AccessDenied"))
    assert "may not list s3://team-bucket/ml/" in denied


def test_mount_fixes_name_its_own_endpoint_and_profile() -> None:
    settings, _ = _mount_settings(endpoint_url="https://minio.corp:9000", profile="minio")
    setting = "c.JupyterS3.mounts['team']"
    unreachable = startup.explain(settings, errors.NetworkError("refused"))
    assert unreachable == (
        "Cannot reach S3 at https://minio.corp:9000 (refused): "
        f"check the 'endpoint_url' of {setting} and the network."
    )
    rejected = startup.explain(settings, _error(403, "SignatureDoesNotMatch"))
    assert f"AWS profile 'minio', the 'profile' of {setting}" in rejected


@pytest.fixture
def config_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private JUPYTER_CONFIG_DIR (and no other user-level Jupyter path)."""
    monkeypatch.setenv("JUPYTER_CONFIG_DIR", str(tmp_path))
    monkeypatch.delenv("JUPYTER_CONFIG_PATH", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    return tmp_path


def _write(path: Path, config: dict[str, Any]) -> None:
    path.write_text(json.dumps(config))


def test_server_config_wins_over_notebook_config_and_set_over_both(config_dir: Path) -> None:
    _write(
        config_dir / "jupyter_notebook_config.json",
        {"JupyterS3": {"prefix": "nb/", "aws_s3_bucket": "nb"}},
    )
    _write(config_dir / "jupyter_server_config.json", {"JupyterS3": {"prefix": "server/"}})
    overrides = parse_overrides(["JupyterS3.aws_s3_bucket=from-set"])
    config, files, searched = load_jupyter_config(None, overrides, logging.getLogger("t"))
    assert config.JupyterS3.prefix == "server/"
    assert config.JupyterS3.aws_s3_bucket == "from-set"
    assert [Path(f).name for f in files] == [
        "jupyter_notebook_config.json",
        "jupyter_server_config.json",
    ]
    assert str(config_dir) in searched


def test_config_option_replaces_the_config_path_files(config_dir: Path, tmp_path: Path) -> None:
    _write(config_dir / "jupyter_server_config.json", {"JupyterS3": {"prefix": "server/"}})
    other = tmp_path / "other.py"
    other.write_text("c.JupyterS3.aws_s3_bucket = 'other'\n")
    config, files, _ = load_jupyter_config(str(other), {}, logging.getLogger("t"))
    assert config.JupyterS3.aws_s3_bucket == "other"
    assert "prefix" not in config.JupyterS3
    assert files == [str(other)]
    with pytest.raises(CheckError, match="no such file"):
        load_jupyter_config(str(tmp_path / "missing.py"), {}, logging.getLogger("t"))


def test_a_config_file_that_fails_is_named(config_dir: Path) -> None:
    (config_dir / "jupyter_server_config.py").write_text("raise RuntimeError('boom')\n")
    with pytest.raises(CheckError) as info:
        load_jupyter_config(None, {}, logging.getLogger("t"))
    message = str(info.value)
    assert "jupyter_server_config.py cannot be loaded (RuntimeError: boom)" in message


def test_a_wrong_serverapp_value_does_not_stop_the_check(config_dir: Path) -> None:
    _write(
        config_dir / "jupyter_server_config.json",
        {"ServerApp": {"contents_manager_class": "nope.Nope", "root_dir": "/does/not/exist"}},
    )
    config, _, _ = load_jupyter_config(None, {}, logging.getLogger("t"))
    report = Report()
    assert manager_class(config, report) is JupyterS3
    assert report.status_of("contents-manager") == "WARN"
    assert "cannot be imported" in report.steps[0].detail


def test_a_subclass_of_jupyters3_is_used() -> None:
    report = Report()
    config = Config({"NotebookApp": {"contents_manager_class": _MyS3}})
    assert manager_class(config, report) is _MyS3
    assert report.status_of("contents-manager") == "ok"
    assert "c.NotebookApp.contents_manager_class" in report.steps[0].detail


class _MyS3(JupyterS3):
    """A user's subclass."""
