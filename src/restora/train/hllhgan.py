"""Train HLLHGAN (Bulat et al. 2018) at CPU scale on faces 16 -> 64 px: a resumable trainer.

Two stages, each its own run folder:

- ``--stage h2l``: the High-to-Low GAN. Input: HR faces (the first half of ``train/Faces`` by
  sorted index, 64 px, x-flips and brightness/contrast jitter) plus noise z; output 16 px LR.
  Loss ``alpha * MSE(G(x, z), bicubic_down(x)) + beta * hinge_G`` against a spectral-norm 16 px
  critic that sees *unpaired* "real" LR faces: the second, disjoint half of ``train/Faces``
  passed through :func:`camera_degrade`, a fixed "camera" chain used nowhere else in restora
  (anisotropic Gaussian blur, 4x decimation without antialiasing, Gaussian sensor noise, JPEG).
- ``--stage l2h``: the Low-to-High net, 16 -> 64, with ``--variant``
  ``bicubic`` (trained on bicubic-downscaled HR, pixel loss; table row a),
  ``pixel`` (trained on H2L outputs, pixel loss only; row b) or
  ``gan`` (H2L outputs, ``alpha * MSE + beta * hinge_G`` against a 64 px SN critic on the HR
  faces; row c, full HLLHGAN). ``pixel``/``gan`` need ``--h2l RUN`` (an h2l run folder).

Output folder: ``checkpoints/step_XXXXXXX.{safetensors,json}``, ``log.jsonl`` (from step 1).
A run resumes bit-exactly from its newest checkpoint (all randomness from one
``torch.Generator`` whose state is saved); SIGTERM finishes the step and saves. Run::

    OMP_NUM_THREADS=1 nohup python -m restora.train.hllhgan --stage h2l \\
        --output ~/.cache/restora/runs/hllhgan-h2l --steps 3000 --threads 1 > h2l.out 2>&1 &
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from restora.errors import ConfigError, InvalidParameterError, MissingResourceError
from restora.nn.hllhgan import HighToLow, LowToHigh, SNDiscriminator, hinge_d_loss, hinge_g_loss
from restora.train.checkpoint import latest_checkpoint, load_checkpoint, rng_state, save_checkpoint, set_rng_state, resume_checkpoint
from restora.train.logs import RunLog

__all__ = [
    "CAMERA",
    "HLLHConfig",
    "HLLHTrainer",
    "camera_degrade",
    "bicubic_down",
    "load_faces01",
    "split_faces",
    "real_lr_set",
    "load_h2l",
    "load_l2h",
    "main",
]

# the held-out "camera" chain (used only by HLLHGAN: its real LR domain and its test set)
CAMERA: dict[str, Any] = {
    "kernel_size": 13,
    "sigma_x": 2.2,
    "sigma_y": 0.8,
    "angle": 35.0,  # degrees
    "scale": 4,
    "offset": 1,  # decimation phase: pixels 1, 5, 9, ... are kept (no antialiasing)
    "noise_sigma": 6.0,  # 8-bit levels, added at 16 px
    "jpeg_quality": 50,
}

_RESUMABLE_CHANGES = {"steps", "log_every", "checkpoint_every", "keep", "output", "h2l"}


def camera_degrade(hr: np.ndarray, seed: int) -> np.ndarray:
    """The held-out camera chain of :data:`CAMERA` on one HR image (``H x W x 3`` float32 in
    [0, 1], H and W multiples of 4): anisotropic Gaussian blur -> 4x decimation -> Gaussian
    noise (seeded by ``seed``) -> JPEG. Returns the ``H/4 x W/4 x 3`` LR image in [0, 1];
    identical for identical ``(hr, seed)``."""
    from restora.degrade.convolve import blur
    from restora.degrade.jpeg import jpeg
    from restora.degrade.kernels import gaussian_kernel
    from restora.degrade.noise import gaussian_noise

    c = CAMERA
    k = gaussian_kernel(c["kernel_size"], c["sigma_x"], c["sigma_y"], np.deg2rad(c["angle"]))
    x = blur(np.asarray(hr, np.float32), k).image
    x = x[c["offset"]:: c["scale"], c["offset"]:: c["scale"]]
    x = gaussian_noise(np.ascontiguousarray(x), c["noise_sigma"], rng=int(seed)).image
    x = jpeg(np.clip(x, 0.0, 1.0), c["jpeg_quality"]).image
    return np.asarray(x, np.float32)


def bicubic_down(x: torch.Tensor, scale: int = 4) -> torch.Tensor:
    """Antialiased bicubic downscale of a ``B x C x H x W`` tensor by ``scale``."""
    return F.interpolate(x, scale_factor=1.0 / scale, mode="bicubic", antialias=True, align_corners=False)


def load_faces01(data: str = "train/Faces", resolution: int = 64) -> torch.Tensor:
    """The faces of ``data`` (folder or path under ``data_root()``), sorted by file name, as
    ``N x 3 x R x R`` float32 in [0, 1]."""
    from restora.train.gan_prior import load_face_images

    return (load_face_images(data, resolution) + 1.0) / 2.0


def split_faces(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Split by index into disjoint halves: (HR set, source of the real-LR set)."""
    n = images.shape[0] // 2
    return images[:n], images[n:]


