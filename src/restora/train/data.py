"""Training data: image sets, random patches, augmentation, degradations, validation pairs.

Reproducibility without hidden state: sample number ``p`` of the run (counted over all
steps and ranks) is drawn from epoch ``p // N`` of a permutation seeded by
``(seed, epoch)``, and its crop, flip/rotation and per-sample degradation come from a
generator seeded by ``(seed, p)``. Batch-level degradations (noise, bicubic, Real-ESRGAN
on the device) use a generator seeded by ``(seed, step, rank)``. So the data of step ``s``
is a pure function of the seed and ``s``: resuming at a step reproduces the data stream
exactly, whatever the number of workers, and the "data pipeline state" in a checkpoint is
just the step.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from restora.ensemble import dihedral
from restora.errors import ConfigError, MissingResourceError
from restora.train.config import Config, DataConfig, DegradationConfig, resolve_workers

__all__ = [
    "resolve_folders",
    "ImageSet",
    "PatchDataset",
    "PositionSampler",
    "BatchDegrader",
    "ValPair",
    "build_train_loader",
    "build_val_set",
    "degradation_mode",
    "degradation_margin",
    "motion_blur_sample",
    "derive_seed",
    "dihedral",
    "to_channels",
]

_GRAY = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def derive_seed(*parts: int) -> int:
    """A 63-bit seed derived from integers (numpy SeedSequence hashing; same everywhere)."""
    return int(np.random.SeedSequence([int(p) & 0xFFFFFFFFFFFFFFFF for p in parts]).generate_state(1, np.uint64)[0] >> 1)


def resolve_folders(spec: str | list[str] | None, what: str) -> list[Path]:
    """Dataset names (``Train400``, ``test/Set12``) or folders -> existing folders."""
    from restora.data import dataset_dir

    if spec is None:
        return []
    items = spec if isinstance(spec, list) else [spec]
    out = []
    for item in items:
        p = Path(item).expanduser()
        if p.is_dir():
            out.append(p)
            continue
        try:
            out.append(dataset_dir(item))
        except MissingResourceError:
            raise ConfigError(f"config key {what!r}: {item!r} is neither a folder nor a dataset under restora.data.data_root()") from None
    return out


def to_channels(img: np.ndarray, channels: int) -> np.ndarray:
    """Drop alpha; RGB -> gray (BT.601 luma 0.299/0.587/0.114) or gray -> RGB (replicated)."""
    if img.shape[2] in (2, 4):
        img = img[:, :, :-1]
    c = img.shape[2]
    if c == channels:
        return img
    if channels == 1:
        return (img @ _GRAY)[:, :, None].astype(np.float32)
    return np.repeat(img, 3, axis=2)


class ImageSet:
    """Images of some folders, decoded on demand or held in RAM (uint8 when exact)."""

    def __init__(self, files: list[Path], channels: int, preload: bool | str = "auto", limit_mb: int = 4096) -> None:
        if not files:
            raise ConfigError("no images found for training (check data.train)")
        self.files = files
        self.channels = channels
        self._cache: list[np.ndarray] | None = None
        if preload == "auto":
            preload = self.estimate_mb() <= limit_mb
        if preload:
            self._cache = [self._store(self._read(i)) for i in range(len(files))]

    def estimate_mb(self) -> float:
        """Decoded size of the set in MB (8-bit), from the file headers."""
        from PIL import Image

        total = 0
        for f in self.files:
            try:
                with Image.open(f) as im:
                    total += im.width * im.height * self.channels
            except OSError:
                total += os.path.getsize(f) * 4
        return total / 2**20

    def _read(self, i: int) -> np.ndarray:
        from restora.io import read_image

        return np.ascontiguousarray(to_channels(read_image(self.files[i]), self.channels), dtype=np.float32)

    @staticmethod
    def _store(img: np.ndarray) -> np.ndarray:
        u8 = np.round(img * 255.0)
        if u8.min() >= 0 and u8.max() <= 255 and np.array_equal((u8 / 255.0).astype(np.float32), img):
            return u8.astype(np.uint8)
        return img

    @property
    def preloaded(self) -> bool:
        return self._cache is not None

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> np.ndarray:
        if self._cache is None:
            return self._read(i)
        img = self._cache[i]
        return (img / np.float32(255.0)).astype(np.float32) if img.dtype == np.uint8 else img


def _pad_to(img: np.ndarray, size: int) -> np.ndarray:
    h, w = img.shape[:2]
    if h >= size and w >= size:
        return img
    ph, pw = max(0, size - h), max(0, size - w)
    return np.pad(img, ((0, ph), (0, pw), (0, 0)), mode="reflect" if min(h, w) > max(ph, pw) else "edge")


def degradation_mode(deg: DegradationConfig) -> str:
    """Where the degradation runs: ``"batch"`` (torch, training device) or ``"sample"``
    (numpy, in the loader workers). ``auto``: JPEG per sample (libjpeg, the codec of the
    test sets), everything else on the batch."""
    if deg.type == "none":
        return "none"
    if deg.where != "auto":
        return deg.where
    return "sample" if deg.type in ("jpeg", "camera", "motion") else "batch"


def _draw(gen: np.random.Generator, value: float | list[float], integer: bool = False) -> float:
    if isinstance(value, list):
        if integer:
            return int(gen.integers(int(value[0]), int(value[1]) + 1))
        return float(gen.uniform(value[0], value[1]))
    return value


def _draw_sigma(gen: np.random.Generator, deg: DegradationConfig) -> float:
    """A Gaussian noise level: fixed, or drawn from ``deg.sigma``'s range with ``deg.sigma_power``."""
    if isinstance(deg.sigma, list):
        lo, hi = deg.sigma
        if deg.sigma_power == 1.0:
            return float(gen.uniform(lo, hi))
        return float(lo + (hi - lo) * gen.random() ** deg.sigma_power)
    return float(deg.sigma)


