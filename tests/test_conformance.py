"""The conformance suite: the reference server passes it, and every check can fail.

Each planted defect of `broken_server` must make exactly its own check fail. All
variants are served by one wrapped reference server (`URL/broken/<defect>`); schemathesis only
runs for the variants it is the detector of, with a fixed seed, so the file stays fast.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import socket
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest
from broken_server import CONTROLS, DEFECTS, BrokenServer
from hypothesis import given, settings
from hypothesis import strategies as st
from live_server import LiveServer
from screening_eagle_id_conformance import (
    CHECKS,
    CannotRun,
    Options,
    Outcome,
    Profile,
    Report,
    Source,
    Target,
    _checks,
    _runner,
    main,
    run,
)
from screening_eagle_id_conformance._checks import (
    Violation,
    expected_got,
    validate_error_body,
    validate_granted_scope,
)
from screening_eagle_id_conformance._fuzz import BUILTIN_CHECKS, run_schemathesis
from screening_eagle_id_conformance._http import Reply, check_url
from screening_eagle_id_conformance._validate import unregistered_error
from screening_eagle_id_server import (
    DEMO_CLIENT_ID,
    DEMO_CLIENT_SECRET,
    Registry,
    Settings,
    create_app,
    serve_in_thread,
)
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse
from starlette.routing import Route

ROOT = Path(__file__).resolve().parents[1]
SCOPE = "openid email profile inspect"
SEED = 1
MAX_EXAMPLES = 20
# A client whose id and secret need form-urlencoding (RFC 6749 §2.3.1): + % : / and non-ASCII.
SPECIAL_ID = "svc+ops:eu/100%-ü"
SPECIAL_SECRET = "s3cr+t:%2F/ü ok"
# A scope the server knows (the special client has it) that the demo client may not have.
DISALLOWED = "offline"


def _client(client_id: str, secret: str, sub: str, scopes: str = SCOPE + " offline") -> str:
    digest = hashlib.sha256(secret.encode()).hexdigest()
    return f"""
[[clients]]
client_id = "{client_id}"
secret_sha256 = "{digest}"
scopes = {json.dumps(scopes.split())}
grant_types = ["client_credentials"]
[clients.claims]
sub = "{sub}"
"""


@pytest.fixture(autouse=True)
def _no_eagle_id_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Hermetic: the caller's EAGLE_ID_* variables (EAGLE_ID_SCOPE=admin …) change nothing here."""
    for name in list(os.environ):
        if name.startswith("EAGLE_ID_"):
            monkeypatch.delenv(name)


@pytest.fixture(scope="module")
def broken_url() -> Iterator[str]:
    """One reference server with a special client, wrapped so `/broken/<defect>` plants a defect."""
    registry = Registry.from_toml(
        _client(DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, "1302", SCOPE)
        + _client(SPECIAL_ID, SPECIAL_SECRET, "7")
    )
    settings = Settings(signing_key=secrets.token_bytes(32), registry=registry)
    app = BrokenServer(create_app(settings), known_client_ids=[c.client_id for c in registry])
    with serve_in_thread(app) as url:
        yield url


def _target(url: str, *, special: bool = True) -> Target:
    return Target(
        url=url,
        client_id=DEMO_CLIENT_ID,
        client_secret=DEMO_CLIENT_SECRET,
        scope=SCOPE,
        special_client_id=SPECIAL_ID if special else None,
        special_client_secret=SPECIAL_SECRET if special else None,
    )


def _junit(path: Path) -> ET.Element:
    # Only files these tests just wrote are parsed: not untrusted XML.
    return ET.parse(path).getroot()  # noqa: S314


def _explain(report: Report) -> str:
    return "\n".join(line for result in report.failed for line in result.lines())


def test_reference_server_passes_every_check(reference_server: LiveServer) -> None:
    target = Target(
        url=reference_server.url,
        client_id=reference_server.client_id,
        client_secret=reference_server.client_secret,
        scope=SCOPE,
    )
    report = run(Options(target=target, max_examples=MAX_EXAMPLES, seed=SEED))
    assert report.ok, _explain(report)
    names = {r.name for r in report.results}
    assert {c.id for c in CHECKS} <= names
    assert {f"schemathesis/{n}" for n in BUILTIN_CHECKS} <= names
    assert report.outcome("schemathesis/not_a_server_error") is Outcome.PASSED
    assert report.outcome("schemathesis/response_schema_conformance") is Outcome.PASSED
    # The fixture's registry has no client with reserved characters.
    assert report.outcome("special-credentials") is Outcome.NOT_APPLICABLE


