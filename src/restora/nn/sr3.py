"""SR3 (Saharia et al., "Image Super-Resolution via Iterative Refinement") at CPU scale.

A conditional DDPM for 4x super-resolution: the U-Net :class:`SR3UNet` sees the noisy
high-resolution image ``y_t`` concatenated with the bicubic-upsampled low-resolution image
and the continuous noise level ``sqrt(alpha_bar)`` (SR3 / WaveGrad conditioning), and predicts
the noise ``eps``. :class:`Diffusion` holds the schedule and the maths:

- a linear (DDPM: ``beta`` 1e-4 .. 0.02) or cosine (Nichol & Dhariwal) schedule of ``T`` steps;
- training on *continuous* noise levels: pick ``t`` uniformly in ``1..T`` and draw
  ``sqrt(alpha_bar)`` uniformly between ``sqrt(alpha_bar[t-1])`` and ``sqrt(alpha_bar[t])``
  (SR3's piecewise-uniform ``p(gamma)``), so the network can be sampled on any schedule;
- epsilon prediction with an L1 (default, as WaveGrad/SR3's ``p = 1``) or L2 loss;
- ancestral sampling on the training schedule or a *respaced* one of ``K`` steps (a subset
  of the training steps that keeps the first and the last; betas recomputed from
  ``alpha_bar`` ratios, as in Nichol & Dhariwal's respacing), deterministic for a seed.

Data live in [-1, 1]. Why not an :class:`~restora.nn.spec.ArchSpec`: the network is not an
image -> image map (its forward takes the noisy image, the condition and the noise level and
returns noise; a restoration needs a sampling loop of K forwards), so the engine's tiled,
padded single forward cannot run it; the restorer in :mod:`restora.sr3_restorer` does.

Reductions against the paper (documented in ``docs/sr3.md``): 16 -> 64 px instead of
16 -> 128 / 64 -> 256 ... ; widths 32/64/64 with one residual block per level instead of
the 625M-parameter U-Net; 1000 training steps instead of 2000; far fewer training iterations.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from restora.errors import InvalidParameterError
from restora.rng import as_generator

__all__ = [
    "SR3UNet",
    "Diffusion",
    "make_betas",
    "respace",
    "noise_level_embedding",
    "upsample_condition",
]


# ---------------------------------------------------------------------------------------
# network
# ---------------------------------------------------------------------------------------
def noise_level_embedding(level: torch.Tensor, dim: int, scale: float = 5000.0) -> torch.Tensor:
    """Sinusoidal embedding of a continuous noise level (``B`` values of ``sqrt(alpha_bar)``
    in [0, 1]) -> ``B x dim``; WaveGrad's positional encoding with the level scaled by
    ``scale`` so that nearby levels get distinct codes."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32, device=level.device) / half)
    arg = scale * level.float()[:, None] * freqs[None, :]
    return torch.cat([torch.sin(arg), torch.cos(arg)], dim=1)


def _norm(c: int) -> nn.GroupNorm:
    return nn.GroupNorm(min(8, c), c)


