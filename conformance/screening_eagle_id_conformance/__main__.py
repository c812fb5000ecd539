"""`python -m screening_eagle_id_conformance`: what `eagle-id conformance` runs."""

from ._cli import main

raise SystemExit(main())
