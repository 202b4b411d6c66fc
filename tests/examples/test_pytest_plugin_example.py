"""The corral.testing sample project (examples/pytest_plugin) passes, run as its users run it.

Why: the sample is what a developer copies to test their own ZooKeeper code against corral. It has no
conftest imports of corral and no path edits: the fixtures must come from the plugin that installing
corral registers (entry point `pytest11`). So this runs `python -m pytest` on the sample in a fresh
process with this environment's interpreter (the venv, where corral is installed) and checks that every
one of its tests passed — the failover test on a 3-member ensemble included.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "examples" / "pytest_plugin"
EXPECTED = 4  # tests/test_registry.py: 3, tests/test_failover.py: 1


@pytest.mark.slow
def test_sample_project_passes_with_the_installed_plugin():
    env = {k: v for k, v in os.environ.items() if k not in ("PYTEST_ADDOPTS", "PYTEST_PLUGINS", "PYTHONPATH")}
    p = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "examples/pytest_plugin"],
                       cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    out = p.stdout + p.stderr
    assert p.returncode == 0, f"sample project failed (rc={p.returncode}):\n{out}"
    summary = p.stdout.strip().splitlines()[-1]
    assert re.match(rf"{EXPECTED} passed\b", summary), out
    assert not re.search(r"failed|error|skipped|deselected", summary), out
