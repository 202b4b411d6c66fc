"""Durability acceptance tests: crash, torn tails, recovery equivalence, sessions, retention, tools."""
