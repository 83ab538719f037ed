"""The ``face-motion-blur`` task (issue 19): aligned faces under camera-shake blur, the
face-fusion system's three images against each other.

Inputs: every test face (``Faces``, 34 aligned 256 px faces, sorted by file name) is resized
to :data:`FACE_BLUR_RESOLUTION` (64 px, OpenCV area interpolation) and rounded to 8 bits:
that is the reference. Face ``i`` of the sorted folder is blurred with its own kernel
``face_motion_kernels(count, 64, TEST_KERNEL_SEED)[i]`` (:mod:`restora.faces.motion_blur`:
19 x 19 kernels, seeds disjoint from training). The task ``face-motion-blur-128`` is the same
at 128 px (37 x 37 kernels; the model must be a 128 px one; NIQE then works natively) by :func:`~restora.faces.motion_blur.blur_face`
(reflect borders), then rounded to 8 bits. No noise is added and no random number is drawn,
so inputs do not depend on ``--seed``, ``--limit`` or the order of a run. The record holds
the kernel index and size. Scores: RGB PSNR/SSIM of the 8-bit output, no crop, no shift.

Methods (:data:`FACE_BLUR_METHODS`): ``input`` (the blurred face), and the three images of
ONE exported ``face-fusion`` model (arch ``face-fusion``, ``.safetensors`` + ``.json`` card):
``nafnet-face`` (the regression output x_R; the trainer freezes R after stage 1, so this is
the stage-1 NAFNet), ``face-inversion`` (the generative prior's x_G = G(E(x_R))) and
``face-fusion`` (the fused output). The model is the file named by the environment variable
:data:`FACE_FUSION_ENV` (``RESTORA_FACE_FUSION``), else the zoo model ``face-fusion``. Each
method computes only its own branch (so its time and parameter count are its own: R; R+E+G;
all); :meth:`FaceFusionRunner.outputs` gives all three from one forward (grid script).
Missing model: :class:`MissingResourceError`.

Metrics: ``psnr``, ``ssim``, and, with dlib installed, the identity metrics ``id_sim`` /
``id_dist`` (:mod:`restora.metrics.identity`). NIQE needs a 96 x 96 patch, so the bench's
``niqe`` cannot score 64 px faces: use ``niqe_x2`` (:mod:`restora.metrics.niqe_x2`, NIQE of the
2x bicubic upsample: comparable between methods here, not with NIQE published at native
resolution; ``niqe`` works on ``face-motion-blur-128``). ``benchmarks/face_fusion_grid.py`` adds
the set-level identity Fréchet distance (:func:`restora.metrics.identity.embedding_frechet_distance`, FID-like on identity
embeddings, not FID).
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable

import numpy as np

from restora.bench.methods import BenchMethod
from restora.bench.tasks import TASKS, BenchTask, Pairing, Scoring, quantize
from restora.errors import InvalidParameterError, MissingResourceError

__all__ = [
    "FACE_BLUR_TASK",
    "FACE_BLUR_RESOLUTION",
    "FACE_BLUR_RESOLUTIONS",
    "FACE_FUSION_ENV",
    "FACE_FUSION_OUTPUTS",
    "FACE_BLUR_METHODS",
    "FaceFusionRunner",
    "load_face_fusion",
    "face_blur_pair",
    "face_blur_samples",
    "face_blur_tasks",
    "niqe_upsampled",
]

FACE_BLUR_TASK = "face-motion-blur"
FACE_BLUR_RESOLUTION = 64
#: face size (px) -> task name: the default task and its 128 px option
FACE_BLUR_RESOLUTIONS: dict[int, str] = {64: FACE_BLUR_TASK, 128: f"{FACE_BLUR_TASK}-128"}
FACE_FUSION_ENV = "RESTORA_FACE_FUSION"
#: bench method -> the face-fusion output it reports
FACE_FUSION_OUTPUTS: dict[str, str] = {"nafnet-face": "regression", "face-inversion": "inversion", "face-fusion": "fused"}


def _resize(image: np.ndarray, size: int) -> np.ndarray:
    import cv2

    img = np.asarray(image, np.float32)[:, :, :3]
    if img.shape[0] != size or img.shape[1] != size:
        img = cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA)
        if img.ndim == 2:
            img = img[:, :, None]
    return img


def face_blur_pair(image: np.ndarray, index: int, *, count: int = 34, resolution: int = FACE_BLUR_RESOLUTION,
                   ) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """``(sharp, blurred, record)`` for face number ``index`` of a sorted test folder:
    ``sharp`` is ``image`` resized to ``resolution`` and rounded to 8 bits, ``blurred`` is it
    blurred with test kernel ``index`` and rounded to 8 bits (a pure function of the arguments;
    kernel ``i`` does not depend on ``count``)."""
    from restora.faces.motion_blur import TEST_KERNEL_SEED, blur_face, face_motion_kernels

    if not 0 <= int(index) < int(count):
        raise InvalidParameterError(f"index must be in [0, {count}), got {index}")
    sharp = quantize(_resize(image, int(resolution)))
    kernel = face_motion_kernels(int(count), int(resolution), TEST_KERNEL_SEED)[int(index)]
    blurred = quantize(blur_face(sharp, kernel))
    record = {"degradation": "face_motion_blur", "kernel_seed": TEST_KERNEL_SEED, "kernel_index": int(index),
              "kernel_size": int(kernel.shape[0]), "resolution": int(resolution)}
    return sharp, blurred, record


def _collect(folder: Any) -> list[tuple[Any, dict[str, Any]]]:
    from restora.data import list_images

    files = sorted(list_images(Path(folder)), key=lambda p: p.name)
    return [(p, {"index": i, "count": len(files)}) for i, p in enumerate(files)]


def _loader(resolution: int) -> Callable[..., tuple[np.ndarray, np.ndarray, dict[str, Any], dict[str, Any]]]:
    def load(image: np.ndarray, info: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, dict[str, Any], dict[str, Any]]:
        sharp, blurred, record = face_blur_pair(image, info["index"], count=info["count"], resolution=resolution)
        return sharp, blurred, {}, record

    return load


def face_blur_samples(limit: int | None = None, dataset: str = "Faces", resolution: int = FACE_BLUR_RESOLUTION) -> list[Any]:
    """The task's :class:`~restora.bench.tasks.Sample` s for the first ``limit`` faces of
    ``dataset`` (a named set or a folder) at ``resolution`` (64 or 128 px), as the bench makes them."""
    from restora.bench.datasets import resolve_dataset
    from restora.io import read_image
    from restora.validation import check_choice

    check_choice("resolution", int(resolution), tuple(FACE_BLUR_RESOLUTIONS))
    task = TASKS[FACE_BLUR_RESOLUTIONS[int(resolution)]]
    ds = resolve_dataset(dataset, task, limit=limit)
    return [task.make_sample(np.asarray(read_image(p), np.float32), name=p.stem) for p in ds.images]


def load_face_fusion(source: str | os.PathLike[str] | None = None) -> Any:
    """The exported face-fusion model (:class:`restora.zoo.store.LoadedModel`): ``source``,
    else the file in ``$RESTORA_FACE_FUSION``, else the zoo model ``face-fusion``."""
    from restora import zoo

    src = source if source is not None else os.environ.get(FACE_FUSION_ENV) or None
    try:
        loaded = zoo.load_file(src) if src is not None else zoo.load("face-fusion")
    except MissingResourceError as exc:
        where = f"{src}" if src is not None else "zoo model 'face-fusion'"
        raise MissingResourceError(
            f"{FACE_BLUR_TASK}: face-fusion model not found ({where}: {exc}); set {FACE_FUSION_ENV}=path/to/model.safetensors "
            "(arch face-fusion, card beside it) or install it: restora models install <file>.safetensors"
        ) from None
    if loaded.card.arch != "face-fusion":
        raise MissingResourceError(f"{FACE_BLUR_TASK}: {src or 'face-fusion'} is arch {loaded.card.arch!r}, not 'face-fusion'")
    return loaded


class FaceFusionRunner:
    """Runs a face-fusion model once per face (``output="all"``) and keeps the last result,
    so that the three bench methods of one face share one forward pass."""

    def __init__(self, loaded: Any, device: str = "cpu") -> None:
        import torch

        self.loaded = loaded
        self.model = loaded.model.to(device).eval()
        self.model.output = "all"
        self.device = device
        enc = getattr(self.model, "encoder", None)  # the model's face size (the exporter's card args are empty)
        self.resolution = int(getattr(enc, "resolution", 0) or (loaded.card.args or {}).get("resolution", FACE_BLUR_RESOLUTION))
        self.params = int(sum(p.numel() for p in self.model.parameters()))
        self._key: bytes | None = None
        self._out: dict[str, np.ndarray] = {}
        self._torch = torch

    def branch_params(self, which: str) -> int:
        """Parameters that ``which`` (``regression``, ``inversion``, ``fused``) runs through."""
        parts = {"regression": ("restorer",), "inversion": ("restorer", "encoder", "generator"),
                 "fused": ("restorer", "encoder", "generator", "fusion")}[which]
        return int(sum(p.numel() for name in parts for p in getattr(self.model, name).parameters()))

    def output(self, image: np.ndarray, which: str) -> np.ndarray:
        """One image of ``image``'s restoration, computing only what it needs (the bench's
        per-method timing is then that branch's own: x_R = R(x); x_G = G(E(R(x))); fused all)."""
        x = self._tensor(image)
        m, torch = self.model, self._torch
        with torch.inference_mode():
            x_r = m.restorer(x)
            if which == "regression":
                y = x_r
            else:
                x_g = m.invert(x_r)
                y = x_g if which == "inversion" else m.fusion(x_r, x_g)
        return y[0].permute(1, 2, 0).float().cpu().numpy()

    def _tensor(self, image: np.ndarray) -> Any:
        img = np.ascontiguousarray(np.asarray(image, np.float32))
        if img.ndim != 3 or img.shape[2] != 3 or img.shape[0] != img.shape[1]:
            raise InvalidParameterError(f"face-fusion takes square RGB faces, got shape {img.shape}")
        if img.shape[0] != self.resolution:
            task = FACE_BLUR_RESOLUTIONS.get(self.resolution, "a matching task")
            raise InvalidParameterError(f"face-fusion model {self.loaded.card.name!r} is for {self.resolution} px faces, "
                                        f"got {img.shape[0]} px (use {task})")
        return self._torch.from_numpy(img).permute(2, 0, 1)[None].to(self.device)

    def outputs(self, image: np.ndarray) -> dict[str, np.ndarray]:
        """``{"regression", "inversion", "fused"}`` images (H x W x 3 float32) for ``image``,
        from one forward pass (kept for the last image: the grid script's path)."""
        import hashlib

        x = self._tensor(image)
        key = hashlib.sha1(np.ascontiguousarray(np.asarray(image, np.float32)).tobytes() + str(tuple(x.shape)).encode()).digest()
        if key != self._key:
            torch = self._torch
            with torch.inference_mode():
                out = self.model(x)
            self._out = {name: getattr(out, attr)[0].permute(1, 2, 0).float().cpu().numpy()
                         for name, attr in (("regression", "x_r"), ("inversion", "x_g"), ("fused", "x"))}
            self._key = key
        return self._out


