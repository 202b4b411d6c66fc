"""Fixtures for the side-by-side suite (see harness.py for how scenarios are compared)."""

from __future__ import annotations

import pytest

from .harness import Compat


@pytest.fixture
def compat() -> Compat:
    """Runs a scenario on a fresh Apache ZooKeeper and a fresh corral (or a second Apache when
    CORRAL_COMPAT_SELFTEST=1) and asserts equal normalised observations."""
    return Compat()
