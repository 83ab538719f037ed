"""Train SR3 (:mod:`restora.nn.sr3`) for 4x face super-resolution, 16 -> 64 px: a small,
resumable trainer.

Data: every face of ``train/Faces`` (found through :func:`restora.data.data_root`), resized
once to 64 px (area filter) and kept in memory in [-1, 1]; each batch item gets a random
x-flip and a small jitter (reflect-pad 2 px, random 64 px crop). The LR input is the MATLAB
bicubic x1/4 of the augmented HR (:func:`restora.degrade.torch_ops.imresize`), the condition
its bicubic x4 upsampling. Loss: SR3's epsilon prediction on continuous noise levels
(:meth:`restora.nn.sr3.Diffusion.loss`), Adam, EMA of the weights.

Output folder: ``checkpoints/step_XXXXXXX.{safetensors,json}`` (model, EMA, Adam, step and
all RNG state: a resumed run is bit-exact), ``log.jsonl`` (written from the first step and
flushed per record), and on finish or SIGTERM a checkpoint plus the exported EMA weights
``sr3-faces-x4.safetensors`` with its JSON card. Run in the background with one thread::

    OMP_NUM_THREADS=1 nohup nice -n 5 python -m restora.train.sr3 \\
        --output ~/.cache/restora/runs/sr3-faces --steps 20000 --threads 1 > sr3.out 2>&1 &
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import torch
import torch.nn.functional as F

from restora.errors import ConfigError, InvalidParameterError
from restora.nn.sr3 import Diffusion, SR3UNet, upsample_condition
from restora.train.checkpoint import latest_checkpoint, load_checkpoint, rng_state, save_checkpoint, set_rng_state, resume_checkpoint
from restora.train.logs import RunLog
from restora.train.optim import EMA

__all__ = ["SR3Config", "SR3Trainer", "export_model", "load_sr3", "main"]

_RESUMABLE_CHANGES = {"steps", "log_every", "checkpoint_every", "keep", "output", "data"}
MODEL_NAME = "sr3-faces-x4"


@dataclass
class SR3Config:
    """Settings of an SR3 face run (CPU-scale defaults; see ``docs/sr3.md``)."""

    output: str
    data: str = "train/Faces"
    resolution: int = 64
    scale: int = 4
    model: dict[str, Any] = field(default_factory=lambda: {"base": 32, "mults": [1, 2, 2], "num_res": 1, "attention": True})
    schedule: str = "linear"
    train_steps: int = 1000  # diffusion steps T
    loss: str = "l1"
    batch: int = 16
    steps: int = 20000  # optimiser iterations
    lr: float = 2e-4
    ema_decay: float = 0.999
    jitter: int = 2
    seed: int = 0
    log_every: int = 10
    checkpoint_every: int = 250
    keep: int = 3


def _build(cfg: SR3Config) -> SR3UNet:
    m = dict(cfg.model)
    if "mults" in m:
        m["mults"] = tuple(m["mults"])
    return SR3UNet(**m)


class SR3Trainer:
    """The SR3 run of ``cfg``; resumes from the newest checkpoint in ``<output>/checkpoints``."""

    def __init__(self, cfg: SR3Config, *, resume: bool = True, images: torch.Tensor | None = None) -> None:
        if cfg.batch < 1 or cfg.steps < 0 or cfg.resolution % (4 * cfg.scale):
            raise InvalidParameterError("batch must be >= 1, steps >= 0 and resolution divisible by 4 * scale")
        self.out = Path(cfg.output)
        self.ckpt_dir = self.out / "checkpoints"
        self.step_count, saved = resume_checkpoint(self.ckpt_dir, dataclasses.asdict(cfg), _RESUMABLE_CHANGES, resume=resume)
        self.cfg = cfg
        torch.manual_seed(cfg.seed)
        self.model = _build(cfg)
        self.ema = EMA(self.model, cfg.ema_decay)
        self.opt = torch.optim.Adam(self.model.parameters(), lr=cfg.lr)
        self.diffusion = Diffusion(cfg.schedule, cfg.train_steps, cfg.loss)
        self.gen = torch.Generator().manual_seed(cfg.seed)
        if images is None:
            from restora.train.gan_prior import load_face_images

            images = load_face_images(cfg.data, cfg.resolution)
        self.images = images
        if self.images.shape[1:] != (3, cfg.resolution, cfg.resolution):
            raise InvalidParameterError(f"training images must be N x 3 x {cfg.resolution} x {cfg.resolution}")
        if saved is not None:
            self.model.load_state_dict(saved["model"])
            self.ema.load_state_dict(saved["ema"])
            self.opt.load_state_dict(saved["opt"])
            self.gen.set_state(saved["gen"])
            set_rng_state(saved["rng"])
        self.log = RunLog(self.out, resume_step=self.step_count if saved is not None else None, tensorboard=False)
        self._stop = False

    def batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        """An augmented ``(hr, cond)`` batch in [-1, 1] (cond = bicubic up of bicubic down)."""
        cfg, b = self.cfg, self.cfg.batch
        idx = torch.randint(0, self.images.shape[0], (b,), generator=self.gen)
        x = self.images[idx]
        flip = torch.rand(b, generator=self.gen) < 0.5
        x = torch.where(flip[:, None, None, None], x.flip(-1), x)
        j = cfg.jitter
        if j > 0:
            xp = F.pad(x, (j, j, j, j), mode="reflect")
            off = torch.randint(0, 2 * j + 1, (b, 2), generator=self.gen).tolist()
            r = cfg.resolution
            x = torch.stack([xp[i, :, oy:oy + r, ox:ox + r] for i, (oy, ox) in enumerate(off)])
        from restora.degrade.torch_ops import imresize

        lr = imresize(x, 1.0 / cfg.scale, method="bicubic")
        return x, upsample_condition(lr, cfg.scale)

    def step(self) -> dict[str, float]:
        """One optimiser step; returns the loss."""
        self.model.train()
        hr, cond = self.batch()
        loss = self.diffusion.loss(self.model, hr, cond, self.gen)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        self.ema.update(self.model)
        self.step_count += 1
        return {"loss": float(loss.detach())}

    def save(self) -> Path:
        """Write a checkpoint of the current step."""
        state = {
            "config": dataclasses.asdict(self.cfg),
            "model": self.model.state_dict(),
            "ema": self.ema.state_dict(),
            "opt": self.opt.state_dict(),
            "gen": self.gen.get_state(),
            "rng": rng_state(),
        }
        return save_checkpoint(self.ckpt_dir, self.step_count, state, keep=self.cfg.keep)

    def export(self) -> Path:
        """Write the EMA weights as ``<output>/sr3-faces-x4.safetensors`` + JSON card."""
        return export_model(self.ema.module, self.out / f"{MODEL_NAME}.safetensors", self.cfg, self.step_count)

    def _on_sigterm(self, signum: int, frame: Any) -> None:
        self._stop = True

    def train(self, steps: int | None = None) -> list[dict[str, Any]]:
        """Run until ``steps`` (default ``cfg.steps``) total steps (or SIGTERM); returns the
        logged records. A checkpoint and the export are written at the end."""
        target = self.cfg.steps if steps is None else int(steps)
        cfg = self.cfg
        records: list[dict[str, Any]] = []
        old = None
        try:
            old = signal.signal(signal.SIGTERM, self._on_sigterm)
        except ValueError:  # not the main thread
            pass
        try:
            t0, n0 = time.perf_counter(), self.step_count
            while self.step_count < target and not self._stop:
                losses = self.step()
                s = self.step_count
                if s == 1 or s % cfg.log_every == 0 or s == target:
                    now = time.perf_counter()
                    rec = {"step": s, **losses, "sec_per_step": (now - t0) / max(1, s - n0)}
                    t0, n0 = now, s
                    self.log.write(rec)
                    records.append(rec)
                if s % cfg.checkpoint_every == 0 and s != target:
                    self.save()
                    self.export()
            self.save()
            self.export()
        finally:
            if old is not None:
                signal.signal(signal.SIGTERM, old)
        return records


def export_model(model: SR3UNet, path: str | Path, cfg: SR3Config, step: int) -> Path:
    """Write ``model``'s weights (safetensors) and a JSON card beside them."""
    from safetensors.torch import save_file

    from restora.zoo.store import sha256_file

    p = Path(path).with_suffix(".safetensors")
    p.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    tmp = p.with_suffix(".tmp")
    save_file(state, str(tmp), metadata={"arch": "sr3-unet"})
    tmp.replace(p)
    card = {
        "name": MODEL_NAME,
        "arch": "sr3-unet",
        "args": model.arch_args,
        "task": "sr",
        "scale": cfg.scale,
        "resolution": cfg.resolution,
        "diffusion": {"schedule": cfg.schedule, "steps": cfg.train_steps, "loss": cfg.loss},
        "trained_steps": step,
        "batch": cfg.batch,
        "data": cfg.data,
        "license_note": "research only: trained on 156 face crops from the shared train/Faces set "
        "(third-party face images of unclear licence); not for redistribution or identification.",
        "description": "SR3 conditional DDPM, 4x face super-resolution 16 -> 64 px (CPU scale, see docs/sr3.md)",
        "sha256": sha256_file(p),
    }
    p.with_suffix(".json").write_text(json.dumps(card, indent=2))
    return p


