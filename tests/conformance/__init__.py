"""Conformance suite for a Screening Eagle ID token endpoint — runs against any server.

Usage::

    make conformance URL=https://id-staging.example.com CLIENT_ID=… CLIENT_SECRET=… \\
        [SCOPE="openid email"] [MAX_EXAMPLES=20] [INSECURE=1] \\
        [SPECIAL_CLIENT_ID=… SPECIAL_CLIENT_SECRET=…]

or ``python -m tests.conformance --url … --client-id …`` with the secret in
``EAGLE_ID_CLIENT_SECRET``. ``EAGLE_ID_URL``, ``EAGLE_ID_CLIENT_ID``, ``EAGLE_ID_CLIENT_SECRET``
and ``EAGLE_ID_SCOPE`` are read when the arguments are absent; with no URL at all, an embedded
reference server (demo client) is tested.

What it checks
--------------
1. schemathesis, driven by ``openapi.yaml``: every phase (examples, coverage, fuzzing; stateful
   is not applicable to a single operation without links) and every built-in check, with the
   given credentials. Each built-in check is one line, ``schemathesis/<check>``. Custom
   ``@schemathesis.check`` functions apply the OAuth rules below to every fuzzed response
   (a non-JSON body is a failure, never a crash); their failures appear under the named check.
2. Named OAuth checks, each citing the RFC section it enforces (``_checks.CHECKS``):
   token-request, cache-headers, invalid-client, indistinguishable-client-errors,
   malformed-basic, token-type-bearer, expires-in, jwt-lifetime, granted-scope-subset,
   error-body, repeated-parameters, non-form-body, unsupported-grant-type, other-methods,
   token-uniqueness, special-credentials (only with ``SPECIAL_CLIENT_ID``/``SECRET``).

Output: one line per check — ``PASS``, ``FAIL`` (with the reason and a curl command reproducing
it, secret redacted) or ``N/A`` (with the reason) — then a verdict; JUnit XML goes to
``reports/conformance.xml``. Exit status: 0 when every applicable check passed, 1 on any
failure, 2 when the run is unusable (server unreachable, credentials missing, plain ``http://``
to a host that is not loopback without ``INSECURE=1``).

Expectations that are deliberate choices, not RFC musts: no credentials at all is answered 401
(RFC 6749 §5.2 would allow 400); a JSON body is 400 ``invalid_request`` (not 415); error bodies
use the seed's ``errorDescription``. The schemathesis ``filter_failure`` hook forgives only
rejections the schema cannot know are right (see ``_fuzz._drop_schema_blind_spots``).

``broken_server.py`` plants one defect per check; ``tests/test_conformance.py`` proves each is
caught by exactly its check, and that the reference server passes everything.
"""

from ._checks import CHECKS, Check
from ._http import Target
from ._report import Outcome, Report, Result
from ._runner import DEFAULT_MAX_EXAMPLES, Options, Unreachable, main, run

__all__ = [
    "CHECKS",
    "DEFAULT_MAX_EXAMPLES",
    "Check",
    "Options",
    "Outcome",
    "Report",
    "Result",
    "Target",
    "Unreachable",
    "main",
    "run",
]
