"""Train the StyleGAN2 face prior (issue 19): a small, resumable unconditional GAN trainer.

Trains :class:`~restora.nn.stylegan2.StyleGAN2Generator` against
:class:`~restora.nn.stylegan2.StyleGAN2Discriminator` on a folder of face images (default the
shared ``train/Faces``, found through :func:`restora.data.data_root`), the StyleGAN2 way:
logistic non-saturating losses, lazy R1 on the reals every ``r1_interval`` steps (with the
optimiser's lr and betas corrected by ``c = k / (k + 1)``), style mixing, Adam with betas
(0, 0.99), an EMA of the generator, and DiffAugment (:mod:`restora.train.augment`) on every
image the discriminator sees, since the set is small (156 faces). Images are loaded once,
resized to ``resolution`` (area filter) and kept in memory in [-1, 1]; x-flips double them.

Output folder: ``checkpoints/step_XXXXXXX.{safetensors,json}`` (restora's pickle-free
checkpoint format: every tensor -- G, D, EMA, Adam moments -- in safetensors, the rest in
JSON), ``log.jsonl`` and ``samples/step_XXXXXXX.png`` grids from the EMA generator. A run
resumes from its newest checkpoint bit-exactly: all randomness (batches, flips, z, mixing,
noise, augmentation) comes from one ``torch.Generator`` whose state is checkpointed.

Run in the background with one thread::

    OMP_NUM_THREADS=1 nohup python -m restora.train.gan_prior --output runs/face-prior-64 \\
        --steps 20000 --threads 1 > runs/face-prior-64.out 2>&1 &
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from restora.errors import ConfigError, InvalidParameterError, MissingResourceError
from restora.nn.stylegan2 import (
    StyleGAN2Discriminator,
    StyleGAN2Generator,
    d_logistic_loss,
    g_nonsaturating_loss,
    r1_penalty,
)
from restora.train.augment import diff_augment
from restora.train.checkpoint import latest_checkpoint, load_checkpoint, rng_state, save_checkpoint, set_rng_state, resume_checkpoint
from restora.train.logs import RunLog
from restora.train.optim import EMA

__all__ = ["GANPriorConfig", "GANPriorTrainer", "load_face_images", "write_sample_grid", "load_generator", "main"]

# fields that may change when a run is resumed (everything else must match the checkpoint)
_RESUMABLE_CHANGES = {"steps", "log_every", "checkpoint_every", "sample_every", "keep", "output", "data"}


@dataclass
class GANPriorConfig:
    """Settings of a face-prior run (CPU-scale defaults; see ``docs/face_prior.md``)."""

    output: str
    data: str = "train/Faces"  # a folder, or a path relative to restora.data.data_root()
    resolution: int = 64
    generator: dict[str, Any] = field(default_factory=dict)  # extra StyleGAN2Generator arguments
    discriminator: dict[str, Any] = field(default_factory=dict)  # extra StyleGAN2Discriminator arguments
    batch: int = 8
    steps: int = 20000
    lr_g: float = 0.0025
    lr_d: float = 0.0025
    beta1: float = 0.0
    beta2: float = 0.99
    r1_gamma: float | None = None  # None: StyleGAN2-ADA's heuristic 0.0002 * resolution^2 / batch
    r1_interval: int = 16
    mixing_prob: float = 0.9
    ema_decay: float = 0.999
    augment: str = "color,translation,cutout"
    xflip: bool = True
    seed: int = 0
    log_every: int = 10
    checkpoint_every: int = 500
    sample_every: int = 1000
    keep: int = 3

    def gamma(self) -> float:
        """The R1 weight in use."""
        return float(self.r1_gamma) if self.r1_gamma is not None else 0.0002 * self.resolution**2 / self.batch


def _data_folder(data: str) -> Path:
    p = Path(data).expanduser()
    if p.is_dir():
        return p
    from restora.data import data_root

    q = data_root() / data
    if q.is_dir():
        return q
    raise MissingResourceError(f"face folder {data!r} not found (neither a folder nor under {data_root()})")


def load_face_images(folder: str | Path, resolution: int) -> torch.Tensor:
    """Every image of ``folder`` as an ``N x 3 x R x R`` float32 tensor in [-1, 1] (RGB; gray is
    replicated, alpha dropped; resized with OpenCV's area filter)."""
    import cv2

    from restora.data import list_images
    from restora.io import read_image

    paths = list_images(_data_folder(str(folder)))
    if not paths:
        raise MissingResourceError(f"no images in {folder}")
    out = []
    for p in paths:
        img = read_image(p)
        if img.shape[2] in (2, 4):
            img = img[..., :-1]
        if img.shape[2] == 1:
            img = np.repeat(img, 3, axis=2)
        if img.shape[:2] != (resolution, resolution):
            interp = cv2.INTER_AREA if min(img.shape[:2]) > resolution else cv2.INTER_CUBIC
            img = cv2.resize(img, (resolution, resolution), interpolation=interp)
        out.append(np.clip(img, 0.0, 1.0))
    arr = np.stack(out).transpose(0, 3, 1, 2)
    return torch.from_numpy(np.ascontiguousarray(arr)).float() * 2.0 - 1.0


def _image_grid(images: torch.Tensor, nrow: int) -> np.ndarray:
    """``N x 3 x H x W`` in [0, 1] -> an ``H' x W' x 3`` grid with 2-px gaps."""
    n, c, h, w = images.shape
    ncol = int(math.ceil(n / nrow))
    pad = 2
    grid = np.ones((ncol * (h + pad) + pad, nrow * (w + pad) + pad, c), np.float32)
    arr = images.permute(0, 2, 3, 1).cpu().numpy()
    for i in range(n):
        r, q = divmod(i, nrow)
        grid[pad + r * (h + pad): pad + r * (h + pad) + h, pad + q * (w + pad): pad + q * (w + pad) + w] = arr[i]
    return grid


@torch.no_grad()
def write_sample_grid(
    generator: StyleGAN2Generator, path: str | Path, *, n: int = 16, nrow: int = 4, seed: int = 0,
    truncation_psi: float = 1.0,
) -> Path:
    """Write a PNG grid of ``n`` faces from ``generator`` for seeded z (constant noise), so
    grids of successive checkpoints show the same latents. Touches no global RNG."""
    from restora.io import write_image

    was = generator.training
    generator.eval()
    try:
        z = torch.randn(n, generator.z_dim, generator=torch.Generator().manual_seed(int(seed))).to(generator.w_avg.device)
        img = generator(z, noise_mode="const", truncation_psi=truncation_psi)
    finally:
        generator.train(was)
    grid = _image_grid(((img.float() + 1.0) / 2.0).clamp(0, 1), nrow)  # type: ignore[union-attr]
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    return write_image(p, grid, overwrite=True)


def _build_g(cfg: GANPriorConfig) -> StyleGAN2Generator:
    return StyleGAN2Generator(**{"resolution": cfg.resolution, **cfg.generator})


def _build_d(cfg: GANPriorConfig) -> StyleGAN2Discriminator:
    return StyleGAN2Discriminator(**{"resolution": cfg.resolution, **cfg.discriminator})


def _config_from(d: dict[str, Any]) -> GANPriorConfig:
    names = {f.name for f in dataclasses.fields(GANPriorConfig)}
    unknown = set(d) - names
    if unknown:
        raise ConfigError(f"unknown face-prior settings: {', '.join(sorted(unknown))}")
    return GANPriorConfig(**d)


def find_checkpoint(checkpoint: str | Path) -> Path:
    """A face-prior checkpoint: ``checkpoint`` itself, or a run folder's newest checkpoint."""
    p = Path(checkpoint).expanduser()
    if p.is_dir():
        found = latest_checkpoint(p / "checkpoints") or latest_checkpoint(p)
        if found is None:
            raise MissingResourceError(f"no checkpoint in face-prior folder {p}")
        return found
    if not p.is_file():
        raise MissingResourceError(f"face-prior checkpoint {p} not found")
    return p


def _generator_from(state: dict[str, Any], *, ema: bool = True) -> StyleGAN2Generator:
    g = _build_g(_config_from(state["config"]))
    g.load_state_dict(state["ema"]["module"] if ema else state["G"])
    return g.eval()


def load_generator(checkpoint: str | Path, *, ema: bool = True) -> StyleGAN2Generator:
    """The generator (EMA weights by default) of a face-prior checkpoint (``.json`` path, or a
    run folder: its newest checkpoint), in eval mode."""
    _, state = load_checkpoint(find_checkpoint(checkpoint))
    return _generator_from(state, ema=ema)


def export_generator(checkpoint: str | Path, path: str | Path, *, name: str | None = None) -> Path:
    """Write a face-prior run's EMA generator as a ``stylegan2-generator`` zoo file with a
    research-only card (the weights an encoder stage can start from when the run is gone)."""
    from restora.zoo.cards import ModelCard
    from restora.zoo.store import save_model

    step, state = load_checkpoint(find_checkpoint(checkpoint))
    cfg = _config_from(state["config"])
    g = _generator_from(state)
    card = ModelCard(
        name=name or Path(path).with_suffix("").name, arch="stylegan2-generator",
        args={"resolution": cfg.resolution, **cfg.generator}, task="generate",
        description=f"{cfg.resolution} px StyleGAN2 face prior (issue 19), EMA generator at step {step}; trained on "
        "research-only faces: research use only",
        training={"trainer": "restora.train.gan_prior", "steps": int(step), "config": dataclasses.asdict(cfg)},
        license="research-only",
    )
    return save_model(g, path, card)


class GANPriorTrainer:
    """The face-prior GAN run of ``cfg``; resumes from the newest checkpoint in
    ``<output>/checkpoints`` when there is one (``resume=False`` starts afresh)."""

    def __init__(self, cfg: GANPriorConfig, *, resume: bool = True, images: torch.Tensor | None = None) -> None:
        if cfg.batch < 1 or cfg.r1_interval < 1 or cfg.steps < 0:
            raise InvalidParameterError("batch and r1_interval must be >= 1 and steps >= 0")
        self.out = Path(cfg.output)
        self.ckpt_dir = self.out / "checkpoints"
        self.step_count, saved = resume_checkpoint(self.ckpt_dir, dataclasses.asdict(cfg), _RESUMABLE_CHANGES, resume=resume)
        self.cfg = cfg
        torch.manual_seed(cfg.seed)
        self.G = _build_g(cfg)
        self.D = _build_d(cfg)
        self.ema = EMA(self.G, cfg.ema_decay)
        c = cfg.r1_interval / (cfg.r1_interval + 1.0)
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=cfg.lr_g, betas=(cfg.beta1, cfg.beta2))
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=cfg.lr_d * c, betas=(cfg.beta1**c, cfg.beta2**c))
        self.gen = torch.Generator().manual_seed(cfg.seed)
        self.images = images if images is not None else load_face_images(cfg.data, cfg.resolution)
        if self.images.shape[1:] != (3, cfg.resolution, cfg.resolution):
            raise InvalidParameterError(f"training images must be N x 3 x {cfg.resolution} x {cfg.resolution}")
        self.last_r1 = float("nan")
        if saved is not None:
            self.G.load_state_dict(saved["G"])
            self.D.load_state_dict(saved["D"])
            self.ema.load_state_dict(saved["ema"])
            self.opt_g.load_state_dict(saved["opt_g"])
            self.opt_d.load_state_dict(saved["opt_d"])
            self.gen.set_state(saved["gen"])
            set_rng_state(saved["rng"])
            self.last_r1 = float(saved["last_r1"])
        self.log = RunLog(self.out, resume_step=self.step_count if saved is not None else None, tensorboard=False)

    # -- one iteration -------------------------------------------------------------------
    def _reals(self) -> torch.Tensor:
        idx = torch.randint(0, self.images.shape[0], (self.cfg.batch,), generator=self.gen)
        x = self.images[idx]
        if self.cfg.xflip:
            flip = torch.rand(self.cfg.batch, generator=self.gen) < 0.5
            x = torch.where(flip[:, None, None, None], x.flip(-1), x)
        return x

    def _latents(self, update_w_avg: bool) -> torch.Tensor:
        g, b = self.G, self.cfg.batch
        ws = g.map(torch.randn(b, g.z_dim, generator=self.gen), update_w_avg=update_w_avg)
        if self.cfg.mixing_prob > 0:
            mix = float(torch.rand((), generator=self.gen)) < self.cfg.mixing_prob
            cutoff = int(torch.randint(1, g.num_ws, (), generator=self.gen))
            z2 = torch.randn(b, g.z_dim, generator=self.gen)
            if mix:
                ws2 = g.map(z2)
                ws = torch.cat([ws[:, :cutoff], ws2[:, cutoff:]], dim=1)
        return ws

    def _augment(self, x: torch.Tensor) -> torch.Tensor:
        return diff_augment(x, self.cfg.augment, generator=self.gen) if self.cfg.augment else x

    def step(self) -> dict[str, float]:
        """Run one D step (with the lazy R1 step when due) and one G step; returns the losses."""
        cfg, G, D = self.cfg, self.G, self.D
        G.train()
        D.train()
        reals = self._reals()
        # discriminator
        with torch.no_grad():
            fakes = G(self._latents(update_w_avg=False), noise_generator=self.gen)
        d_real = D(self._augment(reals))
        d_fake = D(self._augment(fakes))  # type: ignore[arg-type]
        loss_d = d_logistic_loss(d_real, d_fake)
        self.opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        self.opt_d.step()
        if self.step_count % cfg.r1_interval == 0:
            x = reals.detach().requires_grad_(True)
            pen = r1_penalty(D(self._augment(x)), x)
            self.opt_d.zero_grad(set_to_none=True)
            (pen * (cfg.gamma() / 2.0 * cfg.r1_interval)).backward()
            self.opt_d.step()
            self.last_r1 = float(pen.detach())
        # generator
        D.requires_grad_(False)
        try:
            fakes = G(self._latents(update_w_avg=True), noise_generator=self.gen)
            loss_g = g_nonsaturating_loss(D(self._augment(fakes)))  # type: ignore[arg-type]
            self.opt_g.zero_grad(set_to_none=True)
            loss_g.backward()
            self.opt_g.step()
        finally:
            D.requires_grad_(True)
        self.ema.update(G)
        self.step_count += 1
        return {
            "loss_d": float(loss_d.detach()),
            "loss_g": float(loss_g.detach()),
            "r1": self.last_r1,
            "d_real": float(d_real.detach().mean()),
            "d_fake": float(d_fake.detach().mean()),
        }

    # -- persistence ---------------------------------------------------------------------
    def save(self) -> Path:
        """Write a checkpoint of the current step."""
        state = {
            "config": dataclasses.asdict(self.cfg),
            "G": self.G.state_dict(),
            "D": self.D.state_dict(),
            "ema": self.ema.state_dict(),
            "opt_g": self.opt_g.state_dict(),
            "opt_d": self.opt_d.state_dict(),
            "gen": self.gen.get_state(),
            "rng": rng_state(),
            "last_r1": self.last_r1,
        }
        return save_checkpoint(self.ckpt_dir, self.step_count, state, keep=self.cfg.keep)

    def sample(self) -> Path:
        """Write ``samples/step_XXXXXXX.png`` from the EMA generator."""
        return write_sample_grid(self.ema.module, self.out / "samples" / f"step_{self.step_count:07d}.png")  # type: ignore[arg-type]

    def train(self, steps: int | None = None) -> list[dict[str, Any]]:
        """Run until ``steps`` (default ``cfg.steps``) total steps; returns the logged records."""
        target = self.cfg.steps if steps is None else int(steps)
        cfg = self.cfg
        records: list[dict[str, Any]] = []
        t0, n0 = time.perf_counter(), self.step_count
        while self.step_count < target:
            losses = self.step()
            s = self.step_count
            if s % cfg.log_every == 0 or s == target:
                now = time.perf_counter()
                rec = {"step": s, **losses, "sec_per_step": (now - t0) / max(1, s - n0)}
                t0, n0 = now, s
                self.log.write(rec)
                records.append(rec)
            if s % cfg.checkpoint_every == 0 or s == target:
                self.save()
            if cfg.sample_every and (s % cfg.sample_every == 0 or s == target):
                self.sample()
        return records


