"""No answer of a live server, model or error, holds a secret key or a session token.

The server runs on temporary credentials whose secret key and session token
are long random strings (``js3_jupyter_env``), with debug logging. The fault
proxy in front of moto makes S3 refuse the requests in every way it can
(rejected, expired and mismatched credentials, access denied, a wrong region,
failures, dropped connections), and every answer of every contents, checkpoint
and ``/files/`` operation is searched for the secrets, as they are, URL-encoded
and base64-encoded. When the server stops, its log is searched the same way
(``JupyterServer.check_log``: a leak fails the test at teardown).
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from jupyters3_testing import Fault, FaultProxy, JupyterServer, RawS3, Response
from jupyters3_testing.jupyter_fixtures import JupyterFactory, jupyters3_config
from jupyters3_testing.leaks import find_secrets
from jupyters3_testing.rest import ContentsClient

NOTEBOOK: dict[str, Any] = {
    "nbformat": 4,
    "nbformat_minor": 5,
    "metadata": {},
    "cells": [
        {
            "cell_type": "code",
            "id": "c1",
            "source": "1 + 1",
            "metadata": {},
            "outputs": [],
            "execution_count": None,
        }
    ],
}


@dataclass
class Watched:
    """A server and every answer it gave, each searched for the server's secrets."""

    server: JupyterServer
    api: ContentsClient
    answers: list[tuple[str, Response]] = field(default_factory=list)

    def send(self, label: str, call: Callable[[ContentsClient], Response]) -> Response:
        response = call(self.api)
        self.answers.append((label, response))
        text = response.body.decode("utf-8", "replace") + "\n" + str(response.headers)
        leaks = find_secrets(text, self.server.watched_secrets())
        assert not leaks, f"{label}: a secret in the answer ({[leak[:2] for leak in leaks]})"
        return response


@pytest.fixture
def watched(
    js3_jupyter_factory: JupyterFactory,
    js3_fault_proxy: FaultProxy,
    js3_bucket: str,
    js3_region: str,
    js3_jupyter_env: dict[str, str | None],
) -> Watched:
    config = jupyters3_config(
        bucket=js3_bucket, endpoint_url=js3_fault_proxy.endpoint_url, region=js3_region
    )
    # Failures are retried once: fast, and logged (chaos mode keeps its own attempts).
    config["JupyterS3"].setdefault("max_attempts", 2)
    server = js3_jupyter_factory(config=config)
    watched = server.watched_secrets()
    # The env's temporary credentials are what the scan looks for.
    assert watched["AWS_SECRET_ACCESS_KEY (env)"] == js3_jupyter_env["AWS_SECRET_ACCESS_KEY"]
    assert watched["AWS_SESSION_TOKEN (env)"] == js3_jupyter_env["AWS_SESSION_TOKEN"]
    assert server.debug
    return Watched(server, ContentsClient(server.url, server.token))


def every_operation(w: Watched, d: str, checkpoint: str) -> list[Response]:
    """Every contents, checkpoint and /files/ operation once, on folder ``d``."""
    return [
        w.send("list", lambda a: a.get(d)),
        w.send("get text", lambda a: a.get(f"{d}/a.txt")),
        w.send("get base64", lambda a: a.get(f"{d}/a.txt", format="base64")),
        w.send("get notebook", lambda a: a.get(f"{d}/n.ipynb")),
        w.send("get hash", lambda a: a.get(f"{d}/a.txt", content=False, hash=True)),
        w.send("save text", lambda a: a.save_text(f"{d}/b.txt", "new")),
        w.send(
            "save notebook",
            lambda a: a.save(f"{d}/m.ipynb", {"type": "notebook", "content": NOTEBOOK}),
        ),
        w.send("chunked upload", lambda a: a.upload_chunked(f"{d}/c.bin", b"x" * 3000, 1024)[-1]),
        w.send("mkdir", lambda a: a.mkdir(f"{d}/sub")),
        w.send("new untitled", lambda a: a.new_untitled(d, type="file", ext=".txt")),
        w.send("copy", lambda a: a.copy(f"{d}/a.txt", d)),
        w.send("rename", lambda a: a.rename(f"{d}/n.ipynb", f"{d}/renamed.ipynb")),
        w.send("checkpoints", lambda a: a.checkpoints(f"{d}/a.txt")),
        w.send("create checkpoint", lambda a: a.create_checkpoint(f"{d}/a.txt")),
        w.send("restore", lambda a: a.restore_checkpoint(f"{d}/a.txt", checkpoint)),
        w.send("delete checkpoint", lambda a: a.delete_checkpoint(f"{d}/a.txt", checkpoint)),
        w.send("files", lambda a: a.files(f"{d}/a.txt")),
        w.send("files range", lambda a: a.files(f"{d}/a.txt", range=(1, 3))),
        w.send("files download", lambda a: a.files(f"{d}/a.txt", download=True)),
        w.send("delete file", lambda a: a.delete(f"{d}/a.txt")),
        w.send("delete folder", lambda a: a.delete(d)),
    ]


