"""Trained colorization networks in plain PyTorch, loading the official checkpoints.

- :mod:`.icolorit`: iColoriT (hint colorization, ViT);
- :mod:`.deep_exemplar`: Deep Exemplar-based Video Colorization (exemplar, film);
- :mod:`.correlation`: plain-PyTorch local correlation (replaces compiled CUDA extensions);
- :mod:`.loading`: official file names, safe loading, seeded random weights for parity tests;
- :mod:`.chroma`: working size in, full-resolution chroma out, original L kept.

Training-free colorization stays the default; these are alternatives for users who own the files.
"""
