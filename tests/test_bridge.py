import os
import sys
import types

import pytest
import torch

from semantic_restore import comfy_bridge as bridge
from semantic_restore.utils.paths import cache_dir


def test_outside_comfyui_falls_back():
    assert not bridge.available()
    assert bridge.model_search_dirs("semantic_restore") == [cache_dir()]
    bridge.progress_bar(3)(1)  # no-op, no error
    bridge.throw_if_interrupted()
    assert isinstance(bridge.torch_device(), torch.device)


def test_inside_fake_comfyui(fake_comfy):
    import comfy.model_management as mm
    import comfy.utils

    assert bridge.available()
    dirs = bridge.model_search_dirs("semantic_restore", "clip_vision")
    assert dirs[0] == os.path.join(fake_comfy.models_dir, "semantic_restore")
    assert dirs[1] == os.path.join(fake_comfy.models_dir, "clip_vision")
    assert dirs[-1] == cache_dir()
    bridge.model_search_dirs("semantic_restore")
    assert fake_comfy.get_folder_paths("semantic_restore").count(dirs[0]) == 1  # registered once
    assert bridge.model_search_dirs("no_such_folder")[-1] == cache_dir()

    advance = bridge.progress_bar(4)
    for _ in range(4):
        advance(1)
    assert comfy.utils.EVENTS[-1] == (4, 4)

    mm.interrupt_current_processing()
    with pytest.raises(mm.InterruptProcessingException):
        bridge.throw_if_interrupted()


# --- is_oom: ComfyUI's own rule where it has one ---------------------------------------------------

def test_is_oom_outside_comfyui():
    assert bridge.is_oom(torch.cuda.OutOfMemoryError("CUDA out of memory"))
    assert bridge.is_oom(RuntimeError("CUDA out of memory. Tried to allocate 2 GiB"))
    assert not bridge.is_oom(RuntimeError("interrupted"))
    assert not bridge.is_oom(ValueError("image: expected ... out of memory"))  # an input error is never OOM


def test_is_oom_uses_comfy_oom_exception(fake_comfy, monkeypatch):
    import comfy.model_management as mm

    class ComfyOOM(Exception):
        pass

    monkeypatch.setattr(mm, "OOM_EXCEPTION", ComfyOOM, raising=False)
    assert bridge.is_oom(ComfyOOM("x"))
    assert not bridge.is_oom(RuntimeError("CUDA out of memory"))  # ComfyUI's class decides, not the message
    monkeypatch.setattr(mm, "OOM_EXCEPTION", Exception)  # ComfyUI on a torch without the OOM class
    assert bridge.is_oom(RuntimeError("CUDA out of memory")) and not bridge.is_oom(RuntimeError("interrupted"))
    assert not bridge.is_oom(mm.InterruptProcessingException())


def test_is_oom_uses_comfy_raise_non_oom(fake_comfy, monkeypatch):
    import comfy.model_management as mm

    seen = []

    def raise_non_oom(e):  # newer ComfyUI: re-raise anything that is not OOM
        seen.append(e)
        if not isinstance(e, MemoryError):
            raise e

    monkeypatch.setattr(mm, "raise_non_oom", raise_non_oom, raising=False)
    assert bridge.is_oom(MemoryError()) and not bridge.is_oom(torch.cuda.OutOfMemoryError("x"))
    assert len(seen) == 2


# --- run_upscale_model: ComfyUI's own ImageUpscaleWithModel when it can be imported ---------------

def _install_upscale_node(monkeypatch, v3: bool):
    calls = []

    class Output:  # comfy_api io.NodeOutput keeps the outputs in .args
        def __init__(self, *args):
            self.args = args

    if v3:
        class ImageUpscaleWithModel:
            @classmethod
            def define_schema(cls):
                return None

            @classmethod
            def execute(cls, upscale_model, image):
                calls.append(tuple(image.shape))
                return Output(torch.nn.functional.interpolate(image.movedim(-1, 1), scale_factor=2).movedim(1, -1) * 3)
    else:
        class ImageUpscaleWithModel:
            def upscale(self, upscale_model, image):
                calls.append(tuple(image.shape))
                return (torch.nn.functional.interpolate(image.movedim(-1, 1), scale_factor=2).movedim(1, -1) * 3,)

    mod = types.ModuleType("comfy_extras.nodes_upscale_model")
    mod.ImageUpscaleWithModel = ImageUpscaleWithModel
    monkeypatch.setitem(sys.modules, "comfy_extras", types.ModuleType("comfy_extras"))
    monkeypatch.setitem(sys.modules, "comfy_extras.nodes_upscale_model", mod)
    return calls


@pytest.mark.parametrize("v3", [True, False])
def test_run_upscale_model_calls_comfy_node(monkeypatch, v3):
    calls = _install_upscale_node(monkeypatch, v3)
    image = torch.full((2, 3, 8, 10), 0.2)
    out = bridge.run_upscale_model(object(), image)
    assert calls == [(2, 8, 10, 3)]  # ComfyUI's IMAGE layout went in
    assert out.shape == (2, 3, 16, 20) and torch.allclose(out, torch.full_like(out, 0.6))
    assert out.device.type == "cpu" and out.dtype == torch.float32


# --- the encoder handle Load Encoder outputs ---------------------------------------------------------

def test_encoder_handle_outside_comfyui():
    enc = torch.nn.Linear(2, 2)
    h = bridge.encoder_handle(enc, torch.device("cpu"))
    assert h.patcher is None and h.device == torch.device("cpu") and h.name == "Linear"
    assert bridge.use_encoder(h) is enc


def test_encoder_handle_loads_through_model_management(fake_comfy):
    import comfy.model_management as mm

    enc = torch.nn.Linear(2, 2)
    h = bridge.encoder_handle(enc)
    assert h.patcher.model is enc and h.patcher.load_device == mm.get_torch_device()
    mm.LOADED.clear()
    assert bridge.use_encoder(h) is enc and mm.LOADED == [h.patcher]
    assert "_comfy_patcher" not in enc.__dict__  # nothing stashed on the encoder itself
