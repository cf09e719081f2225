"""``jupyters3 check``: try the user's JupyterS3 configuration against S3, step by step.

::

    jupyters3 check [--config FILE] [--set Section.trait=VALUE ...] [--json]
    python -m jupyters3 check ...

The Jupyter configuration is read as ``jupyter server`` reads it (see
:func:`jupyters3.check_config.load_jupyter_config`). Then, with an
:class:`S3Client` made exactly as the server makes it: the credentials, one
LIST of the prefix, a PUT, a CopyObject, a GET of the copy, a conditional PUT
(``If-None-Match: *`` onto the existing key) and the DELETE of both temporary
objects (``<prefix>.jupyters3-check-<hex>`` and ``...-copy``), attempted
whatever failed before (:mod:`jupyters3.check_steps`). Then the same for each
mount of ``c.JupyterS3.mounts`` under its own prefix, its lines starting with
``mount 'NAME':`` (a read-only one is only listed; see
:mod:`jupyters3.check_mounts`).

Each step prints one line, ``ok``, ``WARN``, ``FAIL`` or ``skip`` with what
it found and, when something is wrong, one sentence saying what to fix. The
exit code is 0 when no step FAILed, 1 otherwise (2 for a bad command line).
Nothing printed carries a secret: the access key id is shown masked
(``AKIA****WXYZ``), and the secret key and session token are never part of
a message (and are redacted from the output should one ever be).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from traitlets import TraitError

from jupyters3 import errors, policy_cli, workfolders
from jupyters3._version import __version__
from jupyters3.check_config import (
    CheckError,
    load_jupyter_config,
    manager_class,
    parse_overrides,
)
from jupyters3.check_mounts import check_mounts, describe_mounts, without_main_bucket
from jupyters3.check_report import STEP_TITLES, Report
from jupyters3.check_steps import Checker
from jupyters3.contents_errors import StartupRefused
from jupyters3.manager import JupyterS3

__all__ = ["main", "run_check"]


def run_check(
    config_file: str | None,
    overrides: Mapping[str, Mapping[str, Any]],
    log: logging.Logger,
    report: Report,
) -> dict[str, Any]:
    """Run every step, recording each in ``report``; return facts for the JSON output."""
    facts: dict[str, Any] = {}
    try:
        config, files, searched = load_jupyter_config(config_file, overrides, log)
    except CheckError as exc:
        report.add("configuration", "FAIL", "", str(exc))
        _skip_rest(report)
        return facts
    facts["config_files"] = files
    cls = manager_class(config, report)
    if files:
        origin = "read " + ", ".join(files)
    else:
        origin = f"read no Jupyter config file (searched {', '.join(searched)})"
    # The manager's own log line for a refusal would repeat the FAIL line below.
    quiet = logging.getLogger("jupyters3.check.manager")
    quiet.propagate, quiet.disabled = False, True
    try:
        manager = cls(config=config, log=quiet, check_on_start=False)
    except (TraitError, errors.S3Error) as exc:
        report.add("configuration", "FAIL", origin, str(exc))
        _skip_rest(report)
        return facts
    except StartupRefused as refused:  # a bad mount: the server would stop at start
        report.add("configuration", "FAIL", origin, refused.sentence)
        _skip_rest(report)
        return facts
    manager.log = log
    facts.update(bucket=manager.aws_s3_bucket, prefix=manager.prefix)
    facts.update(region=manager.aws_region, endpoint_url=manager.endpoint_url)
    if manager.mounts:
        facts["mounts"] = describe_mounts(manager)
    asyncio.run(_check(manager, report, origin))
    return facts


async def _check(manager: JupyterS3, report: Report, origin: str) -> None:
    """The main bucket's steps (skipped when only mounts are set), then each mount's."""
    if manager.aws_s3_bucket or not manager.mounts:
        await Checker(manager.bucket_settings, report, origin).run()
    else:
        await without_main_bucket(manager, report, origin)
    if manager.mounts:
        await check_mounts(manager, report)
    check_kernel_folders(manager, report)
    confinement = getattr(manager.authentication, "check_steps", None)  # jupyters3.hub
    if confinement is not None and report.status_of("credentials") == "ok":
        store = manager.store  # None with mounts only: no prefix to confine
        try:
            await confinement(manager, report, store)
        finally:
            if store is not None:
                store.close()


def check_kernel_folders(manager: JupyterS3, report: Report) -> None:
    """Where kernels' working folders would live, and whether that folder can
    be written (a warning only: the server starts either way, with kernels
    on the local disk)."""
    if not manager.kernel_working_folders:
        report.add(
            "kernel-folders",
            "ok",
            "off (c.JupyterS3.kernel_working_folders = False): kernels start in "
            "ServerApp.root_dir, on the local disk",
        )
        return
    root = manager.kernel_working_root or workfolders.default_root()
    problem = workfolders.probe_root(root)
    if problem is None:
        report.add("kernel-folders", "ok", f"kernels' working folders under {root} (writable)")
    else:
        report.add(
            "kernel-folders",
            "WARN",
            f"kernels' working folders cannot be made under {root}: {problem}",
            "set c.JupyterS3.kernel_working_root to a writable folder on a disk kept across "
            "restarts (else kernels start on the local disk and do not see the bucket)",
        )


def _skip_rest(report: Report) -> None:
    for name in STEP_TITLES:
        if report.status_of(name) is None:
            report.add(name, "skip", "not tried: the configuration cannot work")


class _RedactingFormatter(logging.Formatter):
    def __init__(self, report: Report) -> None:
        super().__init__("%(levelname)s %(message)s")
        self.report = report

    def format(self, record: logging.LogRecord) -> str:
        return self.report.redact(super().format(record))


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line: ``check`` and its options (exits 2 on a bad one)."""
    parser = argparse.ArgumentParser(
        prog="jupyters3", description="Tools for jupyters3, the S3 contents manager for Jupyter."
    )
    parser.add_argument("--version", action="version", version=f"jupyters3 {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    check = commands.add_parser(
        "check",
        help="try the JupyterS3 configuration against S3, step by step",
        description="Read the Jupyter configuration as `jupyter server` does and try it: "
        "credentials, listing, write, copy, read, conditional writes and delete, with "
        "temporary objects <prefix>.jupyters3-check-* that are removed at the end; "
        "then the same for each mount of c.JupyterS3.mounts (a read-only one is only "
        "listed). Exit code 0 when no step FAILed, 1 otherwise.",
    )
    check.add_argument(
        "--config",
        metavar="FILE",
        help="a Jupyter config file (.py or .json) read instead of the jupyter_server_config "
        "and jupyter_notebook_config files of the config path, as `jupyter server --config "
        "FILE` does",
    )
    check.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="Section.trait=VALUE",
        help="a setting that wins over every file, e.g. JupyterS3.prefix=users/alice/ "
        "(repeatable; VALUE is JSON when it parses)",
    )
    check.add_argument("--json", action="store_true", help="print the result as JSON")
    policy_cli.add_parser(commands)  # `jupyters3 policy`: see jupyters3.policy_cli
    args = parser.parse_args(argv)
    if args.command == "check":
        try:
            args.overrides = parse_overrides(args.set)
        except ValueError as exc:
            check.error(str(exc))
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """``jupyters3 check`` (or ``policy``): print the report, return the exit code."""
    args = parse_args(argv)
    if args.command == "policy":
        return policy_cli.run(args)
    report = Report()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_RedactingFormatter(report))
    log = logging.getLogger("jupyters3.check")
    log.addHandler(handler)
    log.setLevel(logging.WARNING)
    log.propagate = False
    facts = run_check(args.config, args.overrides, log, report)
    target = f"s3://{facts['bucket']}/{facts['prefix']}" if facts.get("bucket") else ""
    if facts.get("mounts"):
        target += f"{' and ' if target else ''}mounts {', '.join(facts['mounts'])}"
    output = report.json(**facts) if args.json else report.text(f"jupyters3 check {target}")
    try:
        print(output.strip(), flush=True)
    except BrokenPipeError:  # `jupyters3 check | head`: not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return report.exit_code


if __name__ == "__main__":
    sys.exit(main())
