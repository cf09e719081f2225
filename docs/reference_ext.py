"""The Sphinx side of the generated references: settings and the command line.

* Settings: ``autoconfigurable`` (autodoc-traits) documents a class's
  ``config=True`` traits. Here each one is shown as ``c.<Class>.<setting> =
  <type>``, with its help text and a ``Default:`` line (the help's own
  ``Default: ...`` sentence for a computed default, else the static value);
  Jupyter's inherited settings and every method are left out; a class shows
  its docstring's first paragraph.
* At every build, each setting of each class that ``configurables.py`` finds
  must be documented on some page, and no other setting may be: a class or
  setting added to the code without its ``autoconfigurable`` fails the build
  (warnings are errors).
* ``{jupyters3-help} check`` prints ``jupyters3 check --help`` as the
  installed command prints it.
"""

from __future__ import annotations

import contextlib
import io
import os
import warnings
from typing import Any

import configurables
from autodoc_traits import TraitDocumenter
from docutils import nodes
from sphinx.application import Sphinx
from sphinx.environment import BuildEnvironment
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective
from traitlets import TraitType

logger = logging.getLogger(__name__)


# ============================================================================
# autodoc
# ============================================================================


class SettingDocumenter(TraitDocumenter):
    """autodoc-traits' trait documenter, headed ``c.<Class>.<setting> = <type>``."""

    objtype = "jupyters3setting"
    directivetype = "attribute"
    priority = TraitDocumenter.priority + 1

    def add_directive_header(self, sig: str) -> None:
        cls = self.parent.__name__ if self.parent is not None else "?"
        self.options.annotation = (
            f"c.{cls}.{self.objpath[-1]} = {configurables.type_words(self.object)}"
        )
        # Skip TraitDocumenter's header (its default would be the static one,
        # '' for a computed default); AttributeDocumenter's prints the annotation.
        super(TraitDocumenter, self).add_directive_header(sig)


def _process_docstring(
    app: Sphinx, what: str, name: str, obj: Any, options: Any, lines: list[str]
) -> None:
    # ``what`` is the documenter's objtype: "jupyters3setting", "configurable"...
    if isinstance(obj, TraitType) and obj.this_class is not None:
        owner = _documented_owner(name) or obj.this_class
        lines[:] = configurables.setting_lines(owner, obj.name, obj)
    elif isinstance(obj, type) and configurables.ours(obj):
        first = []
        for line in lines:
            if not line.strip():
                break
            first.append(line)
        lines[:] = [*first, "", f"Set as ``c.{obj.__name__}.<setting>``."]


def _documented_owner(fullname: str) -> type | None:
    """The class a ``package.Class.setting`` name documents the setting of."""
    for cls in configurables.documented_classes():
        if fullname.rsplit(".", 1)[0] == configurables.public_name(cls):
            return cls
    return None


def _no_signature(
    app: Sphinx, what: str, name: str, obj: Any, options: Any, signature: Any, annotation: Any
) -> tuple[str, None] | None:
    """A configurable class is set through ``c.<Class>``, never called: no ``(*args, **kwargs)``."""
    if isinstance(obj, type) and configurables.ours(obj):
        return "", None
    return None


def _skip_member(app: Sphinx, what: str, name: str, obj: Any, skip: bool, options: Any) -> bool:
    """Document only settings that the repository's packages define."""
    if isinstance(obj, TraitType):
        this = getattr(obj, "this_class", None)
        return not (obj.metadata.get("config") and this is not None and configurables.ours(this))
    return True


# ============================================================================
# Every setting documented, once
# ============================================================================


def expected_settings() -> set[str]:
    """``package.Class.setting`` for every setting the reference must show."""
    return {
        f"{configurables.public_name(cls)}.{name}"
        for cls in configurables.documented_classes()
        for name in configurables.own_config_traits(cls)
    }


def _check_reference(app: Sphinx, env: BuildEnvironment) -> None:
    objects = env.get_domain("py").objects  # type: ignore[attr-defined]
    documented = {name for name, entry in objects.items() if entry.objtype == "attribute"}
    expected = expected_settings()
    for name in sorted(expected - documented):
        logger.warning(
            "configuration reference: %s is not documented (add an autoconfigurable "
            "of its class to docs/reference/configuration.md)",
            name,
        )
    for name in sorted(documented - expected):
        logger.warning("configuration reference: %s is documented but is no setting", name)


# ============================================================================
# The command line's help
# ============================================================================


class Jupyters3Help(SphinxDirective):
    """``jupyters3 <args> --help``, as the installed command prints it."""

    optional_arguments = 8
    has_content = False

    def run(self) -> list[nodes.Node]:
        from jupyters3.check import parse_args

        out = io.StringIO()
        saved = os.environ.get("COLUMNS")
        os.environ["COLUMNS"] = "90"
        try:
            with contextlib.redirect_stdout(out), contextlib.suppress(SystemExit):
                parse_args([*self.arguments, "--help"])
        finally:
            if saved is None:
                del os.environ["COLUMNS"]
            else:
                os.environ["COLUMNS"] = saved
        text = out.getvalue().rstrip()
        block = nodes.literal_block(text, text, language="text")
        return [block]


def setup(app: Sphinx) -> dict[str, Any]:
    # autodoc-traits warns about every inherited setting without a help text
    # (Jupyter's own, such as root_dir) before _skip_member leaves it out.
    warnings.filterwarnings("ignore", category=FutureWarning, module="autodoc_traits")
    app.setup_extension("autodoc_traits")
    app.add_autodocumenter(SettingDocumenter)
    app.connect("autodoc-process-docstring", _process_docstring)
    app.connect("autodoc-skip-member", _skip_member)
    app.connect("autodoc-process-signature", _no_signature)
    app.connect("env-check-consistency", _check_reference)
    app.add_directive("jupyters3-help", Jupyters3Help)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
