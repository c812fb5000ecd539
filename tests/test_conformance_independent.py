"""The suite against an OAuth 2.0 server nobody here wrote: django-oauth-toolkit 3.4.1.

The verdicts are asserted exactly; each FAIL is a real deviation (docs/guide/conformance.md,
"Against other servers", says why, with the RFC or spec line). Under --profile oauth2 only the
RFC MUSTs stay FAIL.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from oauth_toolkit_server import CLIENT_ID, CLIENT_SECRET, TOKEN_PATH, serve
from screening_eagle_id_conformance import Options, Outcome, Profile, Report, Target, main, run

SEED = 1

# Every check that does not PASS against django-oauth-toolkit, with its verdict.
SCREENING_EAGLE_VERDICTS = {
    # openapi.yaml requires `scope`; RFC 6749 §4.4.2 makes it optional: a spec deviation.
    "schemathesis/negative_data_rejection": "FAIL",
    # Django's own HTML 400 to a multipart body has no Cache-Control/Pragma (openapi.yaml).
    "cache-headers": "FAIL",
    # 401 to Basic credentials challenges `Bearer` (RFC 6749 §5.2: MUST match the scheme).
    "invalid-client": "FAIL",
    # `Authorization: Basic \xff\xfe` crashes the server: 500 (RFC 6749 §5.2: MUST be 401).
    "malformed-basic": "FAIL",
    # `error_description` where openapi.yaml documents `errorDescription`.
    "error-body": "FAIL",
    # A repeated grant_type is accepted (RFC 6749 §3.2 MUST NOT, §5.2 invalid_request).
    "repeated-parameters": "FAIL",
    # A JSON body gets unsupported_grant_type; §5.2 names invalid_request (advice).
    "non-form-body": "WARN",
    # Opaque tokens, plain http: nothing to judge.
    "jwt-lifetime": "N/A",
    "jwt-claims": "N/A",
    "tls": "N/A",
    "special-credentials": "N/A",
    # django-oauth-toolkit lets every application have every scope it defines.
    "disallowed-scope": "N/A",
}
OAUTH2_VERDICTS = {
    "schemathesis/negative_data_rejection": "WARN",
    "cache-headers": "WARN",
    "invalid-client": "FAIL",
    "malformed-basic": "FAIL",
    "error-body": "WARN",
    "repeated-parameters": "FAIL",
    "non-form-body": "WARN",
    "jwt-lifetime": "N/A",
    "jwt-claims": "N/A",
    "tls": "N/A",
    "special-credentials": "N/A",
    # django-oauth-toolkit lets every application have every scope it defines.
    "disallowed-scope": "N/A",
}
STATEFUL_ONLY = {
    "schemathesis/use_after_free": "N/A",
    "schemathesis/ensure_resource_availability": "N/A",
    "schemathesis/object_level_authorization": "N/A",
}


@pytest.fixture(scope="module")
def oauth_toolkit(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    with serve(tmp_path_factory.mktemp("django-oauth-toolkit")) as url:
        yield Target(
            url=url,
            token_path=TOKEN_PATH,
            client_id=CLIENT_ID,
            client_secret=CLIENT_SECRET,
            scope="openid email profile inspect",
        )


def _not_passed(report: Report) -> dict[str, str]:
    return {r.name: r.outcome.value for r in report.results if r.outcome is not Outcome.PASSED}


@pytest.mark.slow
def test_exact_verdicts_against_django_oauth_toolkit(oauth_toolkit: Target) -> None:
    report = run(Options(target=oauth_toolkit, max_examples=5, seed=SEED))
    explain = "\n".join(line for r in report.results for line in r.lines())
    assert _not_passed(report) == SCREENING_EAGLE_VERDICTS | STATEFUL_ONLY, explain
    assert report.result("invalid-client").got == "401 error='invalid_client'"
    assert "Bearer" in report.result("invalid-client").detail
    assert report.result("malformed-basic").got == "500 error=None"
    assert report.result("repeated-parameters").got == "200 error=None"
    # Both parameters are tried: each is accepted when repeated (RFC 6749 §3.2).
    repeated = report.result("repeated-parameters").detail
    assert "`grant_type` sent twice" in repeated
    assert "`scope` sent twice" in repeated
    assert "an omitted scope gets the default" in report.result("omitted-scope").detail


def test_only_rfc_musts_fail_under_the_oauth2_profile(oauth_toolkit: Target) -> None:
    report = run(Options(target=oauth_toolkit, schemathesis=False, profile=Profile.OAUTH2))
    explain = "\n".join(line for r in report.results for line in r.lines())
    # Without fuzzing, these are not seen (the HTML 400 answers a multipart body).
    fuzz_only = {"schemathesis/negative_data_rejection", "cache-headers"}
    expected = {k: v for k, v in OAUTH2_VERDICTS.items() if k not in fuzz_only}
    assert _not_passed(report) == expected, explain


def test_the_command_line_exit_status_against_django_oauth_toolkit(
    oauth_toolkit: Target,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for name in list(os.environ):
        if name.startswith("EAGLE_ID_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("EAGLE_ID_CLIENT_SECRET", CLIENT_SECRET)
    argv = ["--url", oauth_toolkit.url, "--token-path", TOKEN_PATH, "--client-id", CLIENT_ID]
    argv += ["--no-schemathesis", "--junit", str(tmp_path / "j.xml")]
    assert main(argv) == 1
    monkeypatch.setenv("EAGLE_ID_CLIENT_SECRET", "not-" + CLIENT_SECRET)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert f"the server answered 401 invalid_client for {CLIENT_ID}: check the id and secret" in err
