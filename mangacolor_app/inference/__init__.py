"""Inference: the only package that imports onnxruntime (manifest, registry, sessions, tiled pipeline)."""
