"""Write ``example_workflows/*.json`` (ComfyUI UI format, as File -> Save writes it).

The workflows are described below as nodes and named links; widget values start from each of
our nodes' ``INPUT_TYPES`` defaults, so the files follow the nodes when their inputs change.
Run after changing a node's inputs, then check them with ``tests/test_comfy_loading.py`` and,
in a real ComfyUI, with ``scripts/comfyui_smoke.py``::

    python scripts/make_example_workflows.py

Thumbnails (``<name>.jpg``) are made from the real outputs of ``comfyui_smoke.py`` runs.
"""

from __future__ import annotations

import json
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from semantic_restore.nodes import NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS
from workflow_layout import layout

ROOT = Path(__file__).resolve().parents[1]
WIDGET_TYPES = {"INT", "FLOAT", "STRING", "BOOLEAN"}
CORE_VERSION = "0.3.64"

# Core nodes: (link inputs [(name, type, optional)], outputs [(name, type)]), from ComfyUI v0.3.64.
CORE = {
    "LoadImage": ([], [("IMAGE", "IMAGE"), ("MASK", "MASK")]),
    "SaveImage": ([("images", "IMAGE", False)], []),
    "PreviewImage": ([("images", "IMAGE", False)], []),
    "MaskToImage": ([("mask", "MASK", False)], [("IMAGE", "IMAGE")]),
    "CheckpointLoaderSimple": ([], [("MODEL", "MODEL"), ("CLIP", "CLIP"), ("VAE", "VAE")]),
    "CLIPTextEncode": ([("clip", "CLIP", False)], [("CONDITIONING", "CONDITIONING")]),
    "LoadVideo": ([], [("VIDEO", "VIDEO")]),
    "GetVideoComponents": ([("video", "VIDEO", False)], [("images", "IMAGE"), ("audio", "AUDIO"), ("fps", "FLOAT")]),
    "CreateVideo": ([("images", "IMAGE", False), ("audio", "AUDIO", True)], [("VIDEO", "VIDEO")]),
    "SaveVideo": ([("video", "VIDEO", False)], []),
    "MarkdownNote": ([], []),
    "PreviewAny": ([("source", "*", False)], []),
    # issue 13 (diffusion workflows)
    "ImageScaleToTotalPixels": ([("image", "IMAGE", False)], [("IMAGE", "IMAGE")]),
    "ImageFromBatch": ([("image", "IMAGE", False)], [("IMAGE", "IMAGE")]),
    "VAEEncode": ([("pixels", "IMAGE", False), ("vae", "VAE", False)], [("LATENT", "LATENT")]),
    "KSampler": ([("model", "MODEL", False), ("positive", "CONDITIONING", False), ("negative", "CONDITIONING", False),
                  ("latent_image", "LATENT", False)], [("LATENT", "LATENT")]),
    "VAEDecode": ([("samples", "LATENT", False), ("vae", "VAE", False)], [("IMAGE", "IMAGE")]),
}


# Titles ComfyUI v0.3.64 shows for the core nodes (nodes.py NODE_DISPLAY_NAME_MAPPINGS), for sizing.
CORE_TITLES = {"LoadImage": "Load Image", "SaveImage": "Save Image", "PreviewImage": "Preview Image",
               "MaskToImage": "Convert Mask to Image", "CheckpointLoaderSimple": "Load Checkpoint",
               "CLIPTextEncode": "CLIP Text Encode (Prompt)", "LoadVideo": "Load Video",
               "GetVideoComponents": "Get Video Components", "CreateVideo": "Create Video", "SaveVideo": "Save Video",
               "MarkdownNote": "Markdown Note", "PreviewAny": "Preview Any"}


# ComfyUI's template browser (frontend 1.27) shows a custom node's example by its FILE NAME, as
# title and (with - and _ as spaces) as description, in the order the server lists the folder; it
# reads no title or index file for custom nodes. So the file names are the titles, numbered in the
# order to try them. Workflows not listed here keep their key as file name.
TEMPLATE_TITLES = {
    "exemplar_colorize": "1 Colorize a photo from a colour reference",
    "hint_colorize": "2 Colorize with painted colour hints",
    "auto_reference": "3 Pick the best reference automatically",
    "film_temporal": "4 Colorize a film with steady colours",
    "hint_evaluation": "5 Score hint colorization against the truth",
    "dino_upscale": "6 Upscale with the drift guard (SD1.5)",
    "full_restore": "7 Colorize then upscale a photo (SD1.5)",
    "film_shots": "4b Colorize a film shot by shot",
    "diffusion_colorize": "8 Take a diffusion model's colour, keep my photo's luminance (SD1.5)",
    "reference_from_diffusion": "9 Colorize a film from a diffusion keyframe (SD1.5)",
    "icolorit_hints": "2b Colorize with hints by the trained iColoriT model",  # issue 15
    "colormnet_film": "4c Colorize a film with the trained ColorMNet",  # issue 15
}


