"""Multi-process training with PyTorch DDP, launched by ``torchrun``.

``torchrun --nproc_per_node=N -m restora.train recipe.yaml`` (or ``... $(which restora)
train recipe.yaml``) sets ``WORLD_SIZE``/``RANK``/``LOCAL_RANK``; :func:`init_distributed`
then joins the process group: NCCL on CUDA (one GPU per process, ``cuda:LOCAL_RANK``), gloo
on CPU. Only rank 0 logs, validates and writes files.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

__all__ = ["DistInfo", "init_distributed", "shutdown_distributed", "all_reduce_grads", "broadcast_buffers", "state_digest"]


@dataclass(frozen=True)
class DistInfo:
    """Where this process sits: ``rank`` of ``world`` (``local_rank`` on its node)."""

    rank: int = 0
    local_rank: int = 0
    world: int = 1
    owns_group: bool = False

    @property
    def enabled(self) -> bool:
        return self.world > 1

    @property
    def main(self) -> bool:
        return self.rank == 0


def init_distributed(device: torch.device) -> DistInfo:
    """Join the process group described by torchrun's environment (no-op for one process)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if dist.is_initialized():
        return DistInfo(dist.get_rank(), local, dist.get_world_size(), owns_group=False)
    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        torch.cuda.set_device(local)
    dist.init_process_group(backend=backend, init_method="env://", rank=rank, world_size=world)
    return DistInfo(rank, local, world, owns_group=True)


def shutdown_distributed(info: DistInfo, *, synchronize: bool = True) -> None:
    """Leave the process group this process joined. With ``synchronize`` (the normal end of a
    run) every rank first waits at a barrier, so that no rank tears gloo down while another
    still writes its last checkpoint; tearing down early can abort the other rank
    ("terminate called without an active exception"). After an error, ranks do not wait:
    the others may never arrive."""
    if info.owns_group and dist.is_initialized():
        if synchronize:
            dist.barrier()
        dist.destroy_process_group()


def all_reduce_grads(module: nn.Module, world: int) -> None:
    """Average the gradients of ``module`` over all ranks (one flat all-reduce)."""
    grads = [p.grad for p in module.parameters() if p.grad is not None]
    if not grads or world <= 1:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= world
    offset = 0
    for g in grads:
        n = g.numel()
        g.copy_(flat[offset : offset + n].view_as(g))
        offset += n


def broadcast_buffers(module: nn.Module, src: int = 0) -> None:
    """Make every rank's buffers (BatchNorm statistics, spectral-norm vectors) rank ``src``'s."""
    for b in module.buffers():
        dist.broadcast(b.data, src)


def state_digest(*modules: nn.Module) -> str:
    """SHA-256 over the bytes of the modules' state dicts (to compare ranks bit for bit)."""
    h = hashlib.sha256()
    for m in modules:
        for k, v in m.state_dict().items():
            h.update(k.encode())
            h.update(v.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes() if v.numel() else b"")
    return h.hexdigest()
