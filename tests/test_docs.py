"""The documentation site builds with warnings as errors, and none of its code goes untested.

The snippets themselves run in tests/test_readme.py (the ones marked to run as they are) and in
the tests that name them; here: the build, and that every block is one of those.
"""

from __future__ import annotations

import importlib
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from readme_snippets import RUN_MARKER, Block, blocks, run_snippet, snippet
from screening_eagle_id import ClientCredentials, ConfigurationError

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
BLOCKS = blocks()
# As `make docs`: warnings are errors, every page read anew (so every warning is seen again).
SPHINX_OPTIONS = ["-W", "--keep-going", "-E", "-q", "-b", "html"]


def _build(source: Path, out: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sphinx", *SPHINX_OPTIONS, str(source), str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.mark.slow
def test_the_site_builds_without_a_warning(tmp_path: Path) -> None:
    done = _build(DOCS, tmp_path / "html")
    assert done.returncode == 0, done.stderr[-3000:]
    assert (tmp_path / "html" / "index.html").is_file()
    api = (tmp_path / "html" / "api" / "client.html").read_text(encoding="utf-8")
    assert "get_token" in api  # autodoc found the docstrings
    changelog = (tmp_path / "html" / "changelog.html").read_text(encoding="utf-8")
    assert "0.1.0" in changelog  # CHANGELOG.md is included, not copied


@pytest.mark.slow
def test_a_broken_link_or_anchor_fails_the_build(tmp_path: Path) -> None:
    source = tmp_path / "docs"
    source.mkdir()
    (source / "conf.py").write_text((DOCS / "conf.py").read_text(encoding="utf-8"))
    (source / "index.md").write_text(
        "# Home\n\n[a page](nope.md), [an anchor](other.md#nowhere)\n\n"
        "```{toctree}\n:hidden:\nother\n```\n",
        encoding="utf-8",
    )
    (source / "other.md").write_text("# Other\n", encoding="utf-8")
    done = _build(source, tmp_path / "html")
    assert done.returncode != 0
    assert "nope.md" in done.stderr
    assert "nowhere" in done.stderr


def test_every_page_is_in_the_table_of_contents() -> None:
    index = (DOCS / "index.md").read_text(encoding="utf-8")
    listed = set(re.findall(r"^([\w/-]+)$", index, re.MULTILINE))
    pages = {p.relative_to(DOCS).with_suffix("").as_posix() for p in DOCS.rglob("*.md")}
    assert pages - {"index"} <= listed


def _tested_names() -> set[str]:
    # Every test module, and the cases a test module runs in a process of their own.
    modules = [*(ROOT / "tests").glob("test_*.py"), ROOT / "tests" / "otel_cases.py"]
    text = "".join(p.read_text(encoding="utf-8") for p in modules)
    return set(re.findall(r"snippet\(\s*\"([\w-]+)\"", text))


@pytest.mark.parametrize("block", [b for b in BLOCKS if b.lang == "python"], ids=lambda b: b.where)
def test_every_python_block_is_run_by_a_test(block: Block) -> None:
    assert block.marker == RUN_MARKER or block.name in _tested_names(), (
        f"{block.where}: mark it {RUN_MARKER!r} (runs as it is against the live server), or "
        "'<!-- snippet: NAME -->' and run it from a test with snippet(NAME)"
    )


def test_every_snippet_name_is_unique() -> None:
    names = [b.name for b in BLOCKS if b.name]
    assert len(names) == len(set(names))


@pytest.mark.parametrize("block", [b for b in BLOCKS if b.lang == "toml"], ids=lambda b: b.where)
def test_every_toml_block_parses(block: Block) -> None:
    tomllib.loads(block.code)


@pytest.mark.parametrize(
    ("package", "page"),
    [
        ("screening_eagle_id", "client.md"),
        ("screening_eagle_id_server", "server.md"),
        ("screening_eagle_id_conformance", "conformance.md"),
    ],
)
def test_the_api_reference_covers_every_public_name(package: str, page: str) -> None:
    text = (DOCS / "api" / page).read_text(encoding="utf-8")
    documented = set(re.findall(rf"^\.\. auto\w+:: {package}\.(\w+)$", text, re.MULTILINE))
    assert set(importlib.import_module(package).__all__) == documented


def test_the_documented_credentials_profile_loads(tmp_path: Path) -> None:
    path = tmp_path / "credentials.toml"
    path.write_text(snippet("credentials-profile"), encoding="utf-8")
    path.chmod(0o600)
    creds = ClientCredentials.from_profile("prod", path=path)
    assert (creds.client_id, creds.client_secret) == ("my-client", "my-secret")
    path.chmod(0o644)  # as the page says: a file others may read is refused
    with pytest.raises(ConfigurationError):
        ClientCredentials.from_profile("prod", path=path)


def test_the_documented_token_path_profile_names_the_endpoint(tmp_path: Path) -> None:
    from screening_eagle_id import TokenClient
    from screening_eagle_id._config import resolve

    path = tmp_path / "eagle-id" / "credentials.toml"
    path.parent.mkdir()
    path.write_text(snippet("credentials-profile-token-path"), encoding="utf-8")
    path.chmod(0o600)
    settings = resolve(None, None, None, None, environ={"XDG_CONFIG_HOME": str(tmp_path)})
    assert (settings.token_path, settings.assume_lifetime) == ("/oauth2/token", 3600)
    creds = ClientCredentials(settings.client_id, settings.client_secret)
    with TokenClient(settings.url, creds, scope="read", token_path=settings.token_path) as tokens:
        assert tokens.url == "https://idp.example.com/oauth2/token"


def test_the_opentelemetry_page_lists_every_registered_error_code() -> None:
    from screening_eagle_id._telemetry import LABELS, REGISTERED_ERRORS

    page = (DOCS / "integrations" / "opentelemetry.md").read_text(encoding="utf-8")
    registered = page[page.index("2. a registered OAuth error code") : page.index("3. else")]
    assert set(re.findall(r"`(\w+)`", registered)) == REGISTERED_ERRORS
    assert f"({len(LABELS)} values)" in page


_ANY_TEXT = st.text(st.characters(codec=None, exclude_categories=()), max_size=200)


@settings(max_examples=200, deadline=None)
@given(method=_ANY_TEXT, path=_ANY_TEXT, client_id=st.none() | _ANY_TEXT)
def test_the_documented_access_log_parser_reads_back_any_line(
    method: str, path: str, client_id: str | None
) -> None:
    from screening_eagle_id_server import _accesslog

    parse = run_snippet("access-log-parse")["parse"]
    entry = (_accesslog.render, 0, 1764812101.142, method, path, 404, client_id, 2.26)
    fields = parse(_accesslog.render(entry))  # type: ignore[operator, arg-type]
    written = {"method": method, "path": path, "client_id": "-" if client_id is None else client_id}
    for name, sent in written.items():
        if len(sent.encode("utf-8", "surrogatepass")) * 4 < 64:  # under every cap: never cut
            assert fields[name] == sent
    assert (fields["status"], fields["latency_ms"]) == ("404", "2.26")