@dataclass
class N:
    """A node. ``pos`` is only a hint: ``workflow_layout.layout`` places every node by data flow
    and uses ``pos[1]`` to order nodes within a column; ``size`` is a minimum."""

    id: int
    type: str
    pos: tuple[int, int]
    widgets: list | dict = field(default_factory=dict)  # list: all values; dict: overrides by name
    title: str | None = None
    size: tuple[int, int] = (0, 0)


def _spec(cls) -> list[tuple[str, tuple]]:
    spec = cls.INPUT_TYPES()
    return [(n, e) for s in ("required", "optional") for n, e in spec.get(s, {}).items()]


def _is_widget(entry: tuple) -> bool:
    opts = entry[1] if len(entry) > 1 else {}
    return not opts.get("forceInput") and (isinstance(entry[0], (list, tuple)) or entry[0] in WIDGET_TYPES)


def _ours_io(cls) -> tuple[list[tuple[str, str, bool]], list[tuple[str, str]]]:
    required = set(cls.INPUT_TYPES().get("required", {}))
    inputs = [(n, e[0], n not in required) for n, e in _spec(cls) if not _is_widget(e)]
    return inputs, list(zip(cls.RETURN_NAMES, cls.RETURN_TYPES))


def _ours_widgets(cls, overrides: dict) -> list:
    values = []
    for name, entry in _spec(cls):
        if not _is_widget(entry):
            continue
        opts = entry[1] if len(entry) > 1 else {}
        default = opts.get("default", entry[0][0] if isinstance(entry[0], (list, tuple)) else None)
        values.append(overrides.pop(name, default))
        if entry[0] == "INT" and (name in ("seed", "noise_seed") or opts.get("control_after_generate")):
            values.append("fixed")
    if overrides:
        raise KeyError(f"{cls.__name__}: unknown widgets {sorted(overrides)}")
    return values


def _multiline_height(classes: dict) -> dict[str, int]:
    """Extra height per node type of ours: 70 px per multiline text box."""
    out = {}
    for t, cls in classes.items():
        n = sum(1 for _, e in _spec(cls) if e[0] == "STRING" and len(e) > 1 and e[1].get("multiline"))
        if n:
            out[t] = 70 * n
    return out


def build(name: str, nodes: list[N], links: list[tuple[int, str, int, str]], classes: dict) -> dict:
    io = {}
    for n in nodes:
        io[n.id] = CORE[n.type] if n.type in CORE else _ours_io(classes[n.type])
    out_nodes = []
    link_rows = []
    for k, (src, out_name, dst, in_name) in enumerate(links, start=1):
        outs = io[src][1]
        ins = io[dst][0]
        src_slot = [o[0] for o in outs].index(out_name)
        dst_slot = [i[0] for i in ins].index(in_name)
        link_rows.append([k, src, src_slot, dst, dst_slot, outs[src_slot][1]])
    for order, n in enumerate(nodes):
        ins, outs = io[n.id]
        node = {
            "id": n.id, "type": n.type, "pos": list(n.pos), "size": list(n.size), "flags": {}, "order": order,
            "mode": 0,
            "inputs": [dict(name=i, type=t, link=next((r[0] for r in link_rows if r[3] == n.id and r[4] == s), None),
                            **({"shape": 7} if opt else {})) for s, (i, t, opt) in enumerate(ins)],
            "outputs": [dict(name=o, type=t, links=[r[0] for r in link_rows if r[1] == n.id and r[2] == s] or None)
                        for s, (o, t) in enumerate(outs)],
            "properties": {"Node name for S&R": n.type,
                           **({"cnr_id": "comfy-core", "ver": CORE_VERSION} if n.type in CORE
                              else {"cnr_id": "semantic-restore"})},
            "widgets_values": (list(n.widgets) if isinstance(n.widgets, list)
                               else _ours_widgets(classes[n.type], dict(n.widgets))),
        }
        if n.title:
            node["title"] = n.title
        out_nodes.append(node)
    wf = {
        "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"semantic-restore/{name}")), "revision": 0,
        "last_node_id": max(n.id for n in nodes), "last_link_id": len(link_rows),
        "nodes": out_nodes, "links": link_rows, "groups": [], "config": {},
        "extra": {}, "version": 0.4,
    }
    return layout(wf, {**CORE_TITLES, **NODE_DISPLAY_NAME_MAPPINGS}, _multiline_height(classes))


