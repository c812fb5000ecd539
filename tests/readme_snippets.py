"""The README's code snippets, so tests run exactly what the README shows.

A snippet is the first fenced ```python block after a `<!-- snippet: NAME -->` line.
"""

from __future__ import annotations

import re
from pathlib import Path

__all__ = ["snippet"]

_README = Path(__file__).resolve().parent.parent / "README.md"


def snippet(name: str) -> str:
    """The code of the README snippet `name` (fails loudly when it is missing)."""
    text = _README.read_text(encoding="utf-8")
    pattern = rf"<!-- snippet: {re.escape(name)} -->\s*```python\n(.*?)```"
    found = re.search(pattern, text, flags=re.DOTALL)
    assert found is not None, f"README.md has no snippet {name!r}"
    return found.group(1)
