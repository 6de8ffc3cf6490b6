"""Helpers shared by the test suites (real TLS on loopback, ...)."""