def note(i: int, pos: tuple[int, int], text: str) -> N:
    return N(i, "MarkdownNote", pos, [text], title="About this workflow", size=(320, 220))


def workflows() -> dict[str, tuple[list[N], list[tuple[int, str, int, str]]]]:
    """The example graphs: nodes and (src id, output name, dst id, input name) links."""
    wf = {}
    wf["exemplar_colorize"] = ([
        N(1, "LoadImage", (0, 0), ["demo_target_gray.png", "image"], "Black-and-white photo", (300, 330)),
        N(2, "LoadImage", (0, 380), ["demo_reference.jpg", "image"], "Colour reference", (300, 330)),
        N(3, "SemRestoreExemplarColorize", (360, 0), {}, size=(340, 230)),
        N(4, "SaveImage", (760, 0), ["semantic_restore/colorized"]),
        N(5, "MaskToImage", (760, 450), [], size=(200, 30)),
        N(6, "PreviewImage", (1000, 450), [], "Match confidence", (300, 300)),
        note(7, (360, 300), "Colorizes a black-and-white photo from a colour photo of a similar scene. Copy "
             "the files in the pack's `assets/` folder (every example workflow's inputs) into ComfyUI's `input/` "
             "folder, or load your own. The output keeps the photo's size and luminance; the confidence shows where "
             "colours came from a clear match."),
    ], [(1, "IMAGE", 3, "image"), (2, "IMAGE", 3, "reference"), (3, "image", 4, "images"),
        (3, "confidence", 5, "mask"), (5, "IMAGE", 6, "images")])
    wf["film_temporal"] = ([
        N(1, "LoadVideo", (0, 0), ["film_gray.mp4", "image"], "Black-and-white film", (300, 330)),
        N(2, "GetVideoComponents", (0, 380), [], size=(220, 70)),
        N(3, "LoadImage", (0, 500), ["film_reference.jpg", "image"], "Colour reference", (300, 330)),
        N(4, "SemRestoreExemplarColorize", (360, 0), {"temporal_weight": 0.7}, size=(340, 230)),
        N(5, "CreateVideo", (760, 0), [8], size=(270, 80)),
        N(6, "SaveVideo", (1060, 0), ["video/semantic_restore", "auto", "auto"]),
        N(7, "SemRestoreColorMetrics", (760, 300), [], size=(300, 150)),
        N(8, "PreviewAny", (760, 500), [], "Flicker report", (300, 200)),
        note(9, (360, 300), "Colorizes every frame of a film from one colour reference. `temporal_weight` makes each "
             "frame reuse the previous frame's colours (chroma only, no ghosting); Color Metrics reports the flicker. "
             "Set the frame rate of Create Video to your film's (8 here)."),
    ], [(1, "VIDEO", 2, "video"), (2, "images", 4, "image"), (3, "IMAGE", 4, "reference"), (4, "image", 5, "images"),
        (5, "VIDEO", 6, "video"), (4, "image", 7, "image"), (7, "report", 8, "source")])
    # issue 11: a two-shot film, cuts detected, each shot colorized from its own reference
    wf["film_shots"] = ([
        N(1, "LoadVideo", (0, 0), ["film_shots_gray.mp4", "image"], "Black-and-white film (two shots)", (300, 330)),
        N(2, "GetVideoComponents", (0, 380), [], size=(220, 70)),
        N(3, "LoadImage", (0, 500), ["film_shots_reference_coffee.jpg", "image"], "Reference, shot 1", (300, 330)),
        N(4, "LoadImage", (0, 880), ["film_shots_reference_chelsea.jpg", "image"], "Reference, shot 2", (300, 330)),
        N(5, "SemRestoreSelectReference", (340, 500), {"top_k": 2}, "Both references (any size, none stretched)",
          size=(320, 200)),
        N(6, "SemRestoreDetectShots", (340, 0), {}, size=(300, 80)),
        N(7, "PreviewAny", (340, 150), [], "Cut list", (300, 150)),
        N(8, "SemRestoreExemplarColorize", (680, 0), {"temporal_weight": 0.5}, size=(340, 250)),
        N(9, "CreateVideo", (1060, 0), [8], size=(270, 80)),
        N(10, "SaveVideo", (1360, 0), ["video/semantic_restore", "auto", "auto"]),
        note(11, (680, 320), "Detect Shots finds the cuts; with `shots` connected, Exemplar Colorize restarts its "
             "temporal memory at every cut and lets each shot pick the references that suit it (here coffee for "
             "shot 1, the cat for shot 2), exactly as `python -m semantic_restore colorize film.mp4` does. Set the "
             "frame rate of Create Video to your film's (8 here)."),
    ], [(1, "VIDEO", 2, "video"), (2, "images", 6, "image"), (2, "images", 8, "image"), (3, "IMAGE", 5, "candidate_1"),
        (4, "IMAGE", 5, "candidate_2"), (2, "images", 5, "image"), (5, "references", 8, "reference"), (6, "shots", 8, "shots"), (6, "cut_list", 7, "source"),
        (8, "image", 9, "images"), (9, "VIDEO", 10, "video")])
    wf["hint_colorize"] = ([
        N(1, "LoadImage", (0, 0), ["chelsea_gray.png", "image"], "Black-and-white photo", (300, 330)),
        N(2, "LoadImage", (0, 380), ["chelsea_hints.png", "image"], "Hints: paint colours, then mask them",
          (300, 330)),
        N(3, "SemRestoreHintColorize", (360, 0), {}, size=(340, 260)),
        N(4, "SaveImage", (760, 0), ["semantic_restore/hints"]),
        note(5, (360, 330), "Open the second Load Image in the mask editor: paint colour strokes on the photo, then "
             "mask (white) the strokes you painted. Only the masked pixels' colours are used; everything else keeps "
             "the photo's own luminance. You can also type points as JSON in `points`."),
    ], [(1, "IMAGE", 3, "image"), (2, "IMAGE", 3, "hint_image"), (2, "MASK", 3, "hint_mask"),
        (3, "image", 4, "images")])
    wf["hint_evaluation"] = ([
        N(1, "LoadImage", (0, 0), ["demo_reference.jpg", "image"], "Colour photo (ground truth)", (300, 330)),
        N(2, "SemRestoreSampleHints", (360, 0), {"count": 50}, size=(300, 110)),
        N(3, "SemRestoreHintColorize", (700, 0), {}, size=(340, 260)),
        N(4, "SemRestoreColorMetrics", (1080, 0), [], size=(300, 150)),
        N(5, "PreviewAny", (1080, 200), [], "Scores", (300, 200)),
        N(6, "PreviewImage", (1080, 450), [], size=(300, 300)),
    ], [(1, "IMAGE", 2, "image"), (1, "IMAGE", 3, "image"), (2, "hint_image", 3, "hint_image"),
        (2, "hint_mask", 3, "hint_mask"), (3, "image", 4, "image"), (1, "IMAGE", 4, "ground_truth"),
        (4, "report", 5, "source"), (3, "image", 6, "images")])
    wf["auto_reference"] = ([
        N(1, "LoadImage", (0, 0), ["demo_target_gray.png", "image"], "Black-and-white photo", (300, 330)),
        N(2, "LoadImage", (0, 380), ["candidate_astronaut.jpg", "image"], "Candidate 1", (250, 300)),
        N(3, "LoadImage", (0, 720), ["candidate_chelsea.jpg", "image"], "Candidate 2", (250, 300)),
        N(4, "LoadImage", (0, 1060), ["candidate_rocket.jpg", "image"], "Candidate 3", (250, 300)),
        N(7, "SemRestoreLoadEncoder", (300, 2000), {}, size=(300, 110)),
        N(8, "SemRestoreSelectReference", (560, 400), {"top_k": 1}, size=(300, 110)),
        N(9, "SemRestoreExemplarColorize", (900, 0), {}, size=(340, 230)),
        N(10, "SaveImage", (1280, 0), ["semantic_restore/auto_reference"]),
        N(11, "PreviewAny", (900, 400), [], "Ranking", (300, 200)),
    ], [(2, "IMAGE", 8, "candidate_1"), (3, "IMAGE", 8, "candidate_2"), (4, "IMAGE", 8, "candidate_3"),
        (1, "IMAGE", 8, "image"), (7, "encoder", 8, "encoder"),
        (1, "IMAGE", 9, "image"), (8, "references", 9, "reference"), (7, "encoder", 9, "encoder"),
        (9, "image", 10, "images"), (8, "report", 11, "source")])
    upscale = {"upscale_by": 2.0, "denoise": 0.35, "tile_size": 512, "sampler_name": "dpmpp_2m", "scheduler": "karras"}
    wf["dino_upscale"] = ([
        N(1, "CheckpointLoaderSimple", (0, 0), ["v1-5-pruned-emaonly-fp16.safetensors"], size=(315, 100)),
        N(2, "CLIPTextEncode", (0, 150), ["an old photograph, sharp, detailed"], "Positive", (315, 120)),
        N(3, "CLIPTextEncode", (0, 320), ["blurry, watermark, text"], "Negative", (315, 120)),
        N(4, "LoadImage", (0, 490), ["demo_reference.jpg", "image"], "Photo to upscale", (300, 330)),
        N(5, "SemRestoreDinoUpscale", (380, 0), dict(upscale), size=(340, 560)),
        N(6, "SaveImage", (760, 0), ["semantic_restore/upscaled"]),
        N(7, "MaskToImage", (760, 450), [], size=(200, 30)),
        N(8, "PreviewImage", (1000, 450), [], "Where the drift guard acted", (300, 300)),
        N(9, "PreviewAny", (760, 600), [], "Guard report", (300, 200)),
    ], [(1, "CLIP", 2, "clip"), (1, "CLIP", 3, "clip"), (4, "IMAGE", 5, "image"), (1, "MODEL", 5, "model"),
        (1, "VAE", 5, "vae"), (2, "CONDITIONING", 5, "positive"), (3, "CONDITIONING", 5, "negative"),
        (5, "image", 6, "images"), (5, "drift_mask", 7, "mask"), (7, "IMAGE", 8, "images"), (5, "report", 9, "source")])
    wf["full_restore"] = ([
        N(1, "LoadImage", (0, 0), ["demo_target_gray.png", "image"], "Black-and-white photo", (300, 330)),
        N(2, "LoadImage", (0, 380), ["demo_reference.jpg", "image"], "Colour reference", (300, 330)),
        N(3, "SemRestoreExemplarColorize", (360, 0), {}, size=(340, 230)),
        N(4, "CheckpointLoaderSimple", (360, 800), ["v1-5-pruned-emaonly-fp16.safetensors"], size=(315, 100)),
        N(5, "CLIPTextEncode", (360, 450), ["a restored colour photograph, sharp, detailed"], "Positive", (315, 120)),
        N(6, "CLIPTextEncode", (360, 620), ["blurry, watermark, oversaturated"], "Negative", (315, 120)),
        N(7, "SemRestoreDinoUpscale", (740, 0), dict(upscale), size=(340, 560)),
        N(8, "SaveImage", (1120, 0), ["semantic_restore/restored"]),
    ], [(1, "IMAGE", 3, "image"), (2, "IMAGE", 3, "reference"), (4, "CLIP", 5, "clip"), (4, "CLIP", 6, "clip"),
        (3, "image", 7, "image"), (4, "MODEL", 7, "model"), (4, "VAE", 7, "vae"), (5, "CONDITIONING", 7, "positive"),
        (6, "CONDITIONING", 7, "negative"), (7, "image", 8, "images")])
    wf.update(diffusion_workflows())
    wf.update(trained_workflows())
    wf.update(colormnet_workflows())
    return wf


