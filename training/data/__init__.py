"""Training data: procedural illustrations, line-art extraction, screentones, simulated hints."""
