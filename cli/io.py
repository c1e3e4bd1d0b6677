"""Moved to :mod:`media.image_io` (still-image and JSON files are read and written below the CLI,
so ``media/`` no longer imports up into ``cli/``). These names stay importable from here for code
written against the old place; new code imports :mod:`media.image_io`."""

from __future__ import annotations

from ..media.image_io import (DEFAULT_MAX_PIXELS, MAX_PIXELS_ENV, check_output_path, check_outputs, max_image_pixels,
                              read_image, read_json, read_mask, write_image, write_images)

__all__ = ["read_image", "read_mask", "write_image", "write_images", "check_output_path", "check_outputs",
           "read_json", "max_image_pixels", "MAX_PIXELS_ENV", "DEFAULT_MAX_PIXELS"]