def real_lr_set(sources: torch.Tensor, seed_offset: int = 0) -> torch.Tensor:
    """:func:`camera_degrade` on each source face (noise seed ``seed_offset + i``)."""
    arr = sources.permute(0, 2, 3, 1).numpy()
    lr = [camera_degrade(arr[i], seed_offset + i) for i in range(arr.shape[0])]
    return torch.from_numpy(np.stack(lr).transpose(0, 3, 1, 2).copy()).float()


@dataclass
class HLLHConfig:
    """Settings of one HLLHGAN stage run (see ``docs/hllhgan.md``)."""

    output: str
    stage: str = "h2l"  # "h2l" | "l2h"
    variant: str = "gan"  # l2h only: "bicubic" | "pixel" | "gan"
    h2l: str = ""  # l2h pixel/gan: the h2l run folder
    data: str = "train/Faces"
    features: int = 32
    batch: int = 16
    steps: int = 3000
    lr: float = 2e-4
    lr_d: float = 2e-4
    beta1: float = 0.0
    beta2: float = 0.9
    alpha: float = 1.0
    beta: float = 0.05  # GAN weight (h2l default; l2h "gan" uses --beta, 0.001 recommended)
    z_dim: int = 16
    jitter: float = 0.05  # brightness/contrast jitter amplitude on HR batches
    seed: int = 0
    log_every: int = 10
    checkpoint_every: int = 500
    keep: int = 2


def _config_from(d: dict[str, Any]) -> HLLHConfig:
    names = {f.name for f in dataclasses.fields(HLLHConfig)}
    unknown = set(d) - names
    if unknown:
        raise ConfigError(f"unknown hllhgan settings: {', '.join(sorted(unknown))}")
    return HLLHConfig(**d)


def _resolve_ckpt(path: str | Path) -> Path:
    p = Path(path).expanduser()
    if p.is_dir():
        found = latest_checkpoint(p / "checkpoints") or latest_checkpoint(p)
        if found is None:
            raise MissingResourceError(f"no checkpoint in {p}")
        return found
    return p


def load_h2l(run: str | Path) -> HighToLow:
    """The H2L generator of an h2l run folder (newest checkpoint) or checkpoint, in eval mode."""
    _, state = load_checkpoint(_resolve_ckpt(run))
    cfg = _config_from(state["config"])
    g = HighToLow(features=cfg.features, z_dim=cfg.z_dim)
    g.load_state_dict(state["G"])
    return g.eval()


def load_l2h(run: str | Path) -> LowToHigh:
    """The L2H net of an l2h run folder (newest checkpoint) or checkpoint, in eval mode."""
    _, state = load_checkpoint(_resolve_ckpt(run))
    cfg = _config_from(state["config"])
    g = LowToHigh(features=cfg.features)
    g.load_state_dict(state["G"])
    return g.eval()


