"""identify_state_dict on hand-built {key: shape} layouts of every family it knows (labels written out)."""

from __future__ import annotations

import pytest

from semantic_restore.encoders.identify import identify_state_dict


def _resnet(blocks, bottleneck=True):
    s = {"conv1.weight": (64, 3, 7, 7), "fc.weight": (1000, 2048)}
    for i, n in enumerate(blocks, 1):
        for j in range(n):
            s[f"layer{i}.{j}.conv1.weight"] = (64, 64, 1, 1)
            s[f"layer{i}.{j}.conv2.weight"] = (64, 64, 3, 3)
            if bottleneck:
                s[f"layer{i}.{j}.conv3.weight"] = (256, 64, 1, 1)
    return s


def _vgg(convs, bn=False):
    s, i = {}, 0
    for _ in range(convs):
        s[f"features.{i}.weight"] = (64, 64, 3, 3)
        s[f"features.{i}.bias"] = (64,)
        if bn:
            s[f"features.{i + 1}.weight"] = (64,)  # the BatchNorm's own 1-D weight is no conv
            s[f"features.{i + 1}.running_mean"] = (64,)
        i += 3 if bn else 2
    s["classifier.0.weight"] = (4096, 25088)
    return s


def _dino_official(width, regs=False, patch=14):
    s = {"cls_token": (1, 1, width), "mask_token": (1, width), "patch_embed.proj.weight": (width, 3, patch, patch),
         "blocks.0.ls1.gamma": (width,)}
    if regs:
        s["register_tokens"] = (1, 4, width)
    return s


def _dino_hf(width, regs=False, patch=14):
    s = {"embeddings.cls_token": (1, 1, width), "encoder.layer.0.norm1.weight": (width,),
         "embeddings.patch_embeddings.projection.weight": (width, 3, patch, patch)}
    if regs:
        s["embeddings.register_tokens"] = (1, 4, width)
    return s


def _effnet_luke(se, stem=32, head=1280):
    s = {"_conv_stem.weight": (stem, 3, 3, 3), "_conv_head.weight": (head, 320, 1, 1), "_blocks.0._bn0.weight": (32,)}
    if se:
        s["_blocks.0._se_reduce.weight"] = (8, 32, 1, 1)
    return s


def _effnet_timm(se, stem=32, head=1280):
    s = {"conv_stem.weight": (stem, 3, 3, 3), "blocks.0.0.conv_dw.weight": (32, 1, 3, 3),
         "conv_head.weight": (head, 320, 1, 1)}
    if se:
        s["blocks.0.0.se.conv_reduce.weight"] = (8, 32, 1, 1)
    return s


CASES = [
    (_resnet([3, 4, 6, 3]), "ResNet50"),
    (_resnet([3, 4, 23, 3]), "ResNet101"),
    (_resnet([3, 8, 36, 3]), "ResNet152"),
    (_resnet([2, 2, 2, 2], bottleneck=False), "ResNet18"),
    (_resnet([3, 4, 6, 3], bottleneck=False), "ResNet34"),
    (_resnet([2, 2, 2, 2]), "a ResNet with [2, 2, 2, 2] blocks"),
    (_vgg(16), "VGG19"),
    (_vgg(13, bn=True), "VGG16_bn"),
    (_dino_official(384), "DINOv2 ViT-S/14"),
    (_dino_official(768, regs=True), "DINOv2 ViT-B/14 with registers"),
    ({**_dino_official(1024), "reg_token": (1, 4, 1024)}, "DINOv2 ViT-L/14 with registers"),
    ({k: v for k, v in _dino_official(1536, patch=16).items() if k != "blocks.0.ls1.gamma"}, "DINOv2 ViT-g/16"),
    ({k: v for k, v in _dino_official(384).items() if k != "patch_embed.proj.weight"}, "DINOv2 ViT-S/14"),
    (_dino_official(500), "DINOv2 ViT- (width 500)/14"),
    (_dino_hf(384), "DINOv2 ViT-S/14"),
    (_dino_hf(1280, regs=True, patch=16), "DINOv2 ViT-H/16 with registers"),
    ({"visual.conv1.weight": (768, 3, 16, 16), "token_embedding.weight": (49408, 512)}, "CLIP ViT-B/16"),
    ({"visual.conv1.weight": (1024, 3, 14, 14)}, "CLIP ViT-L/14 (image tower only)"),
    ({"visual.conv1.weight": (640, 3, 32, 32), "token_embedding.weight": (1, 1)}, "CLIP ViT- (width 640)/32"),
    ({"vision_model.embeddings.patch_embedding.weight": (768, 3, 32, 32)},
     "a Hugging Face transformers CLIP vision model (ViT-B/32)"),
    ({"vision_model.embeddings.patch_embedding.weight": (999, 3, 14, 14)},
     "a Hugging Face transformers CLIP vision model (ViT-?/14)"),
    ({"visual.trunk.pos_embed": (1, 197, 768)}, "an open_clip model with a timm image tower"),
    (_effnet_luke(se=False), "EfficientNet-Lite0"),
    (_effnet_luke(se=True), "an EfficientNet with squeeze-excitation (B-series) (stem 32, head 1280 channels)"),
    (_effnet_luke(se=False, stem=40, head=1280), "an EfficientNet (stem 40, head 1280 channels)"),
    (_effnet_luke(se=False, stem=32, head=1536), "an EfficientNet (stem 32, head 1536 channels)"),
    (_effnet_timm(se=False), "EfficientNet-Lite0"),
    (_effnet_timm(se=True, stem=48, head=1792), "an EfficientNet with squeeze-excitation (B-series) (stem 48, head 1792 channels)"),
    ({"conv_stem.weight": (32, 3, 3, 3), "conv_head.weight": (1280, 320, 1, 1)}, None),  # no timm block: not timm
    ({"_conv_stem.weight": (32, 3, 3, 3)}, "an EfficientNet (stem 32, head 0 channels)"),
    ({"conv1.weight": (64, 3, 7, 7)}, None),  # a stem alone is no ResNet
    ({"layer1.0.conv1.weight": (64, 64, 1, 1)}, None),
    ({"features.1.weight": (64, 3, 3, 3)}, None),  # no features.0: not a VGG
    ({"cls_token": (1, 1, 384)}, None),  # a ViT, but not DINOv2 (no layer scale, no mask token)
    ({"embeddings.cls_token": (1, 1, 384)}, None),
    ({}, None),
]


