"""bench/scale.py refuses bad arguments with one clear line (argparse's exit status 2) before it starts
any server or makes any directory."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow  # runs a process


@pytest.mark.parametrize(("args", "message"), [
    (["--multi", "x"], "--multi takes comma-separated op counts"),
    (["--multi", "0"], "--multi op counts must be between 1"),
    (["--multi", "30000"], "--multi op counts must be between 1"),
    (["--multi", ","], "--multi op counts must be between 1"),
    (["--children", "200000"], "exceed jute.maxbuffer"),
    (["--sessions", "-5"], "--sessions must be at least 1"),
    (["--repeat", "0"], "--repeat must be at least 1"),
    (["--servers", "zookeeper"], "--servers takes corral and/or apache"),
    (["--servers", ""], "--servers takes corral and/or apache"),
    (["--rows", "everything"], "--rows takes children and/or session"),
    (["--before-src", "/nonexistent-h14s"], "holds no corral package"),
    (["--window", "abc"], "invalid int value"),
])
def test_bad_arguments_are_refused_clearly(args, message):
    r = subprocess.run([sys.executable, "-m", "bench.scale", *args], cwd=REPO, capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 2, r.stderr
    assert message in r.stderr
    assert "Traceback" not in r.stderr
