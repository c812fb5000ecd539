"""Conformance suite for a Screening Eagle ID token endpoint — runs against any server.

Install with the extra (``pip install 'screening-eagle-id[conformance]'``), put the secret in the
environment (never on a command line), and run::

    export EAGLE_ID_CLIENT_SECRET=…   # or --client-secret-file PATH
    python -m screening_eagle_id_conformance --url https://id.example.com --client-id my-client

(``eagle-id conformance …`` is the same). Exit status: 0 conformant, 1 not conformant, 2 could
not run (unreachable, bad configuration, or the server refuses the given credentials).

What it checks
--------------
1. schemathesis, driven by ``openapi.yaml`` (a copy ships in this package): every phase and every
   built-in check, each one line ``schemathesis/<check>``. Custom ``@schemathesis.check``
   functions apply the OAuth rules below to every fuzzed response; their failures appear under
   the named check. Schema-valid requests ask for the configured scope.
2. Named OAuth checks (``_checks.CHECKS``), each citing the sections it enforces.

Every finding names its source (``Source``: openapi.yaml, an RFC MUST, or a SHOULD / advice);
the profile (``Profile``) decides which sources FAIL and which only WARN. Reports: the human
summary (findings grouped by behaviour), JUnit XML, JSON and Markdown.

``tests/broken_server.py`` in the project's repository plants one defect per check;
``tests/test_conformance.py`` proves each is caught by its check, and that the reference server
passes everything.
"""

import sys

try:
    from ._checks import CHECKS, Check
    from ._cli import EXIT_CANNOT_RUN, EXIT_CONFORMANT, EXIT_NOT_CONFORMANT, main
    from ._http import Target
    from ._preflight import CannotRun, Unreachable
    from ._report import Outcome, Profile, Report, Result, Source
    from ._runner import DEFAULT_MAX_EXAMPLES, Options, run
except ImportError as _missing:
    # `python -m screening_eagle_id_conformance` without the extra: one line and "could not
    # run" (2), never a traceback and 1, which a CI job would read as "not conformant". The
    # interpreter names the package "-m" in argv while it imports it for `-m`.
    if sys.argv[:1] == ["-m"]:
        print(
            "python -m screening_eagle_id_conformance: the conformance suite is not installed "
            f"({_missing.name or _missing} missing); install screening-eagle-id[conformance]",
            file=sys.stderr,
        )
        raise SystemExit(2) from None
    raise

__all__ = [
    "CHECKS",
    "DEFAULT_MAX_EXAMPLES",
    "EXIT_CANNOT_RUN",
    "EXIT_CONFORMANT",
    "EXIT_NOT_CONFORMANT",
    "CannotRun",
    "Check",
    "Options",
    "Outcome",
    "Profile",
    "Report",
    "Result",
    "Source",
    "Target",
    "Unreachable",
    "main",
    "run",
]
