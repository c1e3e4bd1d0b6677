"""Node classes, grouped by area. Each area module exports ``NODE_CLASS_MAPPINGS`` and
``NODE_DISPLAY_NAME_MAPPINGS``; an area whose optional dependency fails to import is skipped
with a logged error, and the rest of the pack still loads (comfyui_controlnet_aux style).
"""

from __future__ import annotations

import importlib
import logging

logger = logging.getLogger(__name__)

# Order is the order nodes appear in ComfyUI's "Add Node" menu within each category.
AREAS = ("encoders", "colorize", "hints", "upscale", "metrics")


def load_nodes() -> tuple[dict[str, type], dict[str, str]]:
    """Import every area module and merge their mappings."""
    classes: dict[str, type] = {}
    names: dict[str, str] = {}
    for area in AREAS:
        try:
            module = importlib.import_module(f".{area}", __name__)
        except ModuleNotFoundError as exc:
            logger.error("Semantic Restore: %s nodes disabled, missing dependency %r (%s)", area, exc.name, exc)
            continue
        except Exception:
            logger.exception("Semantic Restore: %s nodes disabled, import failed", area)
            continue
        classes.update(module.NODE_CLASS_MAPPINGS)
        names.update(module.NODE_DISPLAY_NAME_MAPPINGS)
    return classes, names
