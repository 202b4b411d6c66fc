"""The one polling wait of the test suite: `wait_until(predicate, timeout, what=...)`.

Why one: every suite had grown its own copy (with different defaults, exception types and messages), and
ad-hoc `for _ in range(...): sleep` loops that fell through silently. A wait that fails must say *what* it
waited for and what it saw last, or the failure cannot be diagnosed from a CI log. The implementation is
the one corral ships to its users in `corral.testing` (the suite tests what users get).
"""

from __future__ import annotations

from corral.testing import WaitTimeout, wait_until

__all__ = ["WaitTimeout", "wait_until"]
