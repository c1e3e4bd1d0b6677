"""ColorMNet's memory-based propagation (XMem-style), as the official inference runs it.

Written from the official ``inference/`` (``InferenceCore.step_AnyExemplar``, ``MemoryManager``,
``KeyValueMemoryStore``) for the one case ColorMNet uses: one object group holding the a and b
channels. :class:`Propagator` takes one frame at a time:

- the exemplar (first call) is encoded as a memory frame of its own; every ``mem_every``-th frame
  and the first one are added to the working memory with their prediction (deep hidden update);
- a frame's readout is the top-k (30) softmax over L2-like similarities (shrinkage, selection)
  of its key with all memory keys, plus the short-term local attention on the last memory frame;
- when the working memory holds ``max_mid_term_frames`` frames, all but the first and the last
  ``min_mid_term_frames`` are consolidated into ``num_prototypes`` long-term prototypes (the most
  used keys; values and shrinkage read out by softmax affinity); the long-term memory drops its
  least used elements once it exceeds ``max_long_term_elements``.

Inputs are the official normalisation: L in [-1, 1] repeated to 3 channels, ab / 110.
Frames are padded to multiples of 112 (centred, zeros) and the prediction cropped back.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .colormnet_nets import ColorMNetNet

__all__ = ["MemoryConfig", "Propagator", "similarity", "topk_softmax", "pad_to"]

PAD_MULTIPLE = 112


@dataclass(frozen=True)
class MemoryConfig:
    """The official test.py defaults (``--top_k`` ... ``--num_prototypes``)."""

    top_k: int = 30
    mem_every: int = 5
    max_mid_term_frames: int = 10
    min_mid_term_frames: int = 5
    max_long_term_elements: int = 10000
    num_prototypes: int = 128


def pad_to(x: torch.Tensor, d: int = PAD_MULTIPLE) -> tuple[torch.Tensor, tuple[int, int, int, int]]:
    """Zero-pad the last two dims to multiples of ``d``, centred (extra pixel at the end)."""
    h, w = x.shape[-2:]
    ph, pw = (-h) % d, (-w) % d
    pad = (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2)
    return F.pad(x, pad), pad


def _crop(x: torch.Tensor, pad: tuple[int, int, int, int]) -> torch.Tensor:
    h, w = x.shape[-2:]
    return x[..., pad[2]:h - pad[3], pad[0]:w - pad[1]]


def similarity(mk, ms, qk, qe) -> torch.Tensor:
    """``[B, N, P]``: negative selection-weighted squared distances of memory keys ``mk`` ``[B, C, N]``
    and query keys ``qk`` ``[B, C, P]``, times the memory shrinkage ``ms`` ``[B, 1, N]``, / sqrt(C)."""
    ck = mk.shape[1]
    mkt = mk.transpose(1, 2)
    sim = -(mkt.pow(2) @ qe) + 2 * (mkt @ (qk * qe)) - (qe * qk.pow(2)).sum(1, keepdim=True)
    return sim * ms.transpose(1, 2) / math.sqrt(ck)


def topk_softmax(sim: torch.Tensor, top_k: int | None) -> torch.Tensor:
    """Softmax over memory (dim 1), restricted to the ``top_k`` largest entries when given.

    As the official code: the top-k branch exponentiates without subtracting the maximum.
    """
    if top_k is None:
        return torch.softmax(sim, 1)
    values, idx = torch.topk(sim, k=min(top_k, sim.shape[1]), dim=1)
    e = values.exp()
    return torch.zeros_like(sim).scatter_(1, idx, e / e.sum(1, keepdim=True))


class _Store:
    """Keys ``[1, C, N]``, shrinkage ``[1, 1, N]``, selection (or None), values ``[2, Cv, N]``, usage."""

    def __init__(self, count_usage: bool):
        self.count_usage = count_usage
        self.k = self.s = self.e = self.v = None
        self.use = self.life = None

    @property
    def size(self) -> int:
        return 0 if self.k is None else self.k.shape[-1]

    def add(self, k, v, s, e) -> None:
        n = k.shape[-1]
        use = torch.zeros(1, 1, n, device=k.device)
        life = torch.zeros(1, 1, n, device=k.device) + 1e-7
        if self.k is None:
            self.k, self.v, self.s, self.e, self.use, self.life = k, v, s, e, use, life
            return
        self.k = torch.cat([self.k, k], -1)
        self.v = torch.cat([self.v, v], -1)
        self.s = torch.cat([self.s, s], -1)
        if e is not None:
            self.e = torch.cat([self.e, e], -1)
        self.use = torch.cat([self.use, use], -1)
        self.life = torch.cat([self.life, life], -1)

    def update_usage(self, usage: torch.Tensor) -> None:
        if self.count_usage:
            self.use = self.use + usage.view_as(self.use)
            self.life = self.life + 1

    def usage(self) -> torch.Tensor:
        return self.use / self.life

    def _fields(self):
        return ("k", "s", "e", "v", "use", "life")

    def keep(self, index) -> None:
        for f in self._fields():
            t = getattr(self, f)
            if t is not None:
                setattr(self, f, t[:, :, index])

    def drop_range(self, start: int, end: int) -> None:
        n = self.size
        keep = torch.cat([torch.arange(0, start), torch.arange(end if end > 0 else n + end, n)]).to(self.k.device)
        self.keep(keep)

    def remove_obsolete(self, max_size: int) -> None:
        usage = self.usage().flatten()
        values, _ = torch.topk(usage, k=self.size - max_size, largest=False, sorted=True)
        self.keep(usage > values[-1])


class _Memory:
    def __init__(self, config: MemoryConfig, count_long_usage: bool):
        self.cfg = config
        self.work = _Store(count_usage=True)
        self.long = _Store(count_usage=count_long_usage)
        self.hidden = None
        self.hw = None

    def match(self, qk: torch.Tensor, qe: torch.Tensor) -> torch.Tensor:
        """Readout ``[1, 2, Cv, H, W]`` of the query key ``[1, C, H, W]``."""
        h, w = qk.shape[-2:]
        qk, qe = qk.flatten(2), qe.flatten(2)
        nl = self.long.size
        if nl:
            mk = torch.cat([self.long.k, self.work.k], -1)
            ms = torch.cat([self.long.s, self.work.s], -1)
            mv = torch.cat([self.long.v, self.work.v], -1)
        else:
            mk, ms, mv = self.work.k, self.work.s, self.work.v
        aff = topk_softmax(similarity(mk, ms, qk, qe), self.cfg.top_k)
        usage = aff.sum(2)
        self.work.update_usage(usage[:, nl:].flatten())
        if nl:
            self.long.update_usage(usage[:, :nl].flatten())
        out = mv @ aff  # [2, Cv, HW]
        return out.view(1, 2, -1, h, w)

    def add(self, key, shrinkage, value, selection) -> None:
        if self.hw is None:
            self.hw = key.shape[-2] * key.shape[-1]
        self.work.add(key.flatten(2), value[0].flatten(2), shrinkage.flatten(2), selection.flatten(2))
        cfg = self.cfg
        if self.work.size >= cfg.max_mid_term_frames * self.hw:
            if self.long.size >= cfg.max_long_term_elements - cfg.num_prototypes:
                self.long.remove_obsolete(cfg.max_long_term_elements - cfg.num_prototypes)
            self._consolidate()

    def _consolidate(self) -> None:
        hw, work = self.hw, self.work
        start, end = hw, work.size - self.cfg.min_mid_term_frames * hw + hw
        ck, cs, ce, cv = (t[:, :, start:end] for t in (work.k, work.s, work.e, work.v))
        usage = work.usage()[:, :, start:end]
        _, idx = torch.topk(usage, k=self.cfg.num_prototypes, dim=-1, sorted=True)
        idx = idx.flatten()
        pk, pe = ck[:, :, idx], ce[:, :, idx]
        aff = topk_softmax(similarity(ck, cs, pk, pe), None)
        work.drop_range(start, end)
        self.long.add(pk, cv @ aff, cs @ aff, None)


class Propagator:
    """Colorize a clip frame by frame from one exemplar (``InferenceCore.step_AnyExemplar``)."""

    def __init__(self, net: ColorMNetNet, config: MemoryConfig = MemoryConfig(), clip_length: int | None = None):
        self.net = net
        self.cfg = config
        if config.min_mid_term_frames < 2 or config.max_mid_term_frames <= config.min_mid_term_frames:
            raise ValueError("ColorMNet memory: need 2 <= min_mid_term_frames < max_mid_term_frames")
        # test.py counts long-term usage only for clips long enough to fill the long-term memory; for
        # shorter clips the count is never read (the long-term memory never fills), so a clip of
        # unknown length (a stream, a shot) counts it: same outputs, and a long one keeps its most used
        count_long = clip_length is None or (
            clip_length / (config.max_mid_term_frames - config.min_mid_term_frames) * config.num_prototypes
            >= config.max_long_term_elements)
        self.memory = _Memory(config, count_long)
        self.t = -1
        self.last_mem_t = 0
        self.last_key = self.last_value = None

    def _remember(self, key, shrinkage, selection, value) -> None:
        self.memory.add(key, shrinkage, value, selection)
        self.last_mem_t = self.t
        self.last_key, self.last_value = key, value

    @torch.no_grad()
    def step(self, lll: torch.Tensor, exemplar: tuple[torch.Tensor, torch.Tensor] | None = None,
             end: bool = False) -> torch.Tensor:
        """``lll`` ``[3, H, W]`` (normalised L x3); ``exemplar`` ``(lll, ab)`` on the first frame only.

        Returns the predicted ab ``[2, H, W]`` in [-1, 1]. ``end`` marks the clip's last frame
        (nothing is added to the memory then).
        """
        net, mem = self.net, self.memory
        self.t += 1
        image, pad = pad_to(lll)
        image = image[None]
        is_mem = (self.t - self.last_mem_t >= self.cfg.mem_every or exemplar is not None) and not end
        deep = is_mem
        normal_update = not deep and not end
        key, shrinkage, selection, feats = net.encode_key(image)
        if exemplar is not None:
            deep = False
            e_lll = pad_to(exemplar[0])[0][None]
            e_ab = pad_to(exemplar[1])[0][None]
            e_key, e_shr, e_sel, e_feats = net.encode_key(e_lll)
            if mem.hidden is None:
                mem.hidden = torch.zeros(1, 2, net.decoder.hidden_update.hidden, *key.shape[-2:], device=key.device)
            e_value, _ = net.value_encoder(e_lll, e_feats[0], mem.hidden, e_ab, deep_update=False)
            self._remember(e_key, e_shr, e_sel, e_value)
        readout = mem.match(key, selection)
        if exemplar is None:
            v = self.last_value.flatten(1, 2)
            readout = readout + net.short_term_attn(key, self.last_key, v).view_as(readout)
        hidden, ab = net.segment(feats, readout, mem.hidden, h_out=normal_update)
        if normal_update:
            mem.hidden = hidden
        if is_mem:
            value, hidden = net.value_encoder(image, feats[0], mem.hidden, ab, deep_update=deep)
            self._remember(key, shrinkage, selection, value)
            if deep:
                mem.hidden = hidden
        return _crop(ab[0], pad)
