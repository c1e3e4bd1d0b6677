"""Trained colorization networks in plain PyTorch, loading the official checkpoints.

- :mod:`.icolorit`: iColoriT (hint colorization, ViT);
- :mod:`.deep_exemplar`: Deep Exemplar-based Video Colorization (exemplar, film);
- :mod:`.colormnet` (+ ``colormnet_nets``, ``colormnet_memory``): ColorMNet (exemplar, film, memory-based);
- :mod:`.colormnet_correlation`: plain-PyTorch local correlation (replaces the compiled CUDA extension);
- :mod:`.loading`: official file names, safe loading, seeded random weights for parity tests;
- :mod:`.chroma`: working size in, full-resolution chroma out, original L kept.

Training-free colorization stays the default; these are alternatives for users who own the files.
"""
