"""The training loop: recipe -> data -> model -> losses -> optimiser -> checkpoints -> export.

>>> from restora.train import train
>>> result = train("configs/dncnn-gray-blind.yaml", overrides=["train.steps=100"])  # doctest: +SKIP
>>> result.export_path                                                             # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import copy
import os
import platform
import shutil
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from restora.errors import ConfigError, RestoraError
from restora.nn.spec import ModelDescriptor
from restora.train.checkpoint import latest_checkpoint, load_checkpoint, rng_state, save_checkpoint, set_rng_state
from restora.train.config import Config, DiscriminatorConfig, config_to_dict, load_config
from restora.train.data import BatchDegrader, ValPair, build_train_loader, build_val_set, camera_jpeg_quality, derive_seed
from restora.train.distributed import DistInfo, all_reduce_grads, broadcast_buffers, init_distributed, shutdown_distributed, state_digest
from restora.train.logs import RunLog, plot_log
from restora.train.losses import GANLoss, LossTerm, build_losses, gradient_penalty
from restora.train.optim import EMA, build_optimizer, build_scheduler

__all__ = ["Trainer", "TrainResult", "train", "TrainNet"]

SR_TYPES = ("bicubic", "realesrgan", "bsrgan")


@contextlib.contextmanager
def _quiet_scheduler() -> Iterator[None]:
    # GradScaler skips the optimiser step when fp16 gradients overflow; the scheduler still
    # steps (the schedule follows training steps), which torch warns about.
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Detected call of `lr_scheduler.step\\(\\)` before")
        yield



def _raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def _term_as_interrupt() -> Any:
    """Make SIGTERM stop training like Ctrl-C (checkpoint saved, message), in the main thread;
    returns the previous handler to restore, or None where signals cannot be set."""
    if threading.current_thread() is not threading.main_thread():
        return None
    try:
        return signal.signal(signal.SIGTERM, _raise_interrupt)
    except (ValueError, OSError):
        return None

class TrainNet(nn.Module):
    """Wraps a catalogue model so that ``forward`` returns the list of supervised outputs
    (``forward_stages`` / ``forward_scales`` when present, else ``[forward]``); DDP wraps
    this, so every output's gradients are synchronised."""

    def __init__(self, net: nn.Module, mode: str = "single") -> None:
        super().__init__()
        self.net = net
        self.mode = mode

    def forward(self, x: torch.Tensor, *extra: torch.Tensor) -> list[torch.Tensor]:
        if self.mode == "stages":
            return list(self.net.forward_stages(x, *extra))
        if self.mode == "scales":
            return list(self.net.forward_scales(x, *extra))
        return [self.net(x, *extra)]


@dataclass
class TrainResult:
    """What a run produced (on every rank; files only from rank 0)."""

    output_dir: Path
    step: int
    finished: bool
    model: nn.Module  # raw weights
    ema: nn.Module | None
    export_path: Path | None = None
    val: dict[str, float] = field(default_factory=dict)
    rank: int = 0
    world_size: int = 1
    digest: str = ""


def _task_of(cfg: Config, arch_task: str) -> str:
    t = cfg.data.degradation.type
    if t == "gaussian":
        return "denoise"
    if t == "jpeg" or (t == "camera" and camera_jpeg_quality(cfg.data.degradation) is not None):
        return "jpeg"
    if t == "motion":
        return "deblur"
    if t in SR_TYPES:
        return "sr" if cfg.data.degradation.scale > 1 else arch_task
    return arch_task


def _hardware(device: torch.device, world: int) -> dict[str, Any]:
    hw: dict[str, Any] = {"device": device.type, "world_size": world, "torch": torch.__version__, "cpu_count": os.cpu_count(),
                          "platform": platform.platform()}
    if device.type == "cuda":
        hw["gpu"] = torch.cuda.get_device_name(device)
    else:
        hw["cpu"] = platform.processor() or platform.machine()
    return hw


def _load_weights(module: nn.Module, source: str, what: str, *, partial: bool = False, color_from_gray: Any = None,
                  prefix: str | None = None) -> list[str]:
    """Initialise ``module`` from a zoo model name or a ``.safetensors`` file.

    Strict unless ``partial``: then only tensors whose name and shape match are loaded (a x2
    model's body starting a x4 run) and the names left at their fresh initialisation are
    returned. A partial load that matches nothing is an error. ``color_from_gray``: a
    function widening a gray state dict to 3 channels, applied before loading. ``prefix``:
    the source is one sub-module's weights; its tensor names are prefixed first (partial only).
    """
    from restora import zoo

    p = Path(source)
    if p.suffix == ".safetensors" and p.is_file():
        from safetensors.torch import load_file

        state = load_file(str(p))
    else:
        state = zoo.load(source).model.state_dict()
    if prefix:
        if not partial:
            raise ConfigError(f"config key '{what}_prefix' loads a sub-module: set model.init_partial: true as well")
        state = {prefix + k: v for k, v in state.items()}
    if color_from_gray is not None:
        try:
            state = color_from_gray(state)
        except ValueError as exc:
            raise ConfigError(f"config key 'model.init_color_from_gray': {source}: {exc}") from None
    if partial:
        own = module.state_dict()
        fitting = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
        if not fitting:
            raise ConfigError(f"config key {what!r}: no tensor of {source} fits the architecture")
        module.load_state_dict(fitting, strict=False)
        return sorted(k for k in own if k not in fitting)
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise ConfigError(f"config key {what!r}: {source} does not fit the architecture ({str(exc).splitlines()[0]})") from None
    return []


