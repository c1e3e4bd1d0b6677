import os

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
    assert bridge.oom_exception() is torch.cuda.OutOfMemoryError
