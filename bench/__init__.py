"""Benchmarks of the hot paths; each module prints ratios against a baseline from the same run."""