def _img2img(first: int, x: int, image: tuple[int, str], ckpt: int, prompt: str) -> tuple[list[N], list]:
    """Nodes ``first..first+5``: scale to ~0.26 MP, VAE encode, KSampler (denoise 0.6) with a colour
    prompt, VAE decode; ``image`` = (node id, output) of the gray photo, ``ckpt`` the checkpoint node."""
    a, b, c, d, e, f = range(first, first + 6)
    nodes = [
        N(a, "CLIPTextEncode", (x, 0), [prompt], "Colour prompt", (315, 120)),
        N(b, "CLIPTextEncode", (x, 170), ["black and white, monochrome, sepia, grayscale"], "Negative", (315, 120)),
        N(c, "ImageScaleToTotalPixels", (x, 340), ["lanczos", 0.26], size=(315, 80)),
        N(d, "VAEEncode", (x, 470), [], size=(210, 50)),
        N(e, "KSampler", (x + 360, 0), [0, "fixed", 20, 7.0, "dpmpp_2m", "karras", 0.6], size=(315, 260)),
        N(f, "VAEDecode", (x + 360, 310), [], size=(210, 50)),
    ]
    links = [(ckpt, "CLIP", a, "clip"), (ckpt, "CLIP", b, "clip"), (image[0], image[1], c, "image"),
             (c, "IMAGE", d, "pixels"), (ckpt, "VAE", d, "vae"), (ckpt, "MODEL", e, "model"),
             (a, "CONDITIONING", e, "positive"), (b, "CONDITIONING", e, "negative"), (d, "LATENT", e, "latent_image"),
             (e, "LATENT", f, "samples"), (ckpt, "VAE", f, "vae")]
    return nodes, links


