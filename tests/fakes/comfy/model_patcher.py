"""Fake of comfy.model_patcher (names and signatures from comfy/model_patcher.py, v0.3.64).

Only what the pack uses: ``ModelPatcher(model, load_device, offload_device, size=0,
weight_inplace_update=False)`` with ``model_options``, ``clone()`` (deep-copies
``model_options`` like the real one), ``set_model_sampler_post_cfg_function`` and
``get_model_object``. ``model`` is a plain object standing in for ``comfy.model_base.BaseModel``.
"""

from __future__ import annotations

import copy

import torch


def set_model_options_post_cfg_function(model_options, post_cfg_function, disable_cfg1_optimization=False):
    model_options["sampler_post_cfg_function"] = model_options.get("sampler_post_cfg_function", []) + [post_cfg_function]
    if disable_cfg1_optimization:
        model_options["disable_cfg1_optimization"] = True
    return model_options


class ModelPatcher:
    def __init__(self, model, load_device, offload_device, size=0, weight_inplace_update=False):
        self.model = model
        if not hasattr(model, "device"):  # as the real __init__ does
            model.device = offload_device
        elif model.device is None:
            model.device = offload_device
        self.load_device = load_device
        self.offload_device = offload_device
        self.size = size
        self.weight_inplace_update = weight_inplace_update
        self.model_options = {"transformer_options": {}}
        self.object_patches = {}
        self.parent = None

    def clone(self):
        n = self.__class__(self.model, self.load_device, self.offload_device, self.size,
                           weight_inplace_update=self.weight_inplace_update)
        n.object_patches = self.object_patches.copy()
        n.model_options = copy.deepcopy(self.model_options)
        n.parent = self
        return n

    def is_clone(self, other):
        return hasattr(other, "model") and self.model is other.model

    def set_model_sampler_post_cfg_function(self, post_cfg_function, disable_cfg1_optimization=False):
        self.model_options = set_model_options_post_cfg_function(self.model_options, post_cfg_function,
                                                                 disable_cfg1_optimization)

    def get_model_object(self, name: str) -> torch.nn.Module:
        if name in self.object_patches:
            return self.object_patches[name]
        obj = self.model
        for part in name.split("."):
            obj = getattr(obj, part)
        return obj
