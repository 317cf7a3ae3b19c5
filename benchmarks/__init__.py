"""Emotion Meter's benchmarks: ``python -m benchmarks`` prints the figures of docs/benchmarks.md.

Each measurement is a plain function of one size (``benchmarks.suite``), so the tests run every
one of them small; this package imports nothing heavy itself.
"""
