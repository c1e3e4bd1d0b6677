"""Tiled, DINO-guided img2img upscaling on ComfyUI's samplers (issue 6)."""