@pytest.mark.parametrize("shapes, label", CASES)
def test_identify_every_family(shapes, label):
    assert identify_state_dict(shapes) == label


@pytest.mark.parametrize("prefix", ["module.", "model.", "backbone.", "dinov2.", "clip.", "state_dict.",
                                    "module.backbone.", "model.clip.", "state_dict.module.", "backbone.model.",
                                    "state_dict.model.backbone."])
def test_prefixes_on_every_key_are_stripped(prefix):
    shapes = {prefix + k: v for k, v in _resnet([3, 4, 6, 3]).items()}
    assert identify_state_dict(shapes) == "ResNet50"
    shapes["fc.bias"] = (1000,)  # one key without the prefix: nothing is stripped, nothing recognised
    assert identify_state_dict(shapes) is None


def test_shapes_may_be_lists_or_sizes():
    import torch

    assert identify_state_dict({k: list(v) for k, v in _vgg(16).items()}) == "VGG19"
    assert identify_state_dict({k: torch.Size(v) for k, v in _dino_hf(768).items()}) == "DINOv2 ViT-B/14"


@pytest.mark.parametrize("shapes, label", [
    # Files that lack the tensor carrying the patch size or head width (pruned, or a partial export):
    # DINOv2's patch size is 14, and an EfficientNet without a head says so ("head 0").
    ({"embeddings.cls_token": (1, 1, 768), "encoder.layer.0.norm1.weight": (768,)}, "DINOv2 ViT-B/14"),
    ({"cls_token": (1, 1, 384), "blocks.0.ls1.gamma": (384,)}, "DINOv2 ViT-S/14"),
    ({"cls_token": (1, 1, 1024), "mask_token": (1, 1024)}, "DINOv2 ViT-L/14"),
    ({"conv_stem.weight": (32, 3, 3, 3), "blocks.0.0.conv_dw.weight": (32, 1, 3, 3)},
     "an EfficientNet (stem 32, head 0 channels)"),
    ({"_conv_stem.weight": (32, 3, 3, 3), "_blocks.0._depthwise_conv.weight": (32, 1, 3, 3)},
     "an EfficientNet (stem 32, head 0 channels)"),
    ({"visual.conv1.weight": (768, 3, 32, 16)}, "CLIP ViT-B/16 (image tower only)"),
    ({"vision_model.embeddings.patch_embedding.weight": (1024, 3, 16, 14)},
     "a Hugging Face transformers CLIP vision model (ViT-L/14)"),
])
def test_partial_files_are_still_named(shapes, label):
    """The last axis of a patch kernel is its width (non-square kernels tell which axis is read)."""
    assert identify_state_dict(shapes) == label
