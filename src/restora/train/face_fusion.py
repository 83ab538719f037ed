"""Two-stage, multi-network trainer of the issue-19 face-deblurring fusion system (CPU scale).

Three resumable stages, each in its own output folder (see ``docs/face_prior.md`` and
``configs/cpu/face-fusion/README.md``):

1. ``regression``: a small NAFNet ``x_R = R(y)`` (default width 16, blocks enc (1, 1, 1, 2) /
   middle 1 / dec (1, 1, 1, 1): the :func:`~restora.nn.face_prior.build_face_fusion` default)
   trained with L1, Adam (0.9, 0.999), cosine lr ``lr`` -> ``min_lr``.
2. ``encoder``: R frozen; the :class:`~restora.nn.face_prior.InversionEncoder` E is trained
   and the StyleGAN2 generator G (started from the face prior's EMA weights) fine-tuned at
   lr 1e-4, against the prior's discriminator D (lr 2.5e-5, StyleGAN2 logistic loss) with
   ``L1 + 10 * perceptual + 0.3 * non-saturating GAN`` on ``x_G = G(E(x_R))``.
3. ``fusion``: R, E, G frozen; :class:`~restora.nn.face_prior.FusionNet` trained with
   ``L1 + 10 * perceptual + 0.01 * CX(x, x_R) + 0.05 * CX(x, x_G)`` (x the fused output;
   CX is :class:`~restora.train.contextual.ContextualLoss`), Adam lr 1e-3 divided by 10
   after 20 % of the steps.

**Perceptual term.** LPIPS needs ImageNet-trained weights, which cannot be fetched here; the
"perceptual" distance is :class:`~restora.train.losses.PerceptualLoss` on restora's seeded
random conv features (:class:`~restora.train.features.RandomFeatures`, all four stages, L1).
It is a random-feature multi-scale distance, not LPIPS.

**Data.** The faces of ``train/Faces`` (``restora.data.data_root()``) at ``resolution`` px in
file order; the LAST ``val_faces`` (8) are held out for validation and never trained on
(``test/Faces`` belongs to the bench). Training batches: random face, x-flip, random crop of
``crop_min``..100 % of the side resized back (bilinear), colour jitter (brightness x U(0.9,
1.1), per-channel gain x U(0.95, 1.05)), blurred with one of the 1,000 training kernels
(:func:`~restora.faces.motion_blur.face_motion_kernels`, seed ``TRAIN_KERNEL_SEED``) through
:func:`~restora.degrade.torch_ops.filter2d` (reflect boundary), plus Gaussian noise of a
std drawn uniformly in [0, ``noise_max``] 8-bit levels (default 2). Validation: each held-out
face blurred with its own kernel from a third, disjoint seed (:data:`VAL_KERNEL_SEED`), no
noise; PSNR (RGB, [0, 1] clamp, whole 64 px face) of the stage's output (x_R, x_G or x).

**Run folder.** ``log.jsonl`` (from step 1, flushed per line), ``checkpoints/step_*`` (models,
optimisers, step, the torch data generator and global RNG: resuming reproduces an
uninterrupted run bit-exactly), ``best.safetensors`` + ``best.json`` (the weights of every
network of the system so far at the best validation PSNR), ``final`` checkpoint on SIGTERM /
Ctrl-C. :func:`export_face_model` writes ``nafnet-face`` or ``face-fusion`` zoo files.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from restora.errors import ConfigError, InvalidParameterError, MissingResourceError
from restora.faces.motion_blur import TRAIN_KERNEL_SEED, face_motion_kernels
from restora.train.checkpoint import latest_checkpoint, load_checkpoint, rng_state, save_checkpoint, set_rng_state, resume_checkpoint
from restora.train.logs import RunLog

__all__ = [
    "STAGES",
    "VAL_KERNEL_SEED",
    "FaceFusionConfig",
    "FaceFusionTrainer",
    "degrade_faces",
    "load_best",
    "export_face_model",
    "main",
]

STAGES = ("regression", "encoder", "fusion")
#: kernels of the validation faces: disjoint from TRAIN_KERNEL_SEED and TEST_KERNEL_SEED
VAL_KERNEL_SEED = 3037
DEFAULT_NAFNET = {"width": 16, "enc_blocks": [1, 1, 1, 2], "middle_blocks": 1, "dec_blocks": [1, 1, 1, 1]}
_RESUMABLE_CHANGES = {"steps", "log_every", "checkpoint_every", "val_every", "keep", "output", "data", "prior", "init"}


@dataclass
class FaceFusionConfig:
    """Settings of one stage's run (CPU-scale defaults)."""

    output: str
    stage: str = "regression"
    data: str = "train/Faces"
    resolution: int = 64
    val_faces: int = 8
    batch: int = 8
    steps: int = 20000
    lr: float | None = None  # None: 5e-4 (regression), 1e-4 (encoder: E and G), 1e-3 (fusion)
    min_lr: float = 1e-6  # regression cosine floor
    lr_d: float = 2.5e-5
    w_perceptual: float = 10.0
    w_gan: float = 0.3
    w_cx_r: float = 0.01
    w_cx_g: float = 0.05
    fusion_drop_at: float = 0.2  # fusion lr / 10 after this share of steps
    noise_max: float = 2.0  # 8-bit levels
    crop_min: float = 0.85
    kernels: int = 1000
    nafnet: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_NAFNET))
    encoder: dict[str, Any] = field(default_factory=dict)
    fusion: dict[str, Any] = field(default_factory=dict)
    prior: str = ""  # encoder stage: face-prior run folder (or checkpoint .json)
    init: str = ""  # encoder stage: regression run folder; fusion stage: encoder run folder
    seed: int = 0
    log_every: int = 10
    val_every: int = 250
    checkpoint_every: int = 250
    keep: int = 2

    def base_lr(self) -> float:
        if self.lr is not None:
            return float(self.lr)
        return {"regression": 5e-4, "encoder": 1e-4, "fusion": 1e-3}[self.stage]


