"""The live ensemble view: every member probed with `srvr` (always allowed) and `mntr` (when
whitelisted), the leader found, and each member's lag behind it computed.

Probing runs only while somebody looks (a subscribed event stream, or an API read in the last
`_IDLE_AFTER` seconds), so an unwatched console costs its server nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from ..probe import NotAllowed, ProbeError, Zxid, parse_mntr, parse_srvr, send_word
from .config import ConsoleConfig, MemberAddress
from .hub import EventHub

__all__ = ["EnsembleMonitor"]

log = logging.getLogger("corral.console")
_IDLE_AFTER = 15.0
# mntr keys shown as they are (when the member allows mntr); srvr gives the rest.
_MNTR_KEYS = ("zk_server_state", "zk_followers", "zk_synced_followers", "zk_pending_syncs",
              "zk_num_alive_connections", "zk_watch_count", "zk_ephemerals_count", "zk_approximate_data_size",
              "zk_open_file_descriptor_count")


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _latency(value: str | None) -> dict[str, float] | None:
    parts = (value or "").split("/")
    if len(parts) != 3:
        return None
    try:
        lo, avg, hi = (float(p) for p in parts)
    except ValueError:
        return None
    return {"min": lo, "avg": avg, "max": hi}


async def probe_member(m: MemberAddress, timeout: float) -> dict[str, Any]:
    """One member's row of the ensemble view (`up` False with the `error` when it does not answer)."""
    row: dict[str, Any] = {"id": m.sid, "host": m.host, "port": m.port, "up": False}
    try:
        srvr = parse_srvr(await send_word(m.host, m.port, "srvr", timeout))
    except ProbeError as e:
        row["error"] = str(e)
        return row
    mode = srvr.get("Mode")
    if mode is None:
        # A member that is up but not serving (electing, syncing) answers srvr with one line.
        row.update(up=True, mode="not serving", error="not serving clients (election or sync in progress)")
        return row
    zxid = Zxid.parse(srvr.get("Zxid"))
    row.update(up=True, mode=mode, version=srvr.get("Zookeeper version", "").split(",")[0],
               zxid=f"0x{zxid.value:x}" if zxid else None, latency=_latency(srvr.get("Latency min/avg/max")),
               outstanding=_int(srvr.get("Outstanding")), connections=_int(srvr.get("Connections")),
               nodes=_int(srvr.get("Node count")), received=_int(srvr.get("Received")),
               sent=_int(srvr.get("Sent")))
    try:
        mntr = parse_mntr(await send_word(m.host, m.port, "mntr", timeout))
    except NotAllowed:
        row["mntr"] = None
    except ProbeError:
        row["mntr"] = None
    else:
        row["mntr"] = {k: mntr[k] for k in _MNTR_KEYS if k in mntr}
    return row


def add_lag(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Set each row's `lag` (transactions behind the leader, same epoch only) and return the leader."""
    leader = next((r for r in rows if r.get("mode") in ("leader", "standalone")), None)
    lz = Zxid.parse(leader.get("zxid")) if leader else None
    for r in rows:
        z = Zxid.parse(r.get("zxid"))
        if lz is None or z is None:
            r["lag"] = None
        elif z.epoch == lz.epoch:
            r["lag"] = max(lz.counter - z.counter, 0)
        else:
            r["lag"] = None
            r["lag_note"] = f"epoch {z.epoch} (leader {lz.epoch})"
    return leader


class EnsembleMonitor:
    """Probes the members every `poll_interval` while watched and publishes `ensemble` events."""

    def __init__(self, cfg: ConsoleConfig) -> None:
        self.cfg = cfg
        self.hub = EventHub()
        self.snapshot: dict[str, Any] = {"members": [], "leader": None, "at": None}
        self._last_read = 0.0
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._was_up: dict[int, bool] = {}

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="corral-console-ensemble")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def wake(self) -> None:
        """Start probing now (a stream just subscribed)."""
        self._wake.set()

    async def read(self) -> dict[str, Any]:
        """The latest snapshot, probing now if none is fresh (an API read with no stream open)."""
        self._last_read = time.monotonic()
        if self.snapshot["at"] is None or time.time() - self.snapshot["at"] > 2 * self.cfg.poll_interval:
            await self.poll()
        self._wake.set()
        return self.snapshot

    async def poll(self) -> dict[str, Any]:
        members = self.cfg.probe_members
        rows = list(await asyncio.gather(*(probe_member(m, self.cfg.probe_timeout) for m in members)))
        leader = add_lag(rows)
        for r in rows:
            was = self._was_up.get(r["id"])
            if was is not None and was != r["up"]:
                log.info("event=console_member_%s id=%d host=%s port=%d", "up" if r["up"] else "down", r["id"],
                         r["host"], r["port"])
            self._was_up[r["id"]] = r["up"]
        self.snapshot = {"members": rows, "leader": leader["id"] if leader else None, "at": time.time()}
        self.hub.publish("ensemble", self.snapshot)
        return self.snapshot

    def _watched(self) -> bool:
        return len(self.hub) > 0 or time.monotonic() - self._last_read < _IDLE_AFTER

    async def _run(self) -> None:
        while True:
            if self._watched():
                try:
                    await self.poll()
                except Exception:  # a bug in one poll must not end live updates for good
                    log.exception("event=console_poll_failed")
                await asyncio.sleep(self.cfg.poll_interval)
            else:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.cfg.poll_interval * 5)
