"""The one module that talks to ComfyUI. Everything else in the pack is plain PyTorch.

Each function imports ComfyUI lazily, so the pack (and its CLI and tests) imports without
ComfyUI installed; outside ComfyUI they fall back to plain behaviour (no progress bar, no
interruption, folders from :mod:`utils.paths` only). Tests replace the ComfyUI modules with
fakes built from the real signatures (``tests/fakes``).

Only public ComfyUI functions are called; each call cites the file and function it relies on
(ComfyUI v0.3.64).
"""

from __future__ import annotations

import importlib.util
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from .utils.paths import default_search_dirs

logger = logging.getLogger(__name__)

MODEL_FOLDER = "semantic_restore"


def available() -> bool:
    """True when running inside ComfyUI (its ``folder_paths`` and ``comfy`` are importable)."""
    return importlib.util.find_spec("folder_paths") is not None and importlib.util.find_spec("comfy") is not None


def register_model_folder() -> None:
    """Register ``models/semantic_restore`` with ComfyUI (idempotent)."""
    import folder_paths

    # folder_paths.py: add_model_folder_path(folder_name, full_folder_path, is_default=False);
    # it ignores a path that is already registered.
    folder_paths.add_model_folder_path(MODEL_FOLDER, os.path.join(folder_paths.models_dir, MODEL_FOLDER), is_default=True)


def model_search_dirs(*folders: str) -> list[str]:
    """Folders to search for weights: ComfyUI's registered folders first, then env var and cache.

    Args:
        folders: ComfyUI folder names, e.g. ``"semantic_restore"``, ``"clip_vision"``.
    """
    dirs: list[str] = []
    if available():
        import folder_paths

        register_model_folder()
        for name in folders or (MODEL_FOLDER,):
            try:
                # folder_paths.py: get_folder_paths(folder_name) -> list[str]; KeyError if unknown.
                dirs.extend(folder_paths.get_folder_paths(name))
            except KeyError:
                logger.debug("ComfyUI has no model folder %r", name)
    return default_search_dirs(dirs)


def progress_bar(total: int) -> Callable[[int], None]:
    """Return ``advance(n)`` that moves ComfyUI's progress bar by ``n`` of ``total`` steps."""
    if not available():
        return lambda n=1: None
    import comfy.utils

    # comfy/utils.py: class ProgressBar(total, node_id=None) with .update(value).
    bar = comfy.utils.ProgressBar(total)
    return lambda n=1: bar.update(n)


def progress_text(text: str) -> None:
    """Show ``text`` on the running node (e.g. "frame 2/5: matching"); a no-op outside ComfyUI and
    on versions without progress text."""
    if not available():
        return
    try:
        # comfy_execution/utils.py: get_executing_context() -> (prompt_id, node_id, list_index);
        # server.py: PromptServer.send_progress_text(text, node_id) (ComfyUI >= 0.3.40s, as GetImageSize uses it).
        from comfy_execution.utils import get_executing_context
        from server import PromptServer
    except ImportError:
        return
    ctx = get_executing_context()
    server = getattr(PromptServer, "instance", None)
    if ctx is not None and server is not None and hasattr(server, "send_progress_text"):
        server.send_progress_text(text, ctx.node_id)


def throw_if_interrupted() -> None:
    """Raise ComfyUI's interruption exception when the user pressed Cancel."""
    if not available():
        return
    import comfy.model_management

    # comfy/model_management.py: throw_exception_if_processing_interrupted() raises
    # InterruptProcessingException, which ComfyUI's executor handles.
    comfy.model_management.throw_exception_if_processing_interrupted()


def torch_device() -> torch.device:
    """ComfyUI's compute device; outside ComfyUI, CUDA when present, else CPU."""
    if available():
        import comfy.model_management

        # comfy/model_management.py: get_torch_device()
        return comfy.model_management.get_torch_device()
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def is_oom(exc: BaseException) -> bool:
    """True when ``exc`` is an out-of-memory error, by ComfyUI's own test where it has one.

    Newer ComfyUI has ``model_management.raise_non_oom(e)`` (re-raises anything that is not OOM);
    older versions define ``model_management.OOM_EXCEPTION`` (``torch.cuda.OutOfMemoryError``, or
    plain ``Exception`` on a torch without it). Outside ComfyUI, and where ``OOM_EXCEPTION`` is
    plain ``Exception``, torch's ``OutOfMemoryError`` or its "out of memory" message decides, so
    an interruption or an input error is never taken for OOM.
    """
    if available():
        import comfy.model_management as mm

        raise_non_oom = getattr(mm, "raise_non_oom", None)  # comfy/model_management.py: raise_non_oom(e)
        if raise_non_oom is not None:
            try:
                raise_non_oom(exc)
            except BaseException:  # re-raised: not an OOM (the caller raises it again itself)
                return False
            return True
        oom = getattr(mm, "OOM_EXCEPTION", Exception)  # comfy/model_management.py: module attribute OOM_EXCEPTION
        if oom is not Exception:
            return isinstance(exc, oom)
    torch_oom = getattr(torch, "OutOfMemoryError", torch.cuda.OutOfMemoryError)
    return isinstance(exc, torch_oom) or (isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower())