def _psnr(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    mse = ((a.clamp(0, 1) - b) ** 2).flatten(1).mean(1)
    return 10 * torch.log10(1.0 / mse.clamp_min(1e-12))


def degrade_faces(
    faces: torch.Tensor, kernels: torch.Tensor, gen: torch.Generator, *, noise_max: float = 2.0, crop_min: float = 0.85,
    augment: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(blurred, sharp)`` training pairs from ``faces`` (``B x 3 x R x R`` in [0, 1]): flips,
    random crops resized back, colour jitter, one random kernel of ``kernels`` (``K x k x k``)
    per face, Gaussian noise of std U(0, ``noise_max``)/255. All randomness from ``gen``."""
    from restora.degrade.torch_ops import filter2d

    b, _, r, _ = faces.shape
    x = faces
    if augment:
        flip = torch.rand(b, generator=gen) < 0.5
        x = torch.where(flip[:, None, None, None], x.flip(-1), x)
        sizes = (crop_min + (1 - crop_min) * torch.rand(b, generator=gen)) * r
        pos = torch.rand(b, 2, generator=gen)
        out = []
        for i in range(b):
            s = max(8, int(round(float(sizes[i]))))
            oy, ox = int(float(pos[i, 0]) * (r - s)), int(float(pos[i, 1]) * (r - s))
            crop = x[i: i + 1, :, oy: oy + s, ox: ox + s]
            out.append(crop if s == r else F.interpolate(crop, size=(r, r), mode="bilinear", align_corners=False))
        x = torch.cat(out)
        bright = 0.9 + 0.2 * torch.rand(b, 1, 1, 1, generator=gen)
        gain = 0.95 + 0.1 * torch.rand(b, 3, 1, 1, generator=gen)
        x = (x * bright * gain).clamp(0, 1)
    idx = torch.randint(0, kernels.shape[0], (b,), generator=gen)
    y = filter2d(x, kernels[idx], "reflect")
    if noise_max > 0:
        sigma = torch.rand(b, 1, 1, 1, generator=gen) * (noise_max / 255.0)
        y = y + sigma * torch.randn(y.shape, generator=gen)
    return y, x


def _freeze(m: nn.Module) -> nn.Module:
    m.eval()
    for p in m.parameters():
        p.requires_grad_(False)
    return m


def _prefixed(modules: dict[str, nn.Module]) -> dict[str, torch.Tensor]:
    return {f"{name}.{k}": v.detach().cpu().contiguous() for name, m in modules.items() for k, v in m.state_dict().items()}


def load_best(folder: str | Path) -> tuple[dict[str, Any], dict[str, dict[str, torch.Tensor]]]:
    """``(meta, {network: state_dict})`` of a stage run's ``best.safetensors`` (networks:
    ``nafnet``, and ``encoder``, ``generator``, ``fusion`` as far as the stage reached)."""
    from safetensors.torch import load_file

    p = Path(folder)
    st = p if p.suffix == ".safetensors" else p / "best.safetensors"
    if not st.is_file():
        raise MissingResourceError(f"no best checkpoint {st} (train that stage first)")
    meta = json.loads(st.with_suffix(".json").read_text())
    if "arch" in meta:  # a zoo export (e.g. the committed nafnet-face), not a run's best.safetensors
        return _load_exported_stage(st, meta)
    states: dict[str, dict[str, torch.Tensor]] = {}
    for k, v in load_file(str(st)).items():
        net, _, rest = k.partition(".")
        states.setdefault(net, {})[rest] = v
    return meta, states


def _load_exported_stage(st: Path, card: dict[str, Any]) -> tuple[dict[str, Any], dict[str, dict[str, torch.Tensor]]]:
    """``load_best`` of an exported ``nafnet-face`` zoo file: its card's training record is the
    stage's meta and its tensors the ``nafnet`` state (so a stage can start from committed
    weights when the run folder is gone)."""
    from safetensors.torch import load_file

    training = card.get("training", {})
    if card["arch"] != "nafnet" or training.get("stage") != "regression" or "config" not in training:
        raise ConfigError(f"{st}: only a regression-stage export (nafnet-face) can start a stage; use the run folder")
    return dict(training), {"nafnet": load_file(str(st))}


@dataclass
class _Prior:
    """The face prior an encoder stage starts from: generator arguments and EMA weights, and the
    discriminator's (``d_state`` None when only the exported generator is at hand)."""

    generator_args: dict[str, Any]
    d_args: dict[str, Any]
    g_state: dict[str, torch.Tensor]
    d_state: dict[str, torch.Tensor] | None


