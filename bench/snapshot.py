"""Measure one version of the code, even if src/ changes while a long run is going.

A full run takes long enough for the source to be edited meanwhile, and the API server starts
long after the benchmark process imported Tsunagu: without a snapshot the in-process figures
and the HTTP figures could come from different code. `frozen_source` copies `src/tsunagu` to a
temporary directory once, at start, and makes both the benchmark process (`sys.path`) and every
child process (`PYTHONPATH`, ahead of the editable install's path) import it from there.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

SOURCE = Path(__file__).resolve().parent.parent / "src" / "tsunagu"


@contextmanager
def frozen_source() -> Iterator[Path]:
    """A copy of src/tsunagu that `import tsunagu` resolves to until the block ends."""
    if "tsunagu" in sys.modules:
        raise RuntimeError("tsunagu was imported before the source snapshot was taken")
    root = Path(tempfile.mkdtemp(prefix="tsunagu-bench-src-"))
    previous = os.environ.get("PYTHONPATH")
    try:
        shutil.copytree(SOURCE, root / "tsunagu", ignore=shutil.ignore_patterns("__pycache__"))
        sys.path.insert(0, str(root))
        os.environ["PYTHONPATH"] = os.pathsep.join([str(root), *([previous] if previous else [])])
        yield root
    finally:
        if previous is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = previous
        shutil.rmtree(root, ignore_errors=True)
