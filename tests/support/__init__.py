"""Helpers shared by the test suites: server processes, ports, four-letter words."""