def _load_prior(prior: str, resolution: int) -> _Prior:
    """A face prior from a ``restora.train.gan_prior`` run folder or checkpoint (generator EMA +
    discriminator), or from an exported ``stylegan2-generator`` zoo file (the discriminator then
    starts untrained)."""
    p = Path(prior).expanduser()
    if p.suffix == ".safetensors":
        from restora.zoo.store import load_file as load_zoo_file

        if not p.is_file():
            raise MissingResourceError(f"face-prior export {p} not found")
        loaded = load_zoo_file(p)
        if loaded.card.arch != "stylegan2-generator":
            raise ConfigError(f"{p}: a face prior must be a stylegan2-generator export, not {loaded.card.arch!r}")
        g = loaded.model
        if int(g.resolution) != resolution:
            raise ConfigError(f"face prior is {g.resolution} px, this run {resolution} px")
        g_args = {"resolution": resolution, **{k: v for k, v in loaded.card.args.items() if k != "resolution"}}
        return _Prior(g_args, {"resolution": resolution}, g.state_dict(), None)
    from restora.train.gan_prior import find_checkpoint

    _, state = load_checkpoint(find_checkpoint(prior))
    pcfg = state["config"]
    if int(pcfg["resolution"]) != resolution:
        raise ConfigError(f"face prior is {pcfg['resolution']} px, this run {resolution} px")
    return _Prior({"resolution": resolution, **pcfg.get("generator", {})},
                  {"resolution": resolution, **pcfg.get("discriminator", {})}, state["ema"]["module"], state["D"])