#: Options of the ``camera`` degradation (see :func:`camera_pair`): fixed ``shot`` / ``read``
#: raw noise levels (default: drawn per patch), and ``jpeg_quality`` (int or ``[lo, hi]``):
#: the camera saves its output as a 4:2:0 JPEG at that quality (default: no JPEG); with it,
#: ``clean_fraction`` of the patches get the JPEG alone, without the camera pipeline (a model
#: that only ever saw demosaiced, noisy photos takes the sharp texture of a scan or a
#: downscaled image for noise and smooths it: 0.4 to 3 dB under the JPEG input on clean LIVE1,
#: session 35).
CAMERA_OPTIONS = ("shot", "read", "jpeg_quality", "clean_fraction")


def camera_pair(hq: np.ndarray, gen: np.random.Generator, **options: Any) -> tuple[np.ndarray, np.ndarray]:
    """Real-camera noise on an RGB patch: ``(noisy, clean)``.

    The patch is unprocessed to raw, given heteroscedastic sensor noise (levels drawn by
    :func:`restora.degrade.isp.random_noise_levels` unless ``shot``/``read`` are given) and
    processed back, as in :func:`restora.degrade.isp.camera_sensor_noise`; the target is the
    same raw processed without noise, so the pair differs by the noise alone, not by the
    demosaic's softening. Camera-noise models are blind: their noise map is zero.
    """
    from restora.degrade import isp, jpeg

    unknown = set(options) - set(CAMERA_OPTIONS)
    if unknown:
        raise ConfigError(f"config key 'data.degradation.options': unknown camera option(s) {sorted(unknown)}; valid: {sorted(CAMERA_OPTIONS)}")
    quality = options.get("jpeg_quality")

    def saved(img: np.ndarray) -> np.ndarray:  # a colour 4:2:0 JPEG at a drawn quality, decoded
        return jpeg(np.clip(img, 0.0, 1.0), int(_draw(gen, quality, integer=True))).image

    clean_fraction = float(options.get("clean_fraction", 0.0))
    if quality is not None and clean_fraction > 0 and gen.random() < clean_fraction:
        return saved(hq), hq  # no sensor in the chain (a scan, a downscaled or edited image)
    raw, meta = isp.unprocess(hq, gen)
    shot, read = options.get("shot"), options.get("read")
    if shot is None:
        shot, read = isp.random_noise_levels(gen)
    noisy = isp.process(isp.add_raw_noise(raw, shot, read, gen), meta)
    if quality is not None:  # the camera writes a JPEG of its processed output
        noisy = saved(noisy)
    return noisy, isp.process(raw, meta)


