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
whatever failed before.

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
import uuid
from collections.abc import Awaitable, Mapping, Sequence
from typing import Any, cast

from traitlets import TraitError

from jupyters3 import errors, startup
from jupyters3._version import __version__
from jupyters3.auth import (
    JupyterS3Authentication,
    JupyterS3DefaultAuthentication,
    JupyterS3RefreshingAuthentication,
    JupyterS3SecretAccessKeyAuthentication,
)
from jupyters3.check_config import (
    CheckError,
    load_jupyter_config,
    manager_class,
    parse_overrides,
)
from jupyters3.check_report import (
    STEP_TITLES,
    Report,
    Status,
    conditional_write_verdict,
    mask_key_id,
    needs_permission,
)
from jupyters3.credentials import AwsCreds
from jupyters3.credentials.timestamps import format_timestamp
from jupyters3.manager import JupyterS3
from jupyters3.s3 import endpoint as ep
from jupyters3.s3.client import S3Client

__all__ = ["main", "run_check"]

_TOKEN_HEADER = "x-amz-security-token"  # noqa: S105 - a header name


def describe_source(auth: JupyterS3Authentication, creds: AwsCreds) -> str:
    """Where ``creds`` came from, in words (never a secret)."""
    if isinstance(auth, JupyterS3DefaultAuthentication):
        chosen = auth.chain.chosen
        if chosen is not None:
            return f"default chain: {chosen.name} ({chosen.description})"
        return "default chain"
    if isinstance(auth, JupyterS3SecretAccessKeyAuthentication):
        if auth.environ.get("AWS_ACCESS_KEY_ID") == creds.access_key_id:
            return "JupyterS3SecretAccessKeyAuthentication: environment AWS_ACCESS_KEY_ID etc."
        return "JupyterS3SecretAccessKeyAuthentication: keys in the Jupyter configuration"
    if isinstance(auth, JupyterS3RefreshingAuthentication):
        return f"{type(auth).__name__}: {auth.source_name()}"
    return type(auth).__name__


