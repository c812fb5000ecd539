"""No conformance report holds the secret, in any encoding a server can echo it in.

Generated secrets (non-ASCII, quotes, backslashes, `%`, `&`, `+`) are encoded by random chains
of JSON escapes, HTML entities, percent-encoding, base64 and hex, put in random text, and
written by every report writer: stdout, JUnit, JSON and Markdown must hold none of the forms.
"""

from __future__ import annotations

import base64
import html
import json
import quopri
import re
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote, quote_plus

from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt
from screening_eagle_id_conformance import Outcome, Report, Result, Source, Target
from screening_eagle_id_conformance._redact import REDACTED, redact, reveals
from screening_eagle_id_conformance._report import write_json, write_junit, write_markdown

CLIENT_ID = "my-client"


def _json_ascii(text: str) -> str:
    return json.dumps(text)[1:-1].replace("/", "\\/")


def _json_utf8(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)[1:-1]


def _entities_dec(text: str) -> str:
    return "".join(f"&#{ord(c)};" for c in text)


def _entities_hex(text: str) -> str:
    return "".join(f"&#x{ord(c):x};" if i % 2 else f"&#X{ord(c):X};" for i, c in enumerate(text))


def _percent_mixed(text: str) -> str:
    """Percent-encoding with every other escape's hex digits in lower case."""
    out = quote(text, safe="")
    escapes = iter(range(len(out)))
    return re.sub(r"%[0-9A-F]{2}", lambda m: m[0].lower() if next(escapes) % 2 else m[0], out)


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _b64url(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _hex(text: str) -> str:
    out = text.encode().hex()
    return "".join(c.upper() if i % 2 else c for i, c in enumerate(out))


def _x_escapes(text: str) -> str:
    """A byte string's repr (`b'p\\xc3\\xa9'`), or every byte escaped."""
    data = text.encode()
    return repr(data) if len(data) % 2 else "".join(f"\\x{b:02x}" for b in data)


def _octal(text: str) -> str:
    return "".join(f"\\{b:03o}" for b in text.encode())


def _quoted_printable(text: str) -> str:
    return quopri.encodestring(text.encode(), quotetabs=True).decode()


def _percent_u(text: str) -> str:
    units = text.encode("utf-16-be")
    return "".join(f"%u{units[i]:02X}{units[i + 1]:02x}" for i in range(0, len(units), 2))


ENCODINGS: dict[str, Callable[[str], str]] = {
    "json": _json_ascii,
    "json-utf8": _json_utf8,
    "html": html.escape,
    "html-dec": _entities_dec,
    "html-hex": _entities_hex,
    "percent": lambda t: quote(t, safe=""),
    "percent-plus": quote_plus,
    "percent-mixed-case": _percent_mixed,
    "base64": _b64,
    "base64url": _b64url,
    "hex": _hex,
    "x-escapes": _x_escapes,
    "octal": _octal,
    "python-repr": ascii,
    "quoted-printable": _quoted_printable,
    "percent-u": _percent_u,
}


def forms(secret: str) -> set[str]:
    """Every single-layer form of `secret`, and the Basic credentials built from it."""
    found = {secret, *(encode(secret) for encode in ENCODINGS.values())}
    found.add(_b64(f"{CLIENT_ID}:{secret}"))
    found.add(_b64(f"{quote_plus(CLIENT_ID)}:{quote_plus(secret)}"))
    return {f for f in found if len(f) >= 6}


SECRET_CHARS = st.characters(
    codec="utf-8", exclude_categories=("Cc", "Cs", "Zl", "Zp"), exclude_characters="\ue000"
)
secrets = st.one_of(
    st.text(SECRET_CHARS, min_size=8, max_size=24),
    st.text(st.sampled_from('aZ9"\\/%&+#;= é€😀'), min_size=8, max_size=16),
)
chains = st.lists(st.sampled_from(sorted(ENCODINGS)), min_size=0, max_size=3)
noise = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40)


def echo(secret: str, chain: list[str], basic: bool) -> str:
    text = f"{CLIENT_ID}:{secret}" if basic else secret
    for name in chain:
        text = ENCODINGS[name](text)
    return text


