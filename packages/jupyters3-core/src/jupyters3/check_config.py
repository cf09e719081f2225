"""``jupyters3 check``: the Jupyter configuration, read as ``jupyter server`` reads it.

:func:`load_jupyter_config` builds a ``ServerApp`` (never started) and lets it
load its config files from jupyter_core's config path; :func:`manager_class`
says which contents manager that configuration makes Jupyter use.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Mapping, Sequence
from typing import Any

from jupyter_core.application import JupyterApp
from traitlets.config import Application, Config
from traitlets.config.loader import ConfigFileNotFound
from traitlets.utils.importstring import import_item

from jupyters3.check_report import Report
from jupyters3.manager import JupyterS3

__all__ = ["CheckError", "load_jupyter_config", "manager_class", "parse_overrides"]

_MANAGER = "jupyters3.JupyterS3"


class CheckError(Exception):
    """The configuration cannot even be read; the message is the one sentence to show."""


def parse_overrides(items: Sequence[str]) -> dict[str, dict[str, Any]]:
    """``Section.trait=VALUE`` items -> a traitlets config dict (VALUE is JSON when it parses).

    Raises :class:`ValueError` naming the first item that is not of that form.
    """
    config: dict[str, dict[str, Any]] = {}
    for item in items:
        name, sep, raw = item.partition("=")
        section, dot, trait = name.partition(".")
        if not sep or not dot or not section or not trait:
            raise ValueError(f"--set {item!r}: expected Section.trait=VALUE")
        try:
            value: Any = json.loads(raw)
        except ValueError:
            value = raw
        config.setdefault(section, {})[trait] = value
    return config


class _ServerConfigReader(JupyterApp):
    """Finds and loads config files exactly as ``ServerApp`` (same name, same
    path), without being a ServerApp: its traits are not validated here, so a
    wrong ``c.ServerApp`` value cannot stop the check."""

    name = "jupyter-server"  # -> jupyter_server_config.{py,json}, as ServerApp


class _LoadErrors(logging.Handler):
    """Keeps the config files traitlets failed to load (it logs them and goes on,
    as ``jupyter server`` does); passes every other record on to ``log``."""

    def __init__(self, log: logging.Logger) -> None:
        super().__init__()
        self.log = log
        self.problems: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        error = record.exc_info[1] if record.exc_info else None
        if error is not None and record.args:
            name = record.args[0] if isinstance(record.args, tuple) else record.args
            self.problems.append(f"{name} cannot be loaded ({type(error).__name__}: {error})")
        elif record.levelno >= self.log.getEffectiveLevel():
            self.log.handle(record)


def load_jupyter_config(
    config_file: str | None,
    overrides: Mapping[str, Mapping[str, Any]],
    log: logging.Logger,
) -> tuple[Config, list[str], list[str]]:
    """Read the Jupyter configuration as ``jupyter server`` does.

    Without ``config_file``: ``jupyter_config``, ``jupyter_notebook_config``
    (the old ``c.NotebookApp`` settings, which jupyter lab and notebook read)
    and ``jupyter_server_config`` (which wins), ``.py`` and ``.json``, from
    every directory of the config path. With it: ``jupyter_config`` and that
    file only, as ``jupyter server --config FILE``. ``overrides`` win over all.

    Returns ``(config, files loaded, directories searched)``. Raises
    :class:`CheckError` when ``config_file`` is missing or a file cannot be
    loaded (where ``jupyter server`` would log a traceback and go on without it).
    """
    errors = _LoadErrors(log)
    app_log = logging.getLogger(f"{log.name}.config")
    app_log.propagate = False
    app_log.handlers = [errors]
    app = _ServerConfigReader(log=app_log)
    try:
        if config_file:
            path = os.path.abspath(config_file)
            if not os.path.isfile(path):
                raise CheckError(f"--config {config_file}: no such file.")
            app.config_file = path
        else:
            with contextlib.suppress(ConfigFileNotFound):
                Application.load_config_file(
                    app, "jupyter_notebook_config", path=app.config_file_paths
                )
        app.load_config_file(suppress_errors=False)
        app.update_config(Config(overrides))
    except CheckError:
        raise
    except (Exception, SystemExit) as exc:  # traitlets exits on a bad value: report it
        raise CheckError(f"the Jupyter configuration cannot be loaded: {exc}") from None
    if errors.problems:
        raise CheckError(f"{errors.problems[0]}: fix the file, or remove it.")
    return app.config, list(app.loaded_config_files), list(app.config_file_paths)


def manager_class(config: Config, report: Report) -> type[JupyterS3]:
    """The contents manager class ``config`` names if it is JupyterS3 or a subclass,
    else JupyterS3; records the ``contents-manager`` step (a WARN, never a FAIL).

    ``c.ServerApp.contents_manager_class`` wins over ``c.NotebookApp``'s.
    """
    fix = f"set c.ServerApp.contents_manager_class = {_MANAGER!r} for Jupyter to use the bucket."
    for section in ("ServerApp", "NotebookApp"):
        if section in config and "contents_manager_class" in config[section]:
            value = config[section]["contents_manager_class"]
            break
    else:
        what = "c.ServerApp.contents_manager_class is not set (Jupyter would use the local disk)"
        report.add("contents-manager", "WARN", what, fix)
        return JupyterS3
    setting = f"c.{section}.contents_manager_class"
    try:
        cls = import_item(value) if isinstance(value, str) else value
    except Exception as exc:
        what = f"{setting} = {value!r} cannot be imported ({type(exc).__name__}: {exc})"
        report.add("contents-manager", "WARN", what, fix)
        return JupyterS3
    if not (isinstance(cls, type) and issubclass(cls, JupyterS3)):
        report.add("contents-manager", "WARN", f"{setting} is {value!r}, not JupyterS3", fix)
        return JupyterS3
    detail = f"{setting} = {value if isinstance(value, str) else cls.__qualname__}"
    if section == "NotebookApp":
        detail += " (read by jupyter lab and jupyter notebook; jupyter server reads c.ServerApp)"
    report.add("contents-manager", "ok", detail)
    return cls