class ResBlock(nn.Module):
    """GroupNorm-SiLU-conv twice, with FiLM (``h * (1 + scale) + shift``) from the noise
    embedding after the second normalisation; 1x1 skip when the width changes."""

    def __init__(self, cin: int, cout: int, emb_dim: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.n1, self.c1 = _norm(cin), nn.Conv2d(cin, cout, 3, padding=1)
        self.film = nn.Linear(emb_dim, 2 * cout)
        self.n2, self.c2 = _norm(cout), nn.Conv2d(cout, cout, 3, padding=1)
        self.drop = nn.Dropout(dropout)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()
        nn.init.zeros_(self.c2.weight)
        nn.init.zeros_(self.c2.bias)

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.c1(F.silu(self.n1(x)))
        scale, shift = self.film(emb)[:, :, None, None].chunk(2, dim=1)
        h = self.n2(h) * (1 + scale) + shift
        h = self.c2(self.drop(F.silu(h)))
        return h + self.skip(x)


class SelfAttention(nn.Module):
    """Single-head self-attention over the positions of a feature map (residual)."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.norm = _norm(c)
        self.qkv = nn.Conv2d(c, 3 * c, 1)
        self.proj = nn.Conv2d(c, c, 1)
        nn.init.zeros_(self.proj.weight)
        nn.init.zeros_(self.proj.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        q, k, v = self.qkv(self.norm(x)).reshape(b, 3, c, h * w).unbind(1)
        a = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2))
        return x + self.proj(a.transpose(1, 2).reshape(b, c, h, w))


class SR3UNet(nn.Module):
    """The conditional denoiser ``eps = f(y_t, x_up, sqrt(alpha_bar))``.

    Parameters
    ----------
    channels : image channels (3).
    base : width at full resolution; level ``i`` has ``base * mults[i]`` channels.
    mults : width multipliers, one per resolution (``len(mults)`` resolutions, each
        halving the previous one; the input size must be divisible by ``2**(len-1)``).
    num_res : residual blocks per level on the way down (``num_res + 1`` on the way up).
    attention : self-attention at the lowest resolution.
    emb_dim : width of the sinusoidal noise-level embedding.
    """

    def __init__(
        self,
        channels: int = 3,
        base: int = 32,
        mults: tuple[int, ...] = (1, 2, 2),
        num_res: int = 1,
        attention: bool = True,
        emb_dim: int = 128,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if base < 8 or not mults or num_res < 1:
            raise InvalidParameterError("base must be >= 8, mults non-empty and num_res >= 1")
        self.arch_args = dict(channels=channels, base=base, mults=list(mults), num_res=num_res,
                              attention=attention, emb_dim=emb_dim, dropout=dropout)
        self.emb_dim = emb_dim
        self.emb = nn.Sequential(nn.Linear(emb_dim, 4 * emb_dim), nn.SiLU(), nn.Linear(4 * emb_dim, 4 * emb_dim))
        ed = 4 * emb_dim
        self.inp = nn.Conv2d(2 * channels, base, 3, padding=1)
        widths = [base * m for m in mults]
        self.down = nn.ModuleList()
        self.downsample = nn.ModuleList()
        skips = [base]
        c = base
        for i, w in enumerate(widths):
            blocks = nn.ModuleList()
            for _ in range(num_res):
                blocks.append(ResBlock(c, w, ed, dropout))
                c = w
                skips.append(c)
            self.down.append(blocks)
            if i < len(widths) - 1:
                self.downsample.append(nn.Conv2d(c, c, 3, stride=2, padding=1))
                skips.append(c)
        self.mid1 = ResBlock(c, c, ed, dropout)
        self.attn = SelfAttention(c) if attention else nn.Identity()
        self.mid2 = ResBlock(c, c, ed, dropout)
        self.up = nn.ModuleList()
        self.upsample = nn.ModuleList()
        for i, w in reversed(list(enumerate(widths))):
            blocks = nn.ModuleList()
            for _ in range(num_res + 1):
                blocks.append(ResBlock(c + skips.pop(), w, ed, dropout))
                c = w
            self.up.append(blocks)
            if i > 0:
                self.upsample.append(nn.Conv2d(c, c, 3, padding=1))
        self.out = nn.Sequential(_norm(c), nn.SiLU(), nn.Conv2d(c, channels, 3, padding=1))
        nn.init.zeros_(self.out[-1].weight)
        nn.init.zeros_(self.out[-1].bias)
        self.levels = len(widths)

    def forward(self, y_t: torch.Tensor, cond: torch.Tensor, level: torch.Tensor) -> torch.Tensor:
        """``y_t``, ``cond``: ``B x C x H x W`` in about [-1, 1]; ``level``: ``B`` values of
        ``sqrt(alpha_bar)``. Returns the predicted noise, ``B x C x H x W``."""
        m = 2 ** (self.levels - 1)
        if y_t.shape[-1] % m or y_t.shape[-2] % m:
            raise InvalidParameterError(f"SR3UNet input size must be divisible by {m}; got {tuple(y_t.shape[-2:])}")
        emb = self.emb(noise_level_embedding(level.reshape(-1).expand(y_t.shape[0]), self.emb_dim))
        h = self.inp(torch.cat([y_t, cond], dim=1))
        hs = [h]
        for i, blocks in enumerate(self.down):
            for blk in blocks:
                h = blk(h, emb)
                hs.append(h)
            if i < len(self.downsample):
                h = self.downsample[i](h)
                hs.append(h)
        h = self.mid2(self.attn(self.mid1(h, emb)), emb)
        for i, blocks in enumerate(self.up):
            for blk in blocks:
                h = blk(torch.cat([h, hs.pop()], dim=1), emb)
            if i < len(self.upsample):
                h = self.upsample[i](F.interpolate(h, scale_factor=2.0, mode="nearest"))
        return self.out(h)


# ---------------------------------------------------------------------------------------
# diffusion maths
# ---------------------------------------------------------------------------------------
def make_betas(schedule: str = "linear", steps: int = 1000, beta_start: float = 1e-4, beta_end: float = 0.02) -> np.ndarray:
    """Noise schedule ``beta_1..beta_T`` (float64): ``"linear"`` (DDPM) or ``"cosine"``
    (Nichol & Dhariwal, ``s = 0.008``, betas capped at 0.999)."""
    if steps < 1:
        raise InvalidParameterError(f"steps must be >= 1; got {steps}")
    if schedule == "linear":
        return np.linspace(beta_start, beta_end, steps, dtype=np.float64)
    if schedule == "cosine":
        s = 0.008
        t = np.arange(steps + 1, dtype=np.float64) / steps
        f = np.cos((t + s) / (1 + s) * math.pi / 2) ** 2
        return np.clip(1 - f[1:] / f[:-1], 0.0, 0.999)
    raise InvalidParameterError(f"schedule must be linear or cosine; got {schedule!r}")


def respace(alpha_bar: np.ndarray, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """A ``steps``-step schedule from a training ``alpha_bar`` (length ``T``): ``steps``
    evenly spaced indices (the first and the last always kept) and the betas
    ``1 - alpha_bar[i_k] / alpha_bar[i_{k-1}]`` that make the same ``alpha_bar`` at them.
    Returns ``(indices, betas)``."""
    T = len(alpha_bar)
    if not 1 <= steps <= T:
        raise InvalidParameterError(f"sampling steps must be in 1..{T}; got {steps}")
    idx = np.unique(np.round(np.linspace(T - 1, 0, steps)).astype(np.int64))  # sorted; 1 step -> [T-1]
    ab = alpha_bar[idx]
    prev = np.concatenate([[1.0], ab[:-1]])
    return idx, 1.0 - ab / prev


class Diffusion:
    """Schedule, training loss and ancestral sampler of a conditional DDPM (SR3)."""

    def __init__(self, schedule: str = "linear", steps: int = 1000, loss: str = "l1") -> None:
        if loss not in ("l1", "l2"):
            raise InvalidParameterError(f"loss must be l1 or l2; got {loss!r}")
        self.schedule, self.steps, self.loss_type = schedule, int(steps), loss
        self.betas = make_betas(schedule, steps)
        self.alpha_bar = np.cumprod(1.0 - self.betas)
        # sqrt(alpha_bar) at the T+1 boundaries 0..T (level 1 = clean) for continuous sampling
        self.sqrt_ab = np.sqrt(np.concatenate([[1.0], self.alpha_bar]))

    # -- training --------------------------------------------------------------------------
    def sample_levels(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """``n`` continuous noise levels ``sqrt(alpha_bar)``: a uniform step ``t`` in ``1..T``,
        then uniform between the levels of steps ``t-1`` and ``t`` (SR3)."""
        t = torch.randint(1, self.steps + 1, (n,), generator=generator)
        u = torch.rand(n, generator=generator, dtype=torch.float64)
        sab = torch.from_numpy(self.sqrt_ab)
        return (sab[t] + u * (sab[t - 1] - sab[t])).float()

    def q_sample(self, y0: torch.Tensor, level: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        """``y_t = level * y0 + sqrt(1 - level^2) * eps`` (``level`` = sqrt(alpha_bar), per item)."""
        g = level.reshape(-1, 1, 1, 1)
        return g * y0 + torch.sqrt((1 - g * g).clamp_min(0)) * eps

    def loss(self, model: nn.Module, y0: torch.Tensor, cond: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Epsilon-prediction loss on a batch (``y0`` HR and ``cond`` upsampled LR, in [-1, 1])."""
        level = self.sample_levels(y0.shape[0], generator)
        eps = torch.randn(y0.shape, generator=generator)
        pred = model(self.q_sample(y0, level, eps), cond, level)
        return F.l1_loss(pred, eps) if self.loss_type == "l1" else F.mse_loss(pred, eps)

    # -- sampling --------------------------------------------------------------------------
    @torch.no_grad()
    def sample(
        self,
        model: nn.Module,
        cond: torch.Tensor,
        steps: int | None = None,
        *,
        rng: int | np.random.Generator | None = 0,
        clip_x0: bool = True,
        progress: Callable[[int, int], None] | None = None,
    ) -> torch.Tensor:
        """Ancestral sampling of ``B x C x H x W`` HR images in [-1, 1] given ``cond`` (the
        upsampled LR, [-1, 1]) with ``steps`` (default ``T``) respaced steps. Deterministic for a
        seed. ``clip_x0`` clips the predicted ``y0`` to [-1, 1] before the posterior mean (as in
        the DDPM/SR3 code). ``progress(i, n)`` is called after each step."""
        n = self.steps if steps is None else int(steps)
        idx, betas = respace(self.alpha_bar, n)
        alphas = 1.0 - betas
        ab = np.cumprod(alphas)
        ab_prev = np.concatenate([[1.0], ab[:-1]])
        seed = int(as_generator(rng).integers(0, 2**63 - 1))
        gen = torch.Generator().manual_seed(seed)
        y = torch.randn(cond.shape, generator=gen)
        K = len(idx)
        for j, k in enumerate(reversed(range(K))):
            level = torch.full((cond.shape[0],), math.sqrt(ab[k]), dtype=torch.float32)
            eps = model(y, cond, level)
            x0 = (y - math.sqrt(1 - ab[k]) * eps) / math.sqrt(ab[k])
            if clip_x0:
                x0 = x0.clamp(-1, 1)
            c0 = betas[k] * math.sqrt(ab_prev[k]) / (1 - ab[k])
            ct = (1 - ab_prev[k]) * math.sqrt(alphas[k]) / (1 - ab[k])
            mean = c0 * x0 + ct * y
            if k > 0:
                var = betas[k] * (1 - ab_prev[k]) / (1 - ab[k])
                y = mean + math.sqrt(var) * torch.randn(cond.shape, generator=gen)
            else:
                y = mean
            if progress is not None:
                progress(j + 1, K)
        return y


def upsample_condition(lr: torch.Tensor, scale: int = 4) -> torch.Tensor:
    """Bicubic (MATLAB ``imresize``) upsampling of a ``B x C x h x w`` batch by ``scale``."""
    from restora.degrade.torch_ops import imresize

    return imresize(lr, float(scale), method="bicubic")
