"""Mesh painting: the built-in projection/procedural painter and model adapters."""
