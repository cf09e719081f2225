"""JupyterS3's configuration surface, in process and without any I/O.

``check_on_start=False`` keeps the constructor from contacting S3; the S3
behaviour of each setting is covered end to end in tests/e2e.
"""

from __future__ import annotations

from typing import Any

import pytest
from jupyter_server.services.contents.manager import AsyncContentsManager
from tornado import gen
from traitlets import TraitError
from traitlets.config import Config

import jupyters3
from jupyters3 import (
    AwsCreds,
    JupyterS3,
    JupyterS3Authentication,
    JupyterS3DefaultAuthentication,
    JupyterS3SecretAccessKeyAuthentication,
)
from jupyters3.checkpoints import S3Checkpoints
from jupyters3.contents_errors import StartupRefused
from jupyters3.errors import BadConfiguration
from jupyters3.files import S3FilesHandler
from jupyters3.names import first_free_name


def make(monkeypatch: pytest.MonkeyPatch, env: dict[str, str] | None = None, **traits: Any) -> Any:
    for name in (
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_S3",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_SECURITY_TOKEN",
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_ROLE_ARN",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/config")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    for name, value in (env or {}).items():
        monkeypatch.setenv(name, value)
    return JupyterS3(check_on_start=False, **traits)


def test_public_names() -> None:
    assert set(jupyters3.__all__) >= {
        "JupyterS3",
        "JupyterS3Authentication",
        "JupyterS3SecretAccessKeyAuthentication",
        "AwsCreds",
    }
    assert issubclass(JupyterS3, AsyncContentsManager)


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    cm = make(monkeypatch, aws_s3_bucket="b")
    assert cm.aws_region == "us-east-1"
    assert cm.endpoint_url == ""
    assert cm.prefix == ""
    assert cm.addressing_style == "auto"
    assert cm.validate_cert is True
    assert cm.max_checkpoints == 0
    assert isinstance(cm.checkpoints, S3Checkpoints)
    assert cm.files_handler_class is S3FilesHandler
    assert isinstance(cm.authentication, JupyterS3DefaultAuthentication)


def test_region_and_endpoint_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    env = {
        "AWS_DEFAULT_REGION": "eu-west-1",
        "AWS_ENDPOINT_URL": "http://generic:1",
        "AWS_ENDPOINT_URL_S3": "http://s3-only:2",
    }
    cm = make(monkeypatch, env, aws_s3_bucket="b")
    assert (cm.aws_region, cm.endpoint_url) == ("eu-west-1", "http://s3-only:2")
    env["AWS_REGION"] = "ap-south-1"
    del env["AWS_ENDPOINT_URL_S3"]
    cm = make(monkeypatch, env, aws_s3_bucket="b")
    assert (cm.aws_region, cm.endpoint_url) == ("ap-south-1", "http://generic:1")


def test_traits_win_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    env = {"AWS_REGION": "eu-west-1", "AWS_ENDPOINT_URL": "http://env:1"}
    cm = make(monkeypatch, env, aws_s3_bucket="b", aws_region="us-west-2", endpoint_url="http://x")
    assert (cm.aws_region, cm.endpoint_url) == ("us-west-2", "http://x")


def test_aws_s3_host_is_https(monkeypatch: pytest.MonkeyPatch) -> None:
    cm = make(monkeypatch, aws_s3_bucket="b", aws_s3_host="minio.example.com:9000")
    assert cm.endpoint_url == "https://minio.example.com:9000"


@pytest.mark.parametrize(
    ("given", "expected"),
    [("", ""), ("/", ""), ("users/alice", "users/alice/"), ("users/alice/", "users/alice/")],
)
def test_prefix_is_normalised(monkeypatch: pytest.MonkeyPatch, given: str, expected: str) -> None:
    cm = make(monkeypatch, aws_s3_bucket="b", prefix=given)
    assert cm.prefix == expected
    assert cm.store.keymap.file_key("n.ipynb") == expected + "n.ipynb"