def camera_jpeg_quality(deg: DegradationConfig) -> list[int] | None:
    """The ``[lo, hi]`` JPEG qualities of a ``camera`` degradation with ``jpeg_quality``, else None."""
    q = deg.options.get("jpeg_quality") if deg.type == "camera" else None
    if q is None:
        return None
    return [int(x) for x in q] if isinstance(q, (list, tuple)) else [int(q)] * 2


#: Defaults of the ``motion`` degradation's options (see :func:`motion_blur_sample`).
MOTION_OPTIONS: dict[str, Any] = {"bank_count": 2048, "bank_size": 35, "bank_seed": 17, "real_fraction": 0.2, "sharp_fraction": 0.05}


def _motion_options(deg: DegradationConfig) -> dict[str, Any]:
    unknown = set(deg.options) - set(MOTION_OPTIONS)
    if unknown:
        raise ConfigError(f"config key 'data.degradation.options': unknown motion option(s) {sorted(unknown)}; valid: {sorted(MOTION_OPTIONS)}")
    return {**MOTION_OPTIONS, **deg.options}


def degradation_margin(deg: DegradationConfig) -> int:
    """Extra pixels cropped around each training patch so that the degradation sees real
    image content beyond the patch (motion blur: half the kernel support), not a mirror."""
    return int(_motion_options(deg)["bank_size"]) // 2 if deg.type == "motion" else 0


def motion_blur_sample(hq: np.ndarray, deg: DegradationConfig, gen: np.random.Generator) -> np.ndarray:
    """Camera-shake / defocus blur as a camera records it: a kernel from the training bank
    (:func:`restora.degrade.kernel_bank.load_kernel_bank`; ``sharp_fraction`` of the
    patches stay sharp so the model learns to leave sharp images alone), Gaussian noise of
    ``deg.sigma`` 8-bit levels, then clipping and rounding to 8 bits."""
    from restora.degrade.convolve import convolve
    from restora.degrade.kernel_bank import load_kernel_bank

    o = _motion_options(deg)
    if gen.random() < float(o["sharp_fraction"]):
        lq = hq.astype(np.float32, copy=True)
    else:
        bank = load_kernel_bank(int(o["bank_count"]), int(o["bank_size"]), seed=int(o["bank_seed"]))
        kernel, _ = bank.draw(gen, real_fraction=float(o["real_fraction"]))
        lq = np.asarray(convolve(hq, kernel, boundary="reflect"), np.float32)
    sigma = _draw_sigma(gen, deg)
    if sigma > 0:
        lq = lq + gen.standard_normal(lq.shape, dtype=np.float32) * np.float32(sigma / 255.0)
    return np.round(np.clip(lq, 0.0, 1.0) * 255.0).astype(np.float32) / np.float32(255.0)