@lru_cache(maxsize=2)
def _runner(source: str | None, device: str) -> FaceFusionRunner:
    return FaceFusionRunner(load_face_fusion(source), device=device)


def _factory(method: str) -> Callable[[str | None], BenchMethod]:
    which = FACE_FUSION_OUTPUTS[method]

    def build(device: str | None) -> BenchMethod:
        runner = _runner(os.environ.get(FACE_FUSION_ENV) or None, device or "cpu")

        def restore(image: np.ndarray, **condition: Any) -> np.ndarray:
            return runner.output(image, which)

        params = runner.branch_params(which)
        restore.params = params  # type: ignore[attr-defined]
        return BenchMethod(name=method, restorer=restore, kind="neural", source="weights", params=params,
                           description=f"face-fusion output {which!r} ({runner.loaded.card.name})")

    return build


#: The task's learned methods (``input`` is the harness's built-in).
FACE_BLUR_METHODS: dict[str, Callable[[str | None], BenchMethod]] = {m: _factory(m) for m in FACE_FUSION_OUTPUTS}


def _identity(image: np.ndarray) -> np.ndarray:
    return image


def _unused_degrade(reference: np.ndarray, rng: np.random.Generator):  # pairing makes the inputs
    raise InvalidParameterError(f"{FACE_BLUR_TASK} makes its inputs from the image's index in its folder (pairing)")


