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
from collections.abc import Callable, Iterable, Iterator, Sequence

import torch
import torch.nn.functional as F

from ...utils.checks import check_tensor, input_error
from ...utils.color import clamp_ab_to_gamut, lab_to_rgb, merge_l_ab, rgb_to_lab
from ..guided import resize_area
from .chroma import finish_chroma
from .colormnet_memory import MemoryConfig, Propagator
from .colormnet_nets import ColorMNetNet
from .shot_film import shot_stream
from .loading import ModelFile, find_weights, load_into, load_official

__all__ = ["FILE", "load_colormnet", "working_size", "normalised_lab", "predict_clip", "colormnet_colorize",
           "colormnet_stream", "colormnet_film_stream", "colormnet_encoder", "ColorMNetShots", "MAX_SHORT_SIDE"]

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


class _Propagation:
    """One clip's (one shot's) exemplar and :class:`.colormnet_memory.Propagator`: :meth:`step` takes the
    next frame's normalised L ``[1, 1|3, h, w]`` and returns its ab ``[1, 2, h, w]`` in LAB units."""

    def __init__(self, reference_lab: torch.Tensor, net: ColorMNetNet, memory: MemoryConfig,
                 clip_length: int | None, exact_length: bool = True):
        self.dev = next(net.parameters()).device
        self.prop = Propagator(net, memory, clip_length=clip_length)
        ref = reference_lab[0].to(self.dev)
        self.exemplar = (ref[:1].expand(3, -1, -1), ref[1:3])
        # ``end`` only spares the last frame's memory update (no output changes); a stream's length
        # is an estimate, so there it is never set
        self.last = clip_length - 1 if exact_length and clip_length is not None else None
        self.t = 0

    def step(self, lab: torch.Tensor) -> torch.Tensor:
        lll = lab[0, :1].to(self.dev).expand(3, -1, -1)
        with torch.no_grad():
            ab = self.prop.step(lll, self.exemplar if self.t == 0 else None, end=self.t == self.last)
        self.t += 1
        return (ab[None] * AB_SCALE).float().to(lab.device)


def _propagate(frames_lab: Iterable[torch.Tensor], reference_lab: torch.Tensor, net: ColorMNetNet,
               memory: MemoryConfig, clip_length: int | None, interrupt, exact_length: bool = True
               ) -> Iterator[torch.Tensor]:
    run = _Propagation(reference_lab, net, memory, clip_length, exact_length)
    for lab in frames_lab:
        if interrupt is not None:
            interrupt()
        yield run.step(lab)


