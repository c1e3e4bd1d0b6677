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
