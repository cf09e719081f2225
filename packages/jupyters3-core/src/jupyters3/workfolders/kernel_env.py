"""What a kernel is told of where its notebook lives in S3: environment variables.

jupyter_server builds a session's kernel environment in the session
manager's ``get_kernel_env(path, name)`` (``path``: the session's API path,
``proj/<uuid>`` as JupyterLab starts it, then the notebook's own; ``name``:
the notebook's file name). Replacing ``session_manager_class`` would clash
with the gateway's session manager and with other extensions, so
:func:`install` wraps that method on the one session manager instance:
whatever was there (the class's method, or another extension's wrapper) is
called first and its answer kept; these variables are added:

* ``JUPYTERS3_NOTEBOOK_URL``: ``s3://<bucket>/<key>`` of the notebook;
* ``AWS_REGION`` and ``AWS_DEFAULT_REGION``: the bucket's region;
* ``AWS_ENDPOINT_URL_S3``: the S3 endpoint, when it is not AWS's own.

No credentials: a kernel reads its files from its working folder, and code
that wants the bucket itself uses its own.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from jupyters3 import keys
from jupyters3.contents_errors import InvalidPath

__all__ = ["install", "variables"]

#: Marks a session manager whose get_kernel_env is wrapped already.
_MARK = "_jupyters3_kernel_env"

Provide = Callable[[str | None, str | None], Mapping[str, str]]


def variables(bucket: str, key: str, region: str, endpoint_url: str) -> dict[str, str]:
    """The variables for a notebook at ``key`` of ``bucket``."""
    env = {
        "JUPYTERS3_NOTEBOOK_URL": f"s3://{bucket}/{key}",
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
    }
    if endpoint_url:
        env["AWS_ENDPOINT_URL_S3"] = endpoint_url
    return env


def notebook_path(path: str | None, name: str | None) -> str | None:
    """The notebook's API path of a session at ``path`` named ``name``:
    ``proj/<uuid>`` and ``analysis.ipynb`` give ``proj/analysis.ipynb``."""
    if not path:
        return None
    try:
        folder, own = keys.split(path)
        if name and "/" not in name:
            return keys.join(folder, name)
        return keys.join(folder, own)
    except InvalidPath:
        return None


def install(session_manager: Any, provide: Provide, log: logging.Logger) -> bool:
    """Wrap ``session_manager.get_kernel_env`` so that its answer also holds
    ``provide(path, name)``; once per instance. Whether it is wrapped."""
    if session_manager is None or not hasattr(session_manager, "get_kernel_env"):
        return False
    if getattr(session_manager, _MARK, False):
        return True
    original = session_manager.get_kernel_env

    def get_kernel_env(path: str | None, name: str | None = None) -> dict[str, str]:
        env = dict(original(path, name))
        try:
            env.update(provide(path, name))
        except Exception:  # a kernel still starts without them
            log.exception("JupyterS3: could not set the kernel's JUPYTERS3_* variables")
        return env

    session_manager.get_kernel_env = get_kernel_env
    setattr(session_manager, _MARK, True)
    return True
