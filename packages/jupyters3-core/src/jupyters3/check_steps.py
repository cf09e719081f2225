"""The steps of ``jupyters3 check`` for one bucket and prefix, on the running event loop.

With an :class:`S3Client` made exactly as the server makes it: the
credentials, one LIST of the prefix, the checkpoint mode, a PUT, a
CopyObject, a GET of the copy, a conditional PUT (``If-None-Match: *`` onto
the existing key) and the DELETE of both temporary objects
(``<prefix>.jupyters3-check-<hex>`` and ``...-copy``), attempted whatever
failed before. :class:`Checker` does them for the main bucket;
:mod:`jupyters3.check_mounts` for each mount.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Sequence
from typing import Any, cast

from jupyters3 import errors, startup
from jupyters3.auth import (
    JupyterS3Authentication,
    JupyterS3DefaultAuthentication,
    JupyterS3RefreshingAuthentication,
    JupyterS3SecretAccessKeyAuthentication,
)
from jupyters3.check_report import (
    Report,
    Status,
    conditional_write_verdict,
    mask_key_id,
    needs_permission,
)
from jupyters3.credentials import AwsCreds
from jupyters3.credentials.timestamps import format_timestamp
from jupyters3.s3 import endpoint as ep
from jupyters3.s3.client import S3Client
from jupyters3.settings import BucketSettings

__all__ = ["Checker", "attempt", "code_of", "describe_source", "list_one"]

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


class Checker:
    """The steps after the configuration is read, on the running event loop,
    for the bucket and prefix of ``settings``: the main bucket's, or a
    mount's (then ``mount`` is its name).

    ``about`` ends the configuration line (where the configuration was read).
    """

    #: The steps that need S3, after the configuration and the credentials.
    S3_STEPS = ("bucket", "checkpoints", "write", "copy", "read", "conditional-writes", "delete")

    def __init__(
        self, settings: BucketSettings, report: Report, about: str, mount: str | None = None
    ) -> None:
        self.settings = settings
        self.report = report
        self.about = about
        self.mount = mount
        self.bucket = settings.bucket
        self.prefix = settings.prefix
        token = uuid.uuid4().hex
        self.key = f"{self.prefix}.jupyters3-check-{token}"
        self.copy_key = f"{self.key}-copy"
        self.payload = f"jupyters3 check {token}\n".encode()

    def add(self, name: str, status: Status, detail: str, fix: str = "") -> None:
        """Record step ``name`` (of this checker's mount, if any)."""
        self.report.add(name, status, detail, fix, mount=self.mount)

    def skip(self, names: Sequence[str], why: str) -> None:
        for name in names:
            self.add(name, "skip", f"not tried: {why}")

    def explain(self, error: errors.S3Error) -> str:
        """One sentence: what ``error`` says is wrong and which setting fixes it."""
        return startup.explain(self.settings, error)

    def explain_other(self, error: BaseException) -> str:
        """The same for an error that is not an S3 answer."""
        return f"S3 check failed ({error}): fix the c.JupyterS3 settings."

    def fix_for(self, error: BaseException, actions: Sequence[str]) -> str:
        """One sentence for a failed object operation that needs ``actions``."""
        if isinstance(error, errors.AccessDenied) and not isinstance(
            error, errors.CredentialsRejected
        ):
            return needs_permission(actions, self.bucket, self.prefix) + "."
        if isinstance(error, errors.S3Error):
            return self.explain(error)
        return "this is not an S3 answer: check the network and the S3 endpoint."

    def failed(self, name: str, what: str, error: BaseException, actions: Sequence[str]) -> None:
        self.add(name, "FAIL", f"{what}: {code_of(error)}", self.fix_for(error, actions))

    async def run(self) -> None:
        """Make the client as the server does, then every S3 step in turn."""
        later = list(self.S3_STEPS)
        try:
            client = startup.make_client(self.settings)
        except errors.S3Error as exc:
            self.add("configuration", "FAIL", *self.unusable(exc))
            self.skip(["credentials", *later], "the configuration cannot work")
            return
        try:
            self.add("configuration", *self.configuration(client))
            if not await self.credentials():
                self.skip(later, "no usable credentials")
            elif await self.bucket_access(client):
                await self.checkpoint_mode(client)
                await self.writes(client)
            else:
                self.skip(later[1:], "the bucket cannot be reached")
        finally:
            client.close()

    def unusable(self, exc: errors.S3Error) -> tuple[str, str]:
        """The configuration step when no client can be made: ``(detail, fix)``."""
        return self.about, exc.message

    def configuration(self, client: S3Client) -> tuple[Status, str, str]:
        """The configuration step: ``(status, detail, fix)``."""
        return "ok", self.describe_configuration(client), ""

    def describe_configuration(self, client: S3Client) -> str:
        settings, endpoint = self.settings, client.endpoint
        style = cast(ep.AddressingStyle, settings.addressing_style)
        virtual = ep.uses_virtual_host(endpoint, self.bucket, style)
        where = f"{endpoint.scheme}://{endpoint.netloc}{endpoint.base_path}"
        return (
            f"s3://{self.bucket}/{self.prefix} at {where}, region {settings.region}, "
            f"{'virtual-hosted' if virtual else 'path'}-style addressing "
            f"(addressing_style {settings.addressing_style!r}); {self.about}"
        )

    async def credentials(self) -> bool:
        """Fetch the credentials the client will sign with; say where they came from."""
        auth = self.settings.authentication
        creds, error = await attempt(startup.credentials(auth))
        if isinstance(error, errors.S3Error):
            self.add("credentials", "FAIL", "none usable", error.message)
            return False
        if error is not None or not isinstance(creds, AwsCreds):
            what = f"{type(auth).__name__}.get_credentials() failed: {error or 'not AwsCreds'}"
            self.add("credentials", "FAIL", what, "fix the authentication settings.")
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
        self.add("credentials", "ok", f"{source}; key id {masked}; {kind}")
        return True

    async def bucket_access(self, client: S3Client) -> bool:
        """One LIST of the prefix; False when no object step can work."""
        where = f"s3://{self.bucket}/{self.prefix}"
        empty, error = await attempt(list_one(client, self.prefix))
        if error is None:
            state = "empty" if empty else "not empty"
            region = self.settings.region
            self.add("bucket", "ok", f"listed {where} ({state}) in region {region}")
            return True
        if isinstance(error, errors.S3Error):
            fix = self.explain(error)
        else:
            fix = self.explain_other(error)
        self.add("bucket", "FAIL", f"ListObjectsV2 on {where}: {code_of(error)}", fix)
        # Denied listing only: writing may still work, and saying so helps.
        return type(error) is errors.AccessDenied

    async def writes(self, client: S3Client) -> None:
        """The steps that write (a read-only mount skips them)."""
        await self.objects(client)

    async def objects(self, client: S3Client) -> None:
        """PUT, copy, GET, conditional PUT; then DELETE both keys, whatever happened."""
        try:
            _, error = await attempt(
                client.put_object(self.key, self.payload, content_type="text/plain")
            )
            if error is not None:
                self.failed("write", f"PUT {self.key}", error, ["PutObject"])
                self.skip(["copy", "read", "conditional-writes"], "nothing was written")
                return
            self.add("write", "ok", f"PUT {self.key} ({len(self.payload)} bytes)")
            await self.copy_and_read(client)
            await self.conditional(client)
        finally:
            await self.delete(client)

    async def copy_and_read(self, client: S3Client) -> None:
        """CopyObject to the second key, then GET (the copy, else the original) and compare."""
        _, error = await attempt(client.copy_object(self.key, self.copy_key))
        if error is None:
            self.add("copy", "ok", f"CopyObject to {self.copy_key}")
        else:
            what = f"CopyObject to {self.copy_key}"
            self.failed("copy", what, error, ["GetObject", "PutObject"])
        source = self.copy_key if error is None else self.key
        got, error = await attempt(client.get_object(source))
        if error is not None:
            self.failed("read", f"GET {source}", error, ["GetObject"])
            return
        data: bytes = got[1]
        if data != self.payload:
            what = f"GET {source}: {len(data)} bytes, not the {len(self.payload)} bytes written"
            fix = "the store (or a proxy in front of it) alters objects; JupyterS3 cannot use it."
            self.add("read", "FAIL", what, fix)
            return
        self.add("read", "ok", f"GET {source}: the {len(data)} bytes written")

    async def checkpoint_mode(self, client: S3Client) -> None:
        """Which checkpoints the server will make (copies or S3 versions), and why."""
        mode = self.settings.versioned_checkpoints
        if mode == "off":
            self.add("checkpoints", "ok", "copies (versioned_checkpoints = 'off')")
            return
        status, error = await attempt(client.get_bucket_versioning())
        if error is not None:
            verdict: Status = "FAIL" if mode == "on" else "ok"
            fix = (
                "grant s3:GetBucketVersioning on the bucket, or set versioned_checkpoints "
                "to 'auto' or 'off'."
                if mode == "on"
                else ""
            )
            what = (
                f"copies: GetBucketVersioning answered {code_of(error)} "
                f"(versioned_checkpoints = {mode!r})"
            )
            self.add("checkpoints", verdict, what, fix)
        elif status == "Enabled":
            self.add(
                "checkpoints",
                "ok",
                f"S3 versions, no copies: versioning is Enabled (versioned_checkpoints = {mode!r})",
            )
        elif mode == "on":
            self.add(
                "checkpoints",
                "FAIL",
                f"versioning is {status or 'not enabled'} but versioned_checkpoints = 'on'",
                "enable versioning on the bucket, or set versioned_checkpoints to 'auto'.",
            )
        else:
            self.add(
                "checkpoints",
                "ok",
                f"copies: versioning is {status or 'not enabled'} (versioned_checkpoints = 'auto')",
            )

    async def conditional(self, client: S3Client) -> None:
        """PUT with ``If-None-Match: *`` onto the existing key: 412 means supported.

        The body differs from the object there, so the client cannot take the
        412 for its own earlier attempt having landed."""
        mode = self.settings.conditional_writes
        other = self.payload + b"(must not replace the object above)\n"
        _, error = await attempt(
            client.put_object(self.key, other, content_type="text/plain", if_none_match=True)
        )
        self.add("conditional-writes", *conditional_write_verdict(error, mode))

    async def delete(self, client: S3Client) -> None:
        """DELETE both temporary keys (each attempted even if the other fails)."""
        failures: list[tuple[str, BaseException]] = []
        for key in (self.copy_key, self.key):
            _, error = await attempt(client.delete_object(key))
            if error is not None:
                failures.append((key, error))
        if not failures:
            self.add("delete", "ok", "DELETE of both temporary objects")
            return
        key, error = failures[0]
        left = " and ".join(f"s3://{self.bucket}/{k}" for k, _ in failures)
        fix = f"{self.fix_for(error, ['DeleteObject'])} Then remove {left} if still there."
        self.add("delete", "FAIL", f"DELETE {key}: {code_of(error)}", fix)


async def attempt(work: Awaitable[Any]) -> tuple[Any, BaseException | None]:
    """``(result, None)`` or ``(None, error)``: an Exception never escapes a step."""
    try:
        return await work, None
    except Exception as exc:
        return None, exc


async def list_one(client: S3Client, prefix: str) -> bool:
    """One ListObjectsV2 page of at most one entry; whether the prefix is empty."""
    async for page in client.list_pages(prefix, max_keys=1):
        return not page.objects and not page.common_prefixes
    return True


def code_of(error: BaseException) -> str:
    return error.code if isinstance(error, errors.S3Error) else type(error).__name__
