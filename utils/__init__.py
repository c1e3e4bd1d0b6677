"""Plain-PyTorch helpers shared by the core: layout, colour, checks, weights, paths, metrics."""