class FaceFusionTrainer:
    """One stage of the system (``cfg.stage``); resumes from ``<output>/checkpoints`` when it
    holds a checkpoint (``resume=False`` starts afresh). ``images``: all faces as ``N x 3 x R x R``
    in [0, 1] (default: loaded from ``cfg.data``); the last ``cfg.val_faces`` are held out.
    ``prior_state``/``init`` override the checkpoint/run folders (tests)."""

    def __init__(self, cfg: FaceFusionConfig, *, resume: bool = True, images: torch.Tensor | None = None) -> None:
        from restora.nn.face_prior import FusionNet, InversionEncoder
        from restora.nn.nafnet import NAFNet
        from restora.train.losses import PerceptualLoss

        if cfg.stage not in STAGES:
            raise InvalidParameterError(f"stage must be one of {', '.join(STAGES)}, got {cfg.stage!r}")
        if cfg.batch < 1 or cfg.steps < 0 or cfg.val_faces < 1:
            raise InvalidParameterError("batch and val_faces must be >= 1 and steps >= 0")
        self.out = Path(cfg.output).expanduser()
        self.ckpt_dir = self.out / "checkpoints"
        self.step_count, saved = resume_checkpoint(self.ckpt_dir, dataclasses.asdict(cfg), _RESUMABLE_CHANGES, resume=resume)
        self.cfg = cfg
        torch.manual_seed(cfg.seed)
        if images is None:
            from restora.train.gan_prior import load_face_images

            images = (load_face_images(cfg.data, cfg.resolution) + 1.0) / 2.0
        if images.ndim != 4 or images.shape[1:] != (3, cfg.resolution, cfg.resolution):
            raise InvalidParameterError(f"face images must be N x 3 x {cfg.resolution} x {cfg.resolution}")
        if images.shape[0] <= cfg.val_faces:
            raise InvalidParameterError(f"need more than val_faces={cfg.val_faces} faces, got {images.shape[0]}")
        self.train_images, self.val_images = images[: -cfg.val_faces], images[-cfg.val_faces:]
        self.kernels = torch.from_numpy(np.array(face_motion_kernels(cfg.kernels, cfg.resolution, TRAIN_KERNEL_SEED)))
        vk = torch.from_numpy(np.array(face_motion_kernels(cfg.val_faces, cfg.resolution, VAL_KERNEL_SEED)))
        from restora.degrade.torch_ops import filter2d

        self.val_inputs = filter2d(self.val_images, vk, "reflect")
        self.gen = torch.Generator().manual_seed(cfg.seed)
        self.percep = PerceptualLoss("random") if cfg.stage != "regression" else None

        self.nafnet = NAFNet(**{k: tuple(v) if isinstance(v, list) else v for k, v in cfg.nafnet.items()})
        self.encoder: nn.Module | None = None
        self.generator: nn.Module | None = None
        self.fusion: nn.Module | None = None
        self.D: nn.Module | None = None
        self.opt_d: torch.optim.Optimizer | None = None
        self.cx: nn.Module | None = None
        self.generator_args: dict[str, Any] = {}
        lr = cfg.base_lr()
        if cfg.stage == "regression":
            self.opt = torch.optim.Adam(self.nafnet.parameters(), lr=lr, betas=(0.9, 0.999))
        else:
            init_meta, init_states = self._load_init(saved)
            self.nafnet.load_state_dict(init_states["nafnet"])
            _freeze(self.nafnet)
            if cfg.stage == "encoder":
                self._setup_encoder(saved, InversionEncoder, lr)
            else:
                from restora.nn.stylegan2 import StyleGAN2Generator
                from restora.train.contextual import ContextualLoss

                self.generator_args = dict(init_meta["generator_args"])
                self.generator = _freeze(StyleGAN2Generator(**self.generator_args))
                self.generator.load_state_dict(init_states["generator"])
                self.encoder = _freeze(self._build_encoder(InversionEncoder))
                self.encoder.load_state_dict(init_states["encoder"])
                self.fusion = FusionNet(**cfg.fusion)
                self.opt = torch.optim.Adam(self.fusion.parameters(), lr=lr, betas=(0.9, 0.999))
                self.cx = ContextualLoss("random")
        self.best_psnr = -math.inf
        self.best_step = -1
        if saved is not None:
            for name, m in self._networks().items():
                m.load_state_dict(saved["nets"][name])
            self.opt.load_state_dict(saved["opt"])
            if self.opt_d is not None:
                self.opt_d.load_state_dict(saved["opt_d"])
                self.D.load_state_dict(saved["D"])  # type: ignore[union-attr]
            self.gen.set_state(saved["gen"])
            set_rng_state(saved["rng"])
            self.best_psnr, self.best_step = float(saved["best_psnr"]), int(saved["best_step"])
        self.log = RunLog(self.out, resume_step=self.step_count if saved is not None else None, tensorboard=False)
        self._stop = False

    # -- construction helpers ---------------------------------------------------------------
    def _load_init(self, saved: dict[str, Any] | None) -> tuple[dict[str, Any], dict[str, dict[str, torch.Tensor]]]:
        cfg = self.cfg
        if saved is not None and "init_states" in saved:  # frozen parts travel with the checkpoint
            self._init_meta, self._init_states = saved["init_meta"], saved["init_states"]
            return self._init_meta, self._init_states
        if not cfg.init:
            prev = "regression" if cfg.stage == "encoder" else "encoder"
            raise ConfigError(f"the {cfg.stage} stage needs --init: the {prev} stage's run folder")
        meta, states = load_best(cfg.init)
        need = "regression" if cfg.stage == "encoder" else "encoder"
        if meta.get("stage") != need:
            raise ConfigError(f"{cfg.init}: best checkpoint is of stage {meta.get('stage')!r}, the {cfg.stage} stage needs {need!r}")
        if json.dumps(meta["config"]["nafnet"]) != json.dumps(cfg.nafnet):
            raise ConfigError(f"{cfg.init}: its NAFNet settings {meta['config']['nafnet']} differ from --nafnet {cfg.nafnet}")
        self._init_meta, self._init_states = meta, states
        return meta, states

    def _build_encoder(self, cls: Any) -> nn.Module:
        g = self.generator
        return cls(**{"resolution": self.cfg.resolution, "num_ws": g.num_ws, "w_dim": g.w_dim,  # type: ignore[union-attr]
                      "feature_channels": g.feature_channels, "feature_res": g.feature_res, **self.cfg.encoder})  # type: ignore[union-attr]

    def _setup_encoder(self, saved: dict[str, Any] | None, encoder_cls: Any, lr: float) -> None:
        from restora.nn.stylegan2 import StyleGAN2Discriminator, StyleGAN2Generator

        cfg = self.cfg
        prior = None
        if saved is not None:
            self.generator_args, d_args = dict(saved["generator_args"]), dict(saved["d_args"])
        else:
            if not cfg.prior:
                raise ConfigError("the encoder stage needs --prior: the face-prior run folder (restora.train.gan_prior)")
            prior = _load_prior(cfg.prior, cfg.resolution)
            self.generator_args, d_args = prior.generator_args, prior.d_args
        self.d_args = d_args
        self.generator = StyleGAN2Generator(**self.generator_args)
        self.D = StyleGAN2Discriminator(**d_args)
        if prior is not None:
            self.generator.load_state_dict(prior.g_state)  # start from the EMA generator
            if prior.d_state is not None:
                self.D.load_state_dict(prior.d_state)
            else:
                print(f"face prior {cfg.prior} has no discriminator: D starts untrained", flush=True)
        self.encoder = self._build_encoder(encoder_cls)
        self.opt = torch.optim.Adam(
            [{"params": self.encoder.parameters()}, {"params": self.generator.parameters()}], lr=lr, betas=(0.9, 0.99)
        )
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=cfg.lr_d, betas=(0.0, 0.99))

    def _networks(self) -> dict[str, nn.Module]:
        """The networks trained in this stage."""
        if self.cfg.stage == "regression":
            return {"nafnet": self.nafnet}
        if self.cfg.stage == "encoder":
            return {"encoder": self.encoder, "generator": self.generator}  # type: ignore[dict-item]
        return {"fusion": self.fusion}  # type: ignore[dict-item]

    def system(self) -> dict[str, nn.Module]:
        """Every network of the system up to this stage (what ``best.safetensors`` holds)."""
        out: dict[str, nn.Module] = {"nafnet": self.nafnet}
        for name in ("encoder", "generator", "fusion"):
            m = getattr(self, name)
            if m is not None:
                out[name] = m
        return out

    # -- forward passes -----------------------------------------------------------------------
    def _invert(self, x_r: torch.Tensor) -> torch.Tensor:
        inv = self.encoder(x_r)  # type: ignore[misc]
        g = self.generator
        ws = inv.ws + g.w_avg.to(inv.ws.dtype)  # type: ignore[union-attr]
        return (g(ws, feature=inv.feature, noise_mode="const") + 1.0) / 2.0  # type: ignore[misc,operator]

    def predict(self, y: torch.Tensor) -> torch.Tensor:
        """The stage's output for blurred faces ``y`` (x_R, x_G or the fused x), [0, 1] scale."""
        if self.cfg.stage == "regression":
            return self.nafnet(y)
        with torch.no_grad():
            x_r = self.nafnet(y)
        x_g = self._invert(x_r)
        if self.cfg.stage == "encoder":
            return x_g
        return self.fusion(x_r, x_g)  # type: ignore[misc]

    def lr_at(self, step: int) -> float:
        """The (E/G or single) optimiser's lr at ``step`` (a pure function: resumes exactly)."""
        cfg, base = self.cfg, self.cfg.base_lr()
        if cfg.stage == "regression":
            t = min(1.0, step / max(1, cfg.steps))
            return cfg.min_lr + 0.5 * (base - cfg.min_lr) * (1 + math.cos(math.pi * t))
        if cfg.stage == "fusion":
            return base * (0.1 if step >= cfg.fusion_drop_at * cfg.steps else 1.0)
        return base

    def _batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        idx = torch.randint(0, self.train_images.shape[0], (self.cfg.batch,), generator=self.gen)
        return degrade_faces(self.train_images[idx], self.kernels, self.gen, noise_max=self.cfg.noise_max, crop_min=self.cfg.crop_min)

    def step(self) -> dict[str, float]:
        """One optimisation step (plus one D step in the encoder stage); returns the losses."""
        from restora.nn.stylegan2 import d_logistic_loss, g_nonsaturating_loss

        cfg = self.cfg
        for group in self.opt.param_groups:
            group["lr"] = self.lr_at(self.step_count)
        y, x = self._batch()
        for m in self._networks().values():
            m.train()
        rec: dict[str, float] = {}
        if cfg.stage == "regression":
            loss = F.l1_loss(self.nafnet(y), x)
            rec["l1"] = float(loss.detach())
        elif cfg.stage == "encoder":
            with torch.no_grad():
                x_r = self.nafnet(y)
            x_g = self._invert(x_r)
            D = self.D
            # discriminator (logistic), on [-1, 1] images as the prior was trained
            d_real = D(x * 2 - 1)  # type: ignore[misc]
            d_fake = D(x_g.detach() * 2 - 1)  # type: ignore[misc]
            loss_d = d_logistic_loss(d_real, d_fake)
            self.opt_d.zero_grad(set_to_none=True)  # type: ignore[union-attr]
            loss_d.backward()
            self.opt_d.step()  # type: ignore[union-attr]
            D.requires_grad_(False)  # type: ignore[union-attr]
            try:
                l1 = F.l1_loss(x_g, x)
                lp = self.percep(x_g, x)  # type: ignore[misc]
                lg = g_nonsaturating_loss(D(x_g * 2 - 1))  # type: ignore[misc]
                loss = l1 + cfg.w_perceptual * lp + cfg.w_gan * lg
            finally:
                D.requires_grad_(True)  # type: ignore[union-attr]
            rec.update(l1=float(l1.detach()), perceptual=float(lp.detach()), gan_g=float(lg.detach()), loss_d=float(loss_d.detach()))
        else:
            with torch.no_grad():
                x_r = self.nafnet(y)
                x_g = self._invert(x_r)
            out = self.fusion(x_r, x_g)  # type: ignore[misc]
            l1 = F.l1_loss(out, x)
            lp = self.percep(out, x)  # type: ignore[misc]
            cr = self.cx(out, x_r)  # type: ignore[misc]
            cg = self.cx(out, x_g)  # type: ignore[misc]
            loss = l1 + cfg.w_perceptual * lp + cfg.w_cx_r * cr + cfg.w_cx_g * cg
            rec.update(l1=float(l1.detach()), perceptual=float(lp.detach()), cx_r=float(cr.detach()), cx_g=float(cg.detach()))
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        self.step_count += 1
        rec["loss"] = float(loss.detach())
        return rec

    @torch.no_grad()
    def validate(self) -> dict[str, float]:
        """Mean PSNR of the stage's output and of the blurred input on the held-out faces."""
        for m in self.system().values():
            m.eval()
        out = torch.cat([self.predict(self.val_inputs[i: i + 4]) for i in range(0, self.val_inputs.shape[0], 4)])
        return {"val_psnr": float(_psnr(out, self.val_images).mean()), "val_input_psnr": float(_psnr(self.val_inputs, self.val_images).mean())}

    # -- persistence ---------------------------------------------------------------------------
    def save(self) -> Path:
        """Write a checkpoint of the current step (resume state)."""
        state: dict[str, Any] = {
            "config": dataclasses.asdict(self.cfg),
            "nets": {k: m.state_dict() for k, m in self._networks().items()},
            "opt": self.opt.state_dict(),
            "gen": self.gen.get_state(),
            "rng": rng_state(),
            "best_psnr": self.best_psnr,
            "best_step": self.best_step,
        }
        if self.cfg.stage != "regression":
            init_meta = getattr(self, "_init_meta", None)
            if init_meta is not None:
                state["init_meta"] = init_meta
                state["init_states"] = self._init_states
            state["generator_args"] = self.generator_args
        if self.opt_d is not None:
            state["opt_d"] = self.opt_d.state_dict()
            state["D"] = self.D.state_dict()  # type: ignore[union-attr]
            state["d_args"] = self.d_args
        return save_checkpoint(self.ckpt_dir, self.step_count, state, keep=self.cfg.keep)

    def save_best(self, psnr: float) -> Path:
        """Write ``best.safetensors`` (+ ``best.json``) with every network of the system."""
        from safetensors.torch import save_file

        from restora.atomic import atomic_write

        p = self.out / "best.safetensors"
        tensors = _prefixed(self.system())
        atomic_write(p, lambda tmp: save_file(tensors, tmp))
        meta = {"stage": self.cfg.stage, "step": self.step_count, "val_psnr": psnr, "config": dataclasses.asdict(self.cfg),
                "generator_args": self.generator_args, "networks": sorted(self.system())}
        text = json.dumps(meta, indent=1)
        atomic_write(p.with_suffix(".json"), lambda tmp: Path(tmp).write_text(text))
        return p

    def _on_signal(self, signum: int, _frame: Any) -> None:
        self._stop = True

    def train(self, steps: int | None = None) -> list[dict[str, Any]]:
        """Run to ``steps`` (default ``cfg.steps``) total steps; SIGTERM / Ctrl-C stop after the
        current step with a checkpoint. Returns the logged records."""
        cfg = self.cfg
        target = cfg.steps if steps is None else int(steps)
        records: list[dict[str, Any]] = []
        old = {}
        try:
            for sig in (signal.SIGTERM, signal.SIGINT):
                old[sig] = signal.signal(sig, self._on_signal)
        except ValueError:  # not the main thread
            old = {}
        t0, n0 = time.perf_counter(), self.step_count
        try:
            while self.step_count < target and not self._stop:
                losses = self.step()
                s = self.step_count
                rec: dict[str, Any] | None = None
                if s == 1 or s % cfg.log_every == 0 or s == target:
                    now = time.perf_counter()
                    rec = {"step": s, **losses, "lr": self.lr_at(s - 1), "sec_per_step": (now - t0) / max(1, s - n0)}
                    t0, n0 = now, s
                if (cfg.val_every and s % cfg.val_every == 0) or s == target:
                    v = self.validate()
                    rec = {"step": s, **losses, **(rec or {}), **v}
                    if v["val_psnr"] > self.best_psnr:
                        self.best_psnr, self.best_step = v["val_psnr"], s
                        self.save_best(v["val_psnr"])
                    rec["best_psnr"], rec["best_step"] = self.best_psnr, self.best_step
                if rec is not None:
                    self.log.write(rec)
                    records.append(rec)
                if s % cfg.checkpoint_every == 0 or s == target:
                    self.save()
            if self._stop and (latest_checkpoint(self.ckpt_dir) is None or self.step_count % cfg.checkpoint_every):
                self.save()
        finally:
            for sig, h in old.items():
                signal.signal(sig, h)
        return records


