"""Progress inside one image, so that a bar moves while a slow image is being worked on.

Core functions take two optional callbacks: ``progress(n)`` (``n`` images/frames finished, as
before) and ``stage(fraction, name)`` (the current image is ``fraction`` done, now doing
``name``). :class:`ItemProgress` turns both into one bar of ``TICKS_PER_ITEM`` ticks per image
plus a short text ("frame 2/5: matching"), e.g. ComfyUI's progress bar and progress text through
``comfy_bridge``. :func:`iteration_ticker` turns a solver's per-iteration callback into stages.
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["TICKS_PER_ITEM", "ItemProgress", "iteration_ticker"]

TICKS_PER_ITEM = 100
TEXT_EVERY = 10  # solver iterations between text updates (the bar moves on every one)


class ItemProgress:
    """A bar over ``items`` images, ``TICKS_PER_ITEM`` ticks each, fed by ``stage`` and ``item_done``.

    Args:
        items: images (or frames) to process.
        bar: ``total -> advance(n)`` (e.g. ``comfy_bridge.progress_bar``); called once with
            ``items * TICKS_PER_ITEM``.
        text: optional ``text(str)`` shown beside the bar (e.g. ``comfy_bridge.progress_text``).
        noun: what an item is called in the text ("image", "frame").
    """

    def __init__(self, items: int, bar: Callable[[int], Callable[[int], None]],
                 text: Callable[[str], None] | None = None, noun: str = "image"):
        self.items = max(1, int(items))
        self._advance = bar(self.items * TICKS_PER_ITEM)
        self._text = text
        self._noun = noun
        self._item = 0
        self._ticks = 0
        self._shown = ""

    @property
    def ticks(self) -> int:
        """Ticks reported so far (never decreases)."""
        return self._ticks

    def _move_to(self, ticks: int) -> None:
        ticks = min(ticks, self.items * TICKS_PER_ITEM)
        if ticks > self._ticks:
            self._advance(ticks - self._ticks)
            self._ticks = ticks

    def stage(self, fraction: float, name: str) -> None:
        """The current item is ``fraction`` (0-1) done and now doing ``name``."""
        base = min(self._item, self.items - 1) * TICKS_PER_ITEM
        self._move_to(base + min(TICKS_PER_ITEM - 1, int(max(0.0, fraction) * TICKS_PER_ITEM)))
        if self._text is not None:
            where = f"{self._noun} {min(self._item + 1, self.items)}/{self.items}: " if self.items > 1 else ""
            line = where + name
            if line != self._shown:
                self._shown = line
                self._text(line)

    def item_done(self, n: int = 1) -> None:
        """``n`` more items are finished (the ``progress(n)`` of the core functions)."""
        self._item += n
        self._move_to(self._item * TICKS_PER_ITEM)
        if self._text is not None and self._item >= self.items and self._shown != "done":
            # ComfyUI keeps the last text on the node: say it finished, not "solving (iteration 10)"
            self._shown = "done"
            self._text(f"done ({self.items} {self._noun}{'s' if self.items > 1 else ''})")


def iteration_ticker(stage: Callable[[float, str], None] | None, start: float, end: float,
                     name: str) -> Callable[[int], None] | None:
    """A per-iteration callback (``propagate_ab``'s ``progress``) that moves ``stage`` from
    ``start`` towards ``end``: the number of iterations is not known in advance (the solver stops
    when it converges), so iteration ``i`` reports ``start + (end - start) * i / (i + 20)``.
    ``None`` when ``stage`` is ``None``."""
    if stage is None:
        return None
    count = [0]

    def tick(n: int = 1) -> None:
        count[0] += n
        i = count[0]
        label = f"{name} (iteration {i // TEXT_EVERY * TEXT_EVERY})" if i >= TEXT_EVERY else name
        stage(start + (end - start) * i / (i + 20), label)

    return tick
