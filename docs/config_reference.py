"""The configuration reference of README.md, generated from the traits themselves.

::

    python docs/config_reference.py            # print the Markdown
    python docs/config_reference.py --write    # rewrite README.md's block in place
    python docs/config_reference.py --check    # exit 1 when README.md's block is stale

In the repository: ``hatch run test:python docs/config_reference.py --write``.

Documented: every ``traitlets`` Configurable of ``jupyters3`` and
``jupyters3_auth_ec2`` that defines settings (``config=True`` traits), that is
``JupyterS3`` and the authentication classes, each with the settings that
jupyters3 classes define (Jupyter's own ``ContentsManager`` settings are left
to Jupyter's documentation). Each setting gets its name, type, default and
help text. A help text's ``Default: ...`` sentence becomes the default column
(it says where a computed default comes from). README.md holds the output
between ``<!-- config-reference:start -->`` and ``<!-- config-reference:end -->``;
``packages/jupyters3-core/tests/test_docs.py`` fails when they differ, or when a
setting has no help.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import re
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from traitlets import Bool, Enum, Float, Int, TraitType, Type, Unicode
from traitlets.config import Configurable

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
START = "<!-- config-reference:start -->"
END = "<!-- config-reference:end -->"

#: The packages whose settings are documented.
PACKAGES = ("jupyters3", "jupyters3_auth_ec2")

#: Display order of the known classes; any other is appended by name.
ORDER = (
    "JupyterS3",
    "JupyterS3DefaultAuthentication",
    "JupyterS3SecretAccessKeyAuthentication",
    "JupyterS3ECSRoleAuthentication",
    "JupyterS3EC2RoleAuthentication",
    "JupyterS3RefreshingAuthentication",
)

_DEFAULT_SENTENCE = re.compile(r"\s*Default: (.+?\.)(?=\s|$)")
_ENV_VAR = re.compile(r"\b[A-Z][A-Z0-9]*_[A-Z0-9_]*[A-Z0-9]\b")
_MIB = 1024**2


@dataclass(frozen=True)
class Setting:
    """One row of the reference."""

    name: str
    type: str
    default: str
    help: str


def ours(cls: type) -> bool:
    """Whether ``cls`` is defined in one of :data:`PACKAGES`."""
    return cls.__module__.split(".")[0] in PACKAGES


def import_all() -> None:
    """Import every module of :data:`PACKAGES`, so that every class is defined."""
    for name in PACKAGES:
        try:
            package = importlib.import_module(name)
        except ImportError:
            dist = name.replace("_", "-") if name != "jupyters3" else "jupyters3-core"
            sys.exit(f"config_reference.py: {name} is not importable: pip install {dist}")
        for module in pkgutil.walk_packages(package.__path__, f"{name}."):
            if not module.name.endswith("__main__"):
                importlib.import_module(module.name)


def own_config_traits(cls: type[Configurable]) -> dict[str, TraitType[Any, Any]]:
    """The ``config=True`` traits of ``cls`` that jupyters3 classes define, in
    definition order (the class's own first, then those it inherits)."""
    found: dict[str, TraitType[Any, Any]] = {}
    for klass in cls.__mro__:
        if not ours(klass):
            continue
        for name, value in vars(klass).items():
            if name in found or not isinstance(value, TraitType):
                continue
            if value.metadata.get("config"):
                found[name] = value
    return found


def _subclasses(cls: type) -> Iterator[type]:
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def documented_classes() -> list[type[Configurable]]:
    """Every Configurable of :data:`PACKAGES` with settings of its own, in :data:`ORDER`."""
    import_all()
    classes = {c for c in _subclasses(Configurable) if ours(c) and own_config_traits(c)}
    rank = {name: i for i, name in enumerate(ORDER)}
    return sorted(classes, key=lambda c: (rank.get(c.__name__, len(rank)), c.__name__))


def public_name(cls: type) -> str:
    """``package.Class`` when the package exports it, else ``module.Class``."""
    package = cls.__module__.split(".")[0]
    if getattr(importlib.import_module(package), cls.__name__, None) is cls:
        return f"{package}.{cls.__name__}"
    return f"{cls.__module__}.{cls.__name__}"


def type_name(trait: TraitType[Any, Any]) -> str:
    """The setting's type, in words."""
    if isinstance(trait, Enum):
        return " \\| ".join(f"`{value!r}`" for value in trait.values or ())
    if isinstance(trait, Type):
        base = trait.klass if isinstance(trait.klass, type) else None
        return f"class ({base.__name__} subclass)" if base else "class"
    for kind, word in ((Bool, "bool"), (Int, "int"), (Float, "float"), (Unicode, "str")):
        if isinstance(trait, kind):
            return word
    return type(trait).__name__


def literal(trait: TraitType[Any, Any]) -> str:
    """The static default as Markdown (byte counts also in MiB or GiB)."""
    value = trait.default_value
    if isinstance(trait, Type):
        return f"`{public_name(value)}`" if isinstance(value, type) else f"`{value}`"
    text = f"`{value!r}`"
    if isinstance(trait, Int) and not isinstance(value, bool) and value >= _MIB:
        if value % 1024**3 == 0:
            text += f" ({value // 1024**3} GiB)"
        elif value % _MIB == 0:
            text += f" ({value // _MIB} MiB)"
    return text


def has_computed_default(cls: type, name: str) -> bool:
    """Whether ``cls`` computes the default of ``name`` (an ``@default`` method)."""
    generators = getattr(cls, "_trait_default_generators", {})
    return name in generators


def setting(cls: type, name: str, trait: TraitType[Any, Any]) -> Setting:
    """One row: the help text's ``Default: ...`` sentence, if any, is the default."""
    text = " ".join(str(trait.help or "").split())
    match = _DEFAULT_SENTENCE.search(text)
    if match:
        default = match.group(1).removesuffix(".")
        text = (text[: match.start()] + text[match.end() :]).strip()
    elif has_computed_default(cls, name):
        default = "computed"  # test_docs.py asks for a "Default: ..." sentence instead
    else:
        default = literal(trait)
    return Setting(name, type_name(trait), default, text)


def settings(cls: type[Configurable]) -> list[Setting]:
    """The rows of one class."""
    return [setting(cls, name, trait) for name, trait in own_config_traits(cls).items()]


def _cell(text: str) -> str:
    """``text`` for a table cell: ``|`` escaped everywhere; outside code spans,
    ``*`` escaped and environment variable names made code."""
    parts = text.split("`")
    for i, part in enumerate(parts):
        part = part.replace("|", "\\|")
        if i % 2 == 0:
            part = _ENV_VAR.sub(r"`\g<0>`", part.replace("*", "\\*"))
        parts[i] = part
    return "`".join(parts)


def render_class(cls: type[Configurable]) -> str:
    """One class: a heading, its docstring's first line, and the table."""
    summary = " ".join((cls.__doc__ or "").strip().split("\n\n")[0].split())
    lines = [
        f"### `{cls.__name__}`",
        "",
        f"`{public_name(cls)}`: {summary} Set as `c.{cls.__name__}.<setting>`.",
        "",
        "| setting | type | default | description |",
        "| --- | --- | --- | --- |",
    ]
    for row in settings(cls):
        lines.append(f"| `{row.name}` | {row.type} | {_cell(row.default)} | {_cell(row.help)} |")
    return "\n".join(lines)


def render() -> str:
    """The whole block between the markers (markers excluded)."""
    note = (
        "<!-- Generated by `python docs/config_reference.py --write` from the traits' "
        "help texts: edit those, not this block. -->"
    )
    return "\n\n".join([note, *(render_class(cls) for cls in documented_classes())])


def current_block(text: str) -> str:
    """The block README.md holds now (markers excluded, outer blank lines stripped)."""
    start, end = text.index(START) + len(START), text.index(END)
    return text[start:end].strip("\n")


def replace_block(text: str, block: str) -> str:
    """``text`` with the block between the markers replaced by ``block``."""
    start, end = text.index(START) + len(START), text.index(END)
    return f"{text[:start]}\n{block}\n{text[end:]}"


def main(argv: Sequence[str] | None = None) -> int:
    """Print, write or check the reference; the exit code for ``--check``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--write", action="store_true", help="rewrite the block in README.md")
    group.add_argument("--check", action="store_true", help="exit 1 when README.md is stale")
    args = parser.parse_args(argv)
    block = render()
    if args.write:
        README.write_text(replace_block(README.read_text(encoding="utf-8"), block), "utf-8")
        print(f"config_reference.py: wrote {README}")
        return 0
    if args.check:
        if current_block(README.read_text(encoding="utf-8")) != block:
            print("README.md is stale: run python docs/config_reference.py --write")
            return 1
        return 0
    print(block)
    return 0


if __name__ == "__main__":
    sys.exit(main())
