"""A random-weight SD1.5 checkpoint in the official key layout, built and saved by ComfyUI's own code
(model config ``SD15`` from ``comfy.model_detection``, its CLIP target, the default SD VAE,
``comfy.sd.save_checkpoint``), cast to fp16 (2.1 GB). Maintainer tool (issue 14): it lets the SD1.5
example workflows run end to end where no real checkpoint can be downloaded; the images it makes
are noise. Run from a ComfyUI checkout, never inside this repository::

    cd ComfyUI && PYTHONPATH=. python /path/to/semantic_restore/scripts/make_random_sd15.py \
        models/checkpoints/v1-5-pruned-emaonly-fp16.safetensors
"""
import os
import sys

import torch

out = sys.argv[1]
sys.argv = sys.argv[:1] + ["--cpu"]
import comfy.options
comfy.options.enable_args_parsing()
import comfy.model_detection as md
import comfy.model_patcher
import comfy.sd
import comfy.utils
from comfy.ldm.models.autoencoder import AutoencoderKL

g = torch.Generator().manual_seed(0)


def randomize(module):
    with torch.no_grad():
        for name, p in module.named_parameters():
            if p.dim() == 0:
                p.fill_(4.6052)  # CLIP logit_scale (ln 100), as released
            elif p.dim() == 1 and ("norm" in name or name.endswith("ln_1.weight") or name.endswith("ln_2.weight")) and name.endswith("weight"):
                p.copy_(torch.ones_like(p))
            elif p.dim() == 1:
                p.copy_(torch.zeros_like(p))
            else:
                fan_in = p[0].numel()
                p.copy_(torch.randn(p.shape, generator=g) / fan_in ** 0.5)


cfg = {'use_checkpoint': False, 'image_size': 32, 'out_channels': 4, 'use_spatial_transformer': True, 'legacy': False,
       'adm_in_channels': None, 'dtype': torch.float32, 'in_channels': 4, 'model_channels': 320,
       'num_res_blocks': [2, 2, 2, 2], 'transformer_depth': [1, 1, 1, 1, 1, 1, 0, 0], 'channel_mult': [1, 2, 4, 4],
       'transformer_depth_middle': 1, 'use_linear_in_transformer': False, 'context_dim': 768, 'num_heads': 8,
       'transformer_depth_output': [1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0],
       'use_temporal_attention': False, 'use_temporal_resblock': False}  # = model_detection SD15
model_config = md.model_config_from_unet_config(cfg)
print("model config:", type(model_config).__name__)
model = model_config.get_model({}, "")
randomize(model.diffusion_model)
patcher = comfy.model_patcher.ModelPatcher(model, torch.device("cpu"), torch.device("cpu"))

clip = comfy.sd.CLIP(model_config.clip_target({}), embedding_directory=None)
randomize(clip.cond_stage_model)

ddconfig = {'double_z': True, 'z_channels': 4, 'resolution': 256, 'in_channels': 3, 'out_ch': 3, 'ch': 128,
            'ch_mult': [1, 2, 4, 4], 'num_res_blocks': 2, 'attn_resolutions': [], 'dropout': 0.0}
vae_model = AutoencoderKL(ddconfig=ddconfig, embed_dim=4)
randomize(vae_model)
vae = comfy.sd.VAE(sd=vae_model.state_dict())

tmp = out + ".fp32.tmp.safetensors"
comfy.sd.save_checkpoint(tmp, patcher, clip=clip, vae=vae)
sd = comfy.utils.load_torch_file(tmp, safe_load=True)
sd = {k: (v.half() if v.is_floating_point() else v) for k, v in sd.items()}
comfy.utils.save_torch_file(sd, out)
os.remove(tmp)
print(len(sd), "tensors;", sorted({k.split('.')[0] for k in sd}), sum(v.numel() for v in sd.values()) / 1e6, "M params")
