"""Warm start: grow a trained generator into a deeper one that starts out computing (nearly) the same colour.

The deeper generator has the same widths for the shallow levels plus new coarser levels (and bottleneck
blocks). Every shared layer is copied; the new levels' upsampling is zero-initialised, so the decoder at
the old coarsest level receives only its own skip; the new fuse convolution there is a 3x3 identity, and
the bottleneck's residual blocks start as identities. The grown network then differs from the old one only
by one extra LeakyReLU on the old coarsest features' negative part, and training goes on from there
instead of from scratch (a CPU budget does not allow the latter).
"""

from __future__ import annotations

import logging

import torch
from torch import Tensor, nn

from .models.unet import UNetGenerator

log = logging.getLogger(__name__)

__all__ = ["grow_generator", "init_from_weights"]


def _map_key(key: str, shift: int) -> str:
    """An old state-dict key's name in the grown model (decoder blocks move up by ``shift``)."""
    if key.startswith("ups."):
        _, index, rest = key.split(".", 2)
        return f"ups.{int(index) + shift}.{rest}"
    return key


def grow_generator(old_state: dict[str, Tensor], old_widths: tuple[int, ...], new: UNetGenerator) -> UNetGenerator:
    """Load ``old_state`` (a generator with ``old_widths``) into the deeper ``new`` generator, in place.

    Args:
        old_state: the old generator's state dict (keys without the ``g.`` prefix).
        old_widths: the old generator's widths; ``new.cfg.widths`` must start with them.
        new: the generator to initialise (same channels, norm, skip mode and space-to-depth).

    Returns:
        ``new``.

    Raises:
        ValueError: the widths do not extend the old ones, concatenating skips, or a shared tensor has
            another shape.
    """
    widths = tuple(new.cfg.widths)
    if new.cfg.skip != "add":
        raise ValueError("growing needs add-skips (a concatenating fuse has no identity start)")
    if widths[: len(old_widths)] != tuple(old_widths) or len(widths) <= len(old_widths):
        raise ValueError(f"widths {widths} do not extend {tuple(old_widths)}")
    shift = len(widths) - len(old_widths)
    state = new.state_dict()
    for key, value in old_state.items():
        target = _map_key(key, shift)
        if target not in state or state[target].shape != value.shape:
            raise ValueError(f"{key} -> {target}: not in the grown generator or another shape")
        state[target] = value.clone()
    with torch.no_grad():
        for i in range(shift):
            up = new.ups[i]
            state[f"ups.{i}.up.weight"].zero_()
            state[f"ups.{i}.up.bias"].zero_()
            conv = up.fuse[0]
            assert isinstance(conv, nn.Conv2d)
            eye = torch.zeros_like(conv.weight)
            c = min(conv.out_channels, conv.in_channels)
            eye[torch.arange(c), torch.arange(c), 1, 1] = 1.0
            state[f"ups.{i}.fuse.0.weight"] = eye
            state[f"ups.{i}.fuse.0.bias"] = torch.zeros_like(conv.bias)
    new.load_state_dict(state)
    log.info("grew a %s generator into %s (%d tensors copied)", old_widths, widths, len(old_state))
    return new


def init_from_weights(g: UNetGenerator, path: str) -> None:
    """Start ``g`` from the generator weights at ``path`` (``train.init_from``): loaded as they are when
    the widths match, else grown into ``g`` (:func:`grow_generator`).

    Raises:
        ModelError: unreadable weights; ValueError: weights that neither match nor grow into ``g``.
    """
    from .checkpoint import load_generator

    old, old_cfg, _ = load_generator(path)
    if tuple(old_cfg.model.widths) == tuple(g.cfg.widths):
        g.load_state_dict(old.state_dict())
    else:
        grow_generator(old.state_dict(), tuple(old_cfg.model.widths), g)
    log.info("generator initialised from %s", path)
