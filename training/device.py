"""Where a run computes: the device, CPU threads, the process group under ``torchrun``, autocast."""

from __future__ import annotations

import contextlib
import os

import torch

from training.errors import ConfigError
from training.recipes import Recipe


def pick_device(request: str | None = "auto") -> torch.device:
    """``auto``: CUDA if available, else Apple MPS, else CPU."""
    if request in (None, "auto"):
        if torch.cuda.is_available():
            return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    dev = torch.device(request)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError("the recipe asks for CUDA but no GPU is available; pass --device cpu (slow) or use a "
                          "_cpu recipe")
    if dev.type == "cuda" and dev.index is None:
        dev = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
    return dev


def dist_info() -> tuple[int, int]:
    """(rank, world size) from torchrun's environment."""
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))


def autocast(dev: torch.device, bf16: bool) -> contextlib.AbstractContextManager:
    """bf16 autocast on CUDA when asked; otherwise a no-op (bf16 on this project's CPUs is ~300x slower)."""
    return torch.autocast("cuda", dtype=torch.bfloat16) if dev.type == "cuda" and bf16 else contextlib.nullcontext()


def setup_device(r: Recipe, device: str | None,
                 world: int) -> tuple[torch.device, bool, contextlib.AbstractContextManager]:
    """Pick the device, set CPU threads, join the process group under ``torchrun``; returns the device,
    whether to use channels_last, and the autocast context (bf16 on CUDA when the recipe asks)."""
    dev = pick_device(device or r.device)
    if r.threads and dev.type == "cpu":
        torch.set_num_threads(r.threads)
    if world > 1 and not torch.distributed.is_initialized():
        torch.distributed.init_process_group("nccl" if dev.type == "cuda" else "gloo")
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    channels_last = r.channels_last if r.channels_last is not None else dev.type == "cuda"
    return dev, channels_last, autocast(dev, r.bf16)
