"""Secrets that must never reach a log, and the scan that finds them there.

A :class:`~jupyters3_testing.jupyter.JupyterServer` knows the credentials it
hands to its server (:func:`secrets_in_env`, :func:`secrets_in_config`) and
scans its log for them when it stops (:func:`find_secrets`). A secret is
looked for as it is, URL-encoded and base64-encoded (at each of the three
byte alignments, so it is found inside a longer base64 text too). Reports
name the secret's kind (``"AWS_SESSION_TOKEN (env)"``) and the line, never
its value.

Use long random values (:func:`random_secret`): a short or common one would
be found by chance.
"""

from __future__ import annotations

import base64
import configparser
import secrets as _random
import string
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import quote, quote_plus

__all__ = [
    "MIN_SECRET_LENGTH",
    "SECRET_ENV_VARS",
    "SECRET_FILE_ENV_VARS",
    "SecretLeak",
    "SecretLeakError",
    "describe_leaks",
    "find_secrets",
    "random_secret",
    "redact",
    "secret_forms",
    "secrets_in_config",
    "secrets_in_env",
]

#: Environment variables whose value is a secret.
SECRET_ENV_VARS = (
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN",
)

#: Environment variables naming a file whose content is a secret (a token).
SECRET_FILE_ENV_VARS = ("AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE")

#: Secret keys of the shared AWS files (AWS_SHARED_CREDENTIALS_FILE, AWS_CONFIG_FILE).
_PROFILE_SECRET_KEYS = ("aws_secret_access_key", "aws_session_token", "aws_security_token")

#: Values shorter than this are not looked for: they would be found by chance.
MIN_SECRET_LENGTH = 8

_ALPHABET = string.ascii_letters + string.digits + "+/"


