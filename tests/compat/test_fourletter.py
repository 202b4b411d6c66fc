"""Four-letter words side by side. Version strings, latencies, byte and packet counters and paths differ
legitimately between two servers, so those lines are compared by key only; everything a monitoring
script keys on (ruok/isro text, Mode, Node count, Zxid, key sets, watch summaries, whitelist refusals)
is compared exactly, with zxids and session ids normalised like everywhere else."""

from __future__ import annotations

import re

import pytest

from .harness import Session, Zxid

pytestmark = pytest.mark.compat

CLIENT_LINE = re.compile(r"^ /127\.0\.0\.1:\d+\[\d+\]\(queued=\d+,recved=\d+,sent=\d+\)$")
EXACT_SRVR_KEYS = ("Mode", "Node count", "Outstanding")


def _srvr(text: str) -> dict:
    """srvr/stat output: key order, exact values for stable keys, the Zxid as a zxid, client lines."""
    lines = text.split("\n")
    keys, exact, clients = [], {}, []
    for line in lines:
        if line.startswith(" /"):
            clients.append(bool(CLIENT_LINE.match(line)))
            continue
        if ":" not in line:
            keys.append(line)  # blank separator lines keep their place
            continue
        k, v = line.split(":", 1)
        keys.append(k)
        if k in EXACT_SRVR_KEYS:
            exact[k] = v.strip()
        elif k == "Zxid":
            exact[k] = Zxid(int(v.strip(), 16))
    return {"keys": keys, "values": exact, "client lines well-formed": clients, "ends with newline":
            text.endswith("\n")}


def _conf_keys(text: str) -> list[str]:
    return sorted(line.split("=", 1)[0] for line in text.splitlines() if "=" in line)


def _sessions_in(text: str) -> str | list:
    """wchc/wchp: group lines, session ids (0x…) become Session markers, groups sorted (hash order)."""
    groups: dict[str, list] = {}
    current = None
    for line in text.splitlines():
        if not line.strip():
            continue
        item: object = line.strip()
        if re.fullmatch(r"0x[0-9a-f]+", line.strip()):
            item = Session(int(line.strip(), 16))
        if line.startswith("\t"):
            if current is None:
                return f"unparseable: {text!r}"
            groups[current].append(item)
        else:
            current = repr(item)
            groups[current] = [item]
    return sorted(([g[0], sorted(g[1:], key=repr)] for g in groups.values()), key=repr)


def _mntr(text: str) -> dict:
    values = dict(line.split("\t", 1) for line in text.splitlines() if "\t" in line)
    stable = ("zk_server_state", "zk_znode_count", "zk_ephemerals_count", "zk_watch_count",
              "zk_outstanding_requests")
    return {"has zk_version": "zk_version" in values, "first key": text.split("\t", 1)[0],
            **{k: values.get(k) for k in stable}}


def scenario_four_letter_words(ctx):
    """ruok, isro, srvr, stat, conf, wchs/wchc/wchp, mntr basics, crst/srst, and an unknown word (the
    server reads it as a too-long frame length and closes without output); on a fresh server, then with
    sessions, ephemerals and watches in place."""
    ctx.rec("ruok", ctx.four_letter("ruok"))
    ctx.rec("isro", ctx.four_letter("isro"))
    ctx.rec("srvr fresh", _srvr(ctx.four_letter("srvr")))
    ctx.rec("stat fresh", _srvr(ctx.four_letter("stat")))
    ctx.rec("conf keys", _conf_keys(ctx.four_letter("conf")))
    ctx.rec("wchs fresh", ctx.four_letter("wchs"))
    ctx.rec("mntr fresh", _mntr(ctx.four_letter("mntr")))
    ctx.rec("unknown word", ctx.four_letter("xxxx"))
    a = ctx.raw("A")
    b = ctx.raw("B")
    ctx.rec("create /a", a.create("/a"))
    ctx.rec("create /b", a.create("/b", b"", flags=1))
    ctx.rec("A getData /a watch", a.get_data("/a", watch=True))
    ctx.rec("A exists /b watch", a.exists("/b", watch=True))
    ctx.rec("A getChildren / watch", a.get_children("/", watch=True))
    ctx.rec("B exists /a watch", b.exists("/a", watch=True))
    ctx.rec("B exists /missing watch", b.exists("/missing", watch=True))
    ctx.rec("srvr with sessions", _srvr(ctx.four_letter("srvr")))
    ctx.rec("stat with sessions", _srvr(ctx.four_letter("stat")))
    ctx.rec("wchs", ctx.four_letter("wchs"))
    ctx.rec("wchc", _sessions_in(ctx.four_letter("wchc")))
    ctx.rec("wchp", _sessions_in(ctx.four_letter("wchp")))
    ctx.rec("mntr with sessions", _mntr(ctx.four_letter("mntr")))
    ctx.rec("crst", ctx.four_letter("crst"))
    ctx.rec("srst", ctx.four_letter("srst"))
    ctx.rec("srvr after srst", _srvr(ctx.four_letter("srvr")))


def scenario_whitelist(ctx):
    """With 4lw.commands.whitelist=srvr only srvr answers; every other known word gets the exact
    "<cmd> is not executed because it is not in the whitelist." text."""
    for cmd in ("ruok", "isro", "stat", "conf", "wchs", "mntr", "cons", "envi", "dump"):
        ctx.rec(f"{cmd} not whitelisted", ctx.four_letter(cmd))
    ctx.rec("srvr whitelisted", _srvr(ctx.four_letter("srvr")))


def test_four_letter_words_match_apache(compat):
    obs = compat.check(scenario_four_letter_words)
    assert obs["ruok"] == "imok"
    assert obs["isro"] == "rw"
    assert obs["srvr fresh"]["values"]["Mode"] == "standalone"


def test_whitelist_matches_apache(compat):
    obs = compat.check(scenario_whitelist, extra_cfg={"4lw.commands.whitelist": "srvr"}, ruok_allowed=False)
    assert obs["ruok not whitelisted"] == "ruok is not executed because it is not in the whitelist.\n"
