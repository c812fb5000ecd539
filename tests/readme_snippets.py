"""The code blocks of README.md and docs/, so tests run exactly what the documentation shows.

Every ```python block carries a marker on the line before it:

- `<!-- run: python -X dev -->`: tests/test_readme.py runs it as it is, against the live server;
- `<!-- snippet: NAME -->`: the test calling `snippet(NAME)` / `run_snippet(NAME, ...)` runs it,
  with the names it leaves open (`url`, `creds`…) as globals.

tests/test_docs.py fails on a python block with neither, and on a NAME no test uses.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

__all__ = ["RUN_MARKER", "Block", "blocks", "documents", "run_snippet", "runnable", "snippet"]

ROOT = Path(__file__).resolve().parent.parent
RUN_MARKER = "<!-- run: python -X dev -->"
_NAMED = re.compile(r"<!-- snippet: ([\w-]+) -->")
# A fence, possibly indented (a block inside a list item), with its language.
_FENCE = re.compile(
    r"^(?P<indent>[ \t]*)```(?P<lang>[\w-]*)[^\n]*\n(?P<code>.*?)^(?P=indent)```[ \t]*$",
    re.DOTALL | re.MULTILINE,
)


@dataclass(frozen=True)
class Block:
    """One fenced code block: where it is, its language, the marker before it and its code."""

    path: Path
    line: int
    lang: str
    marker: str
    code: str

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"

    @property
    def name(self) -> str | None:
        found = _NAMED.fullmatch(self.marker)
        return found.group(1) if found else None


def documents() -> list[Path]:
    """README.md and every Markdown page of the documentation site."""
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def blocks(paths: list[Path] | None = None) -> list[Block]:
    """Every fenced code block of `paths` (default: `documents()`), in order."""
    found: list[Block] = []
    for path in documents() if paths is None else paths:
        text = path.read_text(encoding="utf-8")
        for match in _FENCE.finditer(text):
            before = text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1].strip()
            indent = match.group("indent")
            code = "\n".join(line.removeprefix(indent) for line in match.group("code").splitlines())
            found.append(
                Block(
                    path=path,
                    line=text.count("\n", 0, match.start()) + 1,
                    lang=match.group("lang"),
                    marker=before if before.startswith("<!--") else "",
                    code=code + "\n",
                )
            )
    return found


def runnable() -> list[Block]:
    """The python blocks marked to run as they are."""
    return [b for b in blocks() if b.lang == "python" and b.marker == RUN_MARKER]


def snippet(name: str) -> str:
    """The code of the snippet `name`, from README.md or docs/ (fails loudly when it is missing
    or not unique)."""
    named = [b for b in blocks() if b.name == name]
    assert len(named) == 1, f"snippet {name!r}: {len(named)} blocks carry its marker"
    return named[0].code


def run_snippet(name: str, **names: object) -> dict[str, object]:
    """Run the snippet `name` with `names` as its globals; returns them afterwards."""
    scope: dict[str, object] = dict(names)
    exec(compile(snippet(name), f"docs:{name}", "exec"), scope)  # noqa: S102 - our own docs
    return scope