def random_secret(length: int = 40) -> str:
    """A random secret shaped like AWS's (letters, digits, ``+`` and ``/``).

    It always holds a ``+`` and a ``/``, so that its URL-encoded form differs
    from it and a leak through a URL or a form body is told apart.
    """
    if length < MIN_SECRET_LENGTH:
        raise ValueError(f"a secret needs at least {MIN_SECRET_LENGTH} characters")
    chars = [_random.choice(_ALPHABET) for _ in range(length)]
    chars[length // 3] = "+"
    chars[2 * length // 3] = "/"
    return "".join(chars)


def _base64_fragments(value: bytes) -> Iterator[str]:
    """The part of base64(``x + value + y``) that depends on ``value`` only, for
    each of the three alignments of ``value`` in the encoded bytes."""
    for shift in range(3):
        encoded = base64.b64encode(b"\0" * shift + value).decode("ascii")
        first = -(-shift * 8 // 6)  # the first character made of value's bits only
        last = (shift + len(value)) * 8 // 6  # past the last one
        yield encoded[first:last]


def secret_forms(value: str) -> dict[str, str]:
    """The strings that give ``value`` away: form name -> text.

    Always ``"as is"``; ``"URL-encoded"`` and ``"form-encoded"`` when they
    differ from it; ``"base64"`` and ``"base64url"`` (three alignments each)
    for values of 12 characters or more.
    """
    forms = {"as is": value}
    for name, encoded in (
        ("URL-encoded", quote(value, safe="")),
        ("form-encoded", quote_plus(value)),
    ):
        if encoded not in forms.values():
            forms[name] = encoded
    if len(value) >= 12:
        raw = value.encode("utf-8")
        for number, fragment in enumerate(_base64_fragments(raw), 1):
            forms[f"base64 ({number}/3)"] = fragment
            url_safe = fragment.replace("+", "-").replace("/", "_")
            if url_safe != fragment:
                forms[f"base64url ({number}/3)"] = url_safe
    return forms


class SecretLeak(NamedTuple):
    """One place a secret was found: its kind, the form it had, and the 1-based line."""

    label: str
    form: str
    line: int


def find_secrets(text: str, secrets: Mapping[str, str]) -> list[SecretLeak]:
    """Every occurrence in ``text`` of every form of every secret (``label -> value``).

    Values shorter than :data:`MIN_SECRET_LENGTH` are skipped. Sorted by line.
    """
    found: set[SecretLeak] = set()
    for label, value in secrets.items():
        if len(value) < MIN_SECRET_LENGTH:
            continue
        for form, needle in secret_forms(value).items():
            start = text.find(needle)
            while start >= 0:
                found.add(SecretLeak(label, form, text.count("\n", 0, start) + 1))
                start = text.find(needle, start + 1)
    return sorted(found, key=lambda leak: (leak.line, leak.label, leak.form))


def redact(text: str, secrets: Mapping[str, str]) -> str:
    """``text`` with every form of every secret replaced by ``<label>``."""
    needles = [
        (needle, f"<{label}>")
        for label, value in secrets.items()
        if len(value) >= MIN_SECRET_LENGTH
        for needle in secret_forms(value).values()
    ]
    for needle, replacement in sorted(needles, key=lambda pair: -len(pair[0])):
        text = text.replace(needle, replacement)
    return text


def describe_leaks(
    leaks: list[SecretLeak], text: str, secrets: Mapping[str, str], source: str, *, shown: int = 5
) -> str:
    """A report of ``leaks`` in ``text``: which secret, in which form, on which lines,
    and up to ``shown`` of those lines with every secret replaced by its label."""
    by_kind: dict[tuple[str, str], list[int]] = {}
    for leak in leaks:
        by_kind.setdefault((leak.label, leak.form), []).append(leak.line)
    parts = []
    for (label, form), lines in by_kind.items():
        more = (
            f" (and {len(lines) - 1} more: {', '.join(map(str, lines[1:6]))}" if lines[1:] else ""
        )
        parts.append(f"{label} {form} at line {lines[0]}{more}{')' if more else ''}")
    all_lines = text.splitlines()
    line_numbers = sorted({leak.line for leak in leaks})[:shown]
    excerpt = "\n".join(
        f"  {number}: {redact(all_lines[number - 1], secrets)[:300]}"
        for number in line_numbers
        if number <= len(all_lines)
    )
    return (
        f"secret leaked into {source}: {'; '.join(parts)}. "
        f"The lines, with each secret replaced by its name:\n{excerpt}"
    )


class SecretLeakError(AssertionError):
    """A secret was found in a server's log. The message names it and the line, never its value."""

    def __init__(self, message: str, leaks: list[SecretLeak] | None = None) -> None:
        super().__init__(message)
        self.leaks: list[SecretLeak] = leaks or []


def _read(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return ""


def secrets_in_env(env: Mapping[str, str]) -> dict[str, str]:
    """The secrets an AWS SDK would read from ``env``: label -> value.

    :data:`SECRET_ENV_VARS`; the content of the files :data:`SECRET_FILE_ENV_VARS`
    name (read now); the secret keys of every profile in the shared credentials
    and config files the environment names (only when it names them).
    """
    found: dict[str, str] = {}
    for name in SECRET_ENV_VARS:
        if env.get(name):
            found[f"{name} (env)"] = env[name]
    for name in SECRET_FILE_ENV_VARS:
        if env.get(name):
            content = _read(env[name])
            if content:
                found[f"the token in {name}"] = content
    for name in ("AWS_SHARED_CREDENTIALS_FILE", "AWS_CONFIG_FILE"):
        text = _read(env[name]) if env.get(name) else ""
        if not text:
            continue
        parser = configparser.RawConfigParser(strict=False)
        try:
            parser.read_string(text)
        except configparser.Error:
            continue
        for section in parser.sections():
            for key in _PROFILE_SECRET_KEYS:
                value = parser.get(section, key, fallback="").strip()
                if value:
                    found[f"{key} of [{section}] in {name}"] = value
    return found


def _is_secret_name(name: str) -> bool:
    lower = name.lower()
    return "secret" in lower or lower.endswith(("session_token", "security_token", "password"))


def secrets_in_config(config: Mapping[str, Any], path: str = "") -> dict[str, str]:
    """The string values of a traitlets config dict whose name says they are
    secret (``*secret*``, ``*session_token``, ``*security_token``, ``*password``):
    ``"config Section.name"`` -> value."""
    found: dict[str, str] = {}
    for key, value in config.items():
        where = f"{path}.{key}" if path else str(key)
        if isinstance(value, Mapping):
            found.update(secrets_in_config(value, where))
        elif isinstance(value, str) and value and _is_secret_name(str(key)):
            found[f"config {where}"] = value
    return found