class HLLHTrainer:
    """One stage run of ``cfg``; resumes from ``<output>/checkpoints`` when possible."""

    def __init__(self, cfg: HLLHConfig, *, resume: bool = True, images: torch.Tensor | None = None,
                 h2l_model: HighToLow | None = None) -> None:
        if cfg.stage not in ("h2l", "l2h"):
            raise InvalidParameterError(f"stage must be 'h2l' or 'l2h', got {cfg.stage!r}")
        if cfg.variant not in ("bicubic", "pixel", "gan"):
            raise InvalidParameterError(f"variant must be bicubic, pixel or gan, got {cfg.variant!r}")
        if cfg.batch < 1 or cfg.steps < 0:
            raise InvalidParameterError("batch must be >= 1 and steps >= 0")
        self.out = Path(cfg.output).expanduser()
        self.ckpt_dir = self.out / "checkpoints"
        self.step_count, saved = resume_checkpoint(self.ckpt_dir, dataclasses.asdict(cfg), _RESUMABLE_CHANGES, resume=resume)
        self.cfg = cfg
        torch.manual_seed(cfg.seed)
        faces = images if images is not None else load_faces01(cfg.data, 64)
        self.hr, lr_src = split_faces(faces)
        if cfg.stage == "h2l":
            self.G: torch.nn.Module = HighToLow(features=cfg.features, z_dim=cfg.z_dim)
            self.D: torch.nn.Module | None = SNDiscriminator(16, cfg.features)
            self.real_lr = real_lr_set(lr_src)
            self.h2l = None
        else:
            self.G = LowToHigh(features=cfg.features)
            self.D = SNDiscriminator(64, cfg.features) if cfg.variant == "gan" else None
            self.real_lr = None
            self.h2l = None
            if cfg.variant != "bicubic":
                if h2l_model is None:
                    if not cfg.h2l:
                        raise InvalidParameterError("l2h variants 'pixel' and 'gan' need --h2l RUN")
                    h2l_model = load_h2l(cfg.h2l)
                self.h2l = h2l_model.eval().requires_grad_(False)
        betas = (cfg.beta1, cfg.beta2) if self.D is not None else (0.9, 0.99)
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=cfg.lr, betas=betas)
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=cfg.lr_d, betas=betas) if self.D is not None else None
        self.gen = torch.Generator().manual_seed(cfg.seed)
        self._stop = False
        if saved is not None:
            self.G.load_state_dict(saved["G"])
            self.opt_g.load_state_dict(saved["opt_g"])
            if self.D is not None:
                self.D.load_state_dict(saved["D"])
                self.opt_d.load_state_dict(saved["opt_d"])  # type: ignore[union-attr]
            self.gen.set_state(saved["gen"])
            set_rng_state(saved["rng"])
        self.log = RunLog(self.out, resume_step=self.step_count if saved is not None else None, tensorboard=False)

    # -- batches -------------------------------------------------------------------------
    def _augment(self, x: torch.Tensor) -> torch.Tensor:
        b = x.shape[0]
        flip = torch.rand(b, generator=self.gen) < 0.5
        x = torch.where(flip[:, None, None, None], x.flip(-1), x)
        if self.cfg.jitter > 0:
            j = self.cfg.jitter
            gain = 1.0 + (torch.rand(b, 1, 1, 1, generator=self.gen) * 2 - 1) * j
            bias = (torch.rand(b, 1, 1, 1, generator=self.gen) * 2 - 1) * j
            mean = x.mean(dim=(1, 2, 3), keepdim=True)
            x = ((x - mean) * gain + mean + bias).clamp(0, 1)
        return x

    def _sample(self, pool: torch.Tensor) -> torch.Tensor:
        idx = torch.randint(0, pool.shape[0], (self.cfg.batch,), generator=self.gen)
        return self._augment(pool[idx])

    def _z(self) -> torch.Tensor:
        return torch.randn(self.cfg.batch, self.cfg.z_dim, generator=self.gen)

    # -- one iteration -------------------------------------------------------------------
    def step(self) -> dict[str, float]:
        """One critic step (when there is a critic) and one generator step; returns losses."""
        cfg, G, D = self.cfg, self.G, self.D
        G.train()
        hr = self._sample(self.hr)
        out: dict[str, float] = {}
        if cfg.stage == "h2l":
            assert D is not None and self.real_lr is not None
            real = self._sample(self.real_lr)
            z = self._z()
            fake = G(hr, z)
            loss_d = hinge_d_loss(D(real), D(fake.detach()))
            self.opt_d.zero_grad(set_to_none=True)  # type: ignore[union-attr]
            loss_d.backward()
            self.opt_d.step()  # type: ignore[union-attr]
            target = bicubic_down(hr)
            pix = F.mse_loss(fake, target)
            D.requires_grad_(False)
            adv = hinge_g_loss(D(fake))
            D.requires_grad_(True)
            loss = cfg.alpha * pix + cfg.beta * adv
            out.update(loss_d=float(loss_d.detach()), adv=float(adv.detach()))
        else:
            with torch.no_grad():
                if self.h2l is None:
                    lr = bicubic_down(hr).clamp(0, 1)
                else:
                    lr = self.h2l(hr, self._z()).clamp(0, 1)
            sr = G(lr)
            pix = F.mse_loss(sr, hr)
            loss = cfg.alpha * pix
            if D is not None:
                loss_d = hinge_d_loss(D(hr), D(sr.detach()))
                self.opt_d.zero_grad(set_to_none=True)  # type: ignore[union-attr]
                loss_d.backward()
                self.opt_d.step()  # type: ignore[union-attr]
                D.requires_grad_(False)
                adv = hinge_g_loss(D(sr))
                D.requires_grad_(True)
                loss = loss + cfg.beta * adv
                out.update(loss_d=float(loss_d.detach()), adv=float(adv.detach()))
        self.opt_g.zero_grad(set_to_none=True)
        loss.backward()
        self.opt_g.step()
        self.step_count += 1
        out.update(loss=float(loss.detach()), mse=float(pix.detach()))
        return out

    # -- persistence ---------------------------------------------------------------------
    def save(self) -> Path:
        """Write a checkpoint of the current step."""
        state: dict[str, Any] = {
            "config": dataclasses.asdict(self.cfg),
            "G": self.G.state_dict(),
            "opt_g": self.opt_g.state_dict(),
            "gen": self.gen.get_state(),
            "rng": rng_state(),
        }
        if self.D is not None:
            state["D"] = self.D.state_dict()
            state["opt_d"] = self.opt_d.state_dict()  # type: ignore[union-attr]
        return save_checkpoint(self.ckpt_dir, self.step_count, state, keep=self.cfg.keep)

    def _on_sigterm(self, *_: Any) -> None:
        self._stop = True

    def train(self, steps: int | None = None) -> list[dict[str, Any]]:
        """Run to ``steps`` (default ``cfg.steps``) total steps or SIGTERM; saves at the end."""
        target = self.cfg.steps if steps is None else int(steps)
        cfg = self.cfg
        records: list[dict[str, Any]] = []
        old = None
        try:
            old = signal.signal(signal.SIGTERM, self._on_sigterm)
        except ValueError:
            pass
        try:
            t0, n0 = time.perf_counter(), self.step_count
            while self.step_count < target and not self._stop:
                losses = self.step()
                s = self.step_count
                if s % cfg.log_every == 0 or s == target or s == 1:
                    now = time.perf_counter()
                    rec = {"step": s, **losses, "sec_per_step": (now - t0) / max(1, s - n0)}
                    t0, n0 = now, s
                    self.log.write(rec)
                    records.append(rec)
                if s % cfg.checkpoint_every == 0:
                    self.save()
            self.save()
        finally:
            if old is not None:
                signal.signal(signal.SIGTERM, old)
        return records


