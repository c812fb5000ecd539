"""`python -m screening_eagle_id_server`."""

import sys

from ._cli import main

__all__: list[str] = []

sys.exit(main())
