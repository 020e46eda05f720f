"""`python -m bench`: see bench/README.md."""

import sys

from bench.snapshot import frozen_source


def _main() -> int:
    with frozen_source():
        # Imported only now, so that Tsunagu comes from the snapshot (see bench/snapshot.py).
        from bench.run import main

        return main()


sys.exit(_main())
