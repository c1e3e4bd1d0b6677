"""Benchmarks. Each module has ``main(argv) -> int`` and prints a Markdown table for
``docs/benchmarks.md``; run one with ``python -m semantic_restore bench NAME``.
They need the test extras (scikit-image, scipy) and never run in CI.
"""