def _frame_l(frame: torch.Tensor, size: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
    """``(L full, L at size)`` in L units (float64 maths) of one ``[1, 3|1, H, W]`` frame."""
    l_full = rgb_to_lab(frame.double().expand(-1, 3, -1, -1))[:, :1]
    return l_full.float(), resize_area(l_full, size).float()


class ColorMNetShots:
    """ColorMNet as a :class:`.shot_film.ShotMethod`: a reference is resized to the working size (as the
    official loader resizes it to the frame size); each shot gets a fresh memory with it as exemplar.

    ``encoder`` (for shot cuts and reference scores) is ColorMNet's own DINOv2 ViT-S/14
    (:func:`colormnet_encoder`), so no second encoder is loaded.
    """

    def __init__(self, net: ColorMNetNet, *, strength: float = 1.0, max_short_side: int = MAX_SHORT_SIDE,
                 memory: MemoryConfig = MemoryConfig(), clip_length: int | None = None, exact_length: bool = False,
                 interrupt: Callable[[], None] | None = None):
        self.net, self.strength, self.max_short_side, self.memory = net, strength, max_short_side, memory
        self.clip_length, self.exact_length, self.interrupt = clip_length, exact_length, interrupt
        self._encoder = None
        self.current: _Propagation | None = None  # the shot being coloured (its ``prop.memory`` can be inspected)

    @property
    def encoder(self):
        if self._encoder is None:
            self._encoder = colormnet_encoder(self.net)
        return self._encoder

    def prepare(self, reference: torch.Tensor, frame: torch.Tensor) -> torch.Tensor:
        size = working_size(*frame.shape[-2:], self.max_short_side)
        ref = reference[:1].float()
        if tuple(ref.shape[-2:]) != size:
            ref = F.interpolate(ref, size=size, mode="bilinear", align_corners=False, antialias=True).clamp(0, 1)
        return normalised_lab(ref)

    def start(self, reference_lab: torch.Tensor, frame: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
        hw = tuple(frame.shape[-2:])
        size = working_size(*hw, self.max_short_side)
        run = self.current = _Propagation(reference_lab, self.net, self.memory, self.clip_length, self.exact_length)

        def colorize(frame: torch.Tensor) -> torch.Tensor:
            l_full, l_small = _frame_l(frame, size)
            ab = run.step(l_small / 50 - 1)
            if size == hw:  # native size: the network's ab as it is, on the original L
                return lab_to_rgb(merge_l_ab(l_full, clamp_ab_to_gamut(l_full, ab * self.strength))).clamp(0, 1)
            return finish_chroma(l_full, ab, l_small, strength=self.strength, interrupt=self.interrupt)

        return colorize


def colormnet_encoder(net: ColorMNetNet):
    """ColorMNet's DINOv2 ViT-S/14 backbone as an :class:`encoders.base.Encoder` (shared weights): it
    embeds frames for shot cuts and scores references (Select Reference) without a second model."""
    from ...encoders.registry import get_config, get_family

    config = get_config("dinov2_vits14")
    return get_family(config).wrap(config, net.key_encoder.network2.backbone).eval()


def colormnet_stream(frames: Iterable[torch.Tensor], reference: torch.Tensor, net: ColorMNetNet, *,
                     strength: float = 1.0, max_short_side: int = MAX_SHORT_SIDE,
                     memory: MemoryConfig = MemoryConfig(), clip_length: int | None = None,
                     exact_length: bool = False,
                     interrupt: Callable[[], None] | None = None) -> Iterator[torch.Tensor]:
    """Colorize frames ``[1, 3|1, H, W]`` (sRGB or gray in [0, 1], in order, all of one size) one at a
    time from one colour exemplar, as one clip (no shot cuts); yields ``[1, 3, H, W]`` sRGB with the
    input's L kept exactly.

    The reference ``[1, 3, Hr, Wr]`` is resized to the working size (as the official loader resizes
    it to the frame size). ``clip_length`` (if known) lets the long-term memory count usage as the
    official script does for long clips; ``exact_length`` says it is exact (a batch), not an
    estimate (a video's header). Films with cuts: :func:`colormnet_film_stream`.
    """
    check_tensor(reference, "reference", ndim=4)
    if reference.shape[1] != 3:
        raise input_error("reference", "a colour image [1, 3, H, W]", f"{reference.shape[1]} channels")
    method = ColorMNetShots(net, strength=strength, max_short_side=max_short_side, memory=memory,
                            clip_length=clip_length, exact_length=exact_length, interrupt=interrupt)
    return shot_stream(frames, reference[:1], method, detect_shots=False, interrupt=interrupt)


def colormnet_film_stream(frames: Iterable[torch.Tensor], references: torch.Tensor | Sequence[torch.Tensor],
                          net: ColorMNetNet, *, keyframes: dict[int, Sequence[torch.Tensor]] | None = None,
                          strength: float = 1.0, max_short_side: int = MAX_SHORT_SIDE,
                          memory: MemoryConfig = MemoryConfig(), detect_shots: bool = True,
                          shots: Sequence[int] | None = None, cuts: list[int] | None = None,
                          interrupt: Callable[[], None] | None = None) -> Iterator[torch.Tensor]:
    """A film through ColorMNet (:func:`.shot_film.shot_stream`): the memory starts afresh at every
    shot cut (detected on the fly on ColorMNet's DINOv2, or ``shots``) and keyframe; each shot's
    exemplar is the reference that suits its first frame best, or the keyframe image in force.

    Each shot is exactly :func:`colormnet_stream` of its frames from its exemplar. The length of a
    shot is not known while it streams, so the long-term memory always counts usage (the official
    script counts it for clips long enough to fill that memory; for shorter ones the count is never
    read, so outputs are the same). Memory is bounded by :class:`.colormnet_memory.MemoryConfig`
    (working memory ``max_mid_term_frames`` frames, long-term ``max_long_term_elements``), whatever the
    film's length.
    """
    method = ColorMNetShots(net, strength=strength, max_short_side=max_short_side, memory=memory,
                            interrupt=interrupt)
    return shot_stream(frames, references, method, keyframes=keyframes, detect_shots=detect_shots, shots=shots,
                       cuts=cuts, interrupt=interrupt)


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
