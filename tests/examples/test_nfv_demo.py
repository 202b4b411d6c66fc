"""The NF-manager example (examples/nfv_managers) end to end: election, registry, service map, failover.

Why: the example is the issue's acceptance scenario for corral as a coordination service — several
manager processes register with their MAC address, publish which services they run, elect one leader
that alone writes the global placement, and when the leader is killed (SIGKILL) another takes over
once the dead leader's session expires. The demo script itself checks the final state and bounds
every wait; this test runs it as a user would and checks what it printed.
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "examples" / "nfv_managers" / "run_demo.py"


def _section(out: str, title: str) -> str:
    start = out.index(f"== {title}")
    end = out.find("\n== ", start + 1)
    return out[start:end if end >= 0 else len(out)]


def test_demo_elects_registers_and_fails_over():
    p = subprocess.run([sys.executable, str(DEMO), "--managers", "3", "--session-timeout", "4", "--tick-ms", "200",
                        "--show-logs"], capture_output=True, text=True, timeout=150, cwd=REPO)
    out = p.stdout
    assert p.returncode == 0, f"demo failed (rc={p.returncode}):\n{out}\n{p.stderr}"

    up = _section(out, "3 managers up")
    for i in (1, 2, 3):
        assert f"/managers/m{i} -> 02:00:00:00:00:0{i}\n" in up, f"registry lacks m{i}'s MAC:\n{up}"
    assert "/services/firewall: m1, m3\n" in up and "/services/nat: m1, m2\n" in up and "/services/dpi: m2, m3\n" in up
    old = re.search(r"^leader: (m\d)$", up, re.M).group(1)
    assert re.search(rf"written by {old}\): dpi -> m\d, firewall -> m\d, nat -> m\d", up), up

    killed = re.search(r"== killing leader (m\d) \(pid (\d+)\) with SIGKILL", out)
    assert killed and killed.group(1) == old
    new = re.search(r"new leader (m\d) elected and placement republished", out).group(1)
    assert new != old

    after = _section(out, "after the takeover")
    assert f"/managers/{old}" not in after, f"the killed leader is still registered:\n{after}"
    assert re.search(rf"^leader: {new}$", after, re.M) and f"written by {new})" in after, after
    assert f"old leader {old} gone from registry and service map: True" in out

    # Only the elected manager ever wrote a placement, and the new one only after its election.
    for mid in ("m1", "m2", "m3"):
        log = _section(out, f"{mid}.log")
        wrote = "placement version" in log
        assert wrote == (mid in (old, new)), f"{mid} wrote={wrote} (leaders {old} then {new}):\n{log}"
        if mid == new:
            assert log.index("follower; watching predecessor") < log.index("elected LEADER") < \
                log.index("placement version"), log

    # Every manager process the demo started is gone (they were its children, so their pids were not reused).
    for pid in re.findall(r"started manager m\d \(pid (\d+)", out):
        cmdline = Path(f"/proc/{pid}/cmdline")
        assert not cmdline.exists() or b"manager.py" not in cmdline.read_bytes(), f"manager pid {pid} left running"


def test_placement_spreads_primaries_over_live_managers():
    """The leader's placement rule: each service gets a live manager running it, the least loaded first."""
    spec = importlib.util.spec_from_file_location("nfv_manager", REPO / "examples" / "nfv_managers" / "manager.py")
    mod = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(mod)
    managers = {"m1": "mac1", "m2": "mac2", "m3": "mac3"}
    services = {"dpi": ["m2", "m3"], "firewall": ["m1", "m3"], "nat": ["m1", "m2"], "lb": ["m9"]}
    assert mod.compute_placement(managers, services) == {"dpi": "m2", "firewall": "m1", "nat": "m1"}
    del managers["m1"]
    assert mod.compute_placement(managers, services) == {"dpi": "m2", "firewall": "m3", "nat": "m2"}
