"""The README's code snippets, so tests run exactly what the README shows.

A snippet is the first fenced ```python block after a `<!-- snippet: NAME -->` line.
"""

from __future__ import annotations

import re
from pathlib import Path

__all__ = ["run_snippet", "snippet"]

_README = Path(__file__).resolve().parent.parent / "README.md"


def snippet(name: str) -> str:
    """The code of the README snippet `name` (fails loudly when it is missing)."""
    text = _README.read_text(encoding="utf-8")
    pattern = rf"<!-- snippet: {re.escape(name)} -->\s*```python\n(.*?)```"
    found = re.search(pattern, text, flags=re.DOTALL)
    assert found is not None, f"README.md has no snippet {name!r}"
    return found.group(1)


def run_snippet(name: str, **names: object) -> dict[str, object]:
    """Run the README snippet `name` with `names` as its globals; returns them afterwards."""
    scope: dict[str, object] = dict(names)
    exec(compile(snippet(name), f"README.md:{name}", "exec"), scope)  # noqa: S102 - our README
    return scope
