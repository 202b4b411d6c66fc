"""`corral bench` smoke tests: short runs against both servers; the result line parses, no errors, and
the bench's subtree is gone afterwards."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from click.testing import CliRunner

from corral.cli.bench import Histogram, parse_op
from corral.cli.main import main
from corral.client import SyncClient

pytestmark = pytest.mark.slow  # server processes, shells, real sockets: not in `make test-fast` (tests/conftest.py)

RESULT = re.compile(r"^op=(?P<op>\S+) sessions=(?P<sessions>\d+) depth=(?P<depth>\d+) .*ops=(?P<ops>\d+) "
                    r"ops_s=(?P<ops_s>\d+) p50_us=(?P<p50>\d+) p99_us=(?P<p99>\d+) p999_us=(?P<p999>\d+) "
                    r".*errors=(?P<errors>\d+)")


def run_bench(server, *args: str) -> tuple[dict[str, str], str]:
    cmd = [sys.executable, "-m", "corral", "bench", "--server", server.hosts, "--duration", "1.5", "--warmup", "0.3",
           *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 1, proc.stdout
    m = RESULT.match(lines[0])
    assert m, lines[0]
    return m.groupdict(), proc.stderr


@pytest.mark.parametrize("op", ["get", "create", "mix:4:1"])
def test_bench_runs_and_cleans_up(server, op):
    result, stderr = run_bench(server, "--op", op, "--sessions", "3", "--depth", "8", "--keys", "50")
    assert result["op"] == op and result["sessions"] == "3" and result["depth"] == "8"
    assert int(result["ops"]) > 0 and result["errors"] == "0"
    assert int(result["p50"]) <= int(result["p99"]) <= int(result["p999"])
    assert "ops_s=" in stderr  # the progress line
    with SyncClient(server.hosts, timeout=10) as zk:
        assert not [c for c in zk.get_children("/") if c.startswith("corral-bench-")]


def test_bench_rejects_bad_options():
    runner = CliRunner()
    for args in (["--op", "fly"], ["--op", "mix:1"], ["--duration", "601"], ["--sessions", "0"]):
        res = runner.invoke(main, ["bench", *args])
        assert res.exit_code == 2, (args, res.output)


def test_bench_reports_unreachable_server():
    from tests.support.net import free_port

    res = subprocess.run([sys.executable, "-m", "corral", "bench", "--server", f"127.0.0.1:{free_port()}",
                          "--timeout", "1", "--duration", "1"], capture_output=True, text=True, timeout=60)
    assert res.returncode == 1 and "cannot connect" in res.stderr and res.stdout == ""


def test_histogram_percentiles():
    h = Histogram()
    for us in range(1, 1001):
        h.record(us * 1000)
    assert h.percentile(50) == 500 and h.percentile(99) == 990 and h.percentile(99.9) == 999
    h.record(5_000_000_000)  # 5 s: bucketed with < 0.1 % error
    assert abs(h.maximum() - 5_000_000) / 5_000_000 < 0.001
    assert parse_op("mix:9:1") == ("mix", 9, 1) and parse_op("get") == ("get", 0, 0)
