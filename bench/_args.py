"""argparse types shared by the benchmark scripts: bad numbers are refused by the parser with a
one-line message naming the flag (``argument --size: expected a whole number >= 16, got '-5'``)
instead of crashing inside the benchmark."""

from __future__ import annotations

import argparse
from collections.abc import Callable

__all__ = ["int_at_least", "float_in", "int_list", "float_list"]


def int_at_least(low: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < low:
            raise argparse.ArgumentTypeError(f"expected a whole number >= {low}, got {text!r}")
        return value

    parse.__name__ = f"int >= {low}"
    return parse


def float_in(low: float, high: float) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = None
        if value is None or not low <= value <= high:  # also refuses NaN
            raise argparse.ArgumentTypeError(f"expected a number in [{low:g}, {high:g}], got {text!r}")
        return value

    parse.__name__ = f"number in [{low:g}, {high:g}]"
    return parse


def _list(item: Callable[[str], object]) -> Callable[[str], list]:
    def parse(text: str) -> list:
        parts = [p.strip() for p in text.split(",") if p.strip()]
        if not parts:
            raise argparse.ArgumentTypeError(f"expected a comma-separated list, got {text!r}")
        return [item(p) for p in parts]

    return parse


def int_list(low: int) -> Callable[[str], list]:
    """Comma-separated whole numbers, each ``>= low`` (``"1,10,50"``)."""
    return _list(int_at_least(low))


def float_list(low: float, high: float) -> Callable[[str], list]:
    """Comma-separated numbers in ``[low, high]`` (``"1.5,2"``)."""
    return _list(float_in(low, high))
