"""Training recipes: short YAML files validated into nested dataclasses.

A recipe names only what differs from the defaults below. ``base: other.yaml`` (or a list)
inherits from other recipes, merged recursively (mappings merge key by key, anything else is
replaced; ``base`` paths resolve against the file naming them). ``--set key.path=value``
overrides (value parsed as YAML) are applied last. Unknown keys and wrong types raise
:class:`~restora.errors.ConfigError` naming the key path and what is valid, in one line.

>>> cfg = load_config("configs/dncnn-gray-blind.yaml", overrides=["train.steps=100"])  # doctest: +SKIP
"""

from __future__ import annotations

import copy
import dataclasses
import inspect
import os
import re
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

import yaml

from restora.errors import ConfigError

__all__ = [
    "Config",
    "ModelConfig",
    "DegradationConfig",
    "DataConfig",
    "ValConfig",
    "OptimConfig",
    "DiscriminatorConfig",
    "TrainConfig",
    "ExportConfig",
    "load_config",
    "config_from_dict",
    "config_to_dict",
    "apply_overrides",
    "merge",
    "DEGRADATIONS",
]

#: Degradation presets for ``data.degradation.type``.
DEGRADATIONS = ("gaussian", "camera", "jpeg", "bicubic", "realesrgan", "bsrgan", "motion", "none")


@dataclass
class ModelConfig:
    """The network: an architecture of :mod:`restora.nn` by name, with arguments."""

    arch: str = "dncnn"
    args: dict[str, Any] = field(default_factory=dict)
    init: str | None = None  # weights to start from: zoo model name or .safetensors path
    init_partial: bool = False  # load only the tensors whose name and shape match (another scale)
    init_color_from_gray: bool = False  # ``init`` is a gray model: widen it to 3 channels first
    # ``init`` is this architecture with fewer features per layer: grow it keeping its function
    # (restora.train.grow); ``init`` must then be a zoo name or a .safetensors with its card
    init_grow: bool = False
    # ``init`` holds one sub-module's weights: its tensor names get this prefix (e.g. "face."
    # loads a trained face-vae-bridge into portrait-3stage's face path); needs init_partial
    init_prefix: str | None = None
    multi_output: bool = True  # supervise every output of forward_stages / forward_scales
    output_weights: list[float] | None = None  # loss weight per output (default: 1 each)


@dataclass
class DegradationConfig:
    """How low-quality inputs are made from the high-quality crops, on the fly."""

    type: Literal["gaussian", "camera", "jpeg", "bicubic", "realesrgan", "bsrgan", "motion", "none"] = "gaussian"
    # gaussian: fixed, or [lo, hi] drawn uniformly (blind); motion: the noise added after the blur
    sigma: float | list[float] = 25.0
    # gaussian [lo, hi]: sigma = lo + (hi - lo) * u ** sigma_power for u uniform in [0, 1);
    # above 1 it spends more of the batch on low noise levels (2: half the patches under a quarter of the range)
    sigma_power: float = 1.0
    quality: int | list[int] = field(default_factory=lambda: [10, 90])  # jpeg: fixed or [lo, hi]
    scale: int = 1  # bicubic / realesrgan / bsrgan downscaling factor
    clip: bool = False  # clip the degraded input to [0, 1] (noise is unclipped by convention)
    where: Literal["auto", "batch", "sample"] = "auto"  # batch: torch on the device; sample: numpy in workers
    # realesrgan/bsrgan/camera option overrides; motion: bank_count, bank_size, bank_seed,
    # real_fraction, sharp_fraction (restora.degrade.kernel_bank)
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class DataConfig:
    """Training images: HR folders / dataset names (+ a degradation) or paired LQ/HQ folders."""

    train: str | list[str] = "Train400"
    lq: str | list[str] | None = None  # paired data: LQ folders matched to ``train`` by file stem
    channels: Literal[1, 3] | None = None  # None: the model's input channels; RGB<->gray converted
    # opponent: a 1-channel model learns from colour images, one opponent-colour channel per
    # sample (luma or a chroma difference, restora.opponent), the way it runs on colour images
    # luma: the JFIF Y of a pair damaged in colour (camera noise under a 4:2:0 JPEG), for a
    # gray JPEG model, which deblocks a colour image's Y plane at full resolution
    color_split: Literal["none", "opponent", "luma"] = "none"
    patch_size: int = 64  # side of the high-quality (target) crop
    batch_size: int = 16  # per process (the effective batch under DDP is batch_size x world size)
    augment: bool = True  # the 8 flips/rotations
    preload: bool | Literal["auto"] = "auto"  # keep decoded images in RAM
    preload_limit_mb: int = 4096  # "auto" preloads when the decoded set fits in this
    # DataLoader worker processes (0: load in the main process); "auto": min(4, CPU cores - 1)
    workers: int | Literal["auto"] = "auto"
    degradation: DegradationConfig = field(default_factory=DegradationConfig)


