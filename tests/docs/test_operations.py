"""docs/operations.md lists every `mntr` key the server reports, and no other.

Why: monitoring is set up from that page; a key added to the server (or renamed) without the page
changing would go unmonitored. The keys are read from the server's source (`("zk_…", value)` rows),
so this needs no server process.
"""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_operations_page_lists_exactly_the_mntr_keys() -> None:
    """corral's own `("zk_…", value)` rows, plus ZooKeeper's metrics under their names (a summary is
    documented once by its name, for its avg_/min_/max_/cnt_/sum_ lines)."""
    from corral.server.metrics import ServerMetrics

    source = "".join(p.read_text() for p in (REPO / "src" / "corral" / "server").glob("*.py"))
    reported = set(re.findall(r"\(\"(zk_\w+)\",", source))
    gauges = (REPO / "src" / "corral" / "server" / "metrics.py").read_text().split("def gauges", 1)[1]
    gauges = gauges.split("\ndef ", 1)[0]
    reported |= {f"zk_{n}" for n in re.findall(r"\(\"(\w+)\", ", gauges)} | {"zk_version", "zk_server_state"}
    m = ServerMetrics()
    reported |= {f"zk_{x.name}" for x in [*m.counters(), *m.summaries()]}
    assert "zk_znode_count" in reported and len(reported) > 20, reported
    documented = set(re.findall(r"`(zk_\w+)`", (REPO / "docs" / "operations.md").read_text()))
    assert not reported - documented, f"mntr keys missing from docs/operations.md: {sorted(reported - documented)}"
    assert not documented - reported, f"docs/operations.md names keys mntr lacks: {sorted(documented - reported)}"
