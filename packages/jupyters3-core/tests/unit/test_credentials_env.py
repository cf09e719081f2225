"""The credential value types, timestamps, and the environment provider (pure, no I/O)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from jupyters3.credentials import AwsCreds, TimedCreds
from jupyters3.credentials.providers import EnvironmentProvider, creds_from_environ
from jupyters3.credentials.timestamps import format_timestamp, parse_timestamp
from jupyters3.errors import BadConfiguration

# -- AwsCreds stays what it was ------------------------------------------------


def test_awscreds_keeps_its_three_positional_fields() -> None:
    creds = AwsCreds("AKID", "secret", {"x-amz-security-token": "tok"})
    key, secret, headers = creds  # callers unpack it
    assert (key, secret, headers) == ("AKID", "secret", {"x-amz-security-token": "tok"})
    assert creds == AwsCreds(
        access_key_id="AKID",
        secret_access_key="secret",
        pre_auth_headers={"x-amz-security-token": "tok"},
    )
    assert creds != AwsCreds("AKID", "other", {"x-amz-security-token": "tok"})
    assert AwsCreds._fields == ("access_key_id", "secret_access_key", "pre_auth_headers")


def test_timedcreds_defaults_to_no_expiration_and_hides_secrets() -> None:
    timed = TimedCreds(AwsCreds("AKID", "s3cr3t-value", {"x-amz-security-token": "t0k3n-value"}))
    assert timed.expiration is None
    assert "s3cr3t-value" not in repr(timed)
    assert "t0k3n-value" not in repr(timed)


# -- timestamps ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2027-01-15T08:00:00Z", 1_800_000_000.0),
        ("2027-01-15T08:00:00.5Z", 1_800_000_000.5),
        ("2027-01-15T08:00:00.893876Z", 1_800_000_000.893876),  # moto's STS
        ("2027-01-15T08:00:00", 1_800_000_000.0),  # no zone: UTC
        ("2027-01-15T09:30:00+01:30", 1_800_000_000.0),
        ("2027-01-15T07:00:00-0100", 1_800_000_000.0),
        (" 2027-01-15 08:00:00z ", 1_800_000_000.0),
    ],
)
def test_parse_timestamp(text: str, expected: float) -> None:
    assert parse_timestamp(text) == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize(
    "bad", ["", "tomorrow", "2027-13-01T00:00:00Z", "1800000000", "2027-01-15"]
)
def test_parse_timestamp_refuses_other_text(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_timestamp(bad)


@given(
    st.datetimes(
        min_value=datetime(1971, 1, 1),
        max_value=datetime(2999, 12, 31),
        timezones=st.just(timezone.utc),
    )
)
def test_timestamp_round_trip(moment: datetime) -> None:
    moment = moment.replace(microsecond=0)
    assert parse_timestamp(format_timestamp(moment.timestamp())) == moment.timestamp()
    with_fraction = moment.isoformat().replace("+00:00", ".250Z")
    assert parse_timestamp(with_fraction) == moment.timestamp() + 0.25
    shifted = (moment + timedelta(hours=2)).replace(tzinfo=None).isoformat() + "+02:00"
    assert parse_timestamp(shifted) == moment.timestamp()


# -- environment -----------------------------------------------------------------


def test_nothing_set_is_not_configured() -> None:
    assert creds_from_environ({}) is None
    assert creds_from_environ({"AWS_ACCESS_KEY_ID": " ", "AWS_SECRET_ACCESS_KEY": ""}) is None


def test_static_keys_without_a_token() -> None:
    found = creds_from_environ({"AWS_ACCESS_KEY_ID": "AKID", "AWS_SECRET_ACCESS_KEY": "sec"})
    assert found == TimedCreds(AwsCreds("AKID", "sec", {}), None)


@pytest.mark.parametrize(
    ("tokens", "expected"),
    [
        ({"AWS_SESSION_TOKEN": "session"}, "session"),
        ({"AWS_SECURITY_TOKEN": "legacy"}, "legacy"),
        ({"AWS_SESSION_TOKEN": "session", "AWS_SECURITY_TOKEN": "legacy"}, "session"),
        ({"AWS_SESSION_TOKEN": "", "AWS_SECURITY_TOKEN": "legacy"}, "legacy"),
    ],
)
def test_session_token_names(tokens: dict[str, str], expected: str) -> None:
    env = {"AWS_ACCESS_KEY_ID": "AKID", "AWS_SECRET_ACCESS_KEY": "sec", **tokens}
    found = creds_from_environ(env)
    assert found is not None
    assert found.creds.pre_auth_headers == {"x-amz-security-token": expected}


@pytest.mark.parametrize(
    ("env", "named"),
    [
        (
            {"AWS_ACCESS_KEY_ID": "AKID"},
            "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not",
        ),
        (
            {"AWS_SECRET_ACCESS_KEY": "hush-hush"},
            "AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not",
        ),
    ],
)
def test_half_a_key_pair_is_a_config_error(env: dict[str, str], named: str) -> None:
    with pytest.raises(BadConfiguration, match=named) as info:
        creds_from_environ(env)
    assert "hush-hush" not in str(info.value)


def test_credential_expiration_makes_them_refreshable() -> None:
    env = {
        "AWS_ACCESS_KEY_ID": "AKID",
        "AWS_SECRET_ACCESS_KEY": "sec",
        "AWS_CREDENTIAL_EXPIRATION": "2027-01-15T08:00:00Z",
    }
    found = creds_from_environ(env)
    assert found is not None and found.expiration == 1_800_000_000.0
    env["AWS_CREDENTIAL_EXPIRATION"] = "soon"
    with pytest.raises(BadConfiguration, match="AWS_CREDENTIAL_EXPIRATION"):
        creds_from_environ(env)


_text = st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=40)


@given(key=_text, secret=_text, token=st.one_of(st.just(""), _text))
def test_environment_values_pass_through_and_never_show(key: str, secret: str, token: str) -> None:
    env = {"AWS_ACCESS_KEY_ID": key, "AWS_SECRET_ACCESS_KEY": secret, "AWS_SESSION_TOKEN": token}
    found = creds_from_environ(env)
    assert found is not None
    assert found.creds.access_key_id == key
    assert found.creds.secret_access_key == secret
    assert found.creds.pre_auth_headers == ({"x-amz-security-token": token} if token else {})
    assume(secret != "***")
    shown = repr(found).replace(f"access_key_id={key!r}", "")
    assert f"'{secret}'" not in shown
    if token:
        assert f"'{token}'" not in shown


async def test_provider_reads_the_mapping_it_was_given() -> None:
    env: dict[str, str] = {}
    provider = EnvironmentProvider(env)
    assert await provider.load() is None
    env.update(AWS_ACCESS_KEY_ID="AKID", AWS_SECRET_ACCESS_KEY="sec")
    found = await provider.load()
    assert found is not None and found.creds.access_key_id == "AKID"
    assert provider.name == "environment"
    assert "AWS_ACCESS_KEY_ID" in provider.description
