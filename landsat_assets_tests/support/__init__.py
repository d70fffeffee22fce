"""Helpers shared by the test suites (servers, fixtures data)."""
