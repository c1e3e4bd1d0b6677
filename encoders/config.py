"""The description of one registered encoder (timm's ``pretrained_cfg`` idea, kept small)."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..utils.paths import RemoteFile

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)

# VGG19 relu layers the colorization literature uses, with their channels and strides.
VGG_LAYERS = ("r12", "r22", "r32", "r42", "r52")
VGG_CHANNELS = {"r12": 64, "r22": 128, "r32": 256, "r42": 512, "r52": 512}
VGG_STRIDES = {"r12": 1, "r22": 2, "r32": 4, "r42": 8, "r52": 16}


@dataclass(frozen=True)
class EncoderConfig:
    """What an encoder is and where its weights come from.

    Attributes:
        name: registry name (``create_encoder(name)``).
        label: the architecture in words, as :func:`.identify.identify_state_dict` names a file
            that holds it (``"DINOv2 ViT-S/14 with registers"``); compared before loading.
        family: ``efficientnet``, ``vgg``, ``resnet``, ``dinov2``, ``clip`` or ``timm``.
        arch: the architecture name in the library that builds it (timm, torchvision, open_clip).
        mean, std: input normalisation of RGB in ``[0, 1]``.
        strides: dense layer name -> pixel stride, shallow to deep.
        channels: dense layer name -> native channels.
        default_dense_layer: the layer ``dense(x)`` returns when no layer is named.
        patch_size: ViT patch size (inputs are padded to a multiple of it); ``None`` for CNNs.
        embed_dim: size of ``embed(x)``.
        weight_files: file names searched in the model folders, first match wins; a name may
            include one folder (``"dinov2-small/model.safetensors"``, the Hugging Face file kept
            in a folder named after the model).
        comfy_folders: ComfyUI ``models/`` folders searched, in order.
        licence: licence of the weights.
        source: where to get the weights (shown in "not found" errors).
        remote: optional download on the user's machine (URL + SHA-256).
        size_mb: approximate size of the weight file.
    """

    name: str
    label: str
    family: str
    arch: str
    strides: dict[str, int]
    channels: dict[str, int]
    default_dense_layer: str
    embed_dim: int
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    patch_size: int | None = None
    weight_files: tuple[str, ...] = ()
    comfy_folders: tuple[str, ...] = ("semantic_restore",)
    licence: str = ""
    source: str = ""
    remote: RemoteFile | None = None
    size_mb: float | None = None
    extra: dict = field(default_factory=dict)
