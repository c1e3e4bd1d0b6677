"""Fake of comfy.model_management (names and signatures from comfy/model_management.py, v0.3.64)."""

from __future__ import annotations

import torch

OOM_EXCEPTION = torch.cuda.OutOfMemoryError
interrupt_processing = False
LOADED: list = []  # models passed to load_models_gpu, for assertions


class InterruptProcessingException(Exception):
    pass


def interrupt_current_processing(value=True):
    global interrupt_processing
    interrupt_processing = value


def processing_interrupted():
    return interrupt_processing


def throw_exception_if_processing_interrupted():
    global interrupt_processing
    if interrupt_processing:
        interrupt_processing = False
        raise InterruptProcessingException()


def get_torch_device():
    return torch.device("cpu")


def intermediate_device():
    return torch.device("cpu")


def unet_offload_device():
    return torch.device("cpu")


def soft_empty_cache(force=False):
    pass


def load_models_gpu(models, memory_required=0, force_patch_weights=False, minimum_memory_required=None, force_full_load=False):
    LOADED.extend(models)
    for m in models:  # as ModelPatcher.load does: move the weights, record model.device
        inner = getattr(m, "model", None)
        if isinstance(inner, torch.nn.Module):
            inner.to(m.load_device)
            inner.device = m.load_device


# Added for the upscaler (issue 6): names and signatures from comfy/model_management.py, v0.3.64.
FREED: list = []  # memory_required of every free_memory call, for assertions


def module_size(module):
    return sum(p.nelement() * p.element_size() for p in module.parameters()) if hasattr(module, "parameters") else 0


def free_memory(memory_required, device, keep_loaded=[]):
    FREED.append(memory_required)
