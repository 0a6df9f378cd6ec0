"""Run a snippet in a fresh Python interpreter from the project's root (for settings that are
process-wide, such as the garbage collector's, which the test process must keep as it is)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_fresh(code: str) -> str:
    """``code`` (dedented) run by a new interpreter; what it printed, stripped. Fails the test
    with the interpreter's stderr if it exits non-zero."""
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()