def main(argv: Sequence[str] | None = None) -> None:
    """Command line: ``python -m restora.train.hllhgan --stage h2l|l2h --output DIR ...``."""
    ap = argparse.ArgumentParser(prog="python -m restora.train.hllhgan", description=__doc__.splitlines()[0])
    ap.add_argument("--stage", required=True, choices=["h2l", "l2h"])
    ap.add_argument("--variant", default="gan", choices=["bicubic", "pixel", "gan"], help="l2h only")
    ap.add_argument("--h2l", default="", help="h2l run folder (l2h pixel/gan)")
    ap.add_argument("--output", required=True)
    ap.add_argument("--data", default="train/Faces")
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--features", type=int, default=32)
    ap.add_argument("--lr", type=float, default=2e-4)
    ap.add_argument("--alpha", type=float, default=1.0)
    ap.add_argument("--beta", type=float, default=None, help="GAN weight (default 0.05 for h2l, 0.001 for l2h)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--log-every", type=int, default=10)
    ap.add_argument("--checkpoint-every", type=int, default=500)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--fresh", action="store_true")
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    beta = a.beta if a.beta is not None else (0.05 if a.stage == "h2l" else 0.001)
    cfg = HLLHConfig(
        output=str(Path(a.output).expanduser()), stage=a.stage, variant=a.variant if a.stage == "l2h" else "gan",
        h2l=str(Path(a.h2l).expanduser()) if a.h2l else "", data=a.data, steps=a.steps, batch=a.batch,
        features=a.features, lr=a.lr, lr_d=a.lr, alpha=a.alpha, beta=beta, seed=a.seed, log_every=a.log_every,
        checkpoint_every=a.checkpoint_every,
    )
    tr = HLLHTrainer(cfg, resume=not a.fresh)
    print(f"hllhgan {cfg.stage}/{cfg.variant}: step {tr.step_count} -> {cfg.steps}, output {cfg.output}", flush=True)
    t = time.process_time()
    tr.train()
    print(f"done: {tr.step_count} steps, cpu {time.process_time() - t:.1f} s", flush=True)


if __name__ == "__main__":
    main()
