"""Test support shared by hub and node test suites (a pytest plugin)."""
