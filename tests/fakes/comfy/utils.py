"""Fake of comfy.utils.ProgressBar (signature from comfy/utils.py, v0.3.64); records updates."""

from __future__ import annotations

PROGRESS_BAR_HOOK = None
EVENTS: list[tuple[int, int]] = []  # (current, total) after every update, for assertions


class ProgressBar:
    def __init__(self, total, node_id=None):
        self.total = total
        self.current = 0
        self.hook = PROGRESS_BAR_HOOK
        self.node_id = node_id

    def update_absolute(self, value, total=None, preview=None):
        if total is not None:
            self.total = total
        if value > self.total:
            value = self.total
        self.current = value
        EVENTS.append((self.current, self.total))

    def update(self, value):
        self.update_absolute(self.current + value)

# Added for the upscaler (issue 6): names and signatures from comfy/utils.py, v0.3.64.
PROGRESS_BAR_ENABLED = True


def tiled_scale(samples, function, tile_x=64, tile_y=64, overlap=8, upscale_amount=4, out_channels=3,
                output_device="cpu", pbar=None):
    """Not tiled: runs ``function`` on the whole batch (the real one tiles to save memory)."""
    import torch

    with torch.inference_mode():
        return function(samples).to(output_device)