# --- Sampling, VAE and model patching for the upscaler (issue 6) -------------------------------
# The upscaler's core (upscale/pipeline.py) receives this module as its ``bridge``; every function
# below has the signature listed in pipeline.SamplingBridge. Pixels cross this boundary as
# [B, 3, H, W] RGB in [0, 1]; ComfyUI's VAE takes and returns [B, H, W, C].

# Used for the node's dropdowns only when ComfyUI is absent (CLI, tests, docs). Inside ComfyUI the
# lists come from comfy.samplers.KSampler, so new samplers appear without a pack update.
FALLBACK_SAMPLERS = ["euler", "euler_ancestral", "heun", "dpm_2", "lms", "dpmpp_2m", "dpmpp_2m_sde", "dpmpp_sde",
                     "dpmpp_3m_sde", "ddpm", "lcm", "ddim", "uni_pc"]
FALLBACK_SCHEDULERS = ["normal", "karras", "exponential", "sgm_uniform", "simple", "ddim_uniform", "beta",
                       "linear_quadratic", "kl_optimal"]
VAE_TILE = 512  # pixels, ComfyUI's VAEEncodeTiled / VAEDecodeTiled defaults
VAE_TILE_OVERLAP = 64


def sampler_names() -> list[str]:
    """Sampler names for a dropdown: ComfyUI's own list, or a fallback outside ComfyUI."""
    if available():
        import comfy.samplers

        # comfy/samplers.py: class KSampler, attribute SAMPLERS (= SAMPLER_NAMES)
        return list(comfy.samplers.KSampler.SAMPLERS)
    return list(FALLBACK_SAMPLERS)


def scheduler_names() -> list[str]:
    """Scheduler names for a dropdown: ComfyUI's own list, or a fallback outside ComfyUI."""
    if available():
        import comfy.samplers

        # comfy/samplers.py: class KSampler, attribute SCHEDULERS (= SCHEDULER_NAMES)
        return list(comfy.samplers.KSampler.SCHEDULERS)
    return list(FALLBACK_SCHEDULERS)


def latent_factor(vae) -> int:
    """Pixels per latent pixel of ``vae`` (8 for SD1.5/SDXL/SD3/Flux)."""
    # comfy/sd.py: VAE.spacial_compression_encode() -> downscale_ratio (last entry for video VAEs)
    return int(vae.spacial_compression_encode())


def latent_channels(vae) -> int:
    """Latent channels of ``vae`` (4 for SD1.5/SDXL, 16 for SD3/Flux)."""
    # comfy/sd.py: VAE.latent_channels (attribute set from the checkpoint's config)
    return int(vae.latent_channels)


def check_model_vae(model, vae) -> None:
    """Raise a clear error when the MODEL and VAE use different latent channels (e.g. SDXL + Flux VAE)."""
    from .utils.checks import input_error

    # comfy/model_patcher.py: ModelPatcher.get_model_object(name); comfy/latent_formats.py: LatentFormat.latent_channels
    model_ch = int(model.get_model_object("latent_format").latent_channels)
    vae_ch = latent_channels(vae)
    if model_ch != vae_ch:
        raise input_error("vae", f"a VAE with {model_ch} latent channels (the model's)", f"{vae_ch} channels",
                          "Connect the VAE that belongs to this checkpoint.")


def _is_video_vae(vae) -> bool:
    # comfy/sd.py: VAE.latent_dim is 3 for video VAEs (Wan, Hunyuan...), which treat a batch as frames.
    return getattr(vae, "latent_dim", 2) == 3


def vae_encode(vae, pixels: torch.Tensor, tiled: bool = False) -> torch.Tensor:
    """Encode ``[B, 3, H, W]`` RGB in ``[0, 1]`` to a latent; ``tiled`` uses ComfyUI's tiled encoder."""
    x = pixels.movedim(1, -1)
    if _is_video_vae(vae) and x.shape[0] > 1:  # encode images one by one, never as frames of a clip
        return torch.cat([vae_encode(vae, p[None].movedim(-1, 1), tiled) for p in x])
    if tiled:
        # comfy/sd.py: VAE.encode_tiled(pixel_samples, tile_x=None, tile_y=None, overlap=None, ...), pixels
        # [B,H,W,C]; tile/overlap in pixels as nodes.py VAEEncodeTiled passes them.
        return vae.encode_tiled(x, tile_x=VAE_TILE, tile_y=VAE_TILE, overlap=VAE_TILE_OVERLAP)
    # comfy/sd.py: VAE.encode(pixel_samples) with pixel_samples [B,H,W,C] in [0,1]
    return vae.encode(x)


