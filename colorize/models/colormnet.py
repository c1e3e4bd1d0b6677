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

import logging
from collections.abc import Callable, Sequence

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
           "MAX_SHORT_SIDE"]

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
    dev = next(net.parameters()).device
    n = frames_lab.shape[0]
    prop = Propagator(net, memory, clip_length=n)
    ref = reference_lab[0].to(dev)
    exemplar = (ref[:1].expand(3, -1, -1), ref[1:3])
    for t in range(n):
        if interrupt is not None:
            interrupt()
        lll = frames_lab[t, :1].to(dev).expand(3, -1, -1)
        ab = prop.step(lll, exemplar if t == 0 else None, end=(t == n - 1))
        if on_frame is not None:
            on_frame(t, (ab[None] * AB_SCALE).float().to(frames_lab.device))


@torch.no_grad()
def colormnet_colorize(frames: torch.Tensor, reference: torch.Tensor, net: ColorMNetNet, *,
                       strength: float = 1.0, max_short_side: int = MAX_SHORT_SIDE,
                       memory: MemoryConfig = MemoryConfig(), progress: Callable[[int], None] | None = None,
                       interrupt: Callable[[], None] | None = None) -> torch.Tensor:
    """Colorize a clip (a batch of consecutive frames) from one colour exemplar, at any size.

    Args:
        frames: ``[T, 3|1, H, W]`` sRGB or gray in ``[0, 1]``; only L is used, and kept exactly.
        reference: ``[1, 3, Hr, Wr]`` sRGB in ``[0, 1]``; resized to the working size (as the
            official loader resizes it to the frame size).
        net: :func:`load_colormnet`.
        strength: chroma scale (1 = the network's colours).
        max_short_side: working size limit (frames with a larger short side are resized down).

    Returns:
        ``[T, 3, H, W]`` sRGB in ``[0, 1]``.
    """
    check_tensor(frames, "image", ndim=4)
    check_tensor(reference, "reference", ndim=4)
    if reference.shape[1] != 3:
        raise input_error("reference", "a colour image [1, 3, H, W]", f"{reference.shape[1]} channels")
    T, _, H, W = frames.shape
    size = working_size(H, W, max_short_side)
    ref = reference[:1].float()
    if tuple(ref.shape[-2:]) != size:
        ref = F.interpolate(ref, size=size, mode="bilinear", align_corners=False, antialias=True).clamp(0, 1)
    ref_lab = normalised_lab(ref)
    result = torch.empty(T, 3, H, W, device=frames.device)
    native = size == (H, W)

    # L of every frame at the working size, one frame at a time (full-size L kept only per frame)
    def frame_l(t: int) -> tuple[torch.Tensor, torch.Tensor]:
        rgb = frames[t:t + 1].double().expand(-1, 3, -1, -1)
        l_full = rgb_to_lab(rgb)[:, :1]
        return l_full.float(), (l_full if native else resize_area(l_full, size)).float()

    small = torch.cat([frame_l(t)[1] for t in range(T)])  # [T, 1, h, w] in L units

    def finish(t: int, ab: torch.Tensor) -> None:
        l_full, l_small = frame_l(t)
        if native:
            l = l_full
            rgb = lab_to_rgb(merge_l_ab(l, clamp_ab_to_gamut(l, ab * strength))).clamp(0, 1)
        else:
            rgb = finish_chroma(l_full, ab, l_small, strength=strength, interrupt=interrupt)
        result[t:t + 1] = rgb
        if progress is not None:
            progress(1)

    predict_clip(small / 50 - 1, ref_lab, net, memory=memory, on_frame=finish, interrupt=interrupt)
    return result
