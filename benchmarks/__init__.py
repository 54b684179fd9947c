"""Benchmark commands; each writes JSON (and a report) instead of asserting timings in tests."""
