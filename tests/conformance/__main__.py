"""`python -m tests.conformance` (what `make conformance` runs)."""

from ._runner import main

raise SystemExit(main())
