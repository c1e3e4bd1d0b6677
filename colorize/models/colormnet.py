"""ColorMNet (Yang et al., ECCV 2024): exemplar-based video colorization, any size, plain PyTorch.

The official ``test.py --FirstFrameIsNotExemplar`` path: every frame's L (normalised to [-1, 1],
repeated to 3 channels) goes through :class:`.colormnet_memory.Propagator` with the exemplar
(resized to the frame size, as the official loader does) encoded as the first memory frame.

Working size: the official default runs at the frame's own resolution (padded to multiples of
112); frames whose short side exceeds ``max_short_side`` (default 480, the DAVIS 480p the model was
trained and evaluated on; the official ``--size``) are area-resized to it first. The predicted ab
comes back to full resolution along the original's edges (:func:`.chroma.finish_chroma`) and is
merged with the ORIGINAL L; at the native size no upsampling happens and the ab is the network's.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Iterable, Iterator, Sequence

import torch
import torch.nn.functional as F

from ...utils.checks import check_tensor, input_error
from ...utils.color import clamp_ab_to_gamut, lab_to_rgb, merge_l_ab, rgb_to_lab
from ..guided import resize_area
from .chroma import finish_chroma
from .colormnet_memory import MemoryConfig, Propagator
from .colormnet_nets import ColorMNetNet
from .loading import ModelFile, find_weights, load_into, load_official

__all__ = ["FILE", "load_colormnet", "working_size", "normalised_lab", "predict_clip", "colormnet_colorize",
           "colormnet_stream", "MAX_SHORT_SIDE"]

logger = logging.getLogger(__name__)

FILE = ModelFile(
    "ColorMNet", ("DINOv2FeatureV6_LocalAtten_s2_154000.pth",),
    "https://github.com/yyang181/colormnet/releases/download/v0.1/DINOv2FeatureV6_LocalAtten_s2_154000.pth",
    "CC BY-NC-SA 4.0 (ColorMNet repository; non-commercial)")
MAX_SHORT_SIDE = 480
AB_SCALE = 110.0  # official normalisation: ab / 110, L / 50 - 1


def load_colormnet(weights: str | None = None, search_dirs: Sequence[str] | None = None,
                   device: str | torch.device = "cpu") -> ColorMNetNet:
    """The official checkpoint (``FILE``) from the model folders, or ``weights``."""
    sd = load_official(FILE, find_weights(FILE, weights, search_dirs))
    return load_into(ColorMNetNet(), sd, FILE.what).eval().to(device)


def working_size(h: int, w: int, max_short_side: int = MAX_SHORT_SIDE) -> tuple[int, int]:
    """The frame's own size, or the short side brought down to ``max_short_side`` (aspect kept)."""
    s = min(h, w)
    if s <= max_short_side:
        return h, w
    return max(1, round(h * max_short_side / s)), max(1, round(w * max_short_side / s))


def normalised_lab(rgb: torch.Tensor) -> torch.Tensor:
    """sRGB ``[B, 3, H, W]`` in [0, 1] -> ``[B, 3, H, W]``: ``(L / 50 - 1, a / 110, b / 110)``.

    The conversion runs in float64, as the official skimage one does.
    """
    lab = rgb_to_lab(rgb.double().expand(-1, 3, -1, -1))
    return torch.cat([lab[:, :1] / 50 - 1, lab[:, 1:] / AB_SCALE], 1).float()


@torch.no_grad()
def predict_clip(frames_lab: torch.Tensor, reference_lab: torch.Tensor, net: ColorMNetNet, *,
                 memory: MemoryConfig = MemoryConfig(),
                 on_frame: Callable[[int, torch.Tensor], None] | None = None,
                 interrupt: Callable[[], None] | None = None) -> None:
    """Run the propagation over ``frames_lab`` ``[T, 1|3, h, w]`` (normalised, only L used).

    ``reference_lab`` ``[1, 3, h, w]`` (normalised) is the exemplar at the same size.
    ``on_frame(t, ab)`` receives each frame's ab ``[1, 2, h, w]`` in LAB units.
    """
    n = frames_lab.shape[0]
    for t, ab in enumerate(_propagate((frames_lab[t:t + 1] for t in range(n)), reference_lab, net, memory, n,
                                      interrupt)):
        if on_frame is not None:
            on_frame(t, ab)