@pytest.mark.parametrize("bad", ["a/../b", "a//b", "./a"])
def test_bad_prefix_is_a_config_error(monkeypatch: pytest.MonkeyPatch, bad: str) -> None:
    with pytest.raises(TraitError, match=r"c\.JupyterS3\.prefix"):
        make(monkeypatch, aws_s3_bucket="b", prefix=bad)


def test_missing_bucket_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    cm = make(monkeypatch)
    with pytest.raises(BadConfiguration, match=r"aws_s3_bucket is not set"):
        cm.store.client  # noqa: B018 - the property raises


class GenCoroutineAuth(JupyterS3Authentication):
    """Written like the original design's example: a tornado.gen coroutine."""

    @gen.coroutine
    def get_credentials(self) -> Any:
        yield gen.sleep(0)
        return AwsCreds("AKIDGEN", "gen-secret", {"x-amz-security-token": "tok"})


async def test_custom_authentication_class_by_name_and_config(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = Config()
    config.JupyterS3.authentication_class = f"{__name__}.GenCoroutineAuth"
    cm = make(monkeypatch, aws_s3_bucket="b", config=config)
    assert isinstance(cm.authentication, GenCoroutineAuth)
    creds = await cm.authentication.get_credentials()
    assert creds == AwsCreds("AKIDGEN", "gen-secret", {"x-amz-security-token": "tok"})


async def test_secret_key_authentication(monkeypatch: pytest.MonkeyPatch) -> None:
    env = {"AWS_ACCESS_KEY_ID": "AKIDENV", "AWS_SECRET_ACCESS_KEY": "env-secret"}
    cm = make(monkeypatch, env, aws_s3_bucket="b")
    assert await cm.authentication.get_credentials() == AwsCreds("AKIDENV", "env-secret", {})

    monkeypatch.setenv("AWS_SESSION_TOKEN", "session")
    monkeypatch.setenv("AWS_SECURITY_TOKEN", "legacy")
    auth = JupyterS3SecretAccessKeyAuthentication()
    creds = await auth.get_credentials()
    assert creds.pre_auth_headers == {"x-amz-security-token": "session"}
    assert "env-secret" not in repr(creds)

    config = Config()
    config.JupyterS3.authentication_class = JupyterS3SecretAccessKeyAuthentication
    config.JupyterS3SecretAccessKeyAuthentication.aws_access_key_id = "AKIDCONF"
    config.JupyterS3SecretAccessKeyAuthentication.aws_secret_access_key = "conf-secret"
    cm = make(monkeypatch, env, aws_s3_bucket="b", config=config)
    assert (await cm.authentication.get_credentials()).access_key_id == "AKIDCONF"


async def test_no_keys_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    cm = make(monkeypatch, aws_s3_bucket="b")
    with pytest.raises(BadConfiguration, match="No AWS credentials"):
        await cm.authentication.get_credentials()


@pytest.mark.parametrize(
    ("filename", "insert", "taken", "expected"),
    [
        ("Untitled.ipynb", "", set(), "Untitled.ipynb"),
        ("Untitled.ipynb", "", {"Untitled.ipynb", "Untitled1.ipynb"}, "Untitled2.ipynb"),
        ("Untitled Folder", " ", {"Untitled Folder"}, "Untitled Folder 1"),
        ("a.tar.gz", "-Copy", {"a.tar.gz"}, "a-Copy1.tar.gz"),
        ("my.data.ipynb", "-Copy", {"my.data.ipynb"}, "my.data-Copy1.ipynb"),
        ("untitled", "", {"untitled", "untitled1"}, "untitled2"),
    ],
)
def test_first_free_name_numbers_like_the_reference(
    filename: str, insert: str, taken: set[str], expected: str
) -> None:
    assert first_free_name(filename, insert, taken) == expected


def test_multipart_part_size_has_s3s_minimum(monkeypatch: pytest.MonkeyPatch) -> None:
    cm = make(monkeypatch, aws_s3_bucket="b", multipart_part_size=5 * 2**20)
    assert cm.multipart_part_size == 5 * 2**20
    with pytest.raises(TraitError, match="at least 5 MiB"):
        make(monkeypatch, aws_s3_bucket="b", multipart_part_size=2**20)


async def test_refresh_windows_are_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    from jupyters3 import JupyterS3ECSRoleAuthentication

    with pytest.raises(TraitError, match="advisory_refresh_seconds must be 0 or more"):
        JupyterS3ECSRoleAuthentication(advisory_refresh_seconds=-1)
    auth = JupyterS3ECSRoleAuthentication(
        advisory_refresh_seconds=60, mandatory_refresh_seconds=120
    )
    with pytest.raises(BadConfiguration, match=r"mandatory_refresh_seconds .120. must not be"):
        await auth.get_credentials()
    both_zero = JupyterS3ECSRoleAuthentication(
        advisory_refresh_seconds=0, mandatory_refresh_seconds=0
    )
    assert both_zero.cache is not None


class _LoopRecorder:
    """Stands in for the ServerApp's (not yet started) IOLoop."""

    def __init__(self) -> None:
        self.callbacks: list[tuple[Any, tuple[Any, ...]]] = []

    def add_callback(self, callback: Any, *args: Any) -> None:
        self.callbacks.append((callback, args))


@pytest.mark.parametrize("freeze", [True, False])
def test_gc_freeze_is_scheduled_for_the_servers_start(
    monkeypatch: pytest.MonkeyPatch, freeze: bool
) -> None:
    """With a server loop, the freeze is queued for when it starts (never run
    in the constructor); freeze_gc_at_start=False queues nothing."""
    from traitlets import Any as AnyTrait
    from traitlets.config import Configurable

    import jupyters3.manager as manager_module

    class App(Configurable):
        io_loop = AnyTrait()

    loop = _LoopRecorder()
    frozen: list[bool] = []
    monkeypatch.setattr(manager_module.gc, "freeze", lambda: frozen.append(True))
    monkeypatch.setattr(manager_module.gc, "collect", lambda: 0)
    monkeypatch.setattr(manager_module, "_gc_frozen", False)

    make(monkeypatch, parent=App(io_loop=loop), freeze_gc_at_start=freeze)

    assert frozen == []
    freezes = [c for c in loop.callbacks if c[0] is manager_module._freeze_gc_once]
    assert len(freezes) == (1 if freeze else 0)
    for callback, args in freezes:
        callback(*args)
        callback(*args)  # a second manager in the process: frozen once
    assert frozen == ([True] if freeze else [])


def test_the_region_defaults_to_the_aws_profiles(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    config = tmp_path / "config"
    config.write_text("[default]\nregion = eu-west-1\n[profile work]\nregion = ap-south-1\n")
    files = {"AWS_CONFIG_FILE": str(config)}
    assert make(monkeypatch, files).aws_region == "eu-west-1"
    assert make(monkeypatch, {**files, "AWS_PROFILE": "work"}).aws_region == "ap-south-1"
    assert make(monkeypatch, {**files, "AWS_REGION": "us-west-2"}).aws_region == "us-west-2"
    named = Config({"JupyterS3DefaultAuthentication": {"profile": "work"}})
    assert make(monkeypatch, files, config=named).aws_region == "ap-south-1"
    config.write_text("[default\nbroken")
    assert make(monkeypatch, files).aws_region == "us-east-1"


@pytest.mark.parametrize(
    ("main", "mount"),
    [
        ("http://minio:9000", "http://minio:9000/"),
        ("", "https://s3.us-east-1.amazonaws.com"),
        ("https://s3.amazonaws.com", "https://s3.eu-west-1.amazonaws.com/"),
    ],
)
def test_a_read_only_mount_shown_writable_elsewhere_is_found_with_endpoints_normalised(
    monkeypatch: pytest.MonkeyPatch, main: str, mount: str
) -> None:
    """The same S3 service written two ways is one: the main bucket (prefix '')
    would show the read-only mount's keys writable, so the server stops."""
    lake = {"url": "s3://data/curated/", "read_only": True, "endpoint_url": mount}
    with pytest.raises(StartupRefused, match="is read-only, but the main bucket"):
        make(monkeypatch, aws_s3_bucket="data", endpoint_url=main, mounts={"lake": lake})