def load_sr3(path: str | Path) -> tuple[SR3UNet, Diffusion, dict[str, Any]]:
    """Load exported SR3 weights and their card: ``(model in eval mode, diffusion, card)``."""
    from safetensors.torch import load_file

    from restora.errors import MissingResourceError

    p = Path(path)
    c = p.with_suffix(".json")
    if not p.is_file() or not c.is_file():
        raise MissingResourceError(f"SR3 weights {p} (and its card {c.name}) not found")
    card = json.loads(c.read_text())
    args = dict(card["args"])
    args["mults"] = tuple(args["mults"])
    model = SR3UNet(**args)
    model.load_state_dict(load_file(str(p)))
    model.eval()
    d = card.get("diffusion", {})
    return model, Diffusion(d.get("schedule", "linear"), int(d.get("steps", 1000)), d.get("loss", "l1")), card


def main(argv: Sequence[str] | None = None) -> None:
    """Command line: ``python -m restora.train.sr3 --output DIR [--steps N] ...``."""
    ap = argparse.ArgumentParser(prog="python -m restora.train.sr3", description=__doc__.splitlines()[0])
    ap.add_argument("--output", required=True, help="run folder (resumed when it holds checkpoints)")
    ap.add_argument("--data", default="train/Faces")
    ap.add_argument("--steps", type=int, default=20000)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=2e-4)
    ap.add_argument("--loss", choices=("l1", "l2"), default="l1")
    ap.add_argument("--schedule", choices=("linear", "cosine"), default="linear")
    ap.add_argument("--model", default="{}", help='JSON overriding the U-Net arguments, e.g. \'{"base": 16}\'')
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--log-every", type=int, default=10)
    ap.add_argument("--checkpoint-every", type=int, default=250)
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    ap.add_argument("--fresh", action="store_true", help="ignore existing checkpoints in --output")
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    cfg = SR3Config(output=a.output, data=a.data, steps=a.steps, batch=a.batch, lr=a.lr, loss=a.loss,
                    schedule=a.schedule, seed=a.seed, log_every=a.log_every, checkpoint_every=a.checkpoint_every)
    cfg.model.update(json.loads(a.model))
    trainer = SR3Trainer(cfg, resume=not a.fresh)
    print(f"sr3: step {trainer.step_count} -> {cfg.steps}, {trainer.images.shape[0]} images, output {cfg.output}", flush=True)
    trainer.train()
    print(f"done: {trainer.step_count} steps; weights {trainer.out / (MODEL_NAME + '.safetensors')}", flush=True)


if __name__ == "__main__":
    main()
