"""Colorization core (LAB, full resolution, training-free): exemplar transfer and colour hints."""

from __future__ import annotations

from .exemplar import ExemplarResult, exemplar_colorize
from .hint_colorize import hint_colorize
from .hint_sources import Hints, hints_from_image_mask, hints_from_json, hints_from_points, sample_hints

__all__ = ["ExemplarResult", "Hints", "exemplar_colorize", "hint_colorize", "hints_from_image_mask",
           "hints_from_json", "hints_from_points", "sample_hints"]
