"""credential_process: the command's JSON, its failures (one sentence, no output), the chain."""

from __future__ import annotations

import asyncio
import json
import logging
import shlex
import sys
import time
from pathlib import Path

import pytest
from credential_fakes import FakeClock, FakeFetcher, answers

from jupyters3 import JupyterS3DefaultAuthentication
from jupyters3.credentials import AwsCreds, TimedCreds
from jupyters3.credentials.chain import CredentialChain, default_providers
from jupyters3.credentials.process import (
    parse_process_output,
    program_name,
    run_credential_process,
    split_command,
)
from jupyters3.credentials.timestamps import parse_timestamp
from jupyters3.credentials.types import ProviderContext
from jupyters3.errors import BadConfiguration

LOG = logging.getLogger("test.process")
SECRET = "process-secret-Zq8xW2vR0pLm"
TOKEN = "process-token-Hk3nB7yT5sQa"


def doc(**changes: object) -> bytes:
    data: dict[str, object] = {
        "Version": 1,
        "AccessKeyId": "ASIAPROCESS000000001",
        "SecretAccessKey": SECRET,
        "SessionToken": TOKEN,
        "Expiration": "2027-01-15T09:00:00Z",
    }
    for name, value in changes.items():
        if value is None:
            data.pop(name, None)
        else:
            data[name] = value
    return json.dumps(data).encode()


def script(tmp_path: Path, body: str, name: str = "creds.py") -> str:
    """A command line that runs ``body`` with this Python."""
    path = tmp_path / name
    path.write_text(body)
    return f"{shlex.quote(sys.executable)} {shlex.quote(str(path))}"


# -- parsing -------------------------------------------------------------------


def test_the_documented_json_parses() -> None:
    found = parse_process_output(doc(), "dev", "broker")
    assert found == TimedCreds(
        AwsCreds("ASIAPROCESS000000001", SECRET, {"x-amz-security-token": TOKEN}),
        parse_timestamp("2027-01-15T09:00:00Z"),
    )


def test_without_expiration_or_token_the_keys_never_expire() -> None:
    found = parse_process_output(doc(Expiration=None, SessionToken=None), "dev", "broker")
    assert found == TimedCreds(AwsCreds("ASIAPROCESS000000001", SECRET, {}), None)


@pytest.mark.parametrize(
    ("stdout", "says"),
    [
        (b"not json " + SECRET.encode(), "printed no valid JSON"),
        (b"[1, 2]", "JSON that is not an object"),
        (doc(Version=2), 'printed "Version" 2; only "Version": 1 is supported'),
        (doc(Version=None), '"Version" missing or not a number'),
        (doc(Version=SECRET), '"Version" missing or not a number'),
        (doc(SecretAccessKey=None), "printed JSON without SecretAccessKey"),
        (doc(AccessKeyId="", SecretAccessKey=None), "without AccessKeyId and SecretAccessKey"),
        (doc(Expiration=f"soon {SECRET}"), "an Expiration that is not an ISO 8601 time"),
    ],
)
def test_bad_output_is_one_sentence_without_a_value(stdout: bytes, says: str) -> None:
    with pytest.raises(BadConfiguration) as info:
        parse_process_output(stdout, "dev", "broker")
    message = str(info.value)
    assert "The credential_process of AWS profile 'dev' (broker)" in message
    assert says in message
    assert SECRET not in message and TOKEN not in message
    assert message.count(". ") == 0  # one sentence


def test_commands_split_as_the_cli_splits_them() -> None:
    assert split_command("'/opt/my tools/broker' --role 'a b' x\\ y", "p") == [
        "/opt/my tools/broker",
        "--role",
        "a b",
        "x y",
    ]
    with pytest.raises(BadConfiguration, match=r"profile 'p' is not a valid command line"):
        split_command("broker 'unclosed", "p")
    with pytest.raises(BadConfiguration, match=r"profile 'p' is empty"):
        split_command("   ", "p")
    assert program_name("/usr/local/bin/broker --token s3cr3t") == "broker"
    assert program_name("broker 'unclosed") == "?"


# -- running -------------------------------------------------------------------


async def test_the_command_runs_without_a_shell(tmp_path: Path) -> None:
    body = (
        "import json, sys\n"
        "print(json.dumps({'Version': 1, 'AccessKeyId': 'ASIAARGS', 'SecretAccessKey': "
        "sys.argv[1], 'SessionToken': sys.argv[2]}))\n"
    )
    # $HOME and ; would mean something to a shell; here they are plain arguments.
    command = script(tmp_path, body) + " '$HOME;x' 'a b'"
    found = await run_credential_process(command, "dev")
    assert found.creds == AwsCreds("ASIAARGS", "$HOME;x", {"x-amz-security-token": "a b"})
    assert found.expiration is None


async def test_a_failing_command_names_the_profile_and_status_never_its_output(
    tmp_path: Path,
) -> None:
    body = f"import sys\nprint('{SECRET}')\nprint('{TOKEN}', file=sys.stderr)\nsys.exit(3)\n"
    command = script(tmp_path, body, "broker.py") + " --password hunter2-secret"
    with pytest.raises(BadConfiguration) as info:
        await run_credential_process(command, "dev")
    message = str(info.value)
    assert message.startswith("BadConfiguration: The credential_process of AWS profile 'dev' (py")
    assert message.endswith(") exited with status 3; run it in a terminal to see why.")
    for secret in (SECRET, TOKEN, "hunter2-secret", "broker.py"):
        assert secret not in message