def degrade_sample(hq: np.ndarray, deg: DegradationConfig, gen: np.random.Generator) -> tuple[np.ndarray, float]:
    """Numpy degradation of one HQ patch; returns ``(lq, sigma)`` (sigma 0 unless Gaussian).
    (Camera noise also changes the target: see :func:`degrade_pair`.)"""
    from restora import degrade

    sigma = 0.0
    if deg.type == "camera":
        lq, _ = camera_pair(hq, gen, **deg.options)
    elif deg.type == "gaussian":
        sigma = _draw_sigma(gen, deg)
        lq = degrade.gaussian_noise(hq, sigma, rng=gen).image
    elif deg.type == "jpeg":
        lq = degrade.jpeg(np.clip(hq, 0, 1), int(_draw(gen, deg.quality, integer=True))).image
    elif deg.type == "bicubic":
        lq = degrade.imresize(hq, 1.0 / deg.scale)
    elif deg.type == "realesrgan":
        lq = degrade.realesrgan_degradation(hq, deg.scale, rng=gen, **deg.options).image
    elif deg.type == "bsrgan":
        lq = degrade.bsrgan_degradation(hq, deg.scale, rng=gen, **deg.options).image
    elif deg.type == "motion":
        lq = motion_blur_sample(hq, deg, gen)
    else:  # pragma: no cover - validated earlier
        raise ConfigError(f"unknown degradation {deg.type!r}")
    if deg.clip:
        lq = np.clip(lq, 0.0, 1.0)
    return np.ascontiguousarray(lq, dtype=np.float32), sigma


def degrade_pair(hq: np.ndarray, deg: DegradationConfig, gen: np.random.Generator, *, sample: bool = True, color_split: str = "none") -> tuple[np.ndarray | None, np.ndarray, float]:
    """One training pair from an HQ patch: ``(lq or None, target, sigma)``.

    ``sample``: run the degradation here (else the batch degrader adds it later and ``lq`` is
    None). ``color_split="opponent"``: the pair is reduced to one opponent-colour channel,
    drawn from ``gen``, with ``sigma`` scaled by that channel's noise gain; ``"luma"``: to the
    luma (JFIF Y) of the colour pair, damaged in colour (camera noise under a 4:2:0 JPEG).
    """
    channel = int(gen.integers(0, 3)) if color_split == "opponent" else None
    lq, sigma = None, 0.0
    if sample:
        if deg.type == "camera":
            lq, hq = camera_pair(hq, gen, **deg.options)
            if deg.clip:
                lq = np.clip(lq, 0.0, 1.0)
        else:
            lq, sigma = degrade_sample(hq, deg, gen)
    if color_split == "luma":  # the JFIF Y plane, which a gray JPEG model deblocks at full resolution
        hq = to_channels(hq, 1)
        lq = None if lq is None else to_channels(lq, 1)
    elif channel is not None:
        from restora.opponent import OPPONENT_GAINS, to_opponent

        hq = to_opponent(hq, channel)
        lq = None if lq is None else to_opponent(lq, channel)
        sigma *= float(OPPONENT_GAINS[channel])
    return lq, np.ascontiguousarray(hq, np.float32), sigma


def _lq_files(hq_files: list[Path], lq_folders: list[Path], what: str) -> list[Path]:
    """For each HQ file, the LQ file with the same stem (an ``x4``-style suffix is ignored)."""
    from restora.data import list_images

    index: dict[str, Path] = {}
    for folder in lq_folders:
        for f in list_images(folder):
            index.setdefault(f.stem, f)
            index.setdefault(re.sub(r"x\d+$", "", f.stem), f)
    out = []
    for f in hq_files:
        match = index.get(f.stem)
        if match is None:
            raise ConfigError(f"config key {what!r}: no LQ image named like {f.name} in {', '.join(map(str, lq_folders))}")
        out.append(match)
    return out