def diffusion_workflows() -> dict[str, tuple[list[N], list[tuple[int, str, int, str]]]]:
    """Issue 13: colour from a diffusion model, put on the original's luminance by Transfer Chroma."""
    ckpt = "v1-5-pruned-emaonly-fp16.safetensors"
    wf = {}
    nodes, links = _img2img(3, 360, (1, "IMAGE"), 2, "a colour photograph, natural colours, detailed")
    wf["diffusion_colorize"] = ([
        N(1, "LoadImage", (0, 0), ["demo_target_gray.png", "image"], "Black-and-white photo", (300, 330)),
        N(2, "CheckpointLoaderSimple", (0, 380), [ckpt], size=(315, 100)),
        *nodes,
        N(9, "SemRestoreTransferChroma", (1080, 0), {}, size=(320, 130)),
        N(10, "SaveImage", (1440, 0), ["semantic_restore/diffusion_colorized"]),
        N(11, "MaskToImage", (1080, 200), [], size=(200, 30)),
        N(12, "PreviewImage", (1080, 280), [], "Where the model invented structure", (300, 300)),
        N(13, "PreviewAny", (1440, 450), [], "Transfer report", (300, 160)),
        note(14, (0, 530), "A diffusion model colorizes a small copy of the photo (img2img, denoise 0.6, colour "
             "prompt); Transfer Chroma keeps only its colour, aligned locally and put on the original's exact "
             "luminance at full resolution. The mask shows where the model invented or dropped structure: route "
             "those regions to Hint or Exemplar Colorize. Use your own checkpoint (SD1.5 here)."),
    ], links + [(1, "IMAGE", 9, "image"), (8, "IMAGE", 9, "colorized"), (9, "image", 10, "images"),
                (9, "disagreement", 11, "mask"), (11, "IMAGE", 12, "images"), (9, "report", 13, "source")])
    nodes, links = _img2img(5, 360, (4, "IMAGE"), 3, "a colour film still, natural colours, detailed")
    wf["reference_from_diffusion"] = ([
        N(1, "LoadVideo", (0, 0), ["film_gray.mp4", "image"], "Black-and-white film", (300, 330)),
        N(2, "GetVideoComponents", (0, 380), [], size=(220, 70)),
        N(3, "CheckpointLoaderSimple", (0, 500), [ckpt], size=(315, 100)),
        N(4, "ImageFromBatch", (0, 650), [0, 1], "Keyframe", size=(270, 80)),
        *nodes,
        N(11, "SemRestoreTransferChroma", (1080, 0), {}, size=(320, 130)),
        N(12, "SemRestoreExemplarColorize", (1080, 200), {"temporal_weight": 0.7}, size=(340, 230)),
        N(13, "CreateVideo", (1460, 0), [8], size=(270, 80)),
        N(14, "SaveVideo", (1460, 130), ["video/semantic_restore", "auto", "auto"]),
        N(15, "PreviewImage", (1080, 480), [], "Colour keyframe", (300, 300)),
        note(16, (0, 780), "Makes one colour keyframe with your diffusion model (img2img of frame 0), locks it onto "
             "the frame's own luminance with Transfer Chroma, then colorizes the whole film from that keyframe with "
             "Exemplar Colorize (temporal_weight keeps colours steady). Set Create Video's frame rate to the film's."),
    ], links + [(1, "VIDEO", 2, "video"), (2, "images", 4, "image"), (4, "IMAGE", 11, "image"),
                (10, "IMAGE", 11, "colorized"), (2, "images", 12, "image"), (11, "image", 12, "reference"),
                (12, "image", 13, "images"), (2, "audio", 13, "audio"), (13, "VIDEO", 14, "video"),
                (11, "image", 15, "images")])
    return wf


