"""Helpers the tests share (imported as ``tests.helpers.<name>``; no test imports another test module)."""
