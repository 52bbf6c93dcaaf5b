"""Benchmark scripts that print tables (run from the repository root, e.g. `python -m benchmarks.objectives`)."""
