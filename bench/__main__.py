"""`python -m bench`: see bench/README.md."""

import importlib
import sys

from bench.snapshot import frozen_source

# Suites with their own command line (`python -m bench --suite NAME ...`); the others (core,
# search, validation, all) go through bench/run.py.
SEPARATE = {"eligibility", "security", "matching"}


def _suite(argv: list[str]) -> str | None:
    for i, arg in enumerate(argv):
        if arg == "--suite" and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--suite="):
            return arg.split("=", 1)[1]
    return None


def _main() -> int:
    argv = sys.argv[1:]
    with frozen_source():
        # Imported only now, so that Tsunagu comes from the snapshot (see bench/snapshot.py).
        suite = _suite(argv)
        if suite in SEPARATE:
            module = importlib.import_module(f"bench.{suite}")
            return int(module.main(argv))
        from bench.run import main

        return main()


sys.exit(_main())
