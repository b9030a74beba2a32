"""``python -m faults [--only a,b] [--list]``: see :mod:`faults._suite`."""

from faults._suite import main

raise SystemExit(main())
