"""Deep Exemplar-based Video Colorization (Zhang et al., CVPR 2019) in plain PyTorch.

Written from the paper and the official repository's inference path
(github.com/zhangmozhe/Deep-Exemplar-based-Video-Colorization, ``test.py``), in the official key
layouts so the released files load as they are:

- **features**: VGG19 relu layers r12..r52 (this pack's encoder interface, :mod:`encoders`), of
  the target's L rendered gray and of the reference in colour. The official ``vgg19_conv.pth``
  is a Caffe-style VGG19 (BGR, 0-255, mean-subtracted): it loads into torchvision's VGG19 layout
  with the first convolution's input channels flipped, and the Caffe normalisation becomes the
  encoder's mean/std (:func:`vgg19_encoder`);
- **correspondence** (``nonlocal_net``): r22..r52 (each L2-normalised over channels) -> four
  convolution branches to stride 4 -> 3 residual blocks -> 1x1 projections, centred over positions
  and normalised -> cosine similarity of every target cell with every reference cell -> softmax
  (temperature 1e-10 at inference, i.e. winner takes all) over the reference's 4x4-pooled LAB ->
  warped LAB and best similarity, upsampled x4 (nearest);
- **colorization** (``colornet``): a dilated encoder-decoder taking target L, warped ab,
  similarity and the previous frame's LAB prediction (the temporal propagation), ab = 128 tanh.

:func:`deep_exemplar_colorize` runs a clip of any size: the networks run at the official working
area (216x384 pixels, aspect kept, sides multiples of 16); the predicted ab is scaled by 1.25 as
the official script does, then goes back to full resolution along the original's edges (the
fast guided filter replaces the official OpenCV WLS filter) and is merged with the original L.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import sys
from collections.abc import Callable, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from ...encoders.registry import get_config, get_family
from ...utils.checks import check_tensor, input_error
from ...utils.color import rgb_to_lab
from ..guided import resize_area
from .chroma import finish_chroma
from .loading import ModelFile, find_weights, load_into, load_official

__all__ = ["CorrespondenceNet", "ColorNet", "DeepExemplar", "FILES", "vgg19_encoder", "vgg19_from_official",
           "load_deep_exemplar", "deep_exemplar_colorize", "working_size", "predict_clip",
           "normalize_features", "lab_at", "reference_lab_to_rgb", "reference_size", "Exemplar", "prepare_reference", "Step", "colorize_step",
           "AB_BOOST"]

logger = logging.getLogger(__name__)

SOURCE = ("https://github.com/zhangmozhe/Deep-Exemplar-based-Video-Colorization/releases/download/v1.0/"
          "colorization_checkpoint.zip (checkpoints/video_moredata_l1/ and data/)")
LICENCE = "MIT (Deep-Exemplar-based-Video-Colorization repository)"
FILES = {
    "nonlocal_net": ModelFile("Deep Exemplar correspondence net", ("nonlocal_net_iter_76000.pth",), SOURCE, LICENCE),
    "colornet": ModelFile("Deep Exemplar colorization net", ("colornet_iter_76000.pth",), SOURCE, LICENCE),
    "vgg19_conv": ModelFile("Deep Exemplar VGG19", ("vgg19_conv.pth",), SOURCE, LICENCE),
}
LAYERS = ("r12", "r22", "r32", "r42", "r52")
# Caffe VGG preprocessing: BGR * 255 minus the mean below, i.e. RGB mean (R, G, B) and std 1/255.
CAFFE_MEAN_RGB = (0.48501961, 0.45795686, 0.40760392)
# torchvision vgg19.features index of each conv, in the official conv{block}_{n} order.
_CONV_INDEX = [0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34]
_CONV_NAMES = [f"conv{b}_{n}" for b, count in ((1, 2), (2, 2), (3, 4), (4, 4), (5, 4)) for n in range(1, count + 1)]
OFFICIAL_AREA = 216 * 384  # the official working size: 432x768 frames, halved
AB_BOOST = 1.25  # test.py scales the predicted ab by 1.25 before its post-filter
TEMPERATURE = 1e-10


# -- features ------------------------------------------------------------------------------------
def vgg19_from_official(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``vgg19_conv.pth`` keys (``conv1_1.weight``...) -> torchvision ``features.N`` keys, conv1_1 BGR -> RGB."""
    missing = [f"{n}.weight" for n in _CONV_NAMES if f"{n}.weight" not in sd]
    if missing:
        raise input_error("Deep Exemplar VGG19 weights", "the vgg19_conv.pth layout (conv1_1.weight ... conv5_4)",
                          f"missing {missing[:3]}", f"Use vgg19_conv.pth from {SOURCE}.")
    out = {}
    for name, idx in zip(_CONV_NAMES, _CONV_INDEX):
        w = sd[f"{name}.weight"]
        out[f"features.{idx}.weight"] = w.flip(1) if name == "conv1_1" else w
        out[f"features.{idx}.bias"] = sd[f"{name}.bias"]
    return out


