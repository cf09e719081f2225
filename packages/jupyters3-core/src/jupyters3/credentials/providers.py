"""Credentials that need no network: the environment and the shared AWS files.

The parsers are pure functions of strings; the providers read ``environ`` (a
Mapping they are given) and the files it names, and nothing else.
"""

from __future__ import annotations

import configparser
import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from jupyters3.credentials.timestamps import parse_timestamp
from jupyters3.credentials.types import TimedCreds, session_creds
from jupyters3.errors import BadConfiguration

__all__ = [
    "EnvironmentProvider",
    "SharedFiles",
    "config_profiles",
    "credentials_profiles",
    "env_value",
    "parse_ini",
    "profile_name",
    "profile_region",
    "shared_file_paths",
    "sso_session_sections",
    "static_keys",
]


def env_value(environ: Mapping[str, str], *names: str) -> str:
    """The first of ``names`` set to a non-blank value in ``environ``, else ``""``."""
    for name in names:
        value = environ.get(name, "").strip()
        if value:
            return value
    return ""


# -- environment ---------------------------------------------------------------


class EnvironmentProvider:
    """``AWS_ACCESS_KEY_ID`` + ``AWS_SECRET_ACCESS_KEY`` (+ ``AWS_SESSION_TOKEN``).

    The token is ``AWS_SESSION_TOKEN``, else the legacy ``AWS_SECURITY_TOKEN``
    (the order :class:`jupyters3.JupyterS3SecretAccessKeyAuthentication` uses).
    ``AWS_CREDENTIAL_EXPIRATION`` (ISO 8601), when set, makes them refresh by
    re-reading the environment.
    """

    name = "environment"
    description = "environment variables AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"

    def __init__(self, environ: Mapping[str, str]) -> None:
        self.environ = environ

    async def load(self) -> TimedCreds | None:
        """The keys from the environment; ``None`` when neither is set."""
        return creds_from_environ(self.environ)


def creds_from_environ(environ: Mapping[str, str]) -> TimedCreds | None:
    """The pure part of :class:`EnvironmentProvider`."""
    key_id = env_value(environ, "AWS_ACCESS_KEY_ID")
    secret = env_value(environ, "AWS_SECRET_ACCESS_KEY")
    if not key_id and not secret:
        return None
    if not key_id or not secret:
        have, missing = (
            ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
            if key_id
            else ("AWS_SECRET_ACCESS_KEY", "AWS_ACCESS_KEY_ID")
        )
        raise BadConfiguration(f"{have} is set but {missing} is not: set both, or neither.")
    token = env_value(environ, "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN")
    expiration: float | None = None
    raw_expiration = env_value(environ, "AWS_CREDENTIAL_EXPIRATION")
    if raw_expiration:
        try:
            expiration = parse_timestamp(raw_expiration)
        except ValueError:
            raise BadConfiguration(
                "AWS_CREDENTIAL_EXPIRATION is not an ISO 8601 time such as 2030-01-01T00:00:00Z."
            ) from None
    return TimedCreds(session_creds(key_id, secret, token), expiration)


# -- shared files --------------------------------------------------------------


def profile_name(environ: Mapping[str, str]) -> str:
    """``AWS_PROFILE``, else ``AWS_DEFAULT_PROFILE``, else ``"default"``."""
    return env_value(environ, "AWS_PROFILE", "AWS_DEFAULT_PROFILE") or "default"


def _expand_home(path: str, environ: Mapping[str, str]) -> str:
    if path == "~" or path.startswith("~/"):
        home = environ.get("HOME") or os.path.expanduser("~")
        return home + path[1:]
    return os.path.expanduser(path)


def shared_file_paths(environ: Mapping[str, str]) -> tuple[str, str]:
    """The credentials file and the config file that ``environ`` selects."""
    credentials = env_value(environ, "AWS_SHARED_CREDENTIALS_FILE") or "~/.aws/credentials"
    config = env_value(environ, "AWS_CONFIG_FILE") or "~/.aws/config"
    return _expand_home(credentials, environ), _expand_home(config, environ)