def _propagate(frames_lab: Iterable[torch.Tensor], reference_lab: torch.Tensor, net: ColorMNetNet,
               memory: MemoryConfig, clip_length: int | None, interrupt, exact_length: bool = True
               ) -> Iterator[torch.Tensor]:
    dev = next(net.parameters()).device
    prop = Propagator(net, memory, clip_length=clip_length)
    ref = reference_lab[0].to(dev)
    exemplar = (ref[:1].expand(3, -1, -1), ref[1:3])
    for t, lab in enumerate(frames_lab):
        if interrupt is not None:
            interrupt()
        lll = lab[0, :1].to(dev).expand(3, -1, -1)
        # ``end`` only spares the last frame's memory update (no output changes); a stream's length
        # is an estimate, so there it is never set
        end = exact_length and clip_length is not None and t == clip_length - 1
        with torch.no_grad():
            ab = prop.step(lll, exemplar if t == 0 else None, end=end)
        yield (ab[None] * AB_SCALE).float().to(lab.device)


def _frame_l(frame: torch.Tensor, size: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
    """``(L full, L at size)`` in L units (float64 maths) of one ``[1, 3|1, H, W]`` frame."""
    l_full = rgb_to_lab(frame.double().expand(-1, 3, -1, -1))[:, :1]
    return l_full.float(), resize_area(l_full, size).float()


def colormnet_stream(frames: Iterable[torch.Tensor], reference: torch.Tensor, net: ColorMNetNet, *,
                     strength: float = 1.0, max_short_side: int = MAX_SHORT_SIDE,
                     memory: MemoryConfig = MemoryConfig(), clip_length: int | None = None,
                     exact_length: bool = False,
                     interrupt: Callable[[], None] | None = None) -> Iterator[torch.Tensor]:
    """Colorize frames ``[1, 3|1, H, W]`` (sRGB or gray in [0, 1], in order, all of one size) one at a
    time from one colour exemplar; yields ``[1, 3, H, W]`` sRGB with the input's L kept exactly.

    The reference ``[1, 3, Hr, Wr]`` is resized to the working size (as the official loader resizes
    it to the frame size). ``clip_length`` (if known) lets the long-term memory count usage as the
    official script does for long clips; ``exact_length`` says it is exact (a batch), not an
    estimate (a video's header).
    """
    check_tensor(reference, "reference", ndim=4)
    if reference.shape[1] != 3:
        raise input_error("reference", "a colour image [1, 3, H, W]", f"{reference.shape[1]} channels")
    frames = iter(frames)
    first = next(frames, None)
    if first is None:
        return
    check_tensor(first, "image", ndim=4)
    hw = tuple(first.shape[-2:])
    size = working_size(*hw, max_short_side)
    ref = reference[:1].float()
    if tuple(ref.shape[-2:]) != size:
        ref = F.interpolate(ref, size=size, mode="bilinear", align_corners=False, antialias=True).clamp(0, 1)
    current: list[tuple[torch.Tensor, torch.Tensor]] = []

    def labs() -> Iterator[torch.Tensor]:
        for frame in itertools.chain([first], frames):
            check_tensor(frame, "image", ndim=4)
            if tuple(frame.shape[-2:]) != hw:
                raise input_error("image", f"frames of one size {hw}", f"a frame of {tuple(frame.shape[-2:])}",
                                  "Resize the frames to one size first.")
            current[:] = [_frame_l(frame, size)]
            yield current[0][1] / 50 - 1

    for ab in _propagate(labs(), normalised_lab(ref), net, memory, clip_length, interrupt, exact_length):
        l_full, l_small = current[0]
        if size == hw:  # native size: the network's ab as it is, on the original L
            yield lab_to_rgb(merge_l_ab(l_full, clamp_ab_to_gamut(l_full, ab * strength))).clamp(0, 1)
        else:
            yield finish_chroma(l_full, ab, l_small, strength=strength, interrupt=interrupt)


def colormnet_colorize(frames: torch.Tensor, reference: torch.Tensor, net: ColorMNetNet, *,
                       strength: float = 1.0, max_short_side: int = MAX_SHORT_SIDE,
                       memory: MemoryConfig = MemoryConfig(), progress: Callable[[int], None] | None = None,
                       interrupt: Callable[[], None] | None = None) -> torch.Tensor:
    """Colorize a clip (a batch ``[T, 3|1, H, W]`` of consecutive frames) from one colour exemplar, at any size.

    See :func:`colormnet_stream`. Returns ``[T, 3, H, W]`` sRGB in ``[0, 1]``.
    """
    check_tensor(frames, "image", ndim=4)
    result = torch.empty(frames.shape[0], 3, *frames.shape[-2:], device=frames.device)
    stream = colormnet_stream((frames[t:t + 1] for t in range(frames.shape[0])), reference, net, strength=strength,
                              max_short_side=max_short_side, memory=memory, clip_length=frames.shape[0],
                              exact_length=True, interrupt=interrupt)
    for t, rgb in enumerate(stream):
        result[t:t + 1] = rgb
        if progress is not None:
            progress(1)
    return result