def _grow_from(model: nn.Module, d: ModelDescriptor, source: str) -> None:
    """Initialise ``model`` (descriptor ``d``) as a function-preserving widening of the trained ``source``."""
    from restora import zoo
    from restora.train.grow import grow_model

    try:
        trained = zoo.load(source).model
    except RestoraError as exc:
        raise ConfigError(f"config key 'model.init' (init_grow needs a zoo name or a .safetensors with its card): {exc}") from None
    if getattr(trained, "arch_name", None) != d.arch:
        raise ConfigError(f"config key 'model.init_grow': {source} is a {getattr(trained, 'arch_name', '?')}, not a {d.arch}")
    side = d.size_multiple * max(1, 32 // d.size_multiple)
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(1, d.in_channels, side, side, generator=gen)
    example = (x, torch.full((1, 1, side, side), 0.1)) if d.condition == "noise_map" else (x,)
    grow_model(model, trained, example, source)


class Trainer:
    """One training run. ``resume``: None, ``"latest"`` (newest checkpoint in the output
    folder) or a checkpoint path. ``overwrite``: start over in an output folder that holds a
    previous run (its log and checkpoints are replaced)."""

    def __init__(self, cfg: Config, *, resume: str | os.PathLike[str] | None = None, overwrite: bool = False, console: Any = None) -> None:
        self.cfg = copy.deepcopy(cfg)  # resolved in place (data.channels) and recorded in the card
        self.resume = resume
        self.overwrite = overwrite
        self.console = console

    # ------------------------------------------------------------------ setup
    def _setup_device(self) -> None:
        from restora.engine.inference import pick_device

        want = self.cfg.train.device
        world = int(os.environ.get("WORLD_SIZE", "1"))
        try:
            dev = pick_device(want)
        except RestoraError as exc:
            raise ConfigError(f"config key 'train.device': {exc}") from None
        if dev.type == "mps" and want == "auto":
            dev = torch.device("cpu")  # MPS lacks several training kernels; ask for it explicitly
        self.dist: DistInfo = init_distributed(dev)
        if dev.type == "cuda" and world > 1:
            dev = torch.device("cuda", self.dist.local_rank)
        self.device = dev
        self._prev_threads = torch.get_num_threads()
        if self.cfg.train.threads:
            torch.set_num_threads(self.cfg.train.threads)
        det = self.cfg.train.deterministic
        self.deterministic = (dev.type == "cpu") if det is None else det
        self._prev_det = (torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic)
        if self.deterministic:
            if dev.type == "cuda":
                os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
            # CPU: strict; GPU: warn where an op has no deterministic kernel
            torch.use_deterministic_algorithms(True, warn_only=dev.type != "cpu")
            torch.backends.cudnn.benchmark = False
            torch.backends.cudnn.deterministic = True
        elif dev.type == "cuda":
            torch.backends.cudnn.benchmark = True
        amp = self.cfg.train.amp
        self.amp_dtype = {"none": None, "bf16": torch.bfloat16, "fp16": torch.float16}[amp]
        if amp == "bf16" and dev.type == "cuda" and not torch.cuda.is_bf16_supported():
            raise ConfigError("config key 'train.amp': this GPU has no bf16 support; use fp16")

    def _autocast(self) -> contextlib.AbstractContextManager:
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.amp_dtype)

    def _setup_model(self) -> None:
        from restora.nn.registry import create_model, describe, get_arch

        cfg = self.cfg
        torch.manual_seed(derive_seed(cfg.train.seed, 0x40DE1))
        try:
            model = create_model(cfg.model.arch, **cfg.model.args)
        except RestoraError as exc:
            raise ConfigError(f"config key 'model': {exc}") from None
        self.desc = describe(model, measure_flops=False)
        self.fresh_tensors: list[str] = []  # left at their initialisation by a partial model.init
        if cfg.model.init:
            widen = None
            if cfg.model.init_color_from_gray:
                widen = get_arch(cfg.model.arch).color_from_gray
                if widen is None:
                    raise ConfigError(f"config key 'model.init_color_from_gray': architecture {cfg.model.arch} cannot be widened from gray")
            if cfg.model.init_grow:
                if widen is not None or cfg.model.init_partial or cfg.model.init_prefix:
                    raise ConfigError("config key 'model.init_grow' cannot be combined with init_partial, init_prefix or init_color_from_gray")
                _grow_from(model, self.desc, cfg.model.init)
            else:
                self.fresh_tensors = _load_weights(model, cfg.model.init, "model.init", partial=cfg.model.init_partial, color_from_gray=widen,
                                                   prefix=cfg.model.init_prefix)
        d = self.desc
        if cfg.data.channels is None:
            cfg.data.channels = d.in_channels  # type: ignore[assignment]
        if d.in_channels != cfg.data.channels:
            raise ConfigError(f"config key 'data.channels' is {cfg.data.channels} but model {d.arch} takes {d.in_channels} channels (set model.args.in_channels)")
        deg = cfg.data.degradation
        data_scale = deg.scale if deg.type in SR_TYPES else (d.scale if deg.type == "none" else 1)
        self.pre_upsample = 1
        if d.scale != data_scale:
            if d.scale == 1 and data_scale > 1:
                self.pre_upsample = data_scale  # SRCNN/VDSR: the network sees the bicubic-upscaled input
            else:
                raise ConfigError(f"config key 'data.degradation.scale' is {data_scale} but model {d.arch} upscales x{d.scale}")
        self.scale = data_scale
        if d.condition == "noise_map" and deg.type not in ("gaussian", "camera"):
            raise ConfigError(f"model {d.arch} needs a noise-level map: use data.degradation.type gaussian or camera")
        if cfg.data.color_split != "none" and d.in_channels != 1:
            raise ConfigError(f"config key 'data.color_split' feeds 1-channel models, but {d.arch} takes {d.in_channels} channels")
        lq_side = cfg.data.patch_size // data_scale * self.pre_upsample
        if lq_side % d.size_multiple:
            raise ConfigError(f"config key 'data.patch_size': input patches of {lq_side} px must be a multiple of {d.size_multiple} for {d.arch}")
        mode = "single"
        if cfg.model.multi_output:
            if hasattr(model, "forward_stages"):
                mode = "stages"
            elif hasattr(model, "forward_scales"):
                mode = "scales"
        self.model = model.to(self.device)
        self.net = TrainNet(self.model, mode).to(self.device)
        self.ema = EMA(self.model, cfg.train.ema) if cfg.train.ema > 0 else None
        if self.dist.enabled:
            from torch.nn.parallel import DistributedDataParallel as DDP

            ids = [self.device.index] if self.device.type == "cuda" else None
            self.net_ddp: nn.Module = DDP(self.net, device_ids=ids)
        else:
            self.net_ddp = self.net
        self.optimizer = build_optimizer(self.model.parameters(), cfg.optim)
        self.scheduler = build_scheduler(self.optimizer, cfg.optim, cfg.train.steps)
        self.scaler = torch.amp.GradScaler(self.device.type) if cfg.train.amp == "fp16" else None
        # losses
        terms = build_losses(cfg.loss)
        self.gan_term: LossTerm | None = next((t for t in terms if t.name == "gan"), None)
        self.terms = [t for t in terms if t.name != "gan"]
        for t in terms:
            t.module.to(self.device)
        # the feature network a perceptual term uses (``auto`` resolves to vgg19 or random)
        self.perceptual_network = next((str(getattr(t.module.net, "network", "custom")) for t in terms if t.name == "perceptual"), None)
        self.disc = None
        if self.gan_term is not None:
            dcfg = cfg.discriminator or DiscriminatorConfig()
            self.dcfg = dcfg
            args = {"in_channels": d.out_channels, **dcfg.args}
            torch.manual_seed(derive_seed(cfg.train.seed, 0xD15C))
            try:
                disc = create_model(dcfg.arch, **args)
            except RestoraError as exc:
                raise ConfigError(f"config key 'discriminator': {exc}") from None
            if dcfg.init:
                _load_weights(disc, dcfg.init, "discriminator.init")
            self.disc = disc.to(self.device)
            self.d_optimizer = build_optimizer(self.disc.parameters(), dcfg.optim)
            self.d_scheduler = build_scheduler(self.d_optimizer, dcfg.optim, cfg.train.steps)
            self.d_scaler = torch.amp.GradScaler(self.device.type) if cfg.train.amp == "fp16" else None
        output_weights = cfg.model.output_weights
        self.output_weights = output_weights

    # ------------------------------------------------------------------ state
    def _state(self, step: int) -> dict[str, Any]:
        state: dict[str, Any] = {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "rng": rng_state(),
            "data": {"step": step, "seed": self.cfg.train.seed, "world": self.dist.world},
            "log": {"sums": {k: float(v) for k, v in self._sums.items()}, "count": self._count, "interval_time": self._interval_time},
            "elapsed": self._elapsed(),
            "config": config_to_dict(self.cfg),
        }
        if self.ema is not None:
            state["ema"] = self.ema.state_dict()
        if self.scaler is not None:
            state["scaler"] = self.scaler.state_dict()
        if self.disc is not None:
            state["disc"] = self.disc.state_dict()
            state["d_optimizer"] = self.d_optimizer.state_dict()
            state["d_scheduler"] = self.d_scheduler.state_dict()
            if self.d_scaler is not None:
                state["d_scaler"] = self.d_scaler.state_dict()
        return state

    def _load_state(self, state: dict[str, Any]) -> None:
        def load(module: Any, key: str) -> None:
            if key not in state:
                raise ConfigError(f"checkpoint has no {key!r} state (was it made with another recipe?)")
            try:
                module.load_state_dict(state[key])
            except (RuntimeError, ValueError, KeyError) as exc:
                raise ConfigError(f"checkpoint {key!r} does not fit this recipe ({str(exc).splitlines()[0]})") from None

        load(self.model, "model")
        load(self.optimizer, "optimizer")
        load(self.scheduler, "scheduler")
        if self.ema is not None:
            load(self.ema, "ema")
        if self.scaler is not None:
            load(self.scaler, "scaler")
        if self.disc is not None:
            load(self.disc, "disc")
            load(self.d_optimizer, "d_optimizer")
            load(self.d_scheduler, "d_scheduler")
            if self.d_scaler is not None:
                load(self.d_scaler, "d_scaler")
        log = state.get("log", {})
        self._sums = {k: torch.tensor(v, dtype=torch.float32, device=self.device) for k, v in log.get("sums", {}).items()}
        self._count = int(log.get("count", 0))
        self._interval_time = float(log.get("interval_time", 0.0))
        self._elapsed_before = float(state.get("elapsed", 0.0))
        if self.dist.world != int(state.get("data", {}).get("world", 1)):
            raise ConfigError(f"checkpoint was made with {state['data']['world']} processes; resume with the same number (now {self.dist.world})")

    def _gather_rng(self) -> list[dict[str, Any]]:
        """Every rank's RNG states (rank order), for an exact resume under DDP."""
        mine = rng_state()
        if not self.dist.enabled:
            return [mine]
        import torch.distributed as dist

        gathered: list[Any] = [None] * self.dist.world
        dist.all_gather_object(gathered, {k: (v.cpu() if isinstance(v, torch.Tensor) else v) for k, v in mine.items()})
        return gathered

    def _elapsed(self) -> float:
        return self._elapsed_before + (time.perf_counter() - self._t0)

    # ------------------------------------------------------------------ pieces of a step
    def _prepare_batch(self, batch: dict[str, torch.Tensor], step: int) -> tuple[torch.Tensor, torch.Tensor, tuple[torch.Tensor, ...]]:
        nb = self.device.type == "cuda"
        hq = batch["hq"].to(self.device, non_blocking=nb)
        if "lq" in batch:
            lq = batch["lq"].to(self.device, non_blocking=nb)
            sigma = batch["sigma"].to(self.device) if "sigma" in batch else torch.zeros(hq.shape[0], device=self.device)
        else:
            lq, sigma = self.degrader(hq, step)
        if self.pre_upsample > 1:
            from restora.degrade.torch_ops import imresize

            lq = imresize(lq, float(self.pre_upsample))
        return lq, hq, self._condition(lq, sigma)

    def _condition(self, lq: torch.Tensor, sigma: torch.Tensor | float) -> tuple[torch.Tensor, ...]:
        if self.desc.condition != "noise_map":
            return ()
        s = torch.as_tensor(sigma, dtype=lq.dtype, device=lq.device).reshape(-1, 1, 1, 1) / 255.0
        return (s.expand(lq.shape[0], 1, lq.shape[2], lq.shape[3]).contiguous(),)

    def _pixel_losses(self, outs: list[torch.Tensor], hq: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        weights = self.output_weights or [1.0] * len(outs)
        if len(weights) != len(outs):
            raise ConfigError(f"config key 'model.output_weights' has {len(weights)} values but the model gives {len(outs)} outputs")
        total = hq.new_zeros((), dtype=torch.float32)
        parts: dict[str, torch.Tensor] = {}
        for term in self.terms:
            if term.pixel:
                value = hq.new_zeros((), dtype=torch.float32)
                for w, out in zip(weights, outs):
                    target = hq if out.shape[-2:] == hq.shape[-2:] else F.interpolate(hq, size=out.shape[-2:], mode="area")
                    value = value + w * term.module(out, target)
            else:
                value = term.module(outs[-1], hq)
            parts[term.name] = value.detach()
            total = total + term.weight * value
        return total, parts

    def _gan_active(self, step: int) -> bool:
        return self.disc is not None and step > self.dcfg.start_step

    def _train_step(self, batch: dict[str, torch.Tensor], step: int) -> dict[str, torch.Tensor]:
        lq, hq, cond = self._prepare_batch(batch, step)
        gan_on = self._gan_active(step)
        if self.disc is not None:
            self.disc.requires_grad_(False)
        with self._autocast():
            outs = self.net_ddp(lq, *cond)
            loss, parts = self._pixel_losses(outs, hq)
            if gan_on:
                assert self.gan_term is not None
                g_adv = self.gan_term.module.generator_loss(self.disc(outs[-1]))
                parts["gan"] = g_adv.detach()
                loss = loss + self.gan_term.weight * g_adv
        if not torch.isfinite(loss):
            raise RestoraError(f"training diverged at step {step}: loss is {loss.item()} (lower optim.lr, set train.grad_clip, or use bf16 instead of fp16)")
        self._lr = self.optimizer.param_groups[0]["lr"]  # the rate this step uses (logged)
        self.optimizer.zero_grad(set_to_none=True)
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
            if self.cfg.train.grad_clip:
                self.scaler.unscale_(self.optimizer)
        else:
            loss.backward()
        if self.cfg.train.grad_clip:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.train.grad_clip)
        if self.scaler is not None:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()
        with _quiet_scheduler():
            self.scheduler.step()
        if self.ema is not None:
            self.ema.update(self.model)
        parts["loss"] = loss.detach()
        if gan_on:
            parts.update(self._disc_step(hq, outs[-1].detach(), step))
        return parts

    def _disc_step(self, real: torch.Tensor, fake: torch.Tensor, step: int) -> dict[str, torch.Tensor]:
        assert self.disc is not None and self.gan_term is not None
        gan: GANLoss = self.gan_term.module  # type: ignore[assignment]
        self.disc.requires_grad_(True)
        self._d_lr = self.d_optimizer.param_groups[0]["lr"]
        n = gan.n_critic  # updates on this batch (logged values: their mean)
        out: dict[str, torch.Tensor] = {}
        for i in range(n):
            with self._autocast():
                d_loss = gan.discriminator_loss(self.disc(real), self.disc(fake))
            out["d_loss"] = out.get("d_loss", 0.0) + d_loss.detach() / n
            if gan.kind == "wgan-gp":
                seed = derive_seed(self.cfg.train.seed, step, self.dist.rank, 0x6E, *((i,) if i else ()))
                gp = gradient_penalty(self.disc, real, fake, torch.Generator(device=self.device).manual_seed(seed))
                out["gp"] = out.get("gp", 0.0) + gp.detach() / n
                d_loss = d_loss + gan.gp_weight * gp
            self.d_optimizer.zero_grad(set_to_none=True)
            if self.d_scaler is not None:
                self.d_scaler.scale(d_loss).backward()
            else:
                d_loss.backward()
            all_reduce_grads(self.disc, self.dist.world)
            if self.d_scaler is not None:
                self.d_scaler.step(self.d_optimizer)
                self.d_scaler.update()
            else:
                self.d_optimizer.step()
        with _quiet_scheduler():
            self.d_scheduler.step()
        return out

    # ------------------------------------------------------------------ validation
    @torch.no_grad()
    def validate(self, pairs: list[ValPair]) -> dict[str, float]:
        """Mean PSNR/SSIM of the EMA (else raw) model on the validation pairs, and the input's PSNR."""
        from restora.metrics.torch_metrics import psnr_torch, ssim_torch

        if not pairs:
            return {}
        model = self.ema.module if self.ema is not None else self.model
        was = model.training
        model.eval()
        v = self.cfg.val
        colour_sr = self.scale > 1 and self.cfg.data.channels == 3
        y = v.y_channel if v.y_channel is not None else colour_sr
        crop = v.crop_border if v.crop_border is not None else (self.scale if self.scale > 1 else 0)
        m = self.desc.size_multiple
        psnrs, ssims, inputs = [], [], []
        try:
            for pair in pairs:
                if self.scale > 1:
                    from restora.degrade.torch_ops import imresize
                lq = torch.from_numpy(pair.lq.transpose(2, 0, 1))[None].to(self.device)
                hq = torch.from_numpy(pair.hq.transpose(2, 0, 1))[None].to(self.device)
                x = imresize(lq, float(self.pre_upsample)) if self.pre_upsample > 1 else lq
                h, w = x.shape[-2:]
                ph, pw = (-h) % m, (-w) % m
                xp = F.pad(x, (0, pw, 0, ph), mode="reflect") if (ph or pw) else x
                out = model(xp, *self._condition(xp, pair.sigma))
                out = out[..., : h * self.desc.scale, : w * self.desc.scale].float().clamp(0, 1)
                base = imresize(lq, float(self.scale)) if self.scale > 1 else lq
                c = min(crop, (min(hq.shape[-2:]) - 11) // 2) if crop else 0
                psnrs.append(float(psnr_torch(out, hq, crop=c, y_channel=y)[0]))
                ssims.append(float(ssim_torch(out, hq, crop=c, y_channel=y)[0]))
                inputs.append(float(psnr_torch(base.float(), hq, crop=c, y_channel=y)[0]))
        finally:
            model.train(was)
        return {"psnr": float(np.mean(psnrs)), "ssim": float(np.mean(ssims)), "input_psnr": float(np.mean(inputs)), "images": len(pairs)}

    # ------------------------------------------------------------------ output folder
    def _prepare_output(self) -> int | None:
        """Resolve the resume checkpoint; refuse to clobber a previous run unless asked."""
        out = self.cfg.output_dir
        ckpt_dir = out / "checkpoints"
        if self.resume is not None:
            if str(self.resume) == "latest":
                found = latest_checkpoint(ckpt_dir)
                if found is None:
                    raise ConfigError(f"--resume latest: no checkpoint in {ckpt_dir}")
                self._resume_path: Path | None = found
            else:
                self._resume_path = Path(self.resume)
            return 0
        self._resume_path = None
        if (out / "log.jsonl").exists() or latest_checkpoint(ckpt_dir) is not None:
            if not self.overwrite:
                raise ConfigError(f"output folder {out} holds a previous run; continue it with --resume latest, or start over with --overwrite")
            if self.dist.main and ckpt_dir.is_dir():
                shutil.rmtree(ckpt_dir)
        return None

    def _write_card(self, path: Path, module: nn.Module, step: int, val: dict[str, float]) -> Path:
        from restora.zoo import ModelCard, save_model

        cfg = self.cfg
        deg = cfg.data.degradation
        noise = quality = None
        if deg.type == "gaussian":
            noise = [float(x) for x in deg.sigma] if isinstance(deg.sigma, list) else [float(deg.sigma)] * 2
            if cfg.data.color_split == "opponent":
                from restora.opponent import OPPONENT_GAINS

                # RGB levels whose every opponent channel lies in the trained range
                noise = [round(x / float(OPPONENT_GAINS.max()), 2) for x in noise]
        if deg.type == "jpeg":
            quality = [int(x) for x in deg.quality] if isinstance(deg.quality, list) else [int(deg.quality)] * 2
        quality = camera_jpeg_quality(deg) or quality
        name = cfg.export.name or cfg.name
        scores = {}
        if val:
            from restora.train.data import val_degradation

            vdeg, sigma = val_degradation(cfg)
            folders = cfg.val.data if isinstance(cfg.val.data, list) else [cfg.val.data]
            label = "+".join(Path(str(f)).name for f in folders)
            cond = {"gaussian": f"-s{sigma:g}", "jpeg": f"-q{vdeg.quality}"}.get(deg.type, f"-x{self.scale}" if self.scale > 1 else "")
            scores[f"train-val/{label}{cond}"] = {k: round(float(v), 4) for k, v in val.items()}
        card = ModelCard(
            name=name,
            arch=self.desc.arch,
            args=dict(self.desc.args),
            task=_task_of(cfg, self.desc.task),
            description=cfg.export.description or f"{self.desc.arch} trained with restora train ({cfg.name})",
            scale=self.scale if self.pre_upsample > 1 else self.desc.scale,
            input_upsampled=self.pre_upsample > 1,
            channels=self.desc.in_channels,
            noise_range=noise,
            quality_range=quality,
            training={
                "recipe": config_to_dict(cfg),
                "steps": step,
                "seed": cfg.train.seed,
                "weights": "ema" if (self.ema is not None and cfg.export.use_ema) else "raw",
                "batch_size": cfg.data.batch_size * self.dist.world,
                "hardware": _hardware(self.device, self.dist.world),
                "wall_time_s": round(self._elapsed(), 1),
                **({"perceptual_network": self.perceptual_network} if self.perceptual_network else {}),
                "validation": {"images": val.get("images", 0), "crop": cfg.val.crop, "seed": cfg.val.seed} if val else {},
            },
            scores=scores,
            **({"license": cfg.export.license} if cfg.export.license else {}),
        )
        return save_model(module, path, card)

    # ------------------------------------------------------------------ export only
    def export(self, path: str | os.PathLike[str] | None = None, *, validate: bool = True) -> tuple[Path, dict[str, float]]:
        """Write the resumed checkpoint's model (EMA weights when ``export.use_ema``) and its
        card to ``path`` (default ``<output>/<name>-step<N>.safetensors``) without training;
        the card's validation scores are measured now unless ``validate=False``. Returns
        ``(path, validation)``. Needs ``resume`` (``"latest"`` or a checkpoint path)."""
        if self.resume is None:
            raise ConfigError("exporting needs a checkpoint: --resume latest or --resume <checkpoint>")
        self._setup_device()
        try:
            self._prepare_output()
            self._setup_model()
            assert self._resume_path is not None
            step, state = load_checkpoint(self._resume_path)
            self._load_state(state)
            cfg = self.cfg
            val = self.validate(build_val_set(cfg, self.scale)) if validate and cfg.val.data is not None else {}
            module = self.ema.module if (self.ema is not None and cfg.export.use_ema) else self.model
            name = cfg.export.name or cfg.name
            target = Path(path) if path is not None else cfg.output_dir / f"{name}-step{step}.safetensors"
            self._t0 = time.perf_counter()  # the card's wall time is the checkpoint's
            written = self._write_card(target, module, step, val), val
        except BaseException:
            self._teardown(synchronize=False)
            raise
        self._teardown()
        return written

    def _teardown(self, *, synchronize: bool = True) -> None:
        """Undo :meth:`_setup_device`: torch's determinism and thread settings, the process group
        (ranks meet at a barrier first unless the run failed)."""
        torch.use_deterministic_algorithms(self._prev_det[0])
        torch.backends.cudnn.benchmark = self._prev_det[1]
        torch.backends.cudnn.deterministic = self._prev_det[2]
        torch.set_num_threads(self._prev_threads)
        shutdown_distributed(self.dist, synchronize=synchronize)

    # ------------------------------------------------------------------ the run
    def run(self) -> TrainResult:
        """Train until ``train.steps`` (or ``train.stop_after``); returns a :class:`TrainResult`."""
        self._setup_device()
        try:
            result = self._run()
        except BaseException:
            self._teardown(synchronize=False)
            raise
        self._teardown()
        return result

    def _run(self) -> TrainResult:
        cfg = self.cfg
        main = self.dist.main
        self._t0 = time.perf_counter()
        self._elapsed_before = 0.0
        self._sums: dict[str, torch.Tensor] = {}
        self._count = 0
        self._interval_time = 0.0
        self._prepare_output()
        self._setup_model()
        start = 0
        rng_to_restore = None
        if self._resume_path is not None:
            start, state = load_checkpoint(self._resume_path)
            self._load_state(state)
            ranks = state.get("rng_ranks") or [state["rng"]]
            rng_to_restore = ranks[self.dist.rank] if self.dist.rank < len(ranks) else state["rng"]
        if start >= cfg.train.steps:
            raise ConfigError(f"the checkpoint is at step {start}, already at train.steps={cfg.train.steps}; raise train.steps to go on")
        out = cfg.output_dir
        log = RunLog(out, resume_step=start if self._resume_path is not None else None, tensorboard=cfg.train.tensorboard) if main else None
        if main:
            import yaml

            (out / "config.yaml").write_text(yaml.safe_dump(config_to_dict(cfg), sort_keys=False))
            from rich.console import Console

            say = (self.console or Console(stderr=True)).print
            if self.perceptual_network:
                say(f"perceptual loss on {self.perceptual_network} features", highlight=False)
            if self.fresh_tensors and self._resume_path is None:
                fresh = ", ".join(self.fresh_tensors)
                say(f"model.init {cfg.model.init}: partial, {len(self.fresh_tensors)} tensors start fresh ({fresh})", highlight=False)
        self.degrader = BatchDegrader(cfg.data.degradation, cfg.train.seed, self.dist.rank)
        loader, dataset = build_train_loader(cfg, scale=self.scale, start_step=start, rank=self.dist.rank, world=self.dist.world,
                                             pin_memory=self.device.type == "cuda")
        val_pairs = build_val_set(cfg, self.scale) if main else []
        if rng_to_restore is not None:
            set_rng_state(rng_to_restore)
        else:
            import random

            random.seed(derive_seed(cfg.train.seed, self.dist.rank, 1))
            np.random.seed(derive_seed(cfg.train.seed, self.dist.rank, 2) % 2**32)
            torch.manual_seed(derive_seed(cfg.train.seed, self.dist.rank, 3))
        stop = min(cfg.train.steps, cfg.train.stop_after) if cfg.train.stop_after else cfg.train.steps
        if stop <= start:
            raise ConfigError(f"train.stop_after={cfg.train.stop_after} is not after the checkpoint's step {start}; raise or remove it")
        ckpt_dir = out / "checkpoints"
        last_val: dict[str, float] = {}
        progress = self._progress(start, stop) if main else None
        step = start
        it: Iterator = iter(loader)
        self.net_ddp.train()
        done = start  # the last completed step
        previous_term = _term_as_interrupt()
        try:
            for step in range(start + 1, stop + 1):
                t_step = time.perf_counter()
                batch = next(it)
                parts = self._train_step(batch, step)
                done = step
                for k, v in parts.items():
                    self._sums[k] = self._sums.get(k, torch.zeros((), device=self.device)) + v.float()
                self._count += 1
                self._interval_time += time.perf_counter() - t_step
                # step 1 too: a run whose output is redirected shows records from the start
                if step % cfg.train.log_every == 0 or step == stop or step == 1:
                    record = self._log_record(step, len(dataset))
                    if log is not None:
                        log.write(record)
                    if progress is not None:
                        progress[0].update(progress[1], completed=step - start, description=f"loss {record['loss']:.4g}")
                    elif self.console is not None and main:
                        self.console.print(f"step {step}/{stop}: loss {record['loss']:.4g} ({record['step_time']:.3g} s/step)", highlight=False)
                elif progress is not None:
                    progress[0].update(progress[1], completed=step - start)
                is_last = step == cfg.train.steps
                if main and val_pairs and ((cfg.val.every and step % cfg.val.every == 0) or is_last):
                    last_val = self.validate(val_pairs)
                    if log is not None:
                        log.write({"step": step, "time": round(self._elapsed(), 3), "val": last_val})
                        plot_log(log.records(), out / "loss.png", title=cfg.name)
                    if self.console is not None and progress is None:
                        self.console.print(f"step {step}: val PSNR {last_val['psnr']:.2f} dB (input {last_val['input_psnr']:.2f} dB)")
                if (cfg.train.checkpoint_every and step % cfg.train.checkpoint_every == 0) or step == stop:
                    rngs = self._gather_rng()  # a collective: every rank takes part
                    if main:
                        state = self._state(step)
                        state["rng_ranks"] = rngs
                        save_checkpoint(ckpt_dir, step, state, keep=cfg.train.keep_checkpoints)
        except KeyboardInterrupt:
            # Ctrl-C or SIGTERM (`kill`, which is how a background campaign run is stopped: a job
            # started with `&` ignores SIGINT): keep the work done so far (no collective here: the other ranks are interrupted too)
            if main and done > start:
                state = self._state(done)
                state["rng_ranks"] = [state["rng"]]
                save_checkpoint(ckpt_dir, done, state, keep=cfg.train.keep_checkpoints)
                msg = f"interrupted at step {done}; checkpoint saved; continue with --resume latest"
            else:
                msg = f"interrupted at step {done}; no step completed since the start, nothing saved"
            if main:
                if progress is not None:
                    progress[0].stop()
                from rich.console import Console

                (self.console or Console(stderr=True)).print(msg, highlight=False, soft_wrap=True)
            if log is not None:
                log.close()
            raise
        finally:
            if previous_term is not None:
                signal.signal(signal.SIGTERM, previous_term)
            if progress is not None:
                progress[0].stop()
            del it
        finished = step == cfg.train.steps
        digest = ""
        if self.dist.enabled:
            import torch.distributed as dist

            for m in (self.model, self.ema.module if self.ema else None, self.disc):
                if m is not None:
                    broadcast_buffers(m)
            digest = state_digest(*(m for m in (self.model, self.ema.module if self.ema else None, self.disc) if m is not None))
            digests: list[Any] = [None] * self.dist.world
            dist.all_gather_object(digests, digest)
        else:
            digest = state_digest(*(m for m in (self.model, self.ema.module if self.ema else None, self.disc) if m is not None))
            digests = [digest]
        export_path = None
        if main:
            summary: dict[str, Any] = {"step": step, "finished": finished, "world_size": self.dist.world, "rank_digests": digests,
                                       "ranks_identical": len(set(digests)) == 1, "val": last_val, "wall_time_s": round(self._elapsed(), 2)}
            if finished:
                module = self.ema.module if (self.ema is not None and cfg.export.use_ema) else self.model
                name = cfg.export.name or cfg.name
                export_path = self._write_card(out / f"{name}.safetensors", module, step, last_val)
                summary["export"] = str(export_path)
            import json

            (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
            if log is not None:
                plot_log(log.records(), out / "loss.png", title=cfg.name)
                log.close()
        return TrainResult(out, step, finished, self.model, self.ema.module if self.ema else None, export_path, last_val,
                           self.dist.rank, self.dist.world, digest)

    def _log_record(self, step: int, n_images: int) -> dict[str, Any]:
        cfg = self.cfg
        n = max(self._count, 1)
        means = {k: float(v) / n for k, v in self._sums.items()}
        record: dict[str, Any] = {
            "step": step,
            "epoch": round(step * cfg.data.batch_size * self.dist.world / max(n_images, 1), 4),
            "loss": means.pop("loss", float("nan")),
            "losses": {k: v for k, v in means.items() if k not in ("d_loss", "gp")},
            "lr": self._lr,
            "time": round(self._elapsed(), 3),
            "step_time": round(self._interval_time / n, 5),
        }
        if "d_loss" in means:
            record["d_loss"] = means["d_loss"]
            if "gp" in means:
                record["gp"] = means["gp"]
            record["d_lr"] = self._d_lr
        self._sums, self._count, self._interval_time = {}, 0, 0.0
        return record

    def _progress(self, start: int, stop: int) -> tuple[Any, Any] | None:
        show = self.cfg.train.progress
        from rich.console import Console

        console = self.console or Console(stderr=True)
        if show is None:
            show = console.is_terminal
        if not show:
            return None
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

        progress = Progress(TextColumn(f"[bold]{self.cfg.name}[/]"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.description}"),
                            TimeElapsedColumn(), TimeRemainingColumn(), console=console)
        progress.start()
        task = progress.add_task("", total=stop - start)
        return progress, task


def train(
    config: Config | str | os.PathLike[str],
    overrides: list[str] | tuple[str, ...] = (),
    *,
    resume: str | os.PathLike[str] | None = None,
    overwrite: bool = False,
    console: Any = None,
) -> TrainResult:
    """Train from a :class:`Config` or a YAML recipe path (with ``key=value`` overrides)."""
    cfg = config if isinstance(config, Config) else load_config(config, overrides)
    if isinstance(config, Config) and overrides:
        from restora.train.config import apply_overrides, config_from_dict

        cfg = config_from_dict(apply_overrides(config_to_dict(config), list(overrides)))
    return Trainer(cfg, resume=resume, overwrite=overwrite, console=console).run()
