"""bench/multi_cpu.py runs the write path's stages on a small multi and prints each stage's figure (a
smoke test: it checks the script works against the current code, never what the figures are)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow  # runs a process


def test_prints_every_stage_for_a_small_multi():
    out = subprocess.run([sys.executable, "-m", "bench.multi_cpu", "--multis", "3", "--ops", "20", "--leaves", "50"],
                         cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "a multi of 20 setData" in out.stdout
    for stage in ("decode", "prepare", "encode", "apply", "reply", "total"):
        assert re.search(rf"\b{stage}=\d+\.\d{{3}}\b", out.stdout), (stage, out.stdout)
