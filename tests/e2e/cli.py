"""Run the `tsunagu` command in a subprocess, as a user would."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path


def run_tsunagu(
    *args: str, cwd: Path, timeout: float = 300, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`python -m tsunagu ARGS` in `cwd`; output captured as text, never raises on exit code."""
    return subprocess.run(
        [sys.executable, "-m", "tsunagu", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env=env,
    )