def seed(w: Watched) -> tuple[str, str]:
    """A folder with a text file (and a checkpoint of it) and a notebook."""
    d = f"d-{uuid.uuid4().hex[:8]}"
    w.send("seed mkdir", lambda a: a.mkdir(d)).expect(201)
    w.send("seed text", lambda a: a.save_text(f"{d}/a.txt", "hello")).expect(201)
    w.send("seed nb", lambda a: a.save(f"{d}/n.ipynb", {"type": "notebook", "content": NOTEBOOK}))
    created = w.send("seed cp", lambda a: a.create_checkpoint(f"{d}/a.txt")).expect(201)
    return d, created.json["id"]


def test_models_of_a_healthy_server_hold_no_secret(watched: Watched, js3_raw: RawS3) -> None:
    d, checkpoint = seed(watched)
    answers = every_operation(watched, d, checkpoint)
    assert all(r.ok for r in answers), [(r.status, r.body[:200]) for r in answers if not r.ok]
    assert len(watched.answers) > 20


FAULTS: dict[str, tuple[Fault, str]] = {
    "access denied": (Fault.access_denied(), "AccessDenied"),
    "unknown key id": (
        Fault.error(
            403, "InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist."
        ),
        "InvalidAccessKeyId",
    ),
    "expired token": (
        Fault.error(400, "ExpiredToken", "The provided token has expired."),
        "ExpiredToken",
    ),
    "invalid token": (
        Fault.error(400, "InvalidToken", "The provided token is malformed or otherwise invalid."),
        "InvalidToken",
    ),
    "signature mismatch": (
        Fault.error(
            403,
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided.",
        ),
        "SignatureDoesNotMatch",
    ),
    "wrong region": (Fault.wrong_region("eu-west-3"), "AuthorizationHeaderMalformed"),
    "internal error": (Fault.internal_error(), "InternalError"),
    "dropped connection": (Fault.drop(), "NetworkError"),
}


@pytest.mark.parametrize("fault", list(FAULTS))
@pytest.mark.js3_no_chaos
def test_errors_hold_no_secret(watched: Watched, js3_fault_proxy: FaultProxy, fault: str) -> None:
    d, checkpoint = seed(watched)
    injected, code = FAULTS[fault]
    js3_fault_proxy.configure(rule=lambda req: injected)
    answers = every_operation(watched, d, checkpoint)
    js3_fault_proxy.reset()

    failed = [r for r in answers if not r.ok]
    assert len(failed) >= len(answers) - 2, [(r.status, r.body[:200]) for r in answers]
    assert all(r.status in (403, 404, 409, 500, 502, 503) for r in failed), {
        r.status for r in failed
    }
    # The errors say what S3 said (so the text searched above is S3's error path).
    assert any(code.encode() in r.body for r in failed), [r.body[:300] for r in failed]
    # The server's own log has each failure at DEBUG (and is scanned at teardown).
    assert "jupyters3.s3]" in watched.server.log_text()


def test_the_checks_would_see_a_secret(
    watched: Watched, js3_jupyter_env: dict[str, str | None]
) -> None:
    """The search above finds a secret in a body, as is or base64-encoded."""
    token = js3_jupyter_env["AWS_SESSION_TOKEN"]
    assert token is not None
    content = "prefix " + base64.b64encode(b"k=" + token.encode()).decode()
    saved = watched.send("save", lambda a: a.save_text("planted.txt", content)).expect(201)
    assert saved.json["content"] is None
    with pytest.raises(AssertionError, match=r"get: a secret in the answer.*AWS_SESSION_TOKEN"):
        watched.send("get", lambda a: a.get("planted.txt"))
    watched.send("delete", lambda a: a.delete("planted.txt")).expect(204)
