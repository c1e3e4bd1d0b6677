"""The CLIP encoder against open_clip's own forward (the official code path): embeddings, every block's
tokens and the normed output, at the native 224 px and at another size with the position embedding
resized as this encoder documents (bicubic, align_corners=False)."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F

from semantic_restore.encoders import create_encoder

pytest.importorskip("open_clip")


@pytest.fixture(scope="module")
def clip():
    enc = create_encoder("clip_vitb32", pretrained=False)
    g = torch.Generator().manual_seed(7)
    with torch.no_grad():  # non-trivial norms and position embedding (fresh LayerNorms are identities)
        for name, p in enc.model.visual.named_parameters():
            if "ln" in name and name.endswith("weight"):
                p.copy_(1 + 0.2 * torch.randn(p.shape, generator=g))
            elif "ln" in name and name.endswith("bias"):
                p.copy_(0.2 * torch.randn(p.shape, generator=g))
            elif name == "positional_embedding":
                p.copy_(0.5 * torch.randn(p.shape, generator=g))
    return enc.eval()


def _reference(enc, size):
    """open_clip's visual tower with its position embedding resized to ``size`` patches (test-side)."""
    v = copy.deepcopy(enc.model.visual)
    pos = v.positional_embedding.data
    g = int(round((pos.shape[0] - 1) ** 0.5))
    grid = pos[1:].reshape(1, g, g, -1).permute(0, 3, 1, 2)
    if size != (g, g):
        grid = F.interpolate(grid, size=size, mode="bicubic", align_corners=False)
    v.positional_embedding = torch.nn.Parameter(torch.cat([pos[:1], grid[0].flatten(1).T], 0))
    return v


@pytest.mark.parametrize("hw", [(224, 224), (160, 256)])
def test_clip_dense_and_embed_equal_open_clip(clip, hw):
    x = torch.rand(1, 3, *hw, generator=torch.Generator().manual_seed(8))
    v = _reference(clip, (hw[0] // 32, hw[1] // 32))
    xp = clip.prepare(x)
    depth = clip.config.extra["depth"]
    names = ["block0", "block5", f"block{depth - 1}", "last"]
    got = clip.dense(x, names)
    with torch.no_grad():
        raw = v.forward_intermediates(xp, indices=[0, 5, depth - 1], intermediates_only=True)["image_intermediates"]
        last = v.forward_intermediates(xp, indices=[depth - 1], normalize_intermediates=True,
                                       intermediates_only=True)["image_intermediates"][0]
        emb = F.normalize(v(xp), dim=-1)
    for n, want in zip(names, [*raw, last]):
        torch.testing.assert_close(got[n], want, atol=1e-4, rtol=1e-4)
    assert (got["last"] - got[f"block{depth - 1}"]).abs().max() > 0.1  # the output is normed, the block is not
    torch.testing.assert_close(clip.embed(x), emb, atol=1e-5, rtol=1e-4)
