"""Benchmark scripts (`make bench`, `make bench-console`...): scripts, not tests."""
