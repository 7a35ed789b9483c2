"""Training package (the only one that imports torch): data, models, trainer, export, fine-tuning."""
