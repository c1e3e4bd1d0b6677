"""Exemplar and hint colorization in LAB (issues 4 and 5)."""
