"""A configuration that cannot work stops the server at start with one sentence.

Each case starts a real ``jupyter server`` subprocess and reads its exit code
and log: the sentence names what to fix, and no traceback is printed.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from jupyters3_testing import Fault, FaultProxy, JupyterServer, JupyterServerError, MotoServer
from jupyters3_testing.jupyter_fixtures import JupyterFactory, jupyters3_config
from jupyters3_testing.rest import ContentsClient
from jupyters3_testing.s3server import free_port


def start_fails(factory: JupyterFactory, config: dict[str, Any], **kw: Any) -> str:
    """Start a server that must exit; return its log (tail).

    The server ran at DEBUG, and its whole log holds none of its secrets (the
    fixture's random secret key and session token): checked here, and again
    by the factory at teardown.
    """
    with pytest.raises(JupyterServerError, match=r"exited with code 1") as info:
        factory(config=config, startup_timeout=60, **kw)
    log = str(info.value)
    assert "Traceback" not in log, log
    server = factory.servers[-1]
    assert server.debug and "[D " in server.log_text()
    assert server.find_leaks() == []
    return log


@pytest.fixture
def proxied(js3_fault_proxy: FaultProxy, js3_bucket: str, js3_region: str) -> dict[str, Any]:
    return jupyters3_config(
        bucket=js3_bucket, endpoint_url=js3_fault_proxy.endpoint_url, region=js3_region
    )


def test_no_bucket(js3_jupyter_factory: JupyterFactory, js3_moto_server: MotoServer) -> None:
    config = jupyters3_config(bucket="", endpoint_url=js3_moto_server.endpoint_url)
    log = start_fails(js3_jupyter_factory, config)
    assert "c.JupyterS3.aws_s3_bucket is not set" in log


@pytest.mark.js3_no_chaos
def test_bucket_that_does_not_exist(
    js3_jupyter_factory: JupyterFactory, js3_moto_server: MotoServer
) -> None:
    name = f"missing-{uuid.uuid4().hex[:8]}"
    config = jupyters3_config(bucket=name, endpoint_url=js3_moto_server.endpoint_url)
    log = start_fails(js3_jupyter_factory, config)
    assert f"Bucket '{name}' does not exist at {js3_moto_server.endpoint_url}" in log
    assert "c.JupyterS3.aws_s3_bucket" in log


def test_wrong_region(
    js3_jupyter_factory: JupyterFactory, js3_fault_proxy: FaultProxy, proxied: dict[str, Any]
) -> None:
    js3_fault_proxy.configure(rule=lambda req: Fault.wrong_region("eu-west-3"))
    log = start_fails(js3_jupyter_factory, proxied)
    assert "set c.JupyterS3.aws_region = 'eu-west-3'" in log


def test_rejected_credentials(
    js3_jupyter_factory: JupyterFactory,
    js3_fault_proxy: FaultProxy,
    proxied: dict[str, Any],
    js3_jupyter_env: dict[str, str | None],
) -> None:
    js3_fault_proxy.configure(
        rule=lambda req: Fault.error(403, "InvalidAccessKeyId", "The key does not exist.")
    )
    log = start_fails(js3_jupyter_factory, proxied)
    assert "S3 rejected the credentials (InvalidAccessKeyId)" in log
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        secret = js3_jupyter_env[name]
        assert secret and secret not in log  # never a credential


def test_listing_denied(
    js3_jupyter_factory: JupyterFactory, js3_fault_proxy: FaultProxy, proxied: dict[str, Any]
) -> None:
    js3_fault_proxy.configure(rule=lambda req: Fault.access_denied())
    log = start_fails(js3_jupyter_factory, proxied)
    assert "grant s3:ListBucket" in log


def test_prefix_leaving_the_bucket_root(
    js3_jupyter_factory: JupyterFactory, proxied: dict[str, Any]
) -> None:
    config = {**proxied, "JupyterS3": {**proxied["JupyterS3"], "prefix": "users/../../etc"}}
    log = start_fails(js3_jupyter_factory, config)
    assert "c.JupyterS3.prefix: Invalid key prefix 'users/../../etc'" in log


def test_no_credentials(js3_jupyter_factory: JupyterFactory, proxied: dict[str, Any]) -> None:
    env: dict[str, str | None] = {"AWS_ACCESS_KEY_ID": None, "AWS_SECRET_ACCESS_KEY": None}
    log = start_fails(js3_jupyter_factory, proxied, env=env)
    assert "No AWS credentials" in log


@pytest.mark.js3_no_chaos
def test_unreachable_endpoint(js3_jupyter_factory: JupyterFactory, js3_bucket: str) -> None:
    endpoint = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    config = jupyters3_config(bucket=js3_bucket, endpoint_url=endpoint)
    log = start_fails(js3_jupyter_factory, config)
    assert f"Cannot reach S3 at {endpoint}" in log


def test_good_configuration_logs_where_contents_live(
    js3_jupyter: JupyterServer, js3_bucket: str
) -> None:
    assert f"JupyterS3: contents in s3://{js3_bucket}/" in js3_jupyter.log_text()


@pytest.mark.parametrize("app", ["lab", "notebook"])
def test_old_notebookapp_setting_is_honoured(
    js3_jupyter_factory: JupyterFactory,
    js3_jupyter_config: dict[str, Any],
    js3_raw: Any,
    js3_bucket: str,
    app: Any,
) -> None:
    """``c.NotebookApp.contents_manager_class`` still works under jupyter lab / notebook."""
    config = {
        "NotebookApp": {"contents_manager_class": "jupyters3.JupyterS3"},
        "JupyterS3": js3_jupyter_config["JupyterS3"],
    }
    server = js3_jupyter_factory(config=config, app=app)
    api = ContentsClient(server.url, server.token)
    api.save_text("via-notebookapp.txt", "ok").expect(201)
    assert js3_raw.get(js3_bucket, "via-notebookapp.txt") == b"ok"


def test_versioned_checkpoints_on_needs_a_versioned_bucket(
    js3_jupyter_factory: JupyterFactory, js3_moto_server: MotoServer, js3_bucket: str
) -> None:
    config = jupyters3_config(bucket=js3_bucket, endpoint_url=js3_moto_server.endpoint_url)
    config["JupyterS3"]["versioned_checkpoints"] = "on"
    log = start_fails(js3_jupyter_factory, config)
    assert "c.JupyterS3.versioned_checkpoints = 'on', but versioning is not enabled" in log