class _Checker:
    """The steps after the configuration is read, on the running event loop."""

    def __init__(self, manager: JupyterS3, report: Report, origin: str) -> None:
        self.manager = manager
        self.report = report
        self.origin = origin
        self.bucket = manager.aws_s3_bucket
        self.prefix = manager.prefix
        token = uuid.uuid4().hex
        self.key = f"{self.prefix}.jupyters3-check-{token}"
        self.copy_key = f"{self.key}-copy"
        self.payload = f"jupyters3 check {token}\n".encode()

    def skip(self, names: Sequence[str], why: str) -> None:
        for name in names:
            self.report.add(name, "skip", f"not tried: {why}")

    def fix_for(self, error: BaseException, actions: Sequence[str]) -> str:
        """One sentence for a failed object operation that needs ``actions``."""
        if isinstance(error, errors.AccessDenied) and not isinstance(
            error, errors.CredentialsRejected
        ):
            return needs_permission(actions, self.bucket, self.prefix) + "."
        if isinstance(error, errors.S3Error):
            return startup.explain(self.manager, error)
        return "this is not an S3 answer: check the network and the S3 endpoint."

    def failed(self, name: str, what: str, error: BaseException, actions: Sequence[str]) -> None:
        self.report.add(name, "FAIL", f"{what}: {_code(error)}", self.fix_for(error, actions))

    async def run(self) -> None:
        """Make the client as the server does, then every S3 step in turn."""
        later = ["bucket", "checkpoints", "write", "copy", "read", "conditional-writes", "delete"]
        try:
            client = startup.make_client(self.manager)
        except errors.S3Error as exc:
            self.report.add("configuration", "FAIL", self.origin, exc.message)
            self.skip(["credentials", *later], "the configuration cannot work")
            return
        try:
            self.report.add("configuration", "ok", self.describe_configuration(client))
            if not await self.credentials():
                self.skip(later, "no usable credentials")
            elif await self.bucket_access(client):
                await self.checkpoint_mode(client)
                await self.objects(client)
            else:
                self.skip(later[1:], "the bucket cannot be reached")
        finally:
            client.close()

    def describe_configuration(self, client: S3Client) -> str:
        manager, endpoint = self.manager, client.endpoint
        style = cast(ep.AddressingStyle, manager.addressing_style)
        virtual = ep.uses_virtual_host(endpoint, self.bucket, style)
        where = f"{endpoint.scheme}://{endpoint.netloc}{endpoint.base_path}"
        return (
            f"s3://{self.bucket}/{self.prefix} at {where}, region {manager.aws_region}, "
            f"{'virtual-hosted' if virtual else 'path'}-style addressing "
            f"(addressing_style {manager.addressing_style!r}); {self.origin}"
        )

    async def credentials(self) -> bool:
        """Fetch the credentials the client will sign with; say where they came from."""
        auth = self.manager.authentication
        creds, error = await _attempt(startup.credentials(self.manager.authentication))
        if isinstance(error, errors.S3Error):
            self.report.add("credentials", "FAIL", "none usable", error.message)
            return False
        if error is not None or not isinstance(creds, AwsCreds):
            what = f"{type(auth).__name__}.get_credentials() failed: {error or 'not AwsCreds'}"
            self.report.add("credentials", "FAIL", what, "fix the authentication settings.")
            return False
        headers = {k.lower(): v for k, v in creds.pre_auth_headers.items()}
        token = headers.get(_TOKEN_HEADER, "")
        self.report.secrets.update(s for s in (creds.secret_access_key, token) if s)
        kind = "temporary (session token)" if token else "long-term keys"
        cached = auth.cache.current if isinstance(auth, JupyterS3RefreshingAuthentication) else None
        if cached is not None and cached.expiration is not None:
            kind += f", expiring {format_timestamp(cached.expiration)}"
        source = describe_source(auth, creds)
        masked = mask_key_id(creds.access_key_id)
        self.report.add("credentials", "ok", f"{source}; key id {masked}; {kind}")
        return True

    async def bucket_access(self, client: S3Client) -> bool:
        """One LIST of the prefix; False when no object step can work."""
        where = f"s3://{self.bucket}/{self.prefix}"
        empty, error = await _attempt(_list_one(client, self.prefix))
        if error is None:
            state = "empty" if empty else "not empty"
            region = self.manager.aws_region
            self.report.add("bucket", "ok", f"listed {where} ({state}) in region {region}")
            return True
        if isinstance(error, errors.S3Error):
            fix = startup.explain(self.manager, error)
        else:
            fix = f"S3 check failed ({error}): fix the c.JupyterS3 settings."
        self.report.add("bucket", "FAIL", f"ListObjectsV2 on {where}: {_code(error)}", fix)
        # Denied listing only: writing may still work, and saying so helps.
        return type(error) is errors.AccessDenied

    async def objects(self, client: S3Client) -> None:
        """PUT, copy, GET, conditional PUT; then DELETE both keys, whatever happened."""
        try:
            _, error = await _attempt(
                client.put_object(self.key, self.payload, content_type="text/plain")
            )
            if error is not None:
                self.failed("write", f"PUT {self.key}", error, ["PutObject"])
                self.skip(["copy", "read", "conditional-writes"], "nothing was written")
                return
            self.report.add("write", "ok", f"PUT {self.key} ({len(self.payload)} bytes)")
            await self.copy_and_read(client)
            await self.conditional(client)
        finally:
            await self.delete(client)

    async def copy_and_read(self, client: S3Client) -> None:
        """CopyObject to the second key, then GET (the copy, else the original) and compare."""
        _, error = await _attempt(client.copy_object(self.key, self.copy_key))
        if error is None:
            self.report.add("copy", "ok", f"CopyObject to {self.copy_key}")
        else:
            what = f"CopyObject to {self.copy_key}"
            self.failed("copy", what, error, ["GetObject", "PutObject"])
        source = self.copy_key if error is None else self.key
        got, error = await _attempt(client.get_object(source))
        if error is not None:
            self.failed("read", f"GET {source}", error, ["GetObject"])
            return
        data: bytes = got[1]
        if data != self.payload:
            what = f"GET {source}: {len(data)} bytes, not the {len(self.payload)} bytes written"
            fix = "the store (or a proxy in front of it) alters objects; JupyterS3 cannot use it."
            self.report.add("read", "FAIL", what, fix)
            return
        self.report.add("read", "ok", f"GET {source}: the {len(data)} bytes written")

    async def checkpoint_mode(self, client: S3Client) -> None:
        """Which checkpoints the server will make (copies or S3 versions), and why."""
        mode = str(getattr(self.manager, "versioned_checkpoints", "auto"))
        if mode == "off":
            self.report.add("checkpoints", "ok", "copies (versioned_checkpoints = 'off')")
            return
        status, error = await _attempt(client.get_bucket_versioning())
        if error is not None:
            verdict: Status = "FAIL" if mode == "on" else "ok"
            fix = (
                "grant s3:GetBucketVersioning on the bucket, or set versioned_checkpoints "
                "to 'auto' or 'off'."
                if mode == "on"
                else ""
            )
            what = (
                f"copies: GetBucketVersioning answered {_code(error)} "
                f"(versioned_checkpoints = {mode!r})"
            )
            self.report.add("checkpoints", verdict, what, fix)
        elif status == "Enabled":
            self.report.add(
                "checkpoints",
                "ok",
                f"S3 versions, no copies: versioning is Enabled (versioned_checkpoints = {mode!r})",
            )
        elif mode == "on":
            self.report.add(
                "checkpoints",
                "FAIL",
                f"versioning is {status or 'not enabled'} but versioned_checkpoints = 'on'",
                "enable versioning on the bucket, or set versioned_checkpoints to 'auto'.",
            )
        else:
            self.report.add(
                "checkpoints",
                "ok",
                f"copies: versioning is {status or 'not enabled'} (versioned_checkpoints = 'auto')",
            )

    async def conditional(self, client: S3Client) -> None:
        """PUT with ``If-None-Match: *`` onto the existing key: 412 means supported.

        The body differs from the object there, so the client cannot take the
        412 for its own earlier attempt having landed."""
        mode = str(getattr(self.manager, "conditional_writes", "auto"))
        other = self.payload + b"(must not replace the object above)\n"
        _, error = await _attempt(
            client.put_object(self.key, other, content_type="text/plain", if_none_match=True)
        )
        self.report.add("conditional-writes", *conditional_write_verdict(error, mode))

    async def delete(self, client: S3Client) -> None:
        """DELETE both temporary keys (each attempted even if the other fails)."""
        failures: list[tuple[str, BaseException]] = []
        for key in (self.copy_key, self.key):
            _, error = await _attempt(client.delete_object(key))
            if error is not None:
                failures.append((key, error))
        if not failures:
            self.report.add("delete", "ok", "DELETE of both temporary objects")
            return
        key, error = failures[0]
        left = " and ".join(f"s3://{self.bucket}/{k}" for k, _ in failures)
        fix = f"{self.fix_for(error, ['DeleteObject'])} Then remove {left} if still there."
        self.report.add("delete", "FAIL", f"DELETE {key}: {_code(error)}", fix)


