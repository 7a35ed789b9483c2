"""Multi-process / multi-node training helpers (torchrun + DistributedDataParallel).

Launch with e.g. ``torchrun --nproc_per_node 4 -m training.cli fit --config default`` (add
``--nnodes N --node_rank K --rdzv_endpoint HOST:PORT`` for several nodes). The process group is set up
from the environment torchrun provides (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``,
``MASTER_PORT``): NCCL on CUDA, gloo on CPU. A single plain process runs undistributed. Only rank 0
logs, validates, writes samples and checkpoints.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import Dataset, DistributedSampler, Sampler

__all__ = ["DistInfo", "init_distributed", "wrap_model", "ResumableSampler", "all_reduce_mean", "barrier", "cleanup"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DistInfo:
    """Where this process sits: ``rank`` of ``world_size``, its ``device``; ``is_main`` is rank 0."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        """True on rank 0 (the only rank that logs and writes files)."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        """True when a process group with more than one process is active."""
        return self.world_size > 1


def init_distributed(prefer_cuda: bool = True) -> DistInfo:
    """Initialise the default process group from torchrun's environment (no-op for a single process).

    Args:
        prefer_cuda: use CUDA (and NCCL) when available.

    Returns:
        This process's :class:`DistInfo`.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    cuda = prefer_cuda and torch.cuda.is_available()
    device = torch.device(f"cuda:{local % torch.cuda.device_count()}") if cuda else torch.device("cpu")
    if cuda:
        torch.cuda.set_device(device)
    if world > 1 and not dist.is_initialized():
        backend = "nccl" if cuda else "gloo"
        dist.init_process_group(backend=backend, rank=rank, world_size=world)
        logger.info("process group up: rank %d/%d, backend %s, device %s", rank, world, backend, device)
    return DistInfo(rank=rank, world_size=world, local_rank=local, device=device)


def wrap_model(model: nn.Module, info: DistInfo) -> nn.Module:
    """Wrap ``model`` in DistributedDataParallel when distributed; return it unchanged otherwise."""
    if not info.distributed:
        return model
    ids = [info.device.index] if info.device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(model, device_ids=ids)


class ResumableSampler(Sampler[int]):
    """A :class:`DistributedSampler` (one shard per rank, reshuffled each epoch from ``seed``) that can
    start part-way through an epoch, so a resumed run sees exactly the batches it would have seen.

    Args:
        dataset: the training set.
        info: distribution info (rank, world size).
        seed: shuffling seed (same on every rank).
        shuffle: shuffle each epoch.
    """

    def __init__(self, dataset: Dataset, info: DistInfo, seed: int, shuffle: bool = True) -> None:
        self.inner = DistributedSampler(
            dataset, num_replicas=info.world_size, rank=info.rank, shuffle=shuffle, seed=seed, drop_last=True
        )
        self.skip = 0

    def set_position(self, epoch: int, skip: int) -> None:
        """Next iteration covers ``epoch`` from its ``skip``-th index on."""
        self.inner.set_epoch(epoch)
        self.skip = skip

    def __iter__(self) -> Iterator[int]:
        return iter(list(self.inner)[self.skip :])

    def __len__(self) -> int:
        return len(self.inner) - self.skip


def all_reduce_mean(value: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """Mean of a tensor over all ranks (identity when not distributed)."""
    if not info.distributed:
        return value
    out = value.detach().clone()
    dist.all_reduce(out, op=dist.ReduceOp.SUM)
    return out / info.world_size


def barrier(info: DistInfo) -> None:
    """Synchronise all ranks (no-op when not distributed)."""
    if info.distributed:
        dist.barrier()


def cleanup() -> None:
    """Destroy the process group if one is active."""
    if dist.is_available() and dist.is_initialized():
        dist.barrier()  # no rank tears gloo down while a peer still talks to it (SIGABRT at exit)
        dist.destroy_process_group()
