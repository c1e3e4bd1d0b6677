"""Fake of ComfyUI's folder_paths (signatures from folder_paths.py, v0.3.64)."""

from __future__ import annotations

import os

supported_pt_extensions: set[str] = {".ckpt", ".pt", ".pt2", ".bin", ".pth", ".safetensors", ".pkl", ".sft"}
base_path = os.environ.get("FAKE_COMFY_BASE", "/nonexistent-comfy")
models_dir = os.path.join(base_path, "models")
folder_names_and_paths: dict[str, tuple[list[str], set[str]]] = {
    "clip_vision": ([os.path.join(models_dir, "clip_vision")], supported_pt_extensions),
    "upscale_models": ([os.path.join(models_dir, "upscale_models")], supported_pt_extensions),
    "checkpoints": ([os.path.join(models_dir, "checkpoints")], supported_pt_extensions),
}


def map_legacy(folder_name: str) -> str:
    return {"unet": "diffusion_models", "clip": "text_encoders"}.get(folder_name, folder_name)


def add_model_folder_path(folder_name: str, full_folder_path: str, is_default: bool = False) -> None:
    folder_name = map_legacy(folder_name)
    if folder_name in folder_names_and_paths:
        paths, _ = folder_names_and_paths[folder_name]
        if full_folder_path in paths:
            if is_default and paths[0] != full_folder_path:
                paths.remove(full_folder_path)
                paths.insert(0, full_folder_path)
        elif is_default:
            paths.insert(0, full_folder_path)
        else:
            paths.append(full_folder_path)
    else:
        folder_names_and_paths[folder_name] = ([full_folder_path], set())


def get_folder_paths(folder_name: str) -> list[str]:
    return folder_names_and_paths[map_legacy(folder_name)][0][:]


def get_full_path(folder_name: str, filename: str) -> str | None:
    folder_name = map_legacy(folder_name)
    if folder_name not in folder_names_and_paths:
        return None
    filename = os.path.relpath(os.path.join("/", filename), "/")
    for x in folder_names_and_paths[folder_name][0]:
        full_path = os.path.join(x, filename)
        if os.path.isfile(full_path):
            return full_path
    return None


def get_filename_list(folder_name: str) -> list[str]:
    out: list[str] = []
    paths, exts = folder_names_and_paths[map_legacy(folder_name)]
    for d in paths:
        if os.path.isdir(d):
            for root, _, files in os.walk(d):
                for f in files:
                    if not exts or os.path.splitext(f)[1].lower() in exts:
                        out.append(os.path.relpath(os.path.join(root, f), d))
    return sorted(out)