def test_reference_server_passes_with_a_special_client(broken_url: str) -> None:
    report = run(Options(target=_target(broken_url), schemathesis=False))
    assert report.ok, _explain(report)
    assert report.outcome("special-credentials") is Outcome.PASSED
    assert report.outcome("disallowed-scope") is Outcome.NOT_APPLICABLE


@pytest.mark.parametrize("profile", list(Profile))
def test_reference_server_passes_every_rule_under_every_profile(
    broken_url: str, profile: Profile
) -> None:
    options = Options(
        target=_target(broken_url), schemathesis=False, profile=profile, disallowed_scope=DISALLOWED
    )
    report = run(options)
    assert _verdicts(report) == {}, _explain(report)
    assert report.outcome("disallowed-scope") is Outcome.PASSED


# schemathesis checks without a planted defect of their own, and why.
UNPLANTED = {
    # N/A for one operation without links, one identity.
    "schemathesis/use_after_free",
    "schemathesis/ensure_resource_availability",
    "schemathesis/object_level_authorization",
    # Needs an https server: proven by its own tests (test_tls_*), not by the http BrokenServer.
    "tls",
}


def test_every_check_has_a_planted_defect() -> None:
    reported = {c.id for c in CHECKS} | {f"schemathesis/{n}" for n in BUILTIN_CHECKS}
    planted = {c for d in DEFECTS.values() for c in (d.check, *d.also)}
    assert planted <= reported
    assert reported - planted == UNPLANTED


def _verdicts(report: Report) -> dict[str, str]:
    """Every check that did not pass, with its verdict."""
    return {r.name: r.outcome.value for r in report.results if r.outcome in BAD}


BAD = (Outcome.FAILED, Outcome.WARNED)


def _expected(name: str, profile: Profile = Profile.SCREENING_EAGLE) -> dict[str, str]:
    defect = DEFECTS[name]
    verdict = defect.verdict
    if profile is Profile.OAUTH2 and defect.oauth2_verdict:
        verdict = defect.oauth2_verdict
    expected = {check: verdict for check in (defect.check, *defect.also)}
    return expected | dict(defect.verdict_of)


def _assert_rules_as_declared(report: Report, profile: Profile) -> None:
    """Every verdict rests on a source its row of the rule table declares, and says what came."""
    rows = {c.id: c for c in CHECKS}
    for result in report.results:
        if result.outcome not in BAD:
            continue
        assert result.detail
        assert result.got, result  # every FAIL line states what it got
        assert result.curl is not None
        assert result.curl.startswith("curl ")
        if result.name in rows:
            declared = {_checks.resolve(s, profile) for s in rows[result.name].sources}
            assert result.source in declared, result


@pytest.mark.parametrize("name", sorted(DEFECTS))
def test_a_planted_defect_fails_exactly_its_check(broken_url: str, name: str) -> None:
    defect = DEFECTS[name]
    options = Options(
        target=_target(f"{broken_url}/broken/{name}"),
        schemathesis=defect.needs_schemathesis,
        max_examples=MAX_EXAMPLES,
        seed=SEED,
        disallowed_scope=DISALLOWED,
    )
    report = run(options)
    assert _verdicts(report) == _expected(name), _explain(report)
    _assert_rules_as_declared(report, Profile.SCREENING_EAGLE)
    detail = report.result(defect.check).detail
    for text in defect.detail:
        assert text in detail, detail


def test_one_behaviour_is_reported_once_with_every_check_it_broke(broken_url: str) -> None:
    """A missing Authorization answered 400: three checks, one line in the summary."""
    options = Options(
        target=_target(f"{broken_url}/broken/no-credentials-400"),
        max_examples=MAX_EXAMPLES,
        seed=SEED,
    )
    report = run(options)
    (line,) = report.behaviour_lines()
    assert "POST form(grant_type, scope) without Authorization → 400 error='invalid_client'" in line
    assert "broke: schemathesis/missing_required_header (FAIL), schemathesis/ignored_auth " in line
    assert "invalid-client (FAIL)" in line