@dataclass
class ValConfig:
    """Periodic validation on a few images with a fixed, seeded degradation."""

    data: str | list[str] | None = None  # dataset name(s) or folder(s); None: no validation
    lq: str | list[str] | None = None  # paired validation: LQ folder(s)
    images: int = 8  # the first N images (0: all)
    crop: int | None = 256  # centre crop of the HQ image (None: whole image)
    every: int = 1000  # steps between validations (0: only at the end)
    sigma: float | None = None  # gaussian: default the training sigma (middle of a range)
    quality: int | None = None  # jpeg: default the middle of the training range
    seed: int = 0
    y_channel: bool | None = None  # default: True for colour SR
    crop_border: int | None = None  # default: the scale


@dataclass
class OptimConfig:
    """Optimiser and learning-rate schedule."""

    name: Literal["adam", "adamw", "sgd"] = "adam"
    lr: float = 2e-4
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])
    weight_decay: float = 0.0
    momentum: float = 0.9  # sgd
    schedule: Literal["constant", "cosine", "multistep"] = "cosine"
    warmup_steps: int = 0  # linear warm-up from 0
    milestones: list[int] = field(default_factory=list)  # multistep
    gamma: float = 0.5  # multistep factor
    min_lr: float = 1e-7  # cosine floor


@dataclass
class DiscriminatorConfig:
    """The GAN discriminator (used when ``loss`` has a ``gan`` term)."""

    arch: str = "unet-discriminator"
    args: dict[str, Any] = field(default_factory=dict)
    init: str | None = None
    optim: OptimConfig = field(default_factory=lambda: OptimConfig(lr=1e-4, schedule="constant"))
    start_step: int = 0  # adversarial term and discriminator updates begin after this step


@dataclass
class TrainConfig:
    """The loop: length, precision, EMA, clipping, logging and checkpoints."""

    steps: int = 10000
    seed: int = 0
    device: str = "auto"  # auto: cuda if available, else cpu
    threads: int | None = None  # CPU threads for torch (None: torch's default)
    amp: Literal["none", "bf16", "fp16"] = "none"
    ema: float = 0.999  # EMA decay of the weights (0: off)
    grad_clip: float = 0.0  # max gradient norm (0: off)
    log_every: int = 100
    checkpoint_every: int = 5000  # (0: only at the end)
    keep_checkpoints: int = 3
    deterministic: bool | None = None  # None: on CPU only
    stop_after: int | None = None  # leave this run after that step (checkpointed); resume later
    progress: bool | None = None  # rich progress bar (None: when the console is a terminal)
    tensorboard: bool = True  # also log to TensorBoard when ``tensorboard`` is installed


@dataclass
class ExportConfig:
    """The model written at the end with :func:`restora.zoo.save_model`."""

    name: str | None = None  # default: the recipe's name
    description: str = ""
    use_ema: bool = True
    license: str | None = None  # the card's licence (default: the card's own, Apache-2.0); say "research-only" for restricted data


@dataclass
class Config:
    """A whole recipe. ``loss`` maps loss names to a weight or to ``{weight: w, option: ...}``."""

    name: str = "run"
    output: str | None = None  # default: runs/<name>
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    val: ValConfig = field(default_factory=ValConfig)
    loss: dict[str, Any] = field(default_factory=lambda: {"l1": 1.0})
    optim: OptimConfig = field(default_factory=OptimConfig)
    discriminator: DiscriminatorConfig | None = None
    train: TrainConfig = field(default_factory=TrainConfig)
    export: ExportConfig = field(default_factory=ExportConfig)

    @property
    def output_dir(self) -> Path:
        return Path(self.output if self.output else os.path.join("runs", self.name))


# ----------------------------------------------------------------------------- validation
def _type_name(tp: Any) -> str:
    origin = get_origin(tp)
    if tp is type(None):
        return "null"
    if origin is Literal:
        return " | ".join(repr(a) for a in get_args(tp))
    if origin in (Union, types.UnionType):
        return " or ".join(_type_name(a) for a in get_args(tp))
    if origin is list:
        return f"list of {_type_name(get_args(tp)[0])}"
    if origin is dict:
        return "mapping"
    if dataclasses.is_dataclass(tp):
        return "mapping"
    return getattr(tp, "__name__", str(tp))


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