def vgg19_encoder(state_dict: dict[str, torch.Tensor] | None = None) -> nn.Module:
    """This pack's VGG19 encoder with the official Caffe-style weights and normalisation.

    ``encoder.dense(rgb, LAYERS)`` gives r12..r52 exactly as the official ``VGG19_pytorch`` does.
    The input is not padded (the official network is not), so odd sizes pool down like the original.
    ``state_dict``: official ``vgg19_conv.pth`` keys; ``None`` leaves random weights.
    """
    import torchvision

    config = dataclasses.replace(
        get_config("vgg19"), name="vgg19_deep_exemplar", mean=CAFFE_MEAN_RGB, std=(1 / 255,) * 3,
        weight_files=FILES["vgg19_conv"].filenames, source=SOURCE, licence=LICENCE, remote=None, size_mb=80.1,
        extra={})
    model = nn.Module()  # the convolutional trunk only: the classifier's 120M parameters are never used
    model.features = torchvision.models.vgg.make_layers(torchvision.models.vgg.cfgs["E"])
    if state_dict is not None:
        load_into(model.features, {k.removeprefix("features."): v for k, v in vgg19_from_official(state_dict).items()},
                  "Deep Exemplar VGG19")
    encoder = get_family(config).wrap(config, model).eval()  # the vgg family's Vgg19Encoder
    # The official preprocessing multiplies by 255 after the (float32) mean; dividing by a float64
    # 1/255 gives the same numbers (a float32 1/255 is off by 3e-8 relative, which the random-weight
    # networks amplify): the mean stays float32 like the official one, the division runs in float64.
    encoder._std = torch.full_like(encoder._std, 1 / 255, dtype=torch.float64)
    return encoder


def normalize_features(x: torch.Tensor) -> torch.Tensor:
    """L2 normalisation over channels, with the official epsilon (float64 machine epsilon)."""
    return x / (torch.norm(x, 2, 1, keepdim=True) + sys.float_info.epsilon)


# -- correspondence ------------------------------------------------------------------------------
def _conv_in_prelu(cin: int, cout: int, stride: int = 1) -> list[nn.Module]:
    return [nn.ReflectionPad2d(1), nn.Conv2d(cin, cout, 3, stride), nn.InstanceNorm2d(cout), nn.PReLU()]


class ResidualBlock(nn.Module):
    """Reflect-padded conv, instance norm, PReLU (one slope shared by both activations), twice, plus the input."""

    def __init__(self, c: int):
        super().__init__()
        self.conv1 = nn.Conv2d(c, c, 3)
        self.conv2 = nn.Conv2d(c, c, 3)
        self.prelu = nn.PReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.prelu(F.instance_norm(self.conv1(F.pad(x, (1,) * 4, mode="reflect"))))
        y = F.instance_norm(self.conv2(F.pad(y, (1,) * 4, mode="reflect")))
        return self.prelu(y + x)