@pytest.mark.parametrize("name", sorted(n for n, d in DEFECTS.items() if d.oauth2_verdict))
def test_the_oauth2_profile_judges_by_the_rfc(broken_url: str, name: str) -> None:
    """Spec-only defects only warn under --profile oauth2; RFC-only MUSTs fail only there."""
    defect = DEFECTS[name]
    options = Options(
        target=_target(f"{broken_url}/broken/{name}"),
        schemathesis=False,
        profile=Profile.OAUTH2,
    )
    report = run(options)
    assert _verdicts(report) == {defect.check: defect.oauth2_verdict}, _explain(report)
    assert report.ok is (defect.oauth2_verdict != "FAIL")
    expected = Source.MUST if defect.oauth2_verdict == "FAIL" else Source.SPEC
    assert report.result(defect.check).source is expected
    _assert_rules_as_declared(report, Profile.OAUTH2)


@pytest.mark.parametrize("name", sorted(CONTROLS))
def test_allowed_behaviour_passes(broken_url: str, name: str) -> None:
    """Controls: a deviation from the reference server that RFCs and spec allow is no finding."""
    control = CONTROLS[name]
    options = Options(
        target=_target(f"{broken_url}/broken/{name}"),
        schemathesis=control.needs_schemathesis,
        max_examples=MAX_EXAMPLES,
        seed=SEED,
        disallowed_scope=DISALLOWED,
    )
    report = run(options)
    assert _verdicts(report) == {}, _explain(report)
    assert report.outcome(control.check) is Outcome.PASSED