async def test_a_command_that_hangs_is_stopped(tmp_path: Path) -> None:
    command = script(tmp_path, "import time\ntime.sleep(30)\n")
    started = time.monotonic()
    with pytest.raises(BadConfiguration, match=r"did not finish within 0\.5 s; it was stopped"):
        await run_credential_process(command, "dev", timeout=0.5)
    assert time.monotonic() - started < 5


async def test_a_missing_program_says_so(tmp_path: Path) -> None:
    with pytest.raises(BadConfiguration, match=r"cannot be run: no-such-broker was not found"):
        await run_credential_process(f"{tmp_path}/no-such-broker --x", "dev")
    (tmp_path / "plain").write_text("#!/bin/sh\n")
    with pytest.raises(BadConfiguration, match=r"cannot be run: plain is not executable"):
        await run_credential_process(str(tmp_path / "plain"), "dev")


async def test_the_event_loop_keeps_running_while_the_command_runs(tmp_path: Path) -> None:
    body = (
        "import json, time\ntime.sleep(0.5)\n"
        "print(json.dumps({'Version': 1, 'AccessKeyId': 'A', 'SecretAccessKey': 'B'}))\n"
    )
    command = script(tmp_path, body)
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.02)
            ticks += 1

    task = asyncio.ensure_future(ticker())
    try:
        await run_credential_process(command, "dev")
    finally:
        task.cancel()
    assert ticks >= 10


# -- in the default chain ------------------------------------------------------


def profile_env(tmp_path: Path, config: str, **extra: str) -> dict[str, str]:
    (tmp_path / "config").write_text(config)
    return {
        "HOME": str(tmp_path),
        "AWS_CONFIG_FILE": str(tmp_path / "config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "credentials"),
        **extra,
    }


COUNTING = """\
import json, pathlib, sys
runs = pathlib.Path(sys.argv[1])
n = int(runs.read_text()) + 1 if runs.exists() else 1
runs.write_text(str(n))
doc = {"Version": 1, "AccessKeyId": f"ASIAPROC{n:012d}", "SecretAccessKey": f"s{n}"}
if len(sys.argv) > 2:
    doc["Expiration"] = sys.argv[2]
print(json.dumps(doc))
"""


async def test_the_chain_picks_the_process_and_names_it(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    command = script(tmp_path, COUNTING) + f" {shlex.quote(str(runs))}"
    env = profile_env(tmp_path, f"[profile dev]\ncredential_process = {command}\n")
    ctx = ProviderContext(env, FakeClock(), FakeFetcher(answers((500, b""))), LOG)
    chain = CredentialChain(default_providers(ctx, profile="dev", entry_points=False), ctx)
    found = await chain.load()
    assert found.creds.access_key_id == "ASIAPROC000000000001"
    assert chain.chosen is not None and chain.chosen.name == "profile"
    assert chain.chosen.description.startswith("credential_process of profile 'dev' (python")
    assert str(runs) not in chain.chosen.description  # arguments are never shown


async def test_keys_without_expiration_are_kept_for_the_servers_life(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    command = script(tmp_path, COUNTING) + f" {shlex.quote(str(runs))}"
    env = profile_env(tmp_path, f"[default]\ncredential_process = {command}\n")
    clock = FakeClock()
    auth = JupyterS3DefaultAuthentication(environ=env, clock=clock, entry_point_providers=False)
    for _ in range(3):
        assert (await auth.get_credentials()).access_key_id == "ASIAPROC000000000001"
        clock.advance(30 * 24 * 3600)
    assert runs.read_text() == "1"


async def test_keys_with_expiration_are_refreshed_by_running_it_again(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    clock = FakeClock()
    expiry = "2027-01-15T09:00:00Z"  # FakeClock's now + 1 h
    command = script(tmp_path, COUNTING) + f" {shlex.quote(str(runs))} {expiry}"
    env = profile_env(tmp_path, f"[default]\ncredential_process = {command}\n")
    auth = JupyterS3DefaultAuthentication(environ=env, clock=clock, entry_point_providers=False)
    assert (await auth.get_credentials()).access_key_id == "ASIAPROC000000000001"
    clock.advance(3600 - 600 + 1)  # the mandatory window: the command runs again
    assert (await auth.get_credentials()).access_key_id == "ASIAPROC000000000002"
    assert runs.read_text() == "2"


async def test_static_keys_of_the_credentials_file_win_over_the_process(tmp_path: Path) -> None:
    (tmp_path / "credentials").write_text(
        "[dev]\naws_access_key_id = AKIDFILE\naws_secret_access_key = s\n"
    )
    env = profile_env(tmp_path, "[profile dev]\ncredential_process = /nonexistent/broker\n")
    ctx = ProviderContext(env, FakeClock(), FakeFetcher(answers((500, b""))), LOG)
    chain = CredentialChain(default_providers(ctx, profile="dev", entry_points=False), ctx)
    assert (await chain.load()).creds.access_key_id == "AKIDFILE"


async def test_a_failing_process_stops_the_chain_without_logging_output(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    command = script(tmp_path, f"import sys\nprint('{SECRET}')\nsys.exit(2)\n")
    env = profile_env(tmp_path, f"[default]\ncredential_process = {command}\n")
    auth = JupyterS3DefaultAuthentication(
        environ=env, clock=FakeClock(), entry_point_providers=False
    )
    failed = pytest.raises(BadConfiguration, match=r"profile 'default' \(python[\d.]*\) exited ")
    with caplog.at_level(logging.DEBUG), failed:
        await auth.get_credentials()
    assert SECRET not in caplog.text