def main(argv: Sequence[str] | None = None) -> None:
    """Command line: ``python -m restora.train.gan_prior --output DIR [--steps N] ...``."""
    ap = argparse.ArgumentParser(prog="python -m restora.train.gan_prior", description=__doc__.splitlines()[0])
    ap.add_argument("--output", required=True, help="run folder (resumed when it holds checkpoints)")
    ap.add_argument("--data", default="train/Faces")
    ap.add_argument("--resolution", type=int, default=64)
    ap.add_argument("--steps", type=int, default=20000)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--augment", default="color,translation,cutout")
    ap.add_argument("--generator", default="{}", help='JSON of extra generator arguments, e.g. \'{"channel_max": 64}\'')
    ap.add_argument("--discriminator", default="{}", help="JSON of extra discriminator arguments")
    ap.add_argument("--log-every", type=int, default=10)
    ap.add_argument("--checkpoint-every", type=int, default=500)
    ap.add_argument("--sample-every", type=int, default=1000)
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    ap.add_argument("--fresh", action="store_true", help="ignore existing checkpoints in --output")
    ap.add_argument("--export", default="", help="write the run's EMA generator as a zoo file at this path and exit")
    a = ap.parse_args(argv)
    if a.export:
        print(f"exported {export_generator(a.output, a.export)}", flush=True)
        return
    torch.set_num_threads(a.threads)
    cfg = GANPriorConfig(
        output=a.output, data=a.data, resolution=a.resolution, steps=a.steps, batch=a.batch, seed=a.seed, augment=a.augment,
        generator=json.loads(a.generator), discriminator=json.loads(a.discriminator), log_every=a.log_every,
        checkpoint_every=a.checkpoint_every, sample_every=a.sample_every,
    )
    trainer = GANPriorTrainer(cfg, resume=not a.fresh)
    print(f"face prior: step {trainer.step_count} -> {cfg.steps}, {trainer.images.shape[0]} images, output {cfg.output}", flush=True)
    trainer.train()
    print(f"done: {trainer.step_count} steps; samples in {Path(cfg.output) / 'samples'}", flush=True)


if __name__ == "__main__":
    main()
