"""Which classes and settings the configuration reference documents, and how.

Documented: every ``traitlets`` Configurable defined by one of the repository's
packages (each ``packages/*/src/<package>``) that has settings of its own
(``config=True`` traits), that is ``JupyterS3``, the authentication classes and
whatever a package adds later, each with the settings that jupyters3 classes
define (Jupyter's own ``ContentsManager`` settings are left to Jupyter's
documentation).

Each setting is shown with its help text and its default: the help's own
``Default: ...`` sentence for a default computed at run time (it says where
the value comes from), else the trait's static value (byte counts also in MiB
or GiB).

``docs/reference_ext.py`` (the Sphinx extension) uses this to shape each
setting and to check, at every build, that the reference page documents each
of them; ``packages/jupyters3-core/tests/test_docs.py`` uses it to check that
the page names every class, that every setting has a help text, and that a
computed default says where it comes from. Nothing here imports Sphinx.

::

    python docs/configurables.py    # print each class and its settings
"""

from __future__ import annotations

import functools
import importlib
import pkgutil
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from traitlets import Bool, Enum, Float, Int, TraitType, Type, Undefined, Unicode
from traitlets.config import Configurable

ROOT = Path(__file__).resolve().parents[1]

_DEFAULT_SENTENCE = re.compile(r"\s*Default: (.+?\.)(?=\s|$)")
_ENV_VAR = re.compile(r"\b[A-Z][A-Z0-9]*_[A-Z0-9_]*[A-Z0-9]\b")
_URL = re.compile(r"\b[a-z][a-z0-9+.-]*://[^\s,;()'\"]+")
_MIB = 1024**2


# ============================================================================
# Which classes and settings
# ============================================================================


def packages() -> tuple[str, ...]:
    """The import packages of the repository: ``packages/*/src/<name>/__init__.py``."""
    return tuple(sorted(p.parent.name for p in ROOT.glob("packages/*/src/*/__init__.py")))


def ours(cls: type) -> bool:
    """Whether ``cls`` is defined in one of the repository's packages."""
    return cls.__module__.split(".")[0] in packages()


def import_all() -> None:
    """Import every module of every package, so that every class is defined."""
    for name in packages():
        try:
            package = importlib.import_module(name)
        except ImportError as exc:
            sys.exit(f"configurables.py: {name} is not importable ({exc}): install its package")
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


def subclasses(cls: type) -> Iterator[type]:
    """Every subclass of ``cls``, at any depth."""
    for sub in cls.__subclasses__():
        yield sub
        yield from subclasses(sub)


def documented_classes() -> list[type[Configurable]]:
    """Every Configurable of the packages with settings of its own, by module and name."""
    return list(_documented_classes())


@functools.cache
def _documented_classes() -> tuple[type[Configurable], ...]:
    import_all()
    classes = {c for c in subclasses(Configurable) if ours(c) and own_config_traits(c)}
    return tuple(sorted(classes, key=lambda c: (c.__module__, c.__name__)))


def public_name(cls: type) -> str:
    """``package.Class`` when the package exports it, else ``module.Class``."""
    package = cls.__module__.split(".")[0]
    if getattr(importlib.import_module(package), cls.__name__, None) is cls:
        return f"{package}.{cls.__name__}"
    return f"{cls.__module__}.{cls.__name__}"


def has_computed_default(cls: type, name: str) -> bool:
    """Whether ``cls`` computes the default of ``name`` (an ``@default`` method)."""
    generators = getattr(cls, "_trait_default_generators", {})
    return name in generators


# ============================================================================
# Each setting's text, as reStructuredText
# ============================================================================


def rst_text(text: str) -> str:
    """Plain help text as reStructuredText: ```code``` spans, URLs and
    environment variable names become literals; ``*``, ``|`` and ``\\``
    elsewhere are escaped."""
    parts = text.split("`")
    out = []
    for i, part in enumerate(parts):
        if i % 2:
            out.append(_literal(part) if part else "")
            continue
        pieces = _URL.split(part)
        urls = _URL.findall(part)
        for j, piece in enumerate(pieces):
            piece = re.sub(r"([\\*|])", r"\\\1", piece)
            out.append(_ENV_VAR.sub(lambda m: _literal(m.group(0)), piece))
            if j < len(urls):
                out.append(_literal(urls[j]))
    return "".join(out)


def _literal(text: str) -> str:
    """An inline literal that needs no space around it (``\\ `` is an escaped nothing)."""
    return f"\\ ``{text}``\\ "


def split_default(help_text: str) -> tuple[str, str | None]:
    """``(help without its "Default: ..." sentence, that sentence's value or None)``."""
    text = " ".join(help_text.split())
    match = _DEFAULT_SENTENCE.search(text)
    if not match:
        return text, None
    rest = (text[: match.start()] + text[match.end() :]).strip()
    return rest, match.group(1).removesuffix(".")


def type_words(trait: TraitType[Any, Any]) -> str:
    """The setting's type, as a reader writes a value of it."""
    if isinstance(trait, Enum):
        return " | ".join(repr(value) for value in trait.values or ())
    if isinstance(trait, Type):
        base = trait.klass if isinstance(trait.klass, type) else None
        return f"a {base.__name__} subclass or its dotted name" if base else "a class"
    for kind, word in ((Bool, "bool"), (Int, "int"), (Float, "float"), (Unicode, "str")):
        if isinstance(trait, kind):
            return word
    return type(trait).__name__.lower()


def static_default(trait: TraitType[Any, Any]) -> str:
    """The static default as reStructuredText (byte counts also in MiB or GiB)."""
    value = trait.default_value
    if value is Undefined:  # a container's default is made per instance
        value = trait.make_dynamic_default()  # type: ignore[attr-defined]
    if isinstance(trait, Type):
        name = public_name(value) if isinstance(value, type) else str(value)
        return f"``{name}``"
    text = f"``{value!r}``"
    if isinstance(trait, Int) and not isinstance(value, bool) and value >= _MIB:
        if value % 1024**3 == 0:
            text += f" ({value // 1024**3} GiB)"
        elif value % _MIB == 0:
            text += f" ({value // _MIB} MiB)"
    return text


def setting_lines(cls: type, name: str, trait: TraitType[Any, Any]) -> list[str]:
    """The body of one setting: its help, then ``Default: ...``."""
    text, sentence = split_default(str(trait.help or ""))
    if sentence is not None:
        default = rst_text(sentence)
    elif has_computed_default(cls, name):
        default = "computed"  # test_docs.py asks for a "Default: ..." sentence instead
    else:
        default = static_default(trait)
    return [rst_text(text), "", f"Default: {default}"]


# ============================================================================
# The command line
# ============================================================================


def main() -> int:
    """Print each documented class and its settings."""
    for cls in documented_classes():
        print(public_name(cls))
        for name in own_config_traits(cls):
            print(f"    {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
