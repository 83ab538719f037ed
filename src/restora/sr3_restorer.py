"""The ``sr3`` restorer: 4x super-resolution by SR3 iterative refinement (a conditional DDPM,
:mod:`restora.nn.sr3`), trained on aligned 16 -> 64 px faces (``docs/sr3.md``).

Weights: the ``.safetensors`` file named by ``$RESTORA_SR3``, else the zoo name
``sr3-faces-x4`` (package weights or the user cache, :func:`restora.zoo.store.search_dirs`);
a one-line :class:`~restora.errors.MissingResourceError` otherwise. Slow: ``steps`` forwards
of the U-Net per image (default 50), with a tqdm bar or a ``progress(i, n)`` callback.
Registered at import as ``sr3`` (task ``sr``, kind ``neural``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from restora.errors import InvalidParameterError, MissingResourceError
from restora.restorers import RestorerInfo, register
from restora.validation import as_image

__all__ = ["ENV_VAR", "ZOO_NAME", "find_sr3_weights", "SR3Restorer", "sr3_upscale"]

ENV_VAR = "RESTORA_SR3"
ZOO_NAME = "sr3-faces-x4"


def find_sr3_weights() -> Path:
    """Path of the SR3 weights: ``$RESTORA_SR3`` or the installed zoo model ``sr3-faces-x4``."""
    env = os.environ.get(ENV_VAR)
    if env:
        p = Path(env).expanduser()
        if p.is_file() and p.with_suffix(".json").is_file():
            return p
        raise MissingResourceError(f"${ENV_VAR}={env}: SR3 weights (.safetensors with its .json card) not found")
    from restora.zoo.store import search_dirs

    for d in search_dirs():
        p = d / f"{ZOO_NAME}.safetensors"
        if p.is_file():
            return p
    raise MissingResourceError(
        f"SR3 weights not found: set ${ENV_VAR} to a trained sr3-faces-x4.safetensors (python -m restora.train.sr3) "
        f"or install it as zoo model {ZOO_NAME!r}"
    )


class SR3Restorer:
    """``restorer(image, scale=4) -> image``: SR3 sampling with ``steps`` respaced steps,
    seeded by ``seed`` (same input and seed -> same output)."""

    def __init__(
        self,
        weights: str | os.PathLike[str] | None = None,
        *,
        steps: int = 50,
        seed: int = 0,
        progress: bool | Callable[[int, int], None] = True,
        device: str = "cpu",
        **_ignored: Any,
    ) -> None:
        from restora.train.sr3 import load_sr3

        path = Path(weights) if weights is not None else find_sr3_weights()
        self.model, self.diffusion, self.card = load_sr3(path)
        self.scale = int(self.card.get("scale", 4))
        self.steps, self.seed, self.progress = int(steps), int(seed), progress

    def sample(self, lr: torch.Tensor, steps: int | None = None, progress: Callable[[int, int], None] | None = None) -> torch.Tensor:
        """``B x 3 x h x w`` LR in [0, 1] -> ``B x 3 x sh x sw`` SR in [0, 1] (unclipped)."""
        from restora.nn.sr3 import upsample_condition

        cond = upsample_condition(lr * 2 - 1, self.scale)
        y = self.diffusion.sample(self.model, cond, steps or self.steps, rng=self.seed, progress=progress)
        return (y + 1) / 2

    def __call__(self, image: np.ndarray, **condition: Any) -> np.ndarray:
        scale = int(condition.get("scale", self.scale))
        if scale != self.scale:
            raise InvalidParameterError(f"sr3 upscales by {self.scale} only; got scale {condition.get('scale')!r}")
        img = as_image(image, "image")
        c = img.shape[2]
        x = np.repeat(img, 3, axis=2) if c == 1 else img
        h, w = x.shape[:2]
        t = torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)))[None].float()
        cb = self.progress if callable(self.progress) else None
        bar = None
        if self.progress is True:
            try:
                from tqdm import tqdm

                bar = tqdm(total=self.steps, desc="sr3", unit="step", leave=False)
                cb = lambda i, n: bar.update(1)  # noqa: E731
            except ImportError:
                cb = None
        try:
            y = self.sample(t, progress=cb)
        finally:
            if bar is not None:
                bar.close()
        out = y[0].numpy().transpose(1, 2, 0)[: h * scale, : w * scale]
        return np.ascontiguousarray(out.mean(axis=2, keepdims=True) if c == 1 else out).astype(np.float32)


def sr3_upscale(image: np.ndarray, *, steps: int = 50, seed: int = 0, weights: str | None = None) -> np.ndarray:
    """Super-resolve ``image`` 4x with SR3 (see :class:`SR3Restorer`)."""
    return SR3Restorer(weights, steps=steps, seed=seed, progress=False)(image, scale=4)


register(
    RestorerInfo(
        name="sr3",
        task="sr",
        kind="neural",
        description="SR3 diffusion super-resolution x4 (faces 16->64; slow: 50 sampling steps; $RESTORA_SR3 or zoo sr3-faces-x4)",
        factory=SR3Restorer,
        tags=("diffusion", "faces", "slow"),
    )
)
