"""``credential_process``: a command of the profile prints the credentials as JSON.

As the AWS CLI v2 runs it: split like a POSIX shell would (``shlex``), run
without a shell, stdout parsed as
``{"Version": 1, "AccessKeyId", "SecretAccessKey", "SessionToken"?, "Expiration"?}``.
Without ``Expiration`` the credentials never expire (the cache keeps them for
the server's life). The command runs in a worker thread, so the event loop
never waits for it, and is killed after ``timeout`` seconds.

Errors name the profile, the program (its file name only: arguments may hold
secrets) and the exit status; never what the command printed.
"""

from __future__ import annotations

import asyncio
import json
import os
import shlex
import subprocess
from dataclasses import dataclass, field
from typing import Any

from jupyters3.credentials.timestamps import parse_timestamp
from jupyters3.credentials.types import TimedCreds, session_creds
from jupyters3.errors import BadConfiguration

__all__ = [
    "DEFAULT_PROCESS_TIMEOUT",
    "ProcessOutcome",
    "parse_process_output",
    "program_name",
    "run_credential_process",
    "split_command",
]

#: Seconds a credential_process may take (the AWS CLI waits forever; a server should not).
DEFAULT_PROCESS_TIMEOUT = 60.0


def split_command(command: str, profile: str) -> list[str]:
    """``command`` as an argument list, split as the AWS CLI does on POSIX (``shlex``)."""
    try:
        argv = shlex.split(command)
    except ValueError as exc:
        raise BadConfiguration(
            f"The credential_process of AWS profile {profile!r} is not a valid command line "
            f"({exc})."
        ) from None
    if not argv:
        raise BadConfiguration(f"The credential_process of AWS profile {profile!r} is empty.")
    return argv


def program_name(command: str) -> str:
    """The program's file name (never its arguments), for messages; ``?`` when unsplittable."""
    try:
        argv = shlex.split(command)
    except ValueError:
        return "?"
    return os.path.basename(argv[0]) if argv else "?"


@dataclass(frozen=True)
class ProcessOutcome:
    """What one run of the command gave: exit status and stdout (never logged)."""

    returncode: int
    stdout: bytes = field(repr=False)


def _run(argv: list[str], timeout: float) -> ProcessOutcome:
    """Run ``argv`` (blocking: called in a worker thread)."""
    done = subprocess.run(  # noqa: S603 - the user's own configured command, no shell
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,  # the command's messages may hold secrets: not kept
        timeout=timeout,
        check=False,
    )
    return ProcessOutcome(done.returncode, done.stdout)


def _str(data: dict[str, Any], name: str) -> str:
    value = data.get(name)
    return value.strip() if isinstance(value, str) else ""


def parse_process_output(stdout: bytes, profile: str, program: str) -> TimedCreds:
    """The credentials of the command's stdout; a sentence naming fields, never values."""
    where = f"The credential_process of AWS profile {profile!r} ({program})"
    try:
        data: Any = json.loads(stdout)
    except (ValueError, UnicodeDecodeError):
        raise BadConfiguration(f"{where} printed no valid JSON.") from None
    if not isinstance(data, dict):
        raise BadConfiguration(f"{where} printed JSON that is not an object.")
    version = data.get("Version")
    if version != 1 or isinstance(version, bool):
        shown = repr(version) if isinstance(version, int) else "missing or not a number"
        raise BadConfiguration(
            f'{where} printed "Version" {shown}; only "Version": 1 is supported.'
        )
    missing = [f for f in ("AccessKeyId", "SecretAccessKey") if not _str(data, f)]
    if missing:
        raise BadConfiguration(f"{where} printed JSON without {' and '.join(missing)}.")
    expiration: float | None = None
    if _str(data, "Expiration"):
        try:
            expiration = parse_timestamp(_str(data, "Expiration"))
        except ValueError:
            raise BadConfiguration(
                f"{where} printed an Expiration that is not an ISO 8601 time such as "
                "2030-01-01T00:00:00Z."
            ) from None
    creds = session_creds(
        _str(data, "AccessKeyId"), _str(data, "SecretAccessKey"), _str(data, "SessionToken")
    )
    return TimedCreds(creds, expiration)


async def run_credential_process(
    command: str, profile: str, *, timeout: float = DEFAULT_PROCESS_TIMEOUT
) -> TimedCreds:
    """Run the profile's ``credential_process`` and parse what it printed."""
    argv = split_command(command, profile)
    program = os.path.basename(argv[0])
    where = f"The credential_process of AWS profile {profile!r} ({program})"
    try:
        outcome = await asyncio.to_thread(_run, argv, timeout)
    except subprocess.TimeoutExpired:
        raise BadConfiguration(
            f"{where} did not finish within {timeout:g} s; it was stopped."
        ) from None
    except FileNotFoundError:
        raise BadConfiguration(f"{where} cannot be run: {program} was not found.") from None
    except PermissionError:
        raise BadConfiguration(f"{where} cannot be run: {program} is not executable.") from None
    except OSError as exc:
        raise BadConfiguration(f"{where} cannot be run ({type(exc).__name__}).") from None
    if outcome.returncode < 0:
        raise BadConfiguration(
            f"{where} was killed by signal {-outcome.returncode}; run it in a terminal to see why."
        )
    if outcome.returncode != 0:
        raise BadConfiguration(
            f"{where} exited with status {outcome.returncode}; run it in a terminal to see why."
        )
    return parse_process_output(outcome.stdout, profile, program)
