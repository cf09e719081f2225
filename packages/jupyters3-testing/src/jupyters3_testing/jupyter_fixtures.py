"""Fixtures for a live Jupyter server on the moto S3 server (re-exported by :mod:`plugin`).

Everything specific to jupyters3 is in the config (:func:`jupyters3_config`),
so the same fixtures run any contents manager: override ``js3_jupyter_config``
to test another one.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from jupyters3_testing.chaos import chaos_endpoint, chaos_settings
from jupyters3_testing.jupyter import JUPYTERS3_MANAGER, App, JupyterServer
from jupyters3_testing.leaks import SecretLeakError, random_secret
from jupyters3_testing.rest import ContentsClient
from jupyters3_testing.s3server import MotoServer

__all__ = [
    "JUPYTERS3_MANAGER",
    "JupyterFactory",
    "js3_contents",
    "js3_jupyter",
    "js3_jupyter_config",
    "js3_jupyter_debug",
    "js3_jupyter_env",
    "js3_jupyter_factory",
    "js3_jupyter_session_factory",
    "jupyters3_config",
]

#: Dummy keys (moto accepts any signature), random per process, as long as AWS's:
#: each server's log is scanned for the secret key and the session token.
_ACCESS_KEY_ID = "ASIAJS3TESTING000000"
_SECRET_ACCESS_KEY = random_secret(40)
_SESSION_TOKEN = random_secret(160)


def jupyters3_config(
    *, bucket: str, endpoint_url: str, region: str = "us-east-1", prefix: str = ""
) -> dict[str, Any]:
    """The traitlets config that serves ``bucket`` at ``endpoint_url`` with JupyterS3.

    In chaos mode (``JS3_CHAOS``, see :mod:`jupyters3_testing.chaos`) the
    endpoint is a fault proxy in front of ``endpoint_url`` and the server
    retries more.
    """
    config: dict[str, Any] = {
        "ServerApp": {"contents_manager_class": JUPYTERS3_MANAGER},
        "JupyterS3": {
            "aws_s3_bucket": bucket,
            "endpoint_url": endpoint_url,
            "aws_region": region,
            "prefix": prefix,
        },
    }
    chaos = chaos_settings()
    if chaos is not None:
        config["JupyterS3"]["endpoint_url"] = chaos_endpoint(endpoint_url, chaos)
        config["JupyterS3"]["max_attempts"] = chaos.max_attempts
    return config


class JupyterFactory:
    """Starts :class:`JupyterServer` instances; :meth:`close_all` stops every one.

    ``factory(config=None, env=None, app="server", **options)``: ``config``
    replaces the default config (use :func:`~jupyters3_testing.jupyter.merge_config`
    to extend it), ``env`` is added on top of the default env, and ``options``
    go to :class:`JupyterServer` (``root_dir``, ``extra_args``,
    ``startup_timeout``, ``debug``, ``secrets``, ...) on top of
    ``default_options``. The server is started before it is returned.
    Asking for ``app="lab"`` or ``"notebook"`` when it is not installed skips
    the test.
    """

    def __init__(
        self,
        default_config: Mapping[str, Any],
        default_env: Mapping[str, str | None],
        default_options: Mapping[str, Any] | None = None,
    ) -> None:
        self.default_config = dict(default_config)
        self.default_env = dict(default_env)
        self.default_options = dict(default_options or {})
        self.servers: list[JupyterServer] = []

    def __call__(
        self,
        config: Mapping[str, Any] | None = None,
        env: Mapping[str, str | None] | None = None,
        app: App = "server",
        **options: Any,
    ) -> JupyterServer:
        if app != "server" and not JupyterServer.available(app):
            pytest.skip(f"app={app!r} is not installed")
        server = JupyterServer(
            config=self.default_config if config is None else config,
            env={**self.default_env, **(env or {})},
            app=app,
            **{**self.default_options, **options},
        )
        self.servers.append(server)
        return server.start()

    def close_all(self) -> None:
        """Stop every server started by this factory and remove its files.

        A secret found in a server's log (:class:`SecretLeakError`) is raised
        once every server is closed, so the test fails at teardown; other
        cleanup failures only warn.
        """
        leaks: list[SecretLeakError] = []
        for server in reversed(self.servers):
            try:
                server.close()
            except SecretLeakError as exc:
                leaks.append(exc)
            except Exception as exc:  # cleanup must never fail the test
                warnings.warn(
                    f"js3_jupyter: could not stop server: {exc!r}", RuntimeWarning, stacklevel=1
                )
        self.servers.clear()
        if len(leaks) == 1:
            raise leaks[0]
        if leaks:
            message = "\n\n".join(str(exc) for exc in leaks)
            raise SecretLeakError(message, [leak for exc in leaks for leak in exc.leaks])


@pytest.fixture(scope="session")
def js3_jupyter_debug() -> bool:
    """Whether the fixtures' Jupyter servers log at DEBUG (override point, default ``True``).

    Their logs are scanned for secrets either way; DEBUG writes every line
    that could hold one. ``js3_jupyter_factory(debug=False)`` for one server.
    """
    return True


@pytest.fixture(scope="session")
def js3_jupyter_env() -> dict[str, str | None]:
    """Environment for Jupyter server subprocesses (override point, session scope).

    Dummy temporary AWS credentials (moto accepts any): a secret key and a
    session token that are long random strings, so that a leak into a log is
    found (each server's log is scanned for them when it stops); the
    developer's own profiles, ~/.aws files, web identity, container and EC2
    credentials kept out (``None`` unsets a variable).
    """
    return {
        "AWS_ACCESS_KEY_ID": _ACCESS_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": _SECRET_ACCESS_KEY,
        "AWS_SESSION_TOKEN": _SESSION_TOKEN,
        "AWS_SECURITY_TOKEN": None,
        "AWS_PROFILE": None,
        "AWS_DEFAULT_PROFILE": None,
        # No other credential source of the developer's machine may leak in.
        "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/jupyters3-testing/credentials",
        "AWS_CONFIG_FILE": "/nonexistent/jupyters3-testing/config",
        "AWS_WEB_IDENTITY_TOKEN_FILE": None,
        "AWS_ROLE_ARN": None,
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": None,
        "AWS_CONTAINER_CREDENTIALS_FULL_URI": None,
        "AWS_CONTAINER_AUTHORIZATION_TOKEN": None,
        "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE": None,
        "AWS_EC2_METADATA_DISABLED": "true",
    }


@pytest.fixture
def js3_jupyter_config(
    js3_moto_server: MotoServer, js3_bucket: str, js3_region: str
) -> dict[str, Any]:
    """Traitlets config for ``js3_jupyter`` (override point): JupyterS3 on ``js3_bucket``."""
    return jupyters3_config(
        bucket=js3_bucket, endpoint_url=js3_moto_server.endpoint_url, region=js3_region
    )


@pytest.fixture
def js3_jupyter_factory(
    js3_jupyter_config: dict[str, Any],
    js3_jupyter_env: dict[str, str | None],
    js3_jupyter_debug: bool,
) -> Iterator[JupyterFactory]:
    """Start Jupyter servers inside a test; all are stopped at teardown.

    Example::

        def test_two_servers(js3_jupyter_factory, js3_jupyter_config):
            first = js3_jupyter_factory()  # js3_jupyter_config
            second = js3_jupyter_factory(
                config=merge_config(js3_jupyter_config, {"JupyterS3": {"prefix": "p/"}})
            )
    """
    factory = JupyterFactory(js3_jupyter_config, js3_jupyter_env, {"debug": js3_jupyter_debug})
    yield factory
    factory.close_all()


@pytest.fixture(scope="session")
def js3_jupyter_session_factory(
    js3_jupyter_env: dict[str, str | None], js3_jupyter_debug: bool
) -> Iterator[JupyterFactory]:
    """Like ``js3_jupyter_factory`` but session-scoped, for one server per session.

    The default config is empty (jupyter_server's own file manager), since
    the function-scoped bucket cannot outlive a test: pass a config, e.g.::

        @pytest.fixture(scope="session")
        def contract_server(js3_jupyter_session_factory, js3_moto_server, js3_region):
            js3_moto_server.create_bucket("contract", js3_region)
            return js3_jupyter_session_factory(
                config=jupyters3_config(
                    bucket="contract", endpoint_url=js3_moto_server.endpoint_url
                )
            )
    """
    factory = JupyterFactory({}, js3_jupyter_env, {"debug": js3_jupyter_debug})
    yield factory
    factory.close_all()


@pytest.fixture
def js3_jupyter(js3_jupyter_factory: JupyterFactory) -> JupyterServer:
    """A started Jupyter server with ``js3_jupyter_config``, stopped after the test."""
    return js3_jupyter_factory()


@pytest.fixture
def js3_contents(js3_jupyter: JupyterServer) -> ContentsClient:
    """A :class:`ContentsClient` for ``js3_jupyter`` (token auth)."""
    return ContentsClient(js3_jupyter.url, js3_jupyter.token)