def parse_ini(text: str, source: str = "the file") -> dict[str, dict[str, str]]:
    """Sections of an AWS-style INI text -> their keys (lower-cased) and values.

    A malformed file is a :class:`BadConfiguration` naming ``source`` and the
    line number only: the offending line may hold a secret.
    """
    parser = configparser.RawConfigParser(strict=False, default_section="\0none")
    try:
        parser.read_string(text, source=source)
    except configparser.Error as exc:
        errors = getattr(exc, "errors", None) or [(getattr(exc, "lineno", "?"), "")]
        lines = ", ".join(str(lineno) for lineno, _ in errors)
        raise BadConfiguration(f"{source} is not valid INI (line {lines}).") from None
    return {name: dict(parser.items(name)) for name in parser.sections()}


def credentials_profiles(sections: Mapping[str, Mapping[str, str]]) -> dict[str, dict[str, str]]:
    """Profiles of the credentials file: every ``[name]`` section is profile ``name``."""
    return {name.strip(): dict(values) for name, values in sections.items()}


def config_profiles(sections: Mapping[str, Mapping[str, str]]) -> dict[str, dict[str, str]]:
    """Profiles of the config file: ``[profile name]`` and ``[default]``.

    ``[profile default]`` wins over ``[default]``; ``[sso-session x]``,
    ``[services x]`` and other sections are not profiles.
    """
    profiles: dict[str, dict[str, str]] = {}
    for name, values in sections.items():
        words = name.split()
        if words == ["default"] and "default" not in profiles:
            profiles["default"] = dict(values)
        elif len(words) == 2 and words[0] == "profile":
            profiles[words[1]] = dict(values)
    return profiles


def sso_session_sections(sections: Mapping[str, Mapping[str, str]]) -> dict[str, dict[str, str]]:
    """The ``[sso-session name]`` sections of the config file, by name."""
    sessions: dict[str, dict[str, str]] = {}
    for name, values in sections.items():
        words = name.split()
        if len(words) == 2 and words[0] == "sso-session":
            sessions[words[1]] = dict(values)
    return sessions


def _read_text(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8") as fh:
            return fh.read()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise BadConfiguration(f"Cannot read {path}: {type(exc).__name__}.") from None


@dataclass(frozen=True)
class SharedFiles:
    """The profiles of both shared files, read once."""

    credentials_path: str
    config_path: str
    credentials: Mapping[str, Mapping[str, str]] = field(repr=False)  # the profiles' keys
    config: Mapping[str, Mapping[str, str]] = field(repr=False)
    sso_sessions: Mapping[str, Mapping[str, str]] = field(default_factory=dict, repr=False)

    @classmethod
    def read(cls, environ: Mapping[str, str]) -> SharedFiles:
        """Read (and parse) the files ``environ`` selects; missing files are empty."""
        cred_path, conf_path = shared_file_paths(environ)
        cred_text, conf_text = _read_text(cred_path), _read_text(conf_path)
        conf_sections = parse_ini(conf_text, conf_path) if conf_text else {}
        return cls(
            cred_path,
            conf_path,
            credentials_profiles(parse_ini(cred_text, cred_path)) if cred_text else {},
            config_profiles(conf_sections),
            sso_session_sections(conf_sections),
        )

    def knows(self, profile: str) -> bool:
        """Whether either file has the profile."""
        return profile in self.credentials or profile in self.config


def profile_region(environ: Mapping[str, str], profile: str = "") -> str:
    """The ``region`` of ``profile`` (default: :func:`profile_name`) in the config
    file ``environ`` selects; ``""`` when there is none or the file is unreadable
    (the credential chain reports an unreadable file itself)."""
    _, config_path = shared_file_paths(environ)
    try:
        text = _read_text(config_path)
        profiles = config_profiles(parse_ini(text, config_path)) if text else {}
    except BadConfiguration:
        return ""
    return profiles.get(profile or profile_name(environ), {}).get("region", "").strip()


def static_keys(profile: Mapping[str, str]) -> TimedCreds | None:
    """The static keys of one profile's settings; ``None`` without any."""
    key_id = profile.get("aws_access_key_id", "").strip()
    secret = profile.get("aws_secret_access_key", "").strip()
    if not key_id or not secret:
        return None
    token = (profile.get("aws_session_token") or profile.get("aws_security_token") or "").strip()
    return TimedCreds(session_creds(key_id, secret, token))