def trained_workflows() -> dict[str, tuple[list[N], list[tuple[int, str, int, str]]]]:
    """Issue 15: the trained hint model (iColoriT) on the same photo and hints as workflow 2."""
    wf = {}
    wf["icolorit_hints"] = ([
        N(1, "LoadImage", (0, 0), ["chelsea_gray.png", "image"], "Black-and-white photo", (300, 330)),
        N(2, "LoadImage", (0, 380), ["chelsea_hints.png", "image"], "Hints: paint colours, then mask them",
          (300, 330)),
        N(3, "SemRestoreHintColorize", (360, 0), {"method": "icolorit"}, size=(340, 260)),
        N(4, "SaveImage", (760, 0), ["semantic_restore/icolorit"], size=(400, 400)),
        note(5, (360, 330), "Hint colorization by the trained iColoriT network (method `icolorit`): it fills whole "
             "regions from a few colour points. Put an official checkpoint (`icolorit_base_4ch_patch16_224.pth`, "
             "or the small/tiny one) in `models/semantic_restore/` (sources in the README model table). Paint and "
             "mask hints as in workflow 2; the output keeps the photo's size and luminance."),
    ], [(1, "IMAGE", 3, "image"), (2, "IMAGE", 3, "hint_image"), (2, "MASK", 3, "hint_mask"),
        (3, "image", 4, "images")])
    return wf