class CorrespondenceNet(nn.Module):
    """The official ``WarpNet``: warps the reference's LAB onto the target by feature correspondence."""

    def __init__(self, channels: int = 64, inter: int = 256):
        super().__init__()
        up = nn.Upsample(scale_factor=2)
        self.layer2_1 = nn.Sequential(*_conv_in_prelu(128, 128), *_conv_in_prelu(128, channels, 2))
        self.layer3_1 = nn.Sequential(*_conv_in_prelu(256, 128), *_conv_in_prelu(128, channels))
        self.layer4_1 = nn.Sequential(*_conv_in_prelu(512, 256), *_conv_in_prelu(256, channels), up)
        self.layer5_1 = nn.Sequential(*_conv_in_prelu(512, 256), up, *_conv_in_prelu(256, channels), up)
        self.layer = nn.Sequential(*[ResidualBlock(4 * channels) for _ in range(3)])
        self.theta = nn.Conv2d(4 * channels, inter, 1)
        self.phi = nn.Conv2d(4 * channels, inter, 1)
        self.inter = inter

    def embed(self, feats: Sequence[torch.Tensor]) -> torch.Tensor:
        """r22..r52 (normalised) -> ``[B, 256, N]`` stride-4 embedding (before theta/phi)."""
        f2, f3, f4, f5 = (m(f) for m, f in zip((self.layer2_1, self.layer3_1, self.layer4_1, self.layer5_1), feats))
        if f5.shape[-2:] != f2.shape[-2:]:
            # the official sizes (216 rows) leave the stride-16 branch 2 rows short: replicate 1 row each side
            f5 = F.pad(f5, (0, 0, 1, 1), mode="replicate")
        if not (f2.shape[-2:] == f3.shape[-2:] == f4.shape[-2:] == f5.shape[-2:]):
            raise input_error("working size", "sides that are multiples of 16",
                              f"feature grids {[tuple(f.shape[-2:]) for f in (f2, f3, f4, f5)]}")
        return self.layer(torch.cat([f2, f3, f4, f5], 1))

    @staticmethod
    def _centre(x: torch.Tensor) -> torch.Tensor:
        x = x.flatten(2)
        x = x - x.mean(dim=-1, keepdim=True)
        return x / (torch.norm(x, 2, 1, keepdim=True) + sys.float_info.epsilon)

    def forward(self, ref_lab: torch.Tensor, target_feats: Sequence[torch.Tensor], ref_feats: Sequence[torch.Tensor],
                temperature: float = TEMPERATURE) -> tuple[torch.Tensor, torch.Tensor]:
        """Warp ``ref_lab`` ``[B, 3, Hr, Wr]`` (L centred) onto the target.

        Args:
            target_feats, ref_feats: r22, r32, r42, r52 of target and reference, L2-normalised over channels.

        Returns:
            ``(warped LAB [B, 3, 4h, 4w], best similarity [B, 1, 4h, 4w])`` on the target's stride-4 grid.
        """
        a = self.embed(target_feats)
        h, w = a.shape[-2:]
        theta = self._centre(self.theta(a)).permute(0, 2, 1)  # [B, Na, C]
        phi = self._centre(self.phi(self.embed(ref_feats)))  # [B, C, Nb]
        values = F.avg_pool2d(ref_lab, 4).flatten(2).permute(0, 2, 1)  # [B, Nb, 3]
        if values.shape[1] != phi.shape[-1]:
            raise input_error("reference", "sides that are multiples of 16", f"{tuple(ref_lab.shape[-2:])}")
        b = a.shape[0]
        rows = max(1, (1 << 26) // max(1, phi.shape[-1]))  # bound the similarity block at 2^26 entries
        warped, best = [], []
        for r0 in range(0, theta.shape[1], rows):
            f = torch.matmul(theta[:, r0:r0 + rows], phi)
            best.append(f.max(-1, keepdim=True)[0])
            warped.append(torch.matmul(F.softmax(f / temperature, dim=-1), values))
        y = torch.cat(warped, 1).permute(0, 2, 1).reshape(b, 3, h, w)
        sim = torch.cat(best, 1).reshape(b, 1, h, w)
        return F.interpolate(y, scale_factor=4), F.interpolate(sim, scale_factor=4)


# -- colorization ---------------------------------------------------------------------------------
class _UpConv(nn.Sequential):
    def __init__(self, cin: int, cout: int):
        super().__init__(nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(cin, cout, 3, 1, 1))


class ColorNet(nn.Module):
    """The official ``ColorVidNet(7)``: (L, warped ab, similarity, previous LAB) -> ab in ``[-128, 128]``.

    A dilated encoder-decoder: three stride-2 stages (depthwise 1x1 stride-2 convolutions after
    instance norms), two dilation-2 stages, nearest+conv upsampling with skip convolutions.
    """

    def __init__(self, cin: int = 7):
        super().__init__()

        def conv(i: int, o: int, d: int = 1) -> nn.Conv2d:
            return nn.Conv2d(i, o, 3, 1, d, d)

        self.conv1_1 = nn.Sequential(nn.Conv2d(cin, 32, 3, 1, 1), nn.ReLU(), nn.Conv2d(32, 64, 3, 1, 1))
        self.conv1_2 = conv(64, 64)
        self.conv1_2norm_ss = nn.Conv2d(64, 64, 1, 2, bias=False, groups=64)
        self.conv2_1, self.conv2_2 = conv(64, 128), conv(128, 128)
        self.conv2_2norm_ss = nn.Conv2d(128, 128, 1, 2, bias=False, groups=128)
        self.conv3_1, self.conv3_2, self.conv3_3 = conv(128, 256), conv(256, 256), conv(256, 256)
        self.conv3_3norm_ss = nn.Conv2d(256, 256, 1, 2, bias=False, groups=256)
        self.conv4_1, self.conv4_2, self.conv4_3 = conv(256, 512), conv(512, 512), conv(512, 512)
        self.conv5_1, self.conv5_2, self.conv5_3 = conv(512, 512, 2), conv(512, 512, 2), conv(512, 512, 2)
        self.conv6_1, self.conv6_2, self.conv6_3 = conv(512, 512, 2), conv(512, 512, 2), conv(512, 512, 2)
        self.conv7_1, self.conv7_2, self.conv7_3 = conv(512, 512), conv(512, 512), conv(512, 512)
        self.conv8_1 = _UpConv(512, 256)
        self.conv3_3_short = conv(256, 256)
        self.conv8_2, self.conv8_3 = conv(256, 256), conv(256, 256)
        self.conv9_1 = _UpConv(256, 128)
        self.conv2_2_short = conv(128, 128)
        self.conv9_2 = conv(128, 128)
        self.conv10_1 = _UpConv(128, 128)
        self.conv1_2_short = conv(64, 128)
        self.conv10_2 = conv(128, 128)
        self.conv10_ab = nn.Conv2d(128, 2, 1)

    @staticmethod
    def _stage(x: torch.Tensor, *convs: nn.Module) -> torch.Tensor:
        for c in convs:
            x = F.relu(c(x))
        return F.instance_norm(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s1 = self._stage(F.relu(self.conv1_1(x)), self.conv1_2)
        s2 = self._stage(self.conv1_2norm_ss(s1), self.conv2_1, self.conv2_2)
        s3 = self._stage(self.conv2_2norm_ss(s2), self.conv3_1, self.conv3_2, self.conv3_3)
        y = self._stage(self.conv3_3norm_ss(s3), self.conv4_1, self.conv4_2, self.conv4_3)
        y = self._stage(y, self.conv5_1, self.conv5_2, self.conv5_3)
        y = self._stage(y, self.conv6_1, self.conv6_2, self.conv6_3)
        y = self._stage(y, self.conv7_1, self.conv7_2, self.conv7_3)
        y = self._stage(F.relu(self.conv8_1(y) + self.conv3_3_short(s3)), self.conv8_2, self.conv8_3)
        y = self._stage(F.relu(self.conv9_1(y) + self.conv2_2_short(s2)), self.conv9_2)
        y = F.leaky_relu(self.conv10_2(F.relu(self.conv10_1(y) + self.conv1_2_short(s1))), 0.2)
        return torch.tanh(self.conv10_ab(y)) * 128


# -- the whole model ------------------------------------------------------------------------------
class DeepExemplar(nn.Module):
    """VGG19 encoder + correspondence net + colorization net."""

    def __init__(self, vgg: nn.Module, nonlocal_net: CorrespondenceNet, colornet: ColorNet):
        super().__init__()
        self.vgg, self.nonlocal_net, self.colornet = vgg, nonlocal_net, colornet

    @property
    def dtype(self) -> torch.dtype:
        return next(self.colornet.parameters()).dtype

    def features(self, rgb: torch.Tensor) -> list[torch.Tensor]:
        maps = self.vgg.dense(rgb, list(LAYERS))
        return [maps[k].to(self.dtype) for k in LAYERS]

    def frame(self, l_c: torch.Tensor, ref_lab: torch.Tensor, ref_feats: Sequence[torch.Tensor],
              last_lab: torch.Tensor, temperature: float = TEMPERATURE) -> tuple[torch.Tensor, torch.Tensor]:
        """One frame: ``l_c`` ``[1, 1, h, w]`` = L - 50, ``last_lab`` the previous prediction (L centred).

        Returns ``(ab [1, 2, h, w], warped ab [1, 2, h, w])``.
        """
        gray = ((l_c + 50) / 100).expand(-1, 3, -1, -1)
        a = [normalize_features(f) for f in self.features(gray)[1:]]
        b = [normalize_features(f) for f in ref_feats[1:]]
        warped, sim = self.nonlocal_net(ref_lab, a, b, temperature)
        ab = self.colornet(torch.cat([l_c, warped[:, 1:3], sim, last_lab], 1))
        return ab, warped[:, 1:3]


def load_deep_exemplar(weights: dict[str, str] | None = None, search_dirs: Sequence[str] | None = None,
                       device: str | torch.device = "cpu") -> DeepExemplar:
    """The three official files (``FILES``) from the model folders, or the paths in ``weights``."""
    weights = weights or {}
    sds = {k: load_official(f, find_weights(f, weights.get(k), search_dirs)) for k, f in FILES.items()}
    model = DeepExemplar(vgg19_encoder(sds["vgg19_conv"]),
                         load_into(CorrespondenceNet(), sds["nonlocal_net"], FILES["nonlocal_net"].what),
                         load_into(ColorNet(), sds["colornet"], FILES["colornet"].what))
    return model.eval().to(device)


def working_size(h: int, w: int, area: int | None = None) -> tuple[int, int]:
    """``area`` (default: the official working area) with the frame's aspect, sides rounded to multiples
    of 16 (at least 32)."""
    s = math.sqrt((area or OFFICIAL_AREA) / (h * w))
    return max(32, 16 * round(h * s / 16)), max(32, 16 * round(w * s / 16))


def lab_at(rgb: torch.Tensor, size: tuple[int, int], dtype: torch.dtype = torch.float32
           ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(L full, L small, LAB small with L centred)`` of an sRGB ``[1, 3, H, W]`` image, in ``dtype``.

    The conversion runs in float64 (as the official skimage one does), then is rounded to ``dtype``
    (the official script rounds its LAB to float32 likewise).
    """
    lab = rgb_to_lab(rgb.double().expand(-1, 3, -1, -1)).to(dtype)
    # the official script halves a frame prepared at twice the working size (bilinear, i.e. 2x2
    # means); area-resizing to twice the size first and halving the same way gives the same
    # rounding in the official case and an anti-aliased result for any other size
    # L is centred before the resizing, in the official order (the other order rounds otherwise)
    centred = torch.cat([lab[:, :1] - 50, lab[:, 1:]], 1)
    small = F.interpolate(resize_area(centred, (2 * size[0], 2 * size[1])), scale_factor=0.5, mode="bilinear")
    return lab[:, :1], small[:, :1] + 50, small


def reference_size(frame_hw: Sequence[int], ref_hw: Sequence[int], size: tuple[int, int],
                   area: int | None = None) -> tuple[int, int]:
    """The reference's working size: the frames' ``size`` for a reference of the frames' size (the
    official case), else its own aspect (the correspondence works between grids of different sizes)."""
    return size if tuple(ref_hw) == tuple(frame_hw) else working_size(*ref_hw, area)


# The official script renders the reference's LAB back to sRGB with constants of its own: the
# XYZ -> linear sRGB matrix rounded to 8 digits and the 7.787 slope below the cube-root knee. Other
# roundings (kornia's 16-digit matrix) move the reference features by 1e-6, which the random-weight
# networks amplify past 1e-3 ab by frame 2 even in float64.
_XYZ_TO_RGB = ((3.24048134, -1.53715152, -0.49853633),
               (-0.96925495, 1.87599, 0.04155593),
               (0.05564664, -0.20404134, 1.05731107))
_WHITE_D65 = (0.95047, 1.0, 1.08883)


def reference_lab_to_rgb(lab: torch.Tensor) -> torch.Tensor:
    """CIE LAB ``[B, 3, H, W]`` (L 0..100) -> sRGB in ``[0, 1]`` with the official script's constants (z
    clipped at 0 before the cube, sRGB clipped to [0, 1])."""
    L, a, b = lab.unbind(1)
    fy = (L + 16) / 116
    f = torch.stack([a / 500 + fy, fy, (fy - b / 200).clamp(min=0)], 1)
    xyz = torch.where(f > 0.2068966, f ** 3, (f - 16 / 116) / 7.787)
    xyz = xyz * torch.tensor(_WHITE_D65, dtype=lab.dtype, device=lab.device).view(1, 3, 1, 1)
    linear = torch.einsum("ij,bjhw->bihw", torch.tensor(_XYZ_TO_RGB, dtype=lab.dtype, device=lab.device), xyz)
    rgb = torch.where(linear > 0.0031308, 1.055 * linear.clamp(min=0.0031308) ** (1 / 2.4) - 0.055, 12.92 * linear)
    return rgb.clamp(0, 1)


@dataclasses.dataclass
class Exemplar:
    """A reference ready for the correspondence net: LAB (L centred) and VGG r12..r52, at its working size."""

    lab: torch.Tensor
    feats: list[torch.Tensor]


@torch.no_grad()
def prepare_reference(reference: torch.Tensor, model: DeepExemplar, size: tuple[int, int]) -> Exemplar:
    """``reference`` ``[1, 3, Hr, Wr]`` sRGB at ``size``; its features are taken from its LAB rendered back to sRGB,
    as the official script does."""
    _, _, lab = lab_at(reference[:1], size, model.dtype)
    lab = lab.to(next(model.colornet.parameters()).device)
    rgb = reference_lab_to_rgb(torch.cat([lab[:, :1] + 50, lab[:, 1:]], 1))
    return Exemplar(lab, model.features(rgb))


@dataclasses.dataclass
class Step:
    """One frame's prediction at the working size: ``ab`` and ``warped`` ab ``[1, 2, h, w]`` (float32, on the
    frame's device), L at full and working size, and ``last`` (the LAB the next frame's colorization net sees)."""

    ab: torch.Tensor
    warped: torch.Tensor
    l_full: torch.Tensor
    l_small: torch.Tensor
    last: torch.Tensor


@torch.no_grad()
def colorize_step(frame: torch.Tensor, exemplar: Exemplar, model: DeepExemplar, size: tuple[int, int],
                  last: torch.Tensor | None = None, temperature: float = TEMPERATURE) -> Step:
    """Frame ``[1, 3|1, H, W]`` from ``exemplar``; ``last`` is the previous :attr:`Step.last` of the same shot
    (``None`` at a shot's first frame: zeros, as the official script starts a clip)."""
    l_full, l_small, lab = lab_at(frame, size, model.dtype)
    lab = lab.to(exemplar.lab.device)
    if last is None:
        last = torch.zeros_like(lab)
    ab, warped = model.frame(lab[:, :1], exemplar.lab, exemplar.feats, last, temperature)
    return Step(ab.float().to(frame.device), warped.float().to(frame.device), l_full.float().to(frame.device),
                l_small.float().to(frame.device), torch.cat([lab[:, :1], ab], 1))


@torch.no_grad()
def predict_clip(frames: torch.Tensor, reference: torch.Tensor, model: DeepExemplar, *,
                 size: tuple[int, int] | None = None, ref_size: tuple[int, int] | None = None, temperature: float = TEMPERATURE,
                 on_frame: Callable[[int, torch.Tensor, torch.Tensor, torch.Tensor], None] | None = None,
                 interrupt: Callable[[], None] | None = None) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Per frame, the network's ab and the warped reference ab, ``[1, 2, h, w]`` each, at the working size
    (before the x1.25 and upsampling)

    Frame t's colorization net sees frame t-1's prediction (zeros for the first frame), as the
    official script does without ``--frame_propagate``. ``on_frame(t, ab, L full, L small)`` is
    called for each frame (so a caller can stream the full-resolution result).
    """
    size = size or working_size(*frames.shape[-2:])
    exemplar = prepare_reference(reference, model, ref_size or reference_size(frames.shape[-2:], reference.shape[-2:], size))
    last = None
    out, warps = [], []
    for t in range(frames.shape[0]):
        if interrupt is not None:
            interrupt()
        step = colorize_step(frames[t:t + 1], exemplar, model, size, last, temperature)
        last = step.last
        out.append(step.ab)
        warps.append(step.warped)
        if on_frame is not None:
            on_frame(t, step.ab, step.l_full, step.l_small)
    return out, warps


@torch.no_grad()
def deep_exemplar_colorize(frames: torch.Tensor, reference: torch.Tensor, model: DeepExemplar, *,
                           strength: float = 1.0, area: int | None = None, progress: Callable[[int], None] | None = None,
                           interrupt: Callable[[], None] | None = None) -> torch.Tensor:
    """Colorize a clip (a batch of consecutive frames) from one colour reference, at any size.

    Args:
        frames: ``[T, 3|1, H, W]`` sRGB or gray in ``[0, 1]``; only L is used, and kept exactly.
        reference: ``[1, 3, Hr, Wr]`` sRGB in ``[0, 1]`` (any size; resized to the working size).
        model: :func:`load_deep_exemplar`.
        strength: chroma scale on top of the official x1.25 (1 = the official colours).
        area: working area in pixels (default: the official 216x384); more is slower and finer.

    Returns:
        ``[T, 3, H, W]`` sRGB in ``[0, 1]``.
    """
    check_tensor(frames, "image", ndim=4)
    check_tensor(reference, "reference", ndim=4)
    if reference.shape[1] != 3:
        raise input_error("reference", "a colour image [1, 3, H, W]", f"{reference.shape[1]} channels")
    result = torch.empty(frames.shape[0], 3, *frames.shape[-2:], device=frames.device)

    def finish(t: int, ab: torch.Tensor, l_full: torch.Tensor, l_small: torch.Tensor) -> None:
        result[t:t + 1] = finish_chroma(l_full, ab * AB_BOOST, l_small, strength=strength, interrupt=interrupt)
        if progress is not None:
            progress(1)

    size = working_size(*frames.shape[-2:], area)
    ref_size = reference_size(frames.shape[-2:], reference.shape[-2:], size, area)
    predict_clip(frames, reference, model, size=size, ref_size=ref_size, on_frame=finish, interrupt=interrupt)
    return result
