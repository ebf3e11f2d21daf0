"""DistributedDataParallel setup from torchrun's environment (RANK, WORLD_SIZE, LOCAL_RANK)."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from ferkit.errors import ConfigError


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        """Only the main process writes files and prints."""
        return self.rank == 0


def init_distributed(device: torch.device) -> DistInfo:
    """Join the process group when launched by torchrun (gloo on CPU, nccl on GPU); a no-op otherwise."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return DistInfo(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))


def pick_device(name: str, local_rank: int = 0) -> torch.device:
    """``auto``: CUDA if present (one GPU per local rank), else Apple MPS, else CPU.

    Raises:
        ConfigError: a device this machine does not have (``cuda`` without CUDA, ``cuda:3`` with two GPUs).
    """
    if name != "auto":
        try:
            device = torch.device(name)
        except RuntimeError:
            raise ConfigError(f"config key 'device': {name!r} is not one of auto, cpu, cuda, cuda:N, mps") from None
        if device.type == "cuda":
            n = torch.cuda.device_count() if torch.cuda.is_available() else 0
            if n == 0:
                build = f"a CUDA {torch.version.cuda} build" if torch.version.cuda else "a CPU-only build"
                raise ConfigError(
                    f"config key 'device': {name!r}, but this machine has no CUDA device (torch {torch.__version__}"
                    f" is {build}); accepted here: auto, cpu"
                )
            if (device.index or 0) >= n:
                raise ConfigError(
                    f"config key 'device': {name!r}, but this machine has {n} CUDA device(s): cuda:0..{n - 1}"
                )
        if device.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
            raise ConfigError(
                f"config key 'device': {name!r}, but Apple MPS is not available here; accepted: auto, cpu"
            )
        return device
    if torch.cuda.is_available():
        return torch.device("cuda", local_rank % torch.cuda.device_count())
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def all_reduce_mean(x: float, info: DistInfo, device: torch.device) -> float:
    """The mean of a number over all ranks (on ``device``: nccl reduces only GPU tensors)."""
    if info.world <= 1:
        return x
    t = torch.tensor([x], dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return float(t.item() / info.world)
