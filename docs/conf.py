"""Sphinx configuration of the jupyters3 documentation (``hatch run docs:build``)."""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # configurables.py, reference_ext.py

project = "jupyters3"
author = "the jupyters3 authors"
copyright = "the jupyters3 authors"

extensions = [
    "myst_parser",
    "sphinx_copybutton",
    "sphinxcontrib.mermaid",
    "sphinx.ext.autodoc",
    "reference_ext",  # autodoc-traits, the settings' form, the coverage check, CLI help
]

source_suffix = {".md": "markdown"}
# Quotes stay as typed: settings' values ('auto') and quoted messages are code.
smartquotes = False
root_doc = "index"
exclude_patterns = ["_build"]
templates_path: list[str] = []

# MyST: GitHub's heading anchors (``page.md#a-heading``) down to level 4,
# checked like every other reference; ```mermaid fences are diagrams (GitHub
# draws the same fences when it shows a page).
myst_heading_anchors = 4
myst_enable_extensions = ["deflist"]  # index.md's sections
myst_fence_as_directive = ["mermaid"]

# Every internal reference must resolve (-n on the command line); nothing is
# fetched from the internet at build time.
nitpicky = True
linkcheck_ignore = [r".*"]

autodoc_member_order = "bysource"
# The page's table of contents lists the classes (headings), not each setting.
toc_object_entries = False
autodoc_typehints = "none"

# Mermaid diagrams are drawn in the reader's browser (mermaid.js from its CDN,
# loaded by the page); the build itself needs no network and no mmdc.
mermaid_output_format = "raw"

html_theme = "pydata_sphinx_theme"
html_title = "jupyters3"
html_theme_options = {
    "github_url": "https://github.com/jupyters3/jupyters3",
    "navbar_align": "left",
    "show_toc_level": 2,
    "navigation_with_keys": False,
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version", "theme-version"],
}
html_static_path: list[str] = []
html_show_sourcelink = False

copybutton_prompt_text = r"\$ "
copybutton_prompt_is_regexp = True
