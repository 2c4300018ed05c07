"""``python -m pblite``: see :mod:`pblite.cli`."""

from .cli import main

raise SystemExit(main())
