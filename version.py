"""The pack's version, read by the CLI, the nodes and pyproject's tests."""

__version__ = "0.1.0"
