"""``python -m semantic_restore``: see :mod:`semantic_restore.cli`."""

from .cli import main

raise SystemExit(main())
