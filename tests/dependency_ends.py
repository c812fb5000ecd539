"""The two ends of the range `pyproject.toml` allows the client's runtime dependencies, as
requirement lines for pip (`make test-deps`): `oldest` pins each one to its lower bound,
`newest` is the range itself (installed with --upgrade, it is the newest release in it).

    python tests/dependency_ends.py oldest   # httpx==0.27 / attrs==23.1
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"
_REQUIREMENT = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(.*)$")
_LOWER_BOUND = re.compile(r">=\s*([0-9][^,;\s]*)")

__all__ = ["requirements"]


def requirements(end: str, pyproject: Path = PYPROJECT) -> list[str]:
    """One requirement per runtime dependency, for the `oldest` or the `newest` end."""
    if end not in ("oldest", "newest"):
        raise ValueError(f"end must be 'oldest' or 'newest', not {end!r}")
    dependencies = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]["dependencies"]
    lines = []
    for dependency in dependencies:
        match = _REQUIREMENT.match(dependency)
        if match is None:
            raise ValueError(f"cannot read the requirement {dependency!r}")
        name, spec = match.groups()
        if end == "newest":
            lines.append(dependency)
            continue
        bound = _LOWER_BOUND.search(spec)
        if bound is None:
            raise ValueError(f"{name} has no lower bound (>=): its oldest release is untested")
        lines.append(f"{name}=={bound[1]}")
    return lines


if __name__ == "__main__":
    try:
        print("\n".join(requirements(sys.argv[1] if len(sys.argv) > 1 else "")))
    except ValueError as exc:
        sys.exit(f"dependency_ends.py: {exc}")