def vae_decode(vae, latent: torch.Tensor, tiled: bool = False) -> torch.Tensor:
    """Decode a latent to ``[B, 3, H, W]`` RGB in ``[0, 1]``; ``tiled`` uses ComfyUI's tiled decoder."""
    if tiled:
        c = int(vae.spacial_compression_decode())  # comfy/sd.py: VAE.spacial_compression_decode()
        # comfy/sd.py: VAE.decode_tiled(samples, tile_x=None, tile_y=None, overlap=None, ...), tile/overlap
        # in latent pixels as nodes.py VAEDecodeTiled passes them.
        images = vae.decode_tiled(latent, tile_x=VAE_TILE // c, tile_y=VAE_TILE // c, overlap=VAE_TILE_OVERLAP // c)
    else:
        # comfy/sd.py: VAE.decode(samples_in) -> [B,H,W,C] ([B,T,H,W,C] for video VAEs)
        images = vae.decode(latent)
    if images.ndim == 5:  # as nodes.py VAEDecode does: frames -> batch
        images = images.reshape(-1, *images.shape[-3:])
    return images[..., :3].movedim(-1, 1).float()


def sample(model, latent: torch.Tensor, seed: int, steps: int, cfg: float, sampler_name: str, scheduler: str,
           positive: list, negative: list, denoise: float, callback: Callable[[int], None] | None = None) -> torch.Tensor:
    """img2img-sample ``latent`` like ComfyUI's KSampler node (``nodes.py`` ``common_ksampler``).

    ``callback(1)`` is called once per sampler step (for one progress bar over all tiles).
    """
    import comfy.sample
    import comfy.utils

    # comfy/sample.py: fix_empty_latent_channels(model, latent_image) (no-op for non-empty latents;
    # adds the frame axis for models with 3-D latents), as nodes.py common_ksampler does.
    latent = comfy.sample.fix_empty_latent_channels(model, latent)
    # comfy/sample.py: prepare_noise(latent_image, seed, noise_inds=None) -> CPU noise like latent
    noise = comfy.sample.prepare_noise(latent, seed)
    # comfy/samplers.py: KSAMPLER.sample calls callback(step, denoised, x, total_steps)
    cb = None if callback is None else (lambda step, x0, x, total_steps: callback(1))
    # comfy/sample.py: sample(model, noise, steps, cfg, sampler_name, scheduler, positive, negative,
    # latent_image, denoise=1.0, ..., callback=None, disable_pbar=False, seed=None)
    return comfy.sample.sample(model, noise, steps, cfg, sampler_name, scheduler, positive, negative, latent,
                               denoise=denoise, callback=cb, disable_pbar=not comfy.utils.PROGRESS_BAR_ENABLED,
                               seed=seed)


def latent_to_model_space(model, latent: torch.Tensor) -> torch.Tensor:
    """A VAE latent in the space the sampler works in (what post-CFG functions see as ``denoised``)."""
    # comfy/model_patcher.py: ModelPatcher.get_model_object("latent_format");
    # comfy/latent_formats.py: LatentFormat.process_in(latent) (CFGGuider.inner_sample applies it too)
    return model.get_model_object("latent_format").process_in(latent)


def anchored_model(model, post_cfg_function: Callable[[dict], torch.Tensor]):
    """A ``clone()`` of ``model`` with ``post_cfg_function`` appended to its post-CFG functions."""
    # comfy/model_patcher.py: ModelPatcher.clone() deep-copies model_options, so the caller's MODEL
    # is untouched; ModelPatcher.set_model_sampler_post_cfg_function(post_cfg_function,
    # disable_cfg1_optimization=False) appends to model_options["sampler_post_cfg_function"].
    patched = model.clone()
    patched.set_model_sampler_post_cfg_function(post_cfg_function)
    return patched


def run_upscale_model(upscale_model, image: torch.Tensor) -> torch.Tensor:
    """Run a ComfyUI ``UPSCALE_MODEL`` on ``[B, 3, H, W]``; returns ``[B, 3, s*H, s*W]`` in ``[0, 1]`` on the CPU.

    Calls ComfyUI's own node, ``comfy_extras/nodes_upscale_model.py`` ``ImageUpscaleWithModel``
    (its memory estimate, model loading, tiling and OOM tile halving, whatever the installed
    version does). Only when that module cannot be imported (a trimmed or very old ComfyUI, and
    the tests' fakes) a plain fallback runs: ``comfy.utils.tiled_scale`` with 512 px tiles and 32 px
    overlap, halved on out-of-memory down to 128 px.
    """
    x = image.movedim(1, -1)
    try:
        from comfy_extras.nodes_upscale_model import ImageUpscaleWithModel
    except ImportError:
        ImageUpscaleWithModel = None
    if ImageUpscaleWithModel is not None:
        if hasattr(ImageUpscaleWithModel, "define_schema"):  # V3 node API: classmethod execute -> io.NodeOutput
            out = ImageUpscaleWithModel.execute(upscale_model, x)
        else:  # older: instance method upscale(upscale_model, image) -> (IMAGE,)
            out = ImageUpscaleWithModel().upscale(upscale_model, x)
        result = out.args[0] if hasattr(out, "args") else out[0]
        return result[..., :3].movedim(-1, 1).float().cpu().clamp(0, 1)
    import comfy.model_management as mm
    import comfy.utils

    device = mm.get_torch_device()  # comfy/model_management.py: get_torch_device()
    # comfy/model_management.py: module_size(module), free_memory(memory_required, device); the 384.0
    # factor is ComfyUI's own estimate for these models.
    memory_required = mm.module_size(upscale_model.model) + image.nelement() * image.element_size()
    memory_required += (512 * 512 * 3) * image.element_size() * max(upscale_model.scale, 1.0) * 384.0
    mm.free_memory(memory_required, device)
    upscale_model.to(device)
    tile, overlap = 512, 32
    try:
        while True:
            try:
                # comfy/utils.py: tiled_scale(samples, function, tile_x, tile_y, overlap, upscale_amount, ...)
                out = comfy.utils.tiled_scale(image.to(device), lambda a: upscale_model(a), tile_x=tile, tile_y=tile,
                                              overlap=overlap, upscale_amount=upscale_model.scale)
                break
            except Exception as exc:
                if not is_oom(exc) or tile // 2 < 128:
                    raise
                tile //= 2
    finally:
        upscale_model.to("cpu")
    return out.float().cpu().clamp(0, 1)


# --- Encoders under ComfyUI's model management (issue 3, handle: issue 12) ----------------------
@dataclass
class EncoderHandle:
    """What Load Encoder outputs on its ``SEMRESTORE_ENCODER`` socket (as core ComfyUI's CLIP vision
    loader returns an object holding the model and its ``ModelPatcher``).

    Attributes:
        encoder: the plain :class:`~.encoders.Encoder` the core functions take.
        patcher: its ComfyUI ``ModelPatcher`` (``None`` outside ComfyUI).
        device: where the user asked it to run (``None``: ComfyUI's compute device).
        name: the registry name, for reports.
    """

    encoder: torch.nn.Module
    patcher: Any = None
    device: torch.device | None = None
    name: str = ""


def encoder_handle(encoder: torch.nn.Module, device: torch.device | None = None) -> EncoderHandle:
    """Wrap ``encoder`` for ComfyUI: one ``ModelPatcher`` per handle, so ComfyUI can offload it."""
    name = str(getattr(getattr(encoder, "config", None), "name", "") or type(encoder).__name__)
    if not available():
        return EncoderHandle(encoder, None, device, name)
    import comfy.model_management as mm
    import comfy.model_patcher

    # comfy/model_patcher.py: ModelPatcher(model, load_device, offload_device, size=0, weight_inplace_update=False)
    # comfy/model_management.py: unet_offload_device() (CPU unless --gpu-only / high-vram)
    patcher = comfy.model_patcher.ModelPatcher(encoder, load_device=device or mm.get_torch_device(),
                                               offload_device=mm.unet_offload_device())
    return EncoderHandle(encoder, patcher, device, name)


def use_encoder(handle: EncoderHandle) -> torch.nn.Module:
    """Make the handle's encoder ready to run and return the plain encoder.

    Inside ComfyUI its ``ModelPatcher`` is loaded with ``load_models_gpu`` (ComfyUI can offload it
    when another model needs the memory); outside, the encoder is moved to ``handle.device``.
    """
    if handle.patcher is None or not available():
        return handle.encoder if handle.device is None else handle.encoder.to(handle.device)
    import comfy.model_management as mm

    # comfy/model_management.py: load_models_gpu(models, memory_required=0, force_patch_weights=False, ...)
    mm.load_models_gpu([handle.patcher])
    return handle.encoder