class _Mismatch(Exception):
    pass


def _convert(value: Any, tp: Any, path: str) -> Any:
    """``value`` checked against the type hint ``tp``; nested dataclasses are built."""
    if tp is Any:
        return value
    origin = get_origin(tp)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise _Mismatch
        return _build(tp, value, path)
    if origin in (Union, types.UnionType):
        args = get_args(tp)
        if value is None:
            if type(None) in args:
                return None
            raise _Mismatch
        nested: ConfigError | None = None
        for a in args:
            if a is type(None):
                continue
            try:
                return _convert(value, a, path)
            except _Mismatch:
                continue
            except ConfigError as exc:  # a deeper error inside a matching container
                nested = nested or exc
        if nested is not None:
            raise nested
        raise _Mismatch
    if origin is Literal:
        for a in get_args(tp):
            if value == a and type(value) is type(a):
                return value
        raise _Mismatch
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise _Mismatch
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
            return int(value)
        raise _Mismatch
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise _Mismatch
    if tp is str:
        if isinstance(value, str):
            return value
        raise _Mismatch
    if origin is list:
        if not isinstance(value, (list, tuple)):
            raise _Mismatch
        (item,) = get_args(tp)
        return [_field(v, item, f"{path}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
            raise _Mismatch
        _, vt = get_args(tp)
        return {k: _field(v, vt, f"{path}.{k}") for k, v in value.items()}
    raise TypeError(f"unsupported config type {tp!r} at {path}")  # programming error


def _field(value: Any, tp: Any, path: str) -> Any:
    try:
        return _convert(value, tp, path)
    except _Mismatch:
        raise ConfigError(f"config key {path!r}: expected {_type_name(tp)}, got {_short(value)}") from None


def _default_of(f: dataclasses.Field) -> Any:
    if f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
        return f.default_factory()  # type: ignore[misc]
    return None if f.default is dataclasses.MISSING else f.default


def _build(cls: type, data: dict[str, Any], path: str) -> Any:
    hints = get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    names = list(fields)
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        full = f"{path}.{key}" if path else str(key)
        if key not in fields:
            where = f"in {path!r}" if path else "at the top level"
            extra = ", base" if not path else ""
            raise ConfigError(f"config key {full!r} is unknown; valid keys {where}: {', '.join(names)}{extra}")
        default = _default_of(fields[key])
        if dataclasses.is_dataclass(default) and isinstance(value, dict):
            # a partial mapping completes the field's own default (e.g. discriminator.optim)
            value = merge(dataclasses.asdict(default), value)
        kwargs[key] = _field(value, hints[key], full)
    return cls(**kwargs)


def config_from_dict(data: dict[str, Any]) -> Config:
    """Validate a plain mapping (already merged and overridden) into a :class:`Config`."""
    if not isinstance(data, dict):
        raise ConfigError(f"a training config must be a mapping, got {type(data).__name__}")
    data = {k: v for k, v in data.items() if k != "base"}
    cfg = _build(Config, data, "")
    _check_semantics(cfg)
    return cfg


def config_to_dict(cfg: Config) -> dict[str, Any]:
    """The resolved recipe as plain JSON/YAML-able data."""
    return dataclasses.asdict(cfg)


def resolve_workers(workers: int | str) -> int:
    """DataLoader worker count for ``data.workers``: an explicit number as given; ``"auto"``:
    ``min(4, cores - 1)`` (cores this process may use), so a 2-core machine gets 1 worker
    and the main process keeps a core."""
    if workers != "auto":
        return int(workers)
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    return max(0, min(4, cores - 1))


def _positive(path: str, value: float, allow_zero: bool = False) -> None:
    if value < 0 or (value == 0 and not allow_zero):
        raise ConfigError(f"config key {path!r} must be {'>= 0' if allow_zero else '> 0'}, got {value}")


def _pair(path: str, value: Any, lo: float, hi: float | None) -> None:
    vals = value if isinstance(value, list) else [value]
    if isinstance(value, list) and (len(value) != 2 or value[0] > value[1]):
        raise ConfigError(f"config key {path!r} must be a number or a [low, high] pair, got {value}")
    for v in vals:
        if v < lo or (hi is not None and v > hi):
            raise ConfigError(f"config key {path!r} must lie in [{lo}, {hi if hi is not None else 'inf'}], got {value}")


def _check_semantics(cfg: Config) -> None:
    """Cross-field checks that types alone cannot express."""
    from restora.errors import RestoraError
    from restora.nn.registry import get_arch

    for key, arch in (("model.arch", cfg.model.arch), ("discriminator.arch", cfg.discriminator.arch if cfg.discriminator else None)):
        if arch is None:
            continue
        try:
            spec = get_arch(arch)
        except RestoraError as exc:
            raise ConfigError(f"config key {key!r}: {exc}") from None
        if key == "model.arch" and spec.task == "discriminator":
            raise ConfigError(f"config key 'model.arch': {arch!r} is a discriminator, not a restoration network")
        if key == "discriminator.arch" and spec.task != "discriminator":
            raise ConfigError(f"config key 'discriminator.arch': {arch!r} is not a discriminator (use unet-discriminator, vgg-discriminator or patchgan)")
    d, deg = cfg.data, cfg.data.degradation
    _positive("data.patch_size", d.patch_size)
    _positive("data.batch_size", d.batch_size)
    if d.workers != "auto":
        _positive("data.workers", d.workers, allow_zero=True)
    _positive("train.steps", cfg.train.steps)
    _positive("train.log_every", cfg.train.log_every)
    _positive("train.checkpoint_every", cfg.train.checkpoint_every, allow_zero=True)
    _positive("train.keep_checkpoints", cfg.train.keep_checkpoints)
    _positive("train.grad_clip", cfg.train.grad_clip, allow_zero=True)
    _positive("val.every", cfg.val.every, allow_zero=True)
    _positive("val.images", cfg.val.images, allow_zero=True)
    _positive("optim.lr", cfg.optim.lr)
    if not 0.0 <= cfg.train.ema < 1.0:
        raise ConfigError(f"config key 'train.ema' must lie in [0, 1), got {cfg.train.ema}")
    if cfg.train.stop_after is not None:
        _positive("train.stop_after", cfg.train.stop_after)
    for key, o in (("optim", cfg.optim), ("discriminator.optim", cfg.discriminator.optim if cfg.discriminator else None)):
        if o is None:
            continue
        if len(o.betas) != 2 or not all(0 <= b < 1 for b in o.betas):
            raise ConfigError(f"config key '{key}.betas' must be two numbers in [0, 1), got {o.betas}")
        if o.milestones != sorted(o.milestones):
            raise ConfigError(f"config key '{key}.milestones' must be increasing, got {o.milestones}")
        _positive(f"{key}.warmup_steps", o.warmup_steps, allow_zero=True)
    _pair("data.degradation.sigma", deg.sigma, 0.0, None)
    _positive("data.degradation.sigma_power", deg.sigma_power)
    _pair("data.degradation.quality", deg.quality, 1, 100)
    _positive("data.degradation.scale", deg.scale)
    if deg.type in ("realesrgan", "bsrgan") and deg.scale not in (2, 3, 4) and not (deg.type == "realesrgan" and deg.scale == 1):
        raise ConfigError(f"config key 'data.degradation.scale': {deg.type} supports scales 2, 3, 4; got {deg.scale}")
    if d.color_split != "none" and d.channels not in (None, 1):
        raise ConfigError(f"config key 'data.color_split': {d.color_split} feeds 1-channel models, but data.channels is {d.channels}")
    if d.color_split != "none" and d.lq is not None:
        raise ConfigError("config key 'data.color_split' needs a synthetic degradation, not paired data (data.lq)")
    if deg.type in ("camera", "motion") and deg.where == "batch":
        raise ConfigError(f"config key 'data.degradation.where': {deg.type} degradation runs per sample (numpy)")
    if d.lq is not None and deg.type != "none":
        raise ConfigError("config key 'data.degradation.type' must be 'none' for paired data (data.lq is set)")
    if d.lq is None and deg.type == "none":
        raise ConfigError("config key 'data.lq' is required when data.degradation.type is 'none' (paired LQ folders)")
    s = deg.scale if deg.type in ("bicubic", "realesrgan", "bsrgan") else 1
    if d.patch_size % s:
        raise ConfigError(f"config key 'data.patch_size' ({d.patch_size}) must be a multiple of the scale {s}")
    if cfg.val.crop is not None and cfg.val.crop % s:
        raise ConfigError(f"config key 'val.crop' ({cfg.val.crop}) must be a multiple of the scale {s}")
    if cfg.model.output_weights is not None and not cfg.model.output_weights:
        raise ConfigError("config key 'model.output_weights' must not be empty")
    from restora.train.losses import check_loss_spec

    check_loss_spec(cfg.loss)


# ----------------------------------------------------------------------------- files
class _Loader(yaml.SafeLoader):
    """YAML 1.1 safe loader that also reads ``1e-3`` as a float (PyYAML needs ``1.0e-3``)."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def parse_yaml(text: str) -> Any:
    """``yaml.safe_load`` with ``1e-3``-style floats."""
    return yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass


# Keys naming files or folders: relative values are resolved against the YAML file that
# names them when they exist there (else left as they are: relative to the working dir).
PATH_KEYS = (("data", "train"), ("data", "lq"), ("val", "data"), ("val", "lq"), ("model", "init"), ("discriminator", "init"))


def merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """Recursive merge: mappings merge key by key; other values in ``over`` replace."""
    out = copy.deepcopy(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def _resolve_paths(raw: dict[str, Any], folder: Path) -> None:
    for section, key in PATH_KEYS:
        sec = raw.get(section)
        if not isinstance(sec, dict) or key not in sec:
            continue
        value = sec[key]

        def fix(v: Any) -> Any:
            if isinstance(v, str) and not os.path.isabs(v) and (folder / v).exists():
                return str((folder / v).resolve())
            return v

        sec[key] = [fix(v) for v in value] if isinstance(value, list) else fix(value)


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read config {path}: {exc.strerror}") from None
    try:
        data = parse_yaml(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise ConfigError(f"{path} is not valid YAML{where}: {getattr(exc, 'problem', exc)}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a mapping of config keys, got {type(data).__name__}")
    return data


def load_raw(path: str | os.PathLike[str], _seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """The merged mapping of a YAML recipe and its ``base`` chain (not validated)."""
    p = Path(path).expanduser().resolve()
    if p in _seen:
        raise ConfigError(f"config inheritance loop: {' -> '.join(str(s) for s in (*_seen, p))}")
    raw = _read_yaml(p)
    _resolve_paths(raw, p.parent)
    bases = raw.pop("base", None)
    if bases is None:
        return raw
    if isinstance(bases, str):
        bases = [bases]
    if not isinstance(bases, list) or not all(isinstance(b, str) for b in bases):
        raise ConfigError(f"config key 'base' in {p} must be a file name or a list of them, got {_short(bases)}")
    merged: dict[str, Any] = {}
    for b in bases:
        bp = Path(b).expanduser()
        bp = bp if bp.is_absolute() else p.parent / bp
        if not bp.is_file():
            raise ConfigError(f"config key 'base' in {p}: {bp} does not exist")
        merged = merge(merged, load_raw(bp, (*_seen, p)))
    return merge(merged, raw)


def apply_overrides(raw: dict[str, Any], overrides: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """Apply ``key.path=value`` overrides (value parsed as YAML) to a raw mapping."""
    out = copy.deepcopy(raw)
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override {item!r} must look like key.path=value (e.g. train.steps=100)")
        key, text = item.split("=", 1)
        key = key.strip()
        parts = key.split(".")
        if not key or any(not part for part in parts):
            raise ConfigError(f"override {item!r}: bad key path {key!r}")
        try:
            value = parse_yaml(text) if text.strip() else ""
        except yaml.YAMLError:
            value = text
        node = out
        for i, part in enumerate(parts[:-1]):
            nxt = node.get(part)
            if nxt is None:
                nxt = node[part] = {}
            if not isinstance(nxt, dict):
                raise ConfigError(f"override {item!r}: {'.'.join(parts[: i + 1])!r} is not a mapping")
            node = nxt
        node[parts[-1]] = value
    return out


def load_config(
    path: str | os.PathLike[str] | None = None,
    overrides: list[str] | tuple[str, ...] = (),
    *,
    data: dict[str, Any] | None = None,
) -> Config:
    """Load, merge (``base``), override (``--set``) and validate a training recipe.

    ``path``: a YAML file (its stem is the default ``name``); or give ``data``, a mapping.
    """
    if path is None and data is None:
        raise ConfigError("give a config file or a mapping")
    raw: dict[str, Any] = {}
    if path is not None:
        raw = load_raw(path)
        raw.setdefault("name", Path(path).stem)
    if data is not None:
        raw = merge(raw, data)
    raw = apply_overrides(raw, list(overrides))
    return config_from_dict(raw)


def signature_keys(cls: Any) -> list[str]:
    """Keyword parameters of a class' constructor (for validating option mappings)."""
    params = inspect.signature(cls).parameters.values()
    return [p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
