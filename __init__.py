"""Semantic Restore: colorize and upscale old photos and films in ComfyUI.

This file only registers nodes (all of them are in ``nodes.py``); the work lives in ``encoders/``,
``colorize/``, ``upscale/`` and ``utils/`` (plain PyTorch), and ``comfy_bridge.py`` is the single
module that touches ComfyUI.
"""

from .nodes import NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS
from .version import __version__

WEB_DIRECTORY = "./web"

__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS", "WEB_DIRECTORY", "__version__"]