def test_cli_prints_a_line_per_check_writes_junit_and_exits_1(
    broken_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("EAGLE_ID_CLIENT_SECRET", DEMO_CLIENT_SECRET)
    monkeypatch.setenv("EAGLE_ID_SPECIAL_CLIENT_SECRET", SPECIAL_SECRET)
    junit = tmp_path / "conformance.xml"
    argv = [
        "--url",
        f"{broken_url}/broken/last-parameter-wins",
        "--client-id",
        DEMO_CLIENT_ID,
        "--special-client-id",
        SPECIAL_ID,
        "--no-schemathesis",
        "--junit",
        str(junit),
    ]
    assert main(argv) == 1
    out = capsys.readouterr().out
    lines = {
        line.split()[1]: line.split()[0]
        for line in out.splitlines()
        if line[:4] in ("PASS", "FAIL", "N/A ")
    }
    expected = {c.id: "PASS" for c in CHECKS} | {"repeated-parameters": "FAIL", "tls": "N/A"}
    expected["disallowed-scope"] = "N/A"
    assert lines == expected
    assert "reproduce: curl -i -X POST" in out
    # The secret shows up nowhere: not in the output, not in the JUnit file.
    assert "Basic [REDACTED]" in out
    for secret in (DEMO_CLIENT_SECRET, SPECIAL_SECRET):
        assert secret not in out
        assert secret not in junit.read_text(encoding="utf-8")
    suite = _junit(junit).find("testsuite")
    assert suite is not None
    assert suite.get("tests") == str(len(CHECKS))
    assert suite.get("failures") == "1"
    failed = [
        case.get("name") for case in suite.iter("testcase") if case.find("failure") is not None
    ]
    assert failed == ["repeated-parameters"]


def test_module_entry_point_passes_against_the_reference_server(
    reference_server: LiveServer, tmp_path: Path
) -> None:
    junit = tmp_path / "ok.xml"
    env = {
        "EAGLE_ID_URL": reference_server.url,
        "EAGLE_ID_CLIENT_ID": reference_server.client_id,
        "EAGLE_ID_CLIENT_SECRET": reference_server.client_secret,
        "PATH": "/usr/bin:/bin",
    }
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "screening_eagle_id_conformance",
            "--no-schemathesis",
            "--junit",
            str(junit),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "all applicable checks passed" in done.stdout
    assert _junit(junit).get("failures") == "0"


def test_a_server_that_is_down_gets_one_clear_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as sock:  # a port nobody listens on once closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("EAGLE_ID_CLIENT_SECRET", "x")
    assert main(["--url", f"http://127.0.0.1:{port}", "--client-id", "x"]) == 2
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1
    assert "cannot reach" in captured.err
    assert "Traceback" not in captured.out + captured.err


def test_a_wrong_base_url_gets_one_clear_line(
    broken_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("EAGLE_ID_CLIENT_SECRET", DEMO_CLIENT_SECRET)
    assert main(["--url", f"{broken_url}/not-here", "--client-id", DEMO_CLIENT_ID]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "answered 404" in err


def test_plain_http_is_refused_unless_loopback_or_insecure(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("EAGLE_ID_CLIENT_SECRET", "x")
    assert main(["--url", "http://id.example.com", "--client-id", "x"]) == 2
    assert "INSECURE=1" in capsys.readouterr().err
    assert check_url("http://id.example.com", insecure=True) is None
    assert check_url("http://[::1]:8000", insecure=False) is None
    assert check_url("http://localhost:8000", insecure=False) is None
    assert check_url("https://id.example.com", insecure=False) is None
    assert check_url("ftp://id.example.com", insecure=True) is not None


def test_missing_credentials_are_reported_not_raised(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("EAGLE_ID_CLIENT_SECRET", raising=False)
    monkeypatch.delenv("EAGLE_ID_CLIENT_ID", raising=False)
    assert main(["--url", "https://id.example.com"]) == 2
    assert "CLIENT_SECRET" in capsys.readouterr().err
    monkeypatch.setenv("EAGLE_ID_CLIENT_SECRET", "x")
    monkeypatch.delenv("EAGLE_ID_SPECIAL_CLIENT_SECRET", raising=False)
    argv = ["--url", "https://id.example.com", "--client-id", "x", "--special-client-id", "y"]
    assert main(argv) == 2
    assert "SPECIAL_CLIENT_SECRET" in capsys.readouterr().err


def test_fuzzed_non_json_errors_are_failures_not_crashes() -> None:
    """A gateway's HTML error page fails the custom OAuth checks; the run itself does not break."""

    async def gateway(request: Request) -> HTMLResponse:
        headers = {"Cache-Control": "no-store", "Pragma": "no-cache"}
        return HTMLResponse("<html>400 Bad Request</html>", status_code=400, headers=headers)

    app = Starlette(routes=[Route("/api/id/v1/auth/token", gateway, methods=["POST"])])
    with serve_in_thread(app) as url:
        target = Target(url=url, client_id="c", client_secret="s", scope=SCOPE)
        result = run_schemathesis(target, max_examples=5, seed=SEED)
    assert result.errors == []
    assert "not JSON" in result.failures["oauth_error_body"].message
    assert "oauth_cache_headers" not in result.failures


@pytest.mark.parametrize(
    "body",
    [
        b"<html>502 Bad Gateway</html>",
        b"",
        b"[1, 2]",
        b'{"errorDescription": "no error member"}',
        b'{"error": 7}',
        b'{"error": null}',
        b'{"error": "invalid_request", "errorDescription": ["a", "list"]}',
        b'{"error": "invalid_request", "error_description": 3}',
    ],
)
def test_a_bad_error_body_is_a_violation_not_a_crash(body: bytes) -> None:
    with pytest.raises(Violation):
        validate_error_body(Reply(status=400, headers={}, body=body))


@pytest.mark.parametrize(
    ("body", "notes"),
    [
        # The seed's own example: spec-conformant (its code is judged by error-body's probe).
        (b'{"error": "Forbidden", "errorDescription": "permission denied"}', []),
        (b'{"error": "invalid_request", "error_description": "RFC 6749 naming"}', []),
        (b'{"error": "invalid_request", "errorDescription": "the spec\'s naming"}', []),
        (b'{"error": "invalid_request"}', ["no description"]),
    ],
)
def test_a_spec_conformant_error_body_passes_with_notes(body: bytes, notes: list[str]) -> None:
    found = validate_error_body(Reply(status=403, headers={}, body=body))
    assert len(found) == len(notes)
    for note, expected in zip(found, notes, strict=True):
        assert expected in note


@pytest.mark.parametrize(
    ("code", "unregistered"),
    [
        ("Forbidden", True),  # the seed's own example
        ("scope_invalid", True),
        ("authorization_type_invalid", True),
        ("invalid_scope", False),  # RFC 6749 §5.2
        ("invalid_token", False),  # IANA registry (RFC 6750)
        ("authorization_pending", False),  # IANA registry (RFC 8628)
    ],
)
def test_an_error_code_is_judged_against_rfc_6749_and_the_iana_registry(
    code: str, unregistered: bool
) -> None:
    assert unregistered_error(code) is unregistered


@settings(max_examples=200, deadline=None)
@given(
    status=st.integers(min_value=100, max_value=599),
    code=st.text(min_size=1, max_size=40),
    extra=st.dictionaries(st.text(max_size=10), st.text(max_size=10), max_size=3),
)
def test_every_fail_message_states_the_error_code_whatever_the_status(
    status: int, code: str, extra: dict[str, str]
) -> None:
    """The one message builder reads `error` from the body for every status (501 included)."""
    body = json.dumps({**extra, "error": code}).encode()
    message = expected_got("400 unsupported_grant_type", Reply(status, {}, body))
    assert f"got {status} error={code!r}" in message


@pytest.mark.parametrize(
    ("body", "said"),
    [
        (b"", "an empty body"),
        (b"  \r\n", "an empty body"),
        (b"<html>x</html>", "not JSON: '<html>x</html>'"),
        (b"[1]", "a JSON list"),
        (b'{"error": 7}', "`error` 7, not a string"),
        (b'{"code": "x"}', "without `error` (keys: ['code'])"),
    ],
)
def test_a_fail_message_says_what_the_body_was_when_it_had_no_error(body: bytes, said: str) -> None:
    message = expected_got("401 invalid_client", Reply(401, {}, body))
    assert message.startswith("expected 401 invalid_client, got 401 error=None (")
    assert said in message


def test_the_docs_hold_the_rule_table_as_the_code_has_it() -> None:
    docs = (ROOT / "docs" / "guide" / "conformance-rules.md").read_text(encoding="utf-8")
    assert _checks.rule_table() in docs


def test_granted_scope_absent_means_as_requested() -> None:
    validate_granted_scope("openid email", {"access_token": "t"})
    validate_granted_scope("openid email", {"scope": "email"})
    with pytest.raises(Violation):
        validate_granted_scope("openid", {"scope": "openid offline"})


def test_fuzzing_authenticates_a_client_with_reserved_characters(broken_url: str) -> None:
    """RFC 6749 §2.3.1: the fuzzer form-urlencodes id and secret, so its POSTs get tokens."""
    target = Target(url=broken_url, client_id=SPECIAL_ID, client_secret=SPECIAL_SECRET, scope=SCOPE)
    result = run_schemathesis(target, max_examples=5, seed=SEED)
    assert result.errors == []
    assert result.successes > 0
    assert "oauth_invalid_client" not in result.failures


def test_a_run_where_no_fuzzed_request_got_a_token_fails() -> None:
    """A server that refuses every client: the checks judged nothing, so the run fails."""

    async def refuse(request: Request) -> JSONResponse:
        headers = {
            "Cache-Control": "no-store",
            "Pragma": "no-cache",
            "WWW-Authenticate": 'Basic realm="x"',
        }
        body = {"error": "invalid_client", "errorDescription": "no"}
        return JSONResponse(body, status_code=401, headers=headers)

    app = Starlette(routes=[Route("/api/id/v1/auth/token", refuse, methods=["POST"])])
    with serve_in_thread(app) as url:
        target = Target(url=url, client_id="c", client_secret="s", scope=SCOPE)
        fuzz = run_schemathesis(target, max_examples=5, seed=SEED)
        # The whole run stops before fuzzing: the preflight sees the credentials refused.
        with pytest.raises(CannotRun, match="answered 401 invalid_client for c: check the id"):
            run(Options(target=target, max_examples=5, seed=SEED))
    results = _runner._schemathesis_results(fuzz, target, Profile.SCREENING_EAGLE)
    engine = next(r for r in results if r.name == "schemathesis/run")
    assert engine.outcome is Outcome.FAILED
    assert "got a 2xx" in engine.detail


@pytest.mark.parametrize("how", ["flag", "environment"])
def test_the_command_line_takes_a_disallowed_scope(
    broken_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    how: str,
) -> None:
    monkeypatch.setenv("EAGLE_ID_CLIENT_SECRET", DEMO_CLIENT_SECRET)
    argv = ["--url", f"{broken_url}/broken/disallowed-scope-granted-silently"]
    argv += ["--client-id", DEMO_CLIENT_ID, "--no-schemathesis", "--junit", str(tmp_path / "j")]
    if how == "flag":
        argv += ["--disallowed-scope", DISALLOWED]
    else:
        monkeypatch.setenv("EAGLE_ID_DISALLOWED_SCOPE", DISALLOWED)
    assert main(argv) == 1
    out = capsys.readouterr().out
    verdicts = {
        line.split()[1]: line.split()[0]
        for line in out.splitlines()
        if line[:4] in ("PASS", "FAIL", "WARN", "N/A ")
    }
    assert verdicts["disallowed-scope"] == "FAIL"


@settings(max_examples=300, deadline=None)
@given(status=st.integers(min_value=100, max_value=599), body=st.binary(max_size=300))
def test_the_facts_of_any_reply_are_read_without_raising(status: int, body: bytes) -> None:
    facts = _checks.Facts.of(Reply(status, {}, body))
    assert facts.status == status
    assert facts.answer().startswith(f"{status} error=")
