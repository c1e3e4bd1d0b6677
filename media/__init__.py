"""Media files in and out for the CLI and archive runs: videos (PyAV), stills (Pillow), atomic outputs, and
:func:`colorize_file`, which colorizes one still or one video file.

Sits at the glue layer, below ``cli/``: it may import the core and ``utils``, never ``cli/``;
the core never imports it. ``av`` is imported lazily, so importing this package is cheap.
"""

from __future__ import annotations

from .atomic import atomic_output, is_partial_name
from .colorize_file import ColorizeOptions, FileReport, colorize_file

__all__ = ["atomic_output", "is_partial_name", "ColorizeOptions", "FileReport", "colorize_file"]
