"""Benchmark tasks: how a degraded input is made from a clean test image, what the
restorer is told about the degradation, and how its output is scored.

Each :class:`BenchTask` follows the convention of the papers whose numbers it is compared
with (see ``docs/bench.md``). In short:

* ``denoise-gray-s{15,25,50}`` / ``denoise-color-s{15,25,50}``: white Gaussian noise of std
  ``sigma/255`` added in float and *not* clipped (the DnCNN/FFDNet test code); the output is
  clipped to [0, 1] and rounded to 8 bits (MATLAB ``im2uint8``) and scored against the clean
  image on all channels (RGB PSNR for colour, as CBM3D/CDnCNN report), no border crop.
* ``sr-bicubic-x{2,3,4}``: the HR image is cropped to a multiple of the scale, the LR input is
  MATLAB-bicubic downsampling of it rounded to 8 bits; the output is rounded to 8 bits and
  scored on the BT.601 Y channel with ``scale`` pixels cropped from each border (gray images
  are scored as they are).
* ``sr-realesrgan-x{2,4}``: blind SR; the LR input is Real-ESRGAN's second-order degradation
  (:func:`restora.degrade.realesrgan_degradation`, 8-bit) of the HR image cropped to a
  multiple of the scale, seeded per image; scored like ``sr-bicubic-x*`` and, since the LR loses
  what no method can recover, best read with the no-reference NIQE (``--metrics niqe``).
* ``jpeg-q{10,20,30,40}``: colour images become their 8-bit Y channel (MATLAB ``rgb2ycbcr``),
  gray ones stay; the input is that gray image encoded as a gray JPEG of the given quality
  (the DnCNN-3 / ARCNN protocol); output rounded to 8 bits, no crop.
* ``deblur-motion``: a random 25 x 25 camera-shake kernel (:func:`restora.degrade.kernels.motion_kernel`)
  blurs the image (mirrored borders), then Gaussian noise of ``sigma = 2.55`` (1 %) is
  added, unclipped; the restorer gets ``kernel`` and ``sigma`` (non-blind); output rounded
  to 8 bits and scored on all channels with the kernel half-width (12) cropped from each border.

Randomness: the generator for one image is ``np.random.default_rng([seed, crc32(name)])``
where ``name`` is the file name without extension (:func:`image_rng`), so an image gets the
same noise/kernel whatever else is in the run (``--limit``, other datasets, order).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from restora.errors import InvalidParameterError

__all__ = [
    "Scoring",
    "Sample",
    "Pairing",
    "BenchTask",
    "TASKS",
    "get_task",
    "list_tasks",
    "image_rng",
    "quantize",
    "to_gray_y",
    "modcrop",
    "DEBLUR_NOISE_SIGMA",
    "DEBLUR_KERNEL_SIZE",
]

#: Noise std (8-bit levels) added after the motion blur in ``deblur-motion``.
DEBLUR_NOISE_SIGMA = 2.55
#: Size of the (square) motion kernels of ``deblur-motion``.
DEBLUR_KERNEL_SIZE = 25


@dataclass(frozen=True)
class Scoring:
    """How a restored image is compared with the reference.

    ``crop``: pixels removed from each border before scoring; ``y_channel``: score the
    BT.601 Y channel of colour images (gray images are scored as they are);
    ``round_to_uint8``: the output is clipped to [0, 1] and rounded to 8 bits first.
    """

    crop: int = 0
    y_channel: bool = False
    round_to_uint8: bool = True


@dataclass(frozen=True)
class Sample:
    """One test case: the reference, the degraded input and what the restorer is told."""

    name: str
    reference: np.ndarray  # float32 H x W x C in [0, 1]: what the output is scored against
    degraded: np.ndarray  # float32 h x w x C: the restorer's input (may exceed [0, 1])
    condition: dict[str, Any]  # keyword arguments for the restorer (sigma, scale, quality, kernel)
    record: dict[str, Any]  # JSON-serialisable description of the degradation
    crop: int = 0  # border crop used when scoring this sample
    # blur tasks: the output is aligned to the reference by the best integer shift up to this
    # many pixels before scoring (a blind deconvolution centres its kernel, so its output may
    # sit a few pixels off the reference: Levin et al.'s convention; every method alike)
    align: int = 0


@dataclass(frozen=True)
class Pairing:
    """A task on stored pairs (real degradations: PolyU, Levin) instead of synthetic ones.

    ``collect(folder) -> [(listed file, info), ...]``: the files the harness iterates over
    (in order) and, for each, what :func:`load` needs (JSON-able); ``load(image, info) ->
    (reference, degraded, condition, record)`` with ``image`` the listed file read.
    :func:`restora.bench.datasets.resolve_dataset` calls ``collect`` and keeps ``info`` by
    file stem in ``infos`` for :meth:`BenchTask.make_sample`.
    """

    collect: Callable[[Any], list[tuple[Any, dict[str, Any]]]]
    load: Callable[[np.ndarray, dict[str, Any]], tuple[np.ndarray, np.ndarray, dict[str, Any], dict[str, Any]]]
    infos: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class BenchTask:
    """A named benchmark task.

    ``prepare(image) -> reference`` turns a clean test image into the reference (gray
    conversion, crop to a multiple of the scale); ``degrade(reference, rng) -> (input,
    condition, record)`` makes the restorer's input.
    """

    name: str
    kind: str  # the restorer task it needs: "denoise" | "sr" | "jpeg" | "deblur"
    description: str
    datasets: tuple[str, ...]  # named datasets this task is defined on
    default_datasets: tuple[str, ...]
    channels: str  # "gray" (colour images are turned into Y) | "color" | "any"
    prepare: Callable[[np.ndarray], np.ndarray]
    degrade: Callable[[np.ndarray, np.random.Generator], tuple[np.ndarray, dict[str, Any], dict[str, Any]]]
    scoring: Scoring = field(default_factory=Scoring)
    parameters: dict[str, Any] = field(default_factory=dict)  # sigma / scale / quality, for tables
    # task-specific methods (name -> factory(device) -> BenchMethod), e.g. restore-auto's "auto", "oracle"
    methods: dict[str, Callable[[str | None], Any]] = field(default_factory=dict)
    pairing: Pairing | None = None  # stored (degraded, clean) pairs instead of ``degrade``
    # real degraded photos with no clean original: only no-reference metrics are defined
    reference_free: bool = False
    default_metrics: tuple[str, ...] = ("psnr", "ssim")

    def make_sample(self, image: np.ndarray, *, name: str, seed: int = 0) -> Sample:
        """The :class:`Sample` for one clean ``image`` (float32 H x W x C in [0, 1]) called
        ``name``, with randomness from :func:`image_rng` ``(seed, name)``."""
        if image.ndim == 2:
            image = image[:, :, None]
        if image.shape[2] in (2, 4):  # drop alpha: restorers see gray or RGB
            image = image[:, :, : image.shape[2] - 1]
        if self.pairing is not None:
            if name not in self.pairing.infos:
                raise InvalidParameterError(f"{self.name}: image {name!r} is not one of a paired dataset resolved for this task")
            ref, deg, condition, record = self.pairing.load(image.astype(np.float32, copy=False), self.pairing.infos[name])
            return Sample(name=name, reference=np.ascontiguousarray(self.prepare(ref), dtype=np.float32),
                          degraded=np.ascontiguousarray(deg, dtype=np.float32), condition=condition, record=record,
                          crop=int(record.get("score_crop", self.scoring.crop)), align=int(record.get("score_align", 0)))
        reference = np.ascontiguousarray(self.prepare(image.astype(np.float32, copy=False)))
        degraded, condition, record = self.degrade(reference, image_rng(seed, name))
        crop = int(record.get("score_crop", self.scoring.crop))
        target = condition.pop("target", None)  # a degradation that also changes the target (camera ISP)
        if target is not None:
            reference = np.ascontiguousarray(target, dtype=np.float32)
        return Sample(
            name=name,
            reference=reference,
            degraded=np.ascontiguousarray(degraded, dtype=np.float32),
            condition=condition,
            record=record,
            crop=crop,
            align=int(record.get("score_align", 0)),
        )


def image_rng(seed: int, name: str) -> np.random.Generator:
    """The generator for image ``name``: ``np.random.default_rng([seed, crc32(name)])``."""
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise InvalidParameterError(f"seed must be a non-negative integer, got {seed!r}")
    return np.random.default_rng([int(seed), zlib.crc32(name.encode("utf-8"))])


def quantize(image: np.ndarray) -> np.ndarray:
    """Clip to [0, 1] and round (half away from zero) to the 8-bit grid (MATLAB ``im2uint8``), as float32."""
    return (np.floor(np.clip(image, 0.0, 1.0) * 255.0 + 0.5) / 255.0).astype(np.float32)


def to_gray_y(image: np.ndarray) -> np.ndarray:
    """Gray images unchanged; colour images -> their BT.601 Y channel rounded to 8 bits
    (MATLAB ``rgb2ycbcr`` on ``uint8``), as H x W x 1."""
    if image.shape[2] == 1:
        return image
    from restora.metrics import rgb_to_y

    y = np.asarray(rgb_to_y(image[:, :, :3]), dtype=np.float32)
    if y.ndim == 2:
        y = y[:, :, None]
    return quantize(y)


def modcrop(image: np.ndarray, multiple: int) -> np.ndarray:
    """Crop the bottom/right so height and width are multiples of ``multiple`` (MATLAB modcrop)."""
    h, w = image.shape[:2]
    return image[: h - h % multiple, : w - w % multiple]


def _identity(image: np.ndarray) -> np.ndarray:
    return image


# ----------------------------------------------------------------------------- degradations


def _denoise(sigma: float) -> Callable[..., tuple[np.ndarray, dict[str, Any], dict[str, Any]]]:
    def degrade(ref: np.ndarray, rng: np.random.Generator):
        from restora.degrade.noise import gaussian_noise

        out = gaussian_noise(ref, sigma, rng, clip=False)
        return out.image, {"sigma": float(sigma)}, dict(out.record)

    return degrade


def _sr(scale: int) -> Callable[..., tuple[np.ndarray, dict[str, Any], dict[str, Any]]]:
    def degrade(ref: np.ndarray, rng: np.random.Generator):
        from restora.degrade.resize import imresize

        # MATLAB imresize on the uint8 HR image (rounded after each 1-D pass), as the LR
        # test images of the SR papers were made.
        lr = imresize(ref, 1.0 / scale, method="bicubic", round_to_uint8=True)
        lr = quantize(np.asarray(lr, dtype=np.float32))
        if lr.ndim == 2:
            lr = lr[:, :, None]
        record = {"op": "imresize", "method": "bicubic", "scale": 1.0 / scale, "uint8": True}
        return lr, {"scale": int(scale)}, record

    return degrade


def _sr_realesrgan(scale: int) -> Callable[..., tuple[np.ndarray, dict[str, Any], dict[str, Any]]]:
    def degrade(ref: np.ndarray, rng: np.random.Generator):
        from restora.degrade.pipelines import realesrgan_degradation

        out = realesrgan_degradation(ref, scale, rng=rng)  # already rounded to 8 bits
        lr = np.asarray(out.image, dtype=np.float32)
        if lr.ndim == 2:
            lr = lr[:, :, None]
        return lr, {"scale": int(scale)}, dict(out.record)

    return degrade


def _jpeg(quality: int) -> Callable[..., tuple[np.ndarray, dict[str, Any], dict[str, Any]]]:
    def degrade(ref: np.ndarray, rng: np.random.Generator):
        from restora.degrade.jpeg import jpeg

        out = jpeg(ref, quality)
        img = np.asarray(out.image, dtype=np.float32)
        if img.ndim == 2:
            img = img[:, :, None]
        return img, {"quality": int(quality)}, dict(out.record)

    return degrade


#: Sensor-noise levels of the camera task: ``(shot, read)`` from the noisy end of
#: :func:`restora.degrade.isp.random_noise_levels`'s range (ISO 800-3200-like).
CAMERA_SHOT_RANGE = (2e-3, 1.2e-2)


def _camera(ref: np.ndarray, rng: np.random.Generator):
    """Camera-sensor noise through a (seeded) ISP; the target is the noise-free ISP output."""
    import math

    from restora.degrade import isp
    from restora.train.data import camera_pair

    shot = math.exp(float(rng.uniform(math.log(CAMERA_SHOT_RANGE[0]), math.log(CAMERA_SHOT_RANGE[1]))))
    read = isp.read_noise_for_shot(rng, shot)
    noisy, clean = camera_pair(ref, rng, shot=shot, read=read)
    noisy = quantize(np.clip(noisy, 0.0, 1.0))  # a camera writes 8-bit files
    record = {"op": "camera_sensor_noise", "shot": shot, "read": read, "demosaic": "bilinear"}
    return noisy, {"target": np.clip(clean, 0.0, 1.0)}, record


def _deblur_motion(ref: np.ndarray, rng: np.random.Generator):
    from restora.degrade.convolve import convolve
    from restora.degrade.kernels import motion_kernel
    from restora.degrade.noise import gaussian_noise

    kernel, krecord = motion_kernel(DEBLUR_KERNEL_SIZE, rng)
    kernel = np.asarray(kernel, dtype=np.float32)
    blurred = np.asarray(convolve(ref, kernel, boundary="reflect"), dtype=np.float32)
    noisy = gaussian_noise(blurred, DEBLUR_NOISE_SIGMA, rng, clip=False)
    record = {
        "kernel": dict(krecord) if isinstance(krecord, dict) else krecord,
        "convolve": {"boundary": "reflect"},
        "noise": dict(noisy.record),
        "score_crop": int(kernel.shape[0] // 2),
    }
    return noisy.image, {"kernel": kernel, "sigma": DEBLUR_NOISE_SIGMA}, record


# ----------------------------------------------------------------------------- catalogue

GRAY_DENOISE_SETS = ("BSD68", "Set12")
COLOR_DENOISE_SETS = ("CBSD68", "Kodak24")
SR_SETS = ("Set5", "Set14")
JPEG_SETS = ("LIVE1", "classic5")
DEBLUR_SETS = ("Set12", "BSD68", "CBSD68", "Kodak24", "Set5", "Set14")


def _build_tasks() -> dict[str, BenchTask]:
    tasks: list[BenchTask] = []
    for sigma in (15, 25, 50):
        tasks.append(
            BenchTask(
                name=f"denoise-gray-s{sigma}",
                kind="denoise",
                description=f"gray AWGN sigma={sigma}, unclipped noise; PSNR/SSIM on 8-bit output",
                datasets=GRAY_DENOISE_SETS,
                default_datasets=("Set12", "BSD68"),
                channels="gray",
                prepare=to_gray_y,
                degrade=_denoise(sigma),
                scoring=Scoring(crop=0, y_channel=False, round_to_uint8=True),
                parameters={"sigma": sigma},
            )
        )
    for sigma in (15, 25, 50):
        tasks.append(
            BenchTask(
                name=f"denoise-color-s{sigma}",
                kind="denoise",
                description=f"colour AWGN sigma={sigma}, unclipped noise; RGB PSNR/SSIM on 8-bit output",
                datasets=COLOR_DENOISE_SETS,
                default_datasets=("CBSD68",),
                channels="color",
                prepare=_identity,
                degrade=_denoise(sigma),
                scoring=Scoring(crop=0, y_channel=False, round_to_uint8=True),
                parameters={"sigma": sigma},
            )
        )
    tasks.append(
        BenchTask(
            name="denoise-camera",
            kind="denoise",
            description="real-camera noise: unprocess to raw, shot + read noise (seeded, high ISO), demosaic and process "
            "back, 8-bit; RGB PSNR/SSIM against the noise-free ISP output; no sigma given",
            datasets=COLOR_DENOISE_SETS,
            default_datasets=("CBSD68",),
            channels="color",
            prepare=_identity,
            degrade=_camera,
            scoring=Scoring(crop=0, y_channel=False, round_to_uint8=True),
            parameters={"shot": list(CAMERA_SHOT_RANGE)},
        )
    )
    for scale in (2, 3, 4):
        tasks.append(
            BenchTask(
                name=f"sr-bicubic-x{scale}",
                kind="sr",
                description=f"x{scale} SR from MATLAB-bicubic LR (8-bit); Y-PSNR/SSIM, crop {scale}",
                datasets=SR_SETS,
                default_datasets=SR_SETS,
                channels="any",
                prepare=lambda img, s=scale: modcrop(img, s),
                degrade=_sr(scale),
                scoring=Scoring(crop=scale, y_channel=True, round_to_uint8=True),
                parameters={"scale": scale},
            )
        )
    for scale in (2, 4):
        tasks.append(
            BenchTask(
                name=f"sr-realesrgan-x{scale}",
                kind="sr",
                description=f"blind x{scale} SR: LR from Real-ESRGAN's second-order pipeline (blur, resize, noise, JPEG; "
                f"seeded); Y-PSNR/SSIM crop {scale}, add --metrics niqe,lpips for the perceptual view",
                datasets=SR_SETS,
                default_datasets=("Set14",),
                channels="any",
                prepare=lambda img, s=scale: modcrop(img, s),
                degrade=_sr_realesrgan(scale),
                scoring=Scoring(crop=scale, y_channel=True, round_to_uint8=True),
                parameters={"scale": scale},
            )
        )
    for quality in (10, 20, 30, 40):
        tasks.append(
            BenchTask(
                name=f"jpeg-q{quality}",
                kind="jpeg",
                description=f"gray/Y JPEG quality {quality} (DnCNN-3/ARCNN protocol); PSNR/SSIM on 8-bit Y",
                datasets=JPEG_SETS,
                default_datasets=JPEG_SETS,
                channels="gray",
                prepare=to_gray_y,
                degrade=_jpeg(quality),
                scoring=Scoring(crop=0, y_channel=False, round_to_uint8=True),
                parameters={"quality": quality},
            )
        )
    for quality in (10, 20, 30, 40):
        tasks.append(
            BenchTask(
                name=f"jpeg-color-q{quality}",
                kind="jpeg",
                description=f"colour JPEG quality {quality} (libjpeg, 4:2:0 chroma); RGB PSNR/SSIM on 8-bit output",
                datasets=("LIVE1",),
                default_datasets=("LIVE1",),
                channels="color",
                prepare=_identity,
                degrade=_jpeg(quality),
                scoring=Scoring(crop=0, y_channel=False, round_to_uint8=True),
                parameters={"quality": quality},
            )
        )
    tasks.append(
        BenchTask(
            name="deblur-motion",
            kind="deblur",
            description=(
                f"random {DEBLUR_KERNEL_SIZE}x{DEBLUR_KERNEL_SIZE} motion blur + sigma={DEBLUR_NOISE_SIGMA} noise, "
                "kernel given (non-blind); PSNR/SSIM on 8-bit output, kernel half-width cropped"
            ),
            datasets=DEBLUR_SETS,
            default_datasets=("Set12",),
            channels="any",
            prepare=_identity,
            degrade=_deblur_motion,
            scoring=Scoring(crop=DEBLUR_KERNEL_SIZE // 2, y_channel=False, round_to_uint8=True),
            parameters={"kernel_size": DEBLUR_KERNEL_SIZE, "sigma": DEBLUR_NOISE_SIGMA},
        )
    )
    return {t.name: t for t in tasks}


#: All benchmark tasks by name.
TASKS: dict[str, BenchTask] = _build_tasks()


def _add_restore_tasks() -> None:
    from restora.bench.restore_auto import deblur_command_method, restore_tasks  # restore-auto, denoise-polyu, deblur-levin

    TASKS.update({t.name: t for t in restore_tasks()})
    # what `restora deblur IN OUT` runs (blind: it ignores the kernel the task hands out)
    TASKS["deblur-motion"].methods["deblur-command"] = deblur_command_method


_add_restore_tasks()
import restora.bench.portrait  # noqa: E402,F401  (registers portrait-pattern-noise)
import restora.bench.enhance  # noqa: E402,F401  (registers dehaze-synthetic, exposure-synthetic)
import restora.bench.blind_sr  # noqa: E402,F401  (registers sr-kernel-x2, sr-kernel-x4)
import restora.bench.face_blur  # noqa: E402,F401  (registers face-motion-blur)
import restora.bench.deblur_real  # noqa: E402,F401  (registers deblur-real)


def list_tasks() -> list[BenchTask]:
    """All tasks, in catalogue order."""
    return list(TASKS.values())


def get_task(task: str | BenchTask) -> BenchTask:
    """The task called ``task`` (a :class:`BenchTask` is returned as is); raises listing valid names."""
    if isinstance(task, BenchTask):
        return task
    if task not in TASKS:
        raise InvalidParameterError(f"unknown task {task!r}; valid tasks: {', '.join(TASKS)}")
    return TASKS[task]
