"""Sphinx settings for the documentation site (`make docs`, tests/test_docs.py).

Offline by design: no intersphinx (it would fetch inventories), no web fonts (furo ships none),
nothing fetched at build time. Warnings are errors (`sphinx-build -W`), `nitpicky` is off
because third-party types (httpx, redis) have no inventory offline.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The packages as they sit in the checkout (an editable install puts them on the path too).
for folder in ("overlay", "server", "conformance", "generated"):
    sys.path.insert(0, str(ROOT / folder))

import screening_eagle_id  # noqa: E402 - after the path is set

project = "screening-eagle-id"
author = "The screening-eagle-id authors"
copyright = "2026 The screening-eagle-id authors"
release = version = screening_eagle_id.__version__

extensions = ["myst_parser", "sphinx.ext.autodoc", "sphinx.ext.napoleon"]
source_suffix = {".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build"]

myst_heading_anchors = 3
myst_enable_extensions = ["colon_fence", "deflist"]

autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_default_options = {"members": True, "show-inheritance": False}
# Docstrings here are Markdown-ish: `name` is code, not an RST reference.
default_role = "code"

html_theme = "furo"
html_title = f"screening-eagle-id {release}"
html_static_path: list[str] = []
html_show_sourcelink = False