def export_face_model(
    run: str | Path, path: str | Path, *, kind: str | None = None, description: str = "", partial: bool = False,
) -> Path:
    """Write the best weights of a stage run as a zoo model (``.safetensors`` + card) at ``path``.

    ``kind``: ``"nafnet-face"`` (the regression net alone; any stage's run) or ``"face-fusion"``
    (NAFNet + E + G + fusion via :func:`~restora.nn.face_prior.build_face_fusion`, output
    ``fused``; needs a fusion-stage run). Default: by the run's stage. Load with
    ``restora.zoo.store.load_file(path)``.
    """
    from restora.nn.registry import create_model
    from restora.zoo.cards import ModelCard
    from restora.zoo.store import save_model

    meta, states = load_best(run)
    kind = kind or ("face-fusion" if meta["stage"] == "fusion" else "nafnet-face")
    cfg = meta["config"]
    nafnet_args = {k: tuple(v) if isinstance(v, list) else v for k, v in cfg["nafnet"].items()}
    if kind == "nafnet-face":
        model = create_model("nafnet", **nafnet_args)
        model.load_state_dict(states["nafnet"])
        arch, task = "nafnet", "face-deblur"
        desc = description or f"NAFNet (width {cfg['nafnet']['width']}) deblurring {cfg['resolution']} px aligned faces (issue-19 regression branch)"
    elif kind == "face-fusion":
        if meta["stage"] != "fusion" and not partial:
            raise ConfigError(f"{run}: face-fusion export needs a fusion-stage run, this one is {meta['stage']!r} (partial=True "
                              "exports it with the later networks untrained)")
        model = create_model(
            "face-fusion", resolution=int(cfg["resolution"]), nafnet=cfg["nafnet"], generator=meta.get("generator_args") or {},
            encoder=cfg["encoder"], fusion=cfg["fusion"], output="fused",
        )
        parts = {"nafnet": model.restorer, "encoder": model.encoder, "generator": model.generator, "fusion": model.fusion}
        for name, module in parts.items():
            if name in states:
                module.load_state_dict(states[name])  # type: ignore[union-attr]
        arch, task = "face-fusion", "face-deblur"
        desc = description or f"issue-19 face deblurring at {cfg['resolution']} px: NAFNet -> StyleGAN2 inversion -> fusion"
        missing = [n for n in parts if n not in states]
        if missing:
            desc += f" (PARTIAL: {', '.join(missing)} untrained, random initialisation)"
    else:
        raise InvalidParameterError(f"kind must be nafnet-face or face-fusion, got {kind!r}")
    card = ModelCard(
        name=Path(path).with_suffix("").name, arch=arch, args={}, task=task, description=desc, channels=3,
        training={
            "trainer": "restora.train.face_fusion",
            "stage": meta["stage"],
            "step": meta["step"],
            "trained_networks": sorted(states),
            "config": cfg,
            "data": {
                "train": f"{cfg['data']} (all but the last {cfg['val_faces']} faces), {cfg['resolution']} px",
                "degradation": f"motion blur, {cfg['kernels']} kernels of restora.faces.motion_blur (seed {TRAIN_KERNEL_SEED}), "
                f"noise std U(0, {cfg['noise_max']})/255",
                "note": "research-only: the training faces are third-party sample images of research projects collected for "
                "this benchmark; weights are for research use, not for identification or production",
            },
            "validation": {"faces": f"last {cfg['val_faces']} faces of {cfg['data']}", "kernel_seed": VAL_KERNEL_SEED},
        },
        scores={"train-val/faces-motion": {"psnr": round(float(meta["val_psnr"]), 4)}},
        license="research-only",
    )
    return save_model(model, path, card)


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m restora.train.face_fusion --stage S --output DIR [...]`` or ``--export PATH``."""
    ap = argparse.ArgumentParser(prog="python -m restora.train.face_fusion", description=__doc__.splitlines()[0])
    ap.add_argument("--stage", choices=STAGES, default="regression")
    ap.add_argument("--output", required=True, help="run folder (resumed when it holds checkpoints)")
    ap.add_argument("--data", default="train/Faces")
    ap.add_argument("--resolution", type=int, default=64)
    ap.add_argument("--steps", type=int, default=20000)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--lr", type=float, default=None)
    ap.add_argument("--noise-max", type=float, default=2.0)
    ap.add_argument("--nafnet", default=json.dumps(DEFAULT_NAFNET), help="JSON of NAFNet arguments")
    ap.add_argument("--encoder", default="{}", help="JSON of extra InversionEncoder arguments")
    ap.add_argument("--fusion", default="{}", help="JSON of FusionNet arguments")
    ap.add_argument("--prior", default="", help="encoder stage: face-prior run folder")
    ap.add_argument("--init", default="", help="encoder stage: regression run; fusion stage: encoder run")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--log-every", type=int, default=10)
    ap.add_argument("--val-every", type=int, default=250)
    ap.add_argument("--checkpoint-every", type=int, default=250)
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    ap.add_argument("--fresh", action="store_true", help="ignore existing checkpoints in --output")
    ap.add_argument("--export", default="", help="write the run's best weights as a zoo model at this path and exit")
    ap.add_argument("--kind", choices=("nafnet-face", "face-fusion"), default=None, help="export kind")
    ap.add_argument("--partial", action="store_true", help="face-fusion export of an earlier stage (later networks untrained)")
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    if a.export:
        p = export_face_model(a.output, a.export, kind=a.kind, partial=a.partial)
        print(f"exported {p}", flush=True)
        return
    cfg = FaceFusionConfig(
        output=a.output, stage=a.stage, data=a.data, resolution=a.resolution, steps=a.steps, batch=a.batch, lr=a.lr,
        noise_max=a.noise_max, nafnet=json.loads(a.nafnet), encoder=json.loads(a.encoder), fusion=json.loads(a.fusion),
        prior=a.prior, init=a.init, seed=a.seed, log_every=a.log_every, val_every=a.val_every,
        checkpoint_every=a.checkpoint_every,
    )
    t = FaceFusionTrainer(cfg, resume=not a.fresh)
    print(f"face fusion {cfg.stage}: step {t.step_count} -> {cfg.steps}, {t.train_images.shape[0]} train / "
          f"{t.val_images.shape[0]} val faces, output {cfg.output}", flush=True)
    t.train()
    print(f"stopped at step {t.step_count}; best val PSNR {t.best_psnr:.2f} dB at step {t.best_step}", flush=True)


if __name__ == "__main__":
    main()
