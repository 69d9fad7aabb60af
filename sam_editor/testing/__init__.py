"""Builders for tests and benchmarks (never imported by the app)."""