def colormnet_workflows() -> dict[str, tuple[list[N], list[tuple[int, str, int, str]]]]:
    """Issue 15: a film coloured by the trained ColorMNet (``method`` = colormnet)."""
    return {"colormnet_film": ([
        N(1, "LoadVideo", (0, 0), ["film_gray.mp4", "image"], "Black-and-white film", (300, 330)),
        N(2, "GetVideoComponents", (0, 380), [], size=(220, 70)),
        N(3, "LoadImage", (0, 500), ["film_reference.jpg", "image"], "Colour reference", (300, 330)),
        N(4, "SemRestoreExemplarColorize", (360, 0), {"method": "colormnet"}, size=(340, 250)),
        N(5, "CreateVideo", (760, 0), [8], size=(270, 80)),
        N(6, "SaveVideo", (1060, 0), ["video/semantic_restore", "auto", "auto"], size=(400, 400)),
        note(7, (360, 320), "Colorizes a film with the trained ColorMNet network (Yang et al., ECCV 2024): the "
             "reference becomes the first memory frame, every frame reads the memory and the previous memory frame. "
             "Needs `DINOv2FeatureV6_LocalAtten_s2_154000.pth` (github.com/yyang181/colormnet releases, CC BY-NC-SA "
             "4.0) in `models/semantic_restore`. Set the frame rate of Create Video to your film's (8 here)."),
    ], [(1, "VIDEO", 2, "video"), (2, "images", 4, "image"), (3, "IMAGE", 4, "reference"), (4, "image", 5, "images"),
        (2, "audio", 5, "audio"), (5, "VIDEO", 6, "video")])}


def file_stem(name: str) -> str:
    """The file name (without .json/.jpg) a workflow is saved under: its template title."""
    return TEMPLATE_TITLES.get(name, name)


def main() -> int:
    classes = NODE_CLASS_MAPPINGS
    out = ROOT / "example_workflows"
    out.mkdir(exist_ok=True)
    for name, (nodes, links) in workflows().items():
        wf = build(name, nodes, links, classes)
        (out / f"{file_stem(name)}.json").write_text(json.dumps(wf, indent=1, ensure_ascii=False) + "\n",
                                                     encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