async def _attempt(work: Awaitable[Any]) -> tuple[Any, BaseException | None]:
    """``(result, None)`` or ``(None, error)``: an Exception never escapes a step."""
    try:
        return await work, None
    except Exception as exc:
        return None, exc


async def _list_one(client: S3Client, prefix: str) -> bool:
    """One ListObjectsV2 page of at most one entry; whether the prefix is empty."""
    async for page in client.list_pages(prefix, max_keys=1):
        return not page.objects and not page.common_prefixes
    return True


def _code(error: BaseException) -> str:
    return error.code if isinstance(error, errors.S3Error) else type(error).__name__


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
    try:
        manager = cls(config=config, log=log, check_on_start=False)
    except (TraitError, errors.S3Error) as exc:
        report.add("configuration", "FAIL", origin, str(exc))
        _skip_rest(report)
        return facts
    facts.update(bucket=manager.aws_s3_bucket, prefix=manager.prefix)
    facts.update(region=manager.aws_region, endpoint_url=manager.endpoint_url)
    asyncio.run(_Checker(manager, report, origin).run())
    return facts


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
        "temporary objects <prefix>.jupyters3-check-* that are removed at the end. "
        "Exit code 0 when no step FAILed, 1 otherwise.",
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
    args = parser.parse_args(argv)
    try:
        args.overrides = parse_overrides(args.set)
    except ValueError as exc:
        check.error(str(exc))
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """``jupyters3 check``: print the report, return the exit code."""
    args = parse_args(argv)
    report = Report()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_RedactingFormatter(report))
    log = logging.getLogger("jupyters3.check")
    log.addHandler(handler)
    log.setLevel(logging.WARNING)
    log.propagate = False
    facts = run_check(args.config, args.overrides, log, report)
    target = f"s3://{facts['bucket']}/{facts['prefix']}" if facts.get("bucket") else ""
    output = report.json(**facts) if args.json else report.text(f"jupyters3 check {target}")
    try:
        print(output.strip(), flush=True)
    except BrokenPipeError:  # `jupyters3 check | head`: not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return report.exit_code


if __name__ == "__main__":
    sys.exit(main())