class PatchDataset(Dataset):
    """Random HQ patches (augmented), with the per-sample part of the degradation.

    Indexed by ``(image_index, sample_seed)`` pairs from :class:`PositionSampler`. Items are
    dicts of ``hq`` (``C x P x P`` float32), optionally ``lq`` and ``sigma``.
    """

    def __init__(self, hq: ImageSet, cfg: DataConfig, *, scale: int = 1, lq: ImageSet | None = None) -> None:
        self.hq = hq
        self.lq = lq
        self.cfg = cfg
        self.scale = scale
        self.mode = degradation_mode(cfg.degradation)
        self.margin = degradation_margin(cfg.degradation) if self.mode == "sample" else 0

    def __len__(self) -> int:
        return len(self.hq)

    def __getitem__(self, key: tuple[int, int]) -> dict[str, Any]:
        index, seed = key
        gen = np.random.default_rng(seed)
        p = self.cfg.patch_size
        k = int(gen.integers(0, 8)) if self.cfg.augment else 0
        item: dict[str, Any] = {}
        if self.lq is not None:
            s = self.scale
            lq_img = self.lq[index]
            hq_img = self.hq[index]
            lp = p // s
            lh, lw = lq_img.shape[:2]
            if hq_img.shape[0] < lh * s or hq_img.shape[1] < lw * s:
                raise ConfigError(f"paired images {self.hq.files[index].name}: HQ {hq_img.shape[:2]} is not {s}x LQ {lq_img.shape[:2]}")
            lq_img = _pad_to(lq_img, lp)
            hq_img = _pad_to(hq_img, p)
            lh, lw = lq_img.shape[:2]
            y = int(gen.integers(0, lh - lp + 1))
            x = int(gen.integers(0, lw - lp + 1))
            lq_patch = dihedral(lq_img[y : y + lp, x : x + lp], k)
            hq_patch = dihedral(hq_img[y * s : y * s + p, x * s : x * s + p], k)
            item["lq"] = torch.from_numpy(np.ascontiguousarray(lq_patch.transpose(2, 0, 1)))
        else:
            m = self.margin  # degraded with real surroundings, then cropped back to p
            img = _pad_to(self.hq[index], p + 2 * m)
            h, w = img.shape[:2]
            y = int(gen.integers(0, h - p - 2 * m + 1))
            x = int(gen.integers(0, w - p - 2 * m + 1))
            hq_patch = np.ascontiguousarray(dihedral(img[y : y + p + 2 * m, x : x + p + 2 * m], k))
            lq, hq_patch, sigma = degrade_pair(hq_patch, self.cfg.degradation, gen, sample=self.mode == "sample", color_split=self.cfg.color_split)
            if m:
                hq_patch = hq_patch[m:-m, m:-m]
                lq = None if lq is None else lq[m:-m, m:-m]
            if lq is not None:
                item["lq"] = torch.from_numpy(np.ascontiguousarray(lq.transpose(2, 0, 1)))
                item["sigma"] = torch.tensor(sigma, dtype=torch.float32)
        item["hq"] = torch.from_numpy(np.ascontiguousarray(hq_patch.transpose(2, 0, 1)))
        return item


class PositionSampler(Sampler):
    """Infinite stream of ``(image_index, sample_seed)`` for one rank, from step ``start + 1``.

    Global sample number of step ``s`` (1-based), rank ``r``, slot ``j``:
    ``p = ((s - 1) * world + r) * batch + j``; epoch ``p // n`` is a permutation of the
    ``n`` images seeded by ``(seed, epoch)`` (every image once per epoch over all ranks).
    """

    def __init__(self, n: int, batch_size: int, seed: int, start_step: int = 0, rank: int = 0, world: int = 1) -> None:
        self.n, self.batch, self.seed = n, batch_size, seed
        self.start, self.rank, self.world = start_step, rank, world
        self._perm_epoch = -1
        self._perm = np.arange(n)

    def _perm_for(self, epoch: int) -> np.ndarray:
        if epoch != self._perm_epoch:
            self._perm = np.random.default_rng(derive_seed(self.seed, epoch, 0xDA7A)).permutation(self.n)
            self._perm_epoch = epoch
        return self._perm

    def position(self, step: int, slot: int) -> int:
        return ((step - 1) * self.world + self.rank) * self.batch + slot

    def __iter__(self) -> Iterator[tuple[int, int]]:
        step = self.start + 1
        while True:
            for j in range(self.batch):
                p = self.position(step, j)
                epoch, i = divmod(p, self.n)
                yield int(self._perm_for(epoch)[i]), derive_seed(self.seed, p, 0x5A3E)
            step += 1


def _worker_init(worker_id: int) -> None:
    # per-worker seeds derived from the loader's generator (torch sets torch's own); the
    # samples themselves are seeded per position, so this only guards stray global RNG use
    seed = torch.initial_seed() % 2**32
    np.random.seed(seed)
    import random

    random.seed(seed)


