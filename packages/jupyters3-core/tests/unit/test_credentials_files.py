"""The shared AWS files: INI parsing, profile sections, and the chain's profile
provider reading static keys from them."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from credential_fakes import FakeClock, FakeFetcher, answers

from jupyters3.credentials import AwsCreds, TimedCreds
from jupyters3.credentials.profiles import ProfileProvider
from jupyters3.credentials.providers import (
    config_profiles,
    credentials_profiles,
    parse_ini,
    profile_name,
    shared_file_paths,
)
from jupyters3.credentials.types import ProviderContext
from jupyters3.errors import BadConfiguration

CONFIG = """\
# comment
[default]
region = eu-west-1
s3 =
  addressing_style = path

[profile dev]
aws_access_key_id = AKIDDEVCONFIG
aws_secret_access_key = dev-config-secret
region = us-west-2

[profile default]
region = ap-south-1

[sso-session corp]
sso_region = us-east-1

[services local]
s3 =
  endpoint_url = http://localhost:9000
"""

CREDENTIALS = """\
[default]
aws_access_key_id = AKIDDEFAULT
aws_secret_access_key = default-secret

[dev]
aws_access_key_id = AKIDDEVCREDS
aws_secret_access_key = dev-creds-secret
aws_session_token = dev-token

[legacy]
aws_access_key_id = AKIDLEGACY
aws_secret_access_key = legacy-secret
aws_security_token = legacy-token
"""


def test_parse_ini_sections_keys_and_nested_values() -> None:
    sections = parse_ini(CONFIG)
    assert sections["default"]["region"] == "eu-west-1"
    assert "addressing_style = path" in sections["default"]["s3"]
    assert sections["profile dev"]["aws_access_key_id"] == "AKIDDEVCONFIG"
    assert parse_ini("[A]\nAWS_Access_Key_ID = x\n") == {"A": {"aws_access_key_id": "x"}}


@pytest.mark.parametrize(
    "text",
    [
        "aws_secret_access_key = top-secret-value\n",  # no section header
        "[default]\naws_secret_access_key top-secret-value\n",  # no '='
    ],
)
def test_malformed_ini_names_the_line_never_its_text(text: str) -> None:
    with pytest.raises(
        BadConfiguration, match=r"/x/credentials is not valid INI \(line \d"
    ) as info:
        parse_ini(text, "/x/credentials")
    assert "top-secret-value" not in str(info.value)


def test_config_profiles_follow_the_config_file_naming() -> None:
    profiles = config_profiles(parse_ini(CONFIG))
    assert set(profiles) == {"default", "dev"}
    assert profiles["default"]["region"] == "ap-south-1"  # [profile default] wins
    assert profiles["dev"]["region"] == "us-west-2"


def test_credentials_profiles_are_plain_section_names() -> None:
    assert set(credentials_profiles(parse_ini(CREDENTIALS))) == {"default", "dev", "legacy"}


def test_profile_name_and_paths_from_the_environment() -> None:
    assert profile_name({}) == "default"
    assert profile_name({"AWS_DEFAULT_PROFILE": "b"}) == "b"
    assert profile_name({"AWS_PROFILE": "a", "AWS_DEFAULT_PROFILE": "b"}) == "a"
    assert shared_file_paths({"HOME": "/home/u"}) == (
        "/home/u/.aws/credentials",
        "/home/u/.aws/config",
    )
    env = {"AWS_SHARED_CREDENTIALS_FILE": "/c", "AWS_CONFIG_FILE": "~/conf", "HOME": "/h"}
    assert shared_file_paths(env) == ("/c", "/h/conf")


LOG = logging.getLogger("test.files")


def profile_provider(environ: dict[str, str], profile: str = "") -> ProfileProvider:
    """The chain's profile provider over ``environ`` (no network: static keys only)."""
    context = ProviderContext(environ, FakeClock(), FakeFetcher(answers()), LOG)
    return ProfileProvider(context, profile, entry_points=False)


@pytest.fixture
def aws_home(tmp_path: Path) -> dict[str, str]:
    """An environment whose ~/.aws holds CONFIG and CREDENTIALS."""
    (tmp_path / ".aws").mkdir()
    (tmp_path / ".aws" / "config").write_text(CONFIG)
    (tmp_path / ".aws" / "credentials").write_text(CREDENTIALS)
    return {"HOME": str(tmp_path)}


async def test_default_profile_from_the_credentials_file(aws_home: dict[str, str]) -> None:
    found = await profile_provider(aws_home).load()
    assert found == TimedCreds(AwsCreds("AKIDDEFAULT", "default-secret", {}))


@pytest.mark.parametrize(
    ("profile", "key", "token"),
    [("dev", "AKIDDEVCREDS", "dev-token"), ("legacy", "AKIDLEGACY", "legacy-token")],
)
async def test_aws_profile_selects_and_the_credentials_file_wins(
    aws_home: dict[str, str], profile: str, key: str, token: str
) -> None:
    found = await profile_provider({**aws_home, "AWS_PROFILE": profile}).load()
    assert found is not None
    assert found.creds.access_key_id == key
    assert found.creds.pre_auth_headers == {"x-amz-security-token": token}
    # The same profile given as an argument.
    found_too = await profile_provider(aws_home, profile).load()
    assert found_too == found


async def test_static_keys_of_the_config_file(tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.write_text(CONFIG)
    env = {"AWS_CONFIG_FILE": str(config), "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none")}
    found = await profile_provider({**env, "AWS_PROFILE": "dev"}).load()
    assert found == TimedCreds(AwsCreds("AKIDDEVCONFIG", "dev-config-secret", {}))
    # [default] has no keys in the config: not configured, not an error.
    assert await profile_provider(env).load() is None


async def test_no_files_is_not_configured(tmp_path: Path) -> None:
    assert await profile_provider({"HOME": str(tmp_path)}).load() is None


async def test_a_named_profile_that_is_nowhere_is_a_config_error(aws_home: dict[str, str]) -> None:
    with pytest.raises(BadConfiguration, match="AWS profile 'nope' is in neither"):
        await profile_provider({**aws_home, "AWS_PROFILE": "nope"}).load()


async def test_an_unreadable_file_is_a_config_error(tmp_path: Path) -> None:
    env = {"AWS_SHARED_CREDENTIALS_FILE": str(tmp_path), "AWS_CONFIG_FILE": str(tmp_path / "x")}
    with pytest.raises(BadConfiguration, match="Cannot read"):
        await profile_provider(env).load()


async def test_files_are_read_at_every_load(tmp_path: Path) -> None:
    creds_file = tmp_path / "credentials"
    env = {"AWS_SHARED_CREDENTIALS_FILE": str(creds_file), "AWS_CONFIG_FILE": str(tmp_path / "c")}
    provider = profile_provider(env)
    assert await provider.load() is None
    creds_file.write_text("[default]\naws_access_key_id = A1\naws_secret_access_key = s1\n")
    found = await provider.load()
    assert found is not None and found.creds.access_key_id == "A1"
    assert str(creds_file) in provider.description