def face_blur_tasks() -> list[BenchTask]:
    """The tasks of this module (added to :data:`restora.bench.tasks.TASKS` on import):
    ``face-motion-blur`` (64 px) and ``face-motion-blur-128``."""
    from restora.faces.motion_blur import face_kernel_size

    return [
        BenchTask(
            name=name,
            kind="face-deblur",
            description=f"aligned faces at {res} px, each blurred by its own test camera-shake kernel "
            f"({face_kernel_size(res)}x{face_kernel_size(res)}, "
            "restora.faces.motion_blur, TEST_KERNEL_SEED), 8-bit; methods input, nafnet-face (x_R), face-inversion (x_G), "
            "face-fusion (fused) of one face-fusion model; RGB PSNR/SSIM on 8-bit output, id_sim/id_dist with dlib",
            datasets=("Faces",),
            default_datasets=("Faces",),
            channels="color",
            prepare=_identity,
            degrade=_unused_degrade,
            scoring=Scoring(crop=0, y_channel=False, round_to_uint8=True),
            parameters={"resolution": res, "degradation": "face_motion_blur", "kernel_seed": "TEST_KERNEL_SEED"},
            methods=FACE_BLUR_METHODS,
            pairing=Pairing(collect=_collect, load=_loader(res)),
        )
        for res, name in FACE_BLUR_RESOLUTIONS.items()
    ]


def niqe_upsampled(image: np.ndarray, factor: int = 2) -> float:
    """NIQE of ``image`` upsampled ``factor`` x (bicubic, clipped, 8-bit): NIQE needs a 96 x 96
    patch, which a 64 px face lacks. Comparable between methods, not with native-size NIQE.
    (:func:`restora.metrics.niqe_x2.niqe_upsampled`; the bench metric is ``niqe_x2``.)"""
    from restora.metrics.niqe_x2 import niqe_upsampled as _niqe_up

    return _niqe_up(image, factor)


TASKS.update({t.name: t for t in face_blur_tasks()})