def build_train_loader(cfg: Config, *, scale: int, start_step: int, rank: int = 0, world: int = 1, pin_memory: bool = False) -> tuple[DataLoader, PatchDataset]:
    """The training DataLoader from step ``start_step + 1`` on (infinite)."""
    from restora.data import list_images

    d = cfg.data
    folders = resolve_folders(d.train, "data.train")
    files = [f for folder in folders for f in list_images(folder)]
    if not files:
        raise ConfigError(f"config key 'data.train': no images in {', '.join(map(str, folders))}")
    read_channels = 3 if d.color_split != "none" else d.channels
    hq = ImageSet(files, read_channels, d.preload, d.preload_limit_mb)
    lq = None
    if d.lq is not None:
        lq_files = _lq_files(files, resolve_folders(d.lq, "data.lq"), "data.lq")
        lq = ImageSet(lq_files, d.channels, d.preload, d.preload_limit_mb)
    dataset = PatchDataset(hq, d, scale=scale, lq=lq)
    sampler = PositionSampler(len(dataset), d.batch_size, cfg.train.seed, start_step, rank, world)
    gen = torch.Generator().manual_seed(derive_seed(cfg.train.seed, rank, 0x10AD))
    workers = resolve_workers(d.workers)
    loader = DataLoader(
        dataset,
        batch_size=d.batch_size,
        sampler=sampler,
        num_workers=workers,
        pin_memory=pin_memory,
        drop_last=True,
        worker_init_fn=_worker_init if workers else None,
        generator=gen,
        persistent_workers=False,
        prefetch_factor=4 if workers else None,
    )
    return loader, dataset


