"""Performance benchmarks: ``python -m benchmarks --out DIR [--quick]`` (see docs/performance.md).

Every number is a ratio against a baseline measured in the same process and run; nothing here
is a timed assertion.
"""
