"""The in-memory log window, zxid helpers and the configuration/recovery checks."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from corral.quorum import EnsembleConfig, Recovered, format_zxid, make_zxid, zxid_counter, zxid_epoch
from corral.quorum.log import MemLog


def test_zxid_layout() -> None:
    z = make_zxid(3, 7)
    assert z == 3 << 32 | 7
    assert (zxid_epoch(z), zxid_counter(z)) == (3, 7)
    assert format_zxid(z) == "0x3_7"
    assert make_zxid(1, 0xFFFFFFFF) < make_zxid(2, 0)


def test_memlog_epoch_marks() -> None:
    z = make_zxid
    log = MemLog(z(1, 2), [(z(1, 3), b""), (z(1, 4), b""), (z(3, 1), b""), (z(5, 1), b""), (z(5, 2), b"")])
    assert log.epoch_marks(z(1, 3), 10) == ([z(5, 2), z(3, 1), z(1, 4)], True)
    assert log.epoch_marks(z(1, 4), 10) == ([z(5, 2), z(3, 1)], True)
    assert log.epoch_marks(z(1, 4), 1) == ([z(5, 2)], False)
    assert log.epoch_marks(z(5, 2), 10) == ([], True)
    assert log.last_in_epoch(1) == z(1, 4) and log.last_in_epoch(2) is None and log.last_in_epoch(5) == z(5, 2)


def test_memlog_lookup_truncate_and_reset() -> None:
    log = MemLog(10, [(11, b"a"), (13, b"b"), (20, b"c")])
    assert log.last == 20 and len(log) == 3
    assert log.contains(10) and log.contains(13) and not log.contains(12) and not log.contains(21)
    assert log.last_in_epoch(0) == 20 and log.last_in_epoch(1) is None
    assert log.after(11) == [(13, b"b"), (20, b"c")]
    assert log.after(10, 13) == [(11, b"a"), (13, b"b")]
    assert log.count_after(11) == 2
    assert log.payload(13) == b"b"
    with pytest.raises(KeyError):
        log.payload(12)
    with pytest.raises(ValueError):
        log.append(20, b"dup")
    assert list(log.iter_after(11)) == log.after(11) and list(log.iter_after(20)) == []
    assert list(log.iter_after(10)) == log.after(10)
    for unordered in ([(11, b"a"), (11, b"b")], [(12, b"a"), (11, b"b")], [(10, b"a")]):
        with pytest.raises(ValueError):  # entries must follow the base and each other, as `append` checks
            MemLog(10, unordered)
    log.truncate(12)
    assert log.last == 11
    log.reset(50)
    assert log.last == 50 and len(log) == 0 and log.contains(50)


@given(st.integers(1, 50), st.integers(1, 20), st.integers(0, 60))
def test_memlog_trim_keeps_the_window_and_everything_unapplied(n: int, window: int, applied: int) -> None:
    log = MemLog(0, [(z, b"x") for z in range(1, n + 1)])
    applied = min(applied, n)
    log.trim(applied, window)
    assert log.count_after(applied) == n - applied  # nothing unapplied is ever dropped
    kept_applied = len(log) - (n - applied)
    assert kept_applied >= min(window, applied)
    assert kept_applied <= max(window + 64, 2 * window)  # amortised, yet bounded
    assert log.base == (n - len(log))


def test_config_checks() -> None:
    cfg = EnsembleConfig(voters=frozenset({1, 2, 3, 4, 5}), observers=frozenset({9}))
    assert cfg.quorum == 3 and cfg.members == {1, 2, 3, 4, 5, 9}
    assert EnsembleConfig(voters=frozenset({1, 2, 3, 4})).quorum == 3
    bads: list[dict[str, Any]] = [dict(voters=frozenset()), dict(voters={1}, observers={1}), dict(voters={-1}),
                                  dict(voters={1}, init_limit=0), dict(voters={1}, unsafe={"nope"})]
    for bad in bads:
        with pytest.raises(ValueError):
            EnsembleConfig(**bad)


def test_recovered_checks() -> None:
    ok = Recovered(accepted_epoch=2, current_epoch=1, log_base=5, log=[(6, b"a"), (8, b"b")], applied_zxid=6)
    ok.check()
    assert ok.last_zxid == 8
    for bad in (
        Recovered(accepted_epoch=1, current_epoch=2),
        Recovered(log=[(2, b"a"), (1, b"b")], applied_zxid=0),
        Recovered(log_base=5, log=[(5, b"a")], applied_zxid=5),
        Recovered(log=[(1, b"a")], applied_zxid=2),
        Recovered(log=[(1, b"a"), (3, b"b")], applied_zxid=2),
        Recovered(log=[(1, "text")], applied_zxid=0),  # type: ignore[list-item]
    ):
        with pytest.raises(ValueError):
            bad.check()
