"""`python -m screening_eagle_id_conformance`: what `eagle-id conformance` runs."""

from ._runner import main

raise SystemExit(main())