def _report(text: str, secret: str) -> Report:
    target = Target(url="http://127.0.0.1:1", client_id=CLIENT_ID, client_secret=secret, scope="s")
    result = Result(
        name="error-body",
        title="t",
        reference="RFC 6749 §5.2",
        outcome=Outcome.FAILED,
        source=Source.MUST,
        detail=f"error_description {text}",
        curl=f"curl -d {text}",
        got=f"400 error={text!r}",
        behaviour=f"POST → {text}",
    )
    report = Report(url="http://127.0.0.1:1/token", results=[result], redact=target.redact)
    report.properties["server"] = text
    return report


def _outputs(report: Report) -> dict[str, str]:
    with tempfile.TemporaryDirectory() as folder:
        base = Path(folder)
        write_junit(report, base / "r.xml")
        write_json(report, base / "r.json")
        write_markdown(report, base / "r.md")
        stdout = [line for r in report.results for line in report.lines(r)]
        stdout += report.behaviour_lines()
        out = {
            "stdout": "\n".join(stdout),
            "junit": (base / "r.xml").read_text(encoding="utf-8"),
            "json": (base / "r.json").read_text(encoding="utf-8"),
            "markdown": (base / "r.md").read_text(encoding="utf-8"),
        }
    # What a reader of each file sees once its own escapes are undone, too.
    root = ET.fromstring(out["junit"].encode())  # noqa: S314 - a file this test wrote
    out["junit-decoded"] = "\n".join(
        [*(v for e in root.iter() for v in e.attrib.values()), *(e.text or "" for e in root.iter())]
    )
    out["json-decoded"] = repr(json.loads(out["json"]))
    return out


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(secret=secrets, chain=chains, basic=st.booleans(), before=noise, after=noise)
@example(secret="**NOT CO", chain=["json"], basic=False, before="", after="")
def test_no_report_writer_shows_the_secret_in_any_encoding(
    secret: str, chain: list[str], basic: bool, before: str, after: str
) -> None:
    # A "secret" that the reports' own wording already holds (`**NOT CO`) says nothing about
    # redaction: only server text is the suite's to redact.
    template = _outputs(_report("-", secret))
    assume(not any(form in w for w in template.values() for form in forms(secret)))
    text = f"{before} {echo(secret, chain, basic)} {after}"
    outputs = _outputs(_report(text, secret))
    for where, written in outputs.items():
        for form in forms(secret):
            assert form not in written, (where, form, secret, chain, basic)
        assert not reveals(written, [secret]), where


@settings(max_examples=100, deadline=None)
@given(secret=secrets, text=noise)
def test_text_that_reveals_no_secret_comes_back_unchanged(secret: str, text: str) -> None:
    if not reveals(text, [secret]):
        assert redact(text, [secret]) == text


def test_redaction_keeps_the_rest_of_the_text() -> None:
    secret = 'p@ss"w\\o/rd é+'
    text = f"error_description: bad secret {_json_ascii(secret)} for grant_type=x&scope=a+b"
    assert redact(text, [secret]) == (
        f"error_description: bad secret {REDACTED} for grant_type=x&scope=a+b"
    )


# Markdown: server text is shown as text, never as a live image, link or HTML.
INJECTIONS = st.sampled_from(
    [
        "![x](https://evil.example/p.png)",
        "[click](https://evil.example/)",
        "<img src=x onerror=alert(1)>",
        "<script>alert(1)</script>",
        "https://evil.example/autolink",
        "<https://evil.example/>",
        "`` ` ``",
        "| --- |",
        "**bold** _em_",
        "&lt;b&gt;",
        "\x1b[31mred\r",
    ]
)


@settings(max_examples=100, deadline=None)
@given(parts=st.lists(st.one_of(INJECTIONS, noise), min_size=1, max_size=4))
def test_markdown_shows_server_text_as_text(parts: list[str]) -> None:
    text = " ".join(parts)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "r.md"
        write_markdown(_report(text, "unrelated-secret-value"), path)
        tokens = MarkdownIt("commonmark").enable("table").parse(path.read_text(encoding="utf-8"))
    every = [t for token in tokens for t in [token, *(token.children or [])]]
    # The one HTML in the file is the suite's own line break between lines of a cell.
    html_shown = {t.content for t in every if t.type in ("html_inline", "html_block")}
    assert html_shown <= {"<br>"}, html_shown
    live = {t.type for t in every} & {"image", "link_open"}
    assert not live, live