class BatchDegrader:
    """The batch-level part of the degradation, in torch on the batch's device.

    ``__call__(hq, step)`` -> ``(lq, sigma)``; ``sigma`` is a length-B tensor of noise
    levels (8-bit units; zeros when not Gaussian), used for noise-map models like FFDNet.
    """

    def __init__(self, deg: DegradationConfig, seed: int, rank: int = 0) -> None:
        self.deg, self.seed, self.rank = deg, seed, rank

    def _torch_gen(self, device: torch.device, step: int) -> torch.Generator:
        return torch.Generator(device=device).manual_seed(derive_seed(self.seed, step, self.rank, 0xB47C))

    def __call__(self, hq: torch.Tensor, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        deg = self.deg
        b = hq.shape[0]
        gen = self._torch_gen(hq.device, step)
        sigma = torch.zeros(b, device=hq.device)
        if deg.type == "gaussian":
            if isinstance(deg.sigma, list):
                lo, hi = deg.sigma
                sigma = lo + (hi - lo) * torch.rand(b, generator=gen, device=hq.device) ** deg.sigma_power
            else:
                sigma = torch.full((b,), float(deg.sigma), device=hq.device)
            noise = torch.randn(hq.shape, generator=gen, device=hq.device, dtype=hq.dtype)
            lq = hq + noise * (sigma / 255.0).view(b, 1, 1, 1).to(hq.dtype)
        elif deg.type == "jpeg":
            from restora.degrade import torch_ops

            if isinstance(deg.quality, list):
                q = torch.randint(int(deg.quality[0]), int(deg.quality[1]) + 1, (b,), generator=gen, device=hq.device)
            else:
                q = torch.full((b,), int(deg.quality), device=hq.device)
            lq = torch_ops.jpeg(hq.clamp(0, 1), q.cpu()).to(hq.dtype)
        elif deg.type == "bicubic":
            from restora.degrade import torch_ops

            lq = torch_ops.imresize(hq, 1.0 / deg.scale)
        elif deg.type == "realesrgan":
            from restora.degrade import torch_ops

            lq, _ = torch_ops.realesrgan_degradation_torch(hq, deg.scale, generator=derive_seed(self.seed, step, self.rank, 0x4E5), **deg.options)
        elif deg.type == "bsrgan":
            from restora.degrade import torch_ops

            lq, _ = torch_ops.bsrgan_degradation_torch(hq, deg.scale, generator=derive_seed(self.seed, step, self.rank, 0xB5), **deg.options)
        else:  # pragma: no cover
            raise ConfigError(f"degradation {deg.type!r} cannot run on the batch")
        if deg.clip:
            lq = lq.clamp(0.0, 1.0)
        return lq.contiguous(), sigma


@dataclass
class ValPair:
    """One validation image: degraded input, target (``H x W x C``) and its noise level."""

    name: str
    lq: np.ndarray
    hq: np.ndarray
    sigma: float


def _center_crop(img: np.ndarray, size: int | None, multiple: int) -> tuple[np.ndarray, int, int]:
    h, w = img.shape[:2]
    ch, cw = (h, w) if size is None else (min(size, h), min(size, w))
    ch, cw = ch - ch % multiple, cw - cw % multiple
    y, x = (h - ch) // 2, (w - cw) // 2
    y, x = y - y % multiple, x - x % multiple
    return img[y : y + ch, x : x + cw], y, x


def val_degradation(cfg: Config) -> tuple[DegradationConfig, float]:
    """The fixed degradation of validation: ranges collapse to one value (``val.sigma`` /
    ``val.quality``, default the middle of the training range)."""
    deg = cfg.data.degradation
    v = cfg.val
    sigma = v.sigma if v.sigma is not None else (sum(deg.sigma) / 2 if isinstance(deg.sigma, list) else deg.sigma)
    quality = v.quality if v.quality is not None else (round(sum(deg.quality) / 2) if isinstance(deg.quality, list) else deg.quality)
    fixed = DegradationConfig(type=deg.type, sigma=float(sigma), quality=int(quality), scale=deg.scale, clip=deg.clip, where="sample", options=dict(deg.options))
    return fixed, float(sigma) if deg.type == "gaussian" else 0.0


def build_val_set(cfg: Config, scale: int) -> list[ValPair]:
    """Validation pairs: the first ``val.images`` of ``val.data``, centre-cropped, degraded
    once with seed ``val.seed + i`` (or read from ``val.lq``)."""
    from restora.data import list_images
    from restora.io import read_image

    v = cfg.val
    if v.data is None:
        return []
    files = [f for folder in resolve_folders(v.data, "val.data") for f in list_images(folder)]
    if v.images:
        files = files[: v.images]
    if not files:
        raise ConfigError(f"config key 'val.data': no images in {v.data}")
    lq_files = _lq_files(files, resolve_folders(v.lq, "val.lq"), "val.lq") if v.lq is not None else None
    deg, sigma = val_degradation(cfg)
    c = cfg.data.channels
    split = cfg.data.color_split
    pairs = []
    for i, f in enumerate(files):
        pair_sigma = sigma
        hq_full = to_channels(read_image(f), 3 if split != "none" and lq_files is None else c)
        if lq_files is not None:
            lq_full = to_channels(read_image(lq_files[i]), c)
            lcrop = None if v.crop is None else v.crop // scale
            lq, y, x = _center_crop(lq_full, lcrop, 1)
            hq = hq_full[y * scale : (y + lq.shape[0]) * scale, x * scale : (x + lq.shape[1]) * scale]
        else:
            hq, _, _ = _center_crop(hq_full, v.crop, scale)
            made, hq, drawn = degrade_pair(np.ascontiguousarray(hq), deg, np.random.default_rng(v.seed + i), color_split=split)
            lq = np.asarray(made)
            if deg.type in ("gaussian", "camera"):
                pair_sigma = drawn
        pairs.append(ValPair(f.stem, np.ascontiguousarray(lq, np.float32), np.ascontiguousarray(hq, np.float32), pair_sigma))
    return pairs


def steps_per_epoch(n_images: int, batch: int, world: int) -> float:
    """Steps for one pass over the images (for logging)."""
    return n_images / max(1, batch * world) if n_images else math.inf
