"""Optimisers, learning-rate schedules and the exponential moving average of weights."""

from __future__ import annotations

import copy
import math
from typing import Any, Callable, Iterable

import torch
from torch import nn

from restora.train.config import OptimConfig

__all__ = ["build_optimizer", "build_scheduler", "lr_factor", "EMA"]


def build_optimizer(params: Iterable[torch.nn.Parameter], cfg: OptimConfig) -> torch.optim.Optimizer:
    """Adam / AdamW / SGD (Nesterov-free momentum) from an :class:`OptimConfig`."""
    params = [p for p in params if p.requires_grad]
    if cfg.name == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, betas=tuple(cfg.betas), weight_decay=cfg.weight_decay)
    if cfg.name == "adamw":
        return torch.optim.AdamW(params, lr=cfg.lr, betas=tuple(cfg.betas), weight_decay=cfg.weight_decay)
    return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)


def lr_factor(cfg: OptimConfig, total_steps: int) -> Callable[[int], float]:
    """Multiplier of the base learning rate after ``i`` optimiser steps (``i`` = 0 for the
    first step): linear warm-up over ``warmup_steps``, then constant, cosine down to
    ``min_lr`` at ``total_steps``, or multistep (``gamma`` at each milestone)."""
    warm = cfg.warmup_steps
    floor = min(cfg.min_lr / cfg.lr, 1.0)
    milestones = list(cfg.milestones)

    def factor(i: int) -> float:
        f = 1.0
        if cfg.schedule == "cosine":
            span = max(1, total_steps - warm)
            t = min(max(i - warm, 0) / span, 1.0)
            f = floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * t))
        elif cfg.schedule == "multistep":
            f = cfg.gamma ** sum(1 for m in milestones if i >= m)
        if warm and i < warm:
            f *= (i + 1) / warm
        return f

    return factor


def build_scheduler(optimizer: torch.optim.Optimizer, cfg: OptimConfig, total_steps: int) -> torch.optim.lr_scheduler.LambdaLR:
    """A ``LambdaLR`` stepping once per training step (its state is plain numbers)."""
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lr_factor(cfg, total_steps))


class EMA:
    """Exponential moving average of a model's weights: ``ema = d * ema + (1 - d) * w`` after
    each step, with the usual warm-up ``d = min(decay, (1 + n) / (10 + n))``; floating-point
    buffers (BN running statistics) are averaged the same way, since the current model's
    statistics do not fit the averaged weights (copying them cost a BN model 6 dB of
    validation PSNR early in training), and integer buffers are copied. ``module`` is a frozen copy in eval mode, used for validation
    and export."""

    def __init__(self, model: nn.Module, decay: float) -> None:
        self.decay = float(decay)
        self.module = copy.deepcopy(model).eval()
        for p in self.module.parameters():
            p.requires_grad_(False)
        self.updates = 0

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        self.updates += 1
        d = min(self.decay, (1.0 + self.updates) / (10.0 + self.updates))
        for e, p in zip(self.module.parameters(), model.parameters()):
            if e.dtype.is_floating_point:
                e.lerp_(p.detach(), 1.0 - d)
            else:
                e.copy_(p)
        for e, b in zip(self.module.buffers(), model.buffers()):
            if e.dtype.is_floating_point:
                e.lerp_(b, 1.0 - d)  # BN statistics averaged with the weights they belong to
            else:
                e.copy_(b)

    def state_dict(self) -> dict[str, Any]:
        return {"module": self.module.state_dict(), "updates": self.updates, "decay": self.decay}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.module.load_state_dict(state["module"])
        self.updates = int(state["updates"])
