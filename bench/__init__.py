"""Benchmarks (`make bench`): performance targets are measured here, never in timed tests."""
