"""Measuring ``restora restore`` (issue 15): the ``restore-auto`` task on realistic damage,
and the real-data tasks ``denoise-polyu`` and ``deblur-levin``, with their methods and the
summary the planner is judged by.

``restore-auto`` (Kodak24, CBSD68): every clean image gets a damage chain from
:func:`restora.degrade.realistic.random_damage` (seeded per image by the harness's
:func:`~restora.bench.tasks.image_rng`, i.e. from the seed and the image's name, so an
image gets the same chain whatever ``--limit`` or the other images); no size change
(see the module docstring of :mod:`restora.degrade.realistic`). Every method gets the
chain's record as the condition ``damage=``; only ``oracle`` reads it. Methods
(:data:`RESTORE_METHODS`):

* ``none`` (also ``input``): the damaged image itself;
* ``auto``: ``RestorePipeline().restore(image)``, no options;
* ``oracle``: the pipeline told the truth (:func:`oracle_plan`): the steps the record calls
  for, with the true noise level (RMS of the noise added), the true JPEG quality, the
  camera-noise model for camera noise, and non-blind deconvolution (``map-hyper-laplacian``)
  with the true kernel (the pipeline's own ``deblur`` step estimates the kernel blindly and
  takes none, so this step runs the deconvolution directly). Its regularisation sigma is
  :data:`ORACLE_DEBLUR_SIGMA` for blur alone and ``max(3, 0.1 x noise RMS)`` after a JPEG or
  denoise step: the planner's ``max(noise left, 0.5)`` (0.5 after a denoise step) rings badly
  on the residual artifacts (a sweep of 0.5/1/2/3/5 on the first 10 blurred CBSD68 draws,
  not the Kodak24 images the task reports on: 0.5 lost up to 10 dB against 3 after other
  steps, 1 was the best compromise for blur alone);
* ``fixed-denoise`` (the planner's Gaussian denoiser for the image's channels, blind; the
  oracle uses the same one), ``fixed-camera`` (``ffdnet-camera``),
  ``fixed-jpeg`` (the pipeline's JPEG step, quality estimated), ``fixed-deblur`` (blind
  kernel estimation + deconvolution): one step whatever the damage.

Scores: RGB PSNR/SSIM of the 8-bit output against the clean image (against the noise-free
output of the same camera pipeline when camera noise was applied), no border crop.
:func:`summarize` gives what issue 15 asks: the share of images where ``auto`` beats
``none``, the worst per-image ``auto - none``, the mean gap ``oracle - auto``, and the same
per damage kind. ``python -m restora.bench.restore_auto RESULT_DIR`` prints it and writes
``summary_restore_auto.md`` beside the result.

``denoise-polyu``: the PolyU real-noise pairs (``*_real`` noisy, ``*_mean`` clean), blind,
RGB PSNR/SSIM. ``deblur-levin``: the Levin et al. blurred images, gray, scored against
the sharp image with the kernel half-width cropped; the condition holds the true kernel
(so catalogue deconvolvers run non-blind; ``auto`` ignores it; ``name+blind`` withholds it),
calibrated against the pair: the stored kernels' orientation and centre are not
consistent (some are stored rotated by 180 degrees, centres off by up to 4 px), so of the
kernel and its 180-degree rotation, shifted by up to 5 px, the one that best reproduces
the blurred image from the sharp one is used (record ``kernel_calibration``).
"""

from __future__ import annotations

import json
import math
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from restora.bench.methods import BenchMethod
from restora.bench.tasks import BenchTask, Pairing, Scoring
from restora.errors import InvalidParameterError, MissingResourceError

__all__ = [
    "RESTORE_AUTO_DATASETS",
    "RESTORE_METHODS",
    "ORACLE_DEBLUR_SIGMA",
    "ORACLE_DEBLUR_SIGMA_AFTER_STEPS",
    "OraclePlan",
    "oracle_plan",
    "run_oracle",
    "restore_tasks",
    "deblur_command_method",
    "summarize",
    "summary_markdown",
    "levin_kernel_calibration",
]

RESTORE_AUTO_DATASETS = ("Kodak24", "CBSD68")
#: Deconvolution sigma (8-bit levels) of the oracle when blur is the only damage.
ORACLE_DEBLUR_SIGMA = 1.0
#: ... and its floor after a JPEG or denoise step (the residual artifacts are not white noise).
ORACLE_DEBLUR_SIGMA_AFTER_STEPS = 3.0

# ----------------------------------------------------------------------------- pipeline cache
_PIPELINES: dict[str, Any] = {}


def _pipeline(device: str | None) -> Any:
    """One :class:`~restora.pipeline.RestorePipeline` per device (models load once)."""
    from restora.pipeline import RestorePipeline

    key = device or "cpu"
    if key not in _PIPELINES:
        _PIPELINES[key] = RestorePipeline(device=key)
    return _PIPELINES[key]


# ----------------------------------------------------------------------------- the oracle
@dataclass(frozen=True)
class OraclePlan:
    """What the oracle runs: pipeline ``steps`` (``plan(steps=..., analysis=...)``) with the
    true ``analysis``; then, if ``kernel`` is set, non-blind deconvolution with it
    (``deblur_method``), after the upscale step when the record downscaled (the blur acted at
    the high resolution), else after the pipeline steps; ``scale`` for the upscale step."""

    steps: list[str]
    analysis: dict[str, Any]
    kernel: np.ndarray | None
    deblur_method: str
    scale: int | None
    deblur_sigma: float = ORACLE_DEBLUR_SIGMA


def oracle_plan(record: dict[str, Any], channels: int = 3) -> OraclePlan:
    """The oracle's plan for a damage ``record`` (applied, see
    :func:`restora.degrade.realistic.apply_damage`) on an image of ``channels`` channels."""
    steps: list[str] = []
    analysis: dict[str, Any] = {"noise_sigma": 0.0, "jpeg_quality": None, "jpeg_source": None, "blur": {"sigma": 0.0}}
    kernel = None
    scale = None
    by_kind = {s["kind"]: s for s in record.get("steps", [])}
    if "jpeg" in by_kind:
        steps.append("jpeg")
        analysis["jpeg_quality"] = float(by_kind["jpeg"]["quality"])
        analysis["jpeg_source"] = "tables"
    noise = next((by_kind[k] for k in ("gaussian_noise", "poisson_noise", "camera_noise") if k in by_kind), None)
    if noise is not None:
        if "rms_sigma" not in noise:
            raise InvalidParameterError("damage record: a noise step has no rms_sigma (apply the record first)")
        analysis["noise_sigma"] = float(noise["rms_sigma"])
        if noise["kind"] == "camera_noise":
            steps.append("denoise:ffdnet-camera")
        else:
            steps.append("denoise:" + gaussian_denoiser(channels))
    blur = next((by_kind[k] for k in ("motion_blur", "defocus_blur") if k in by_kind), None)
    if blur is not None:
        if blur.get("kernel") is None:
            raise InvalidParameterError("damage record: a blur step has no kernel (apply the record first)")
        kernel = np.asarray(blur["kernel"], dtype=np.float64)
    if "downscale" in by_kind:
        scale = int(by_kind["downscale"]["scale"])
        steps.append("upscale")
    sigma = ORACLE_DEBLUR_SIGMA
    if any(s.split(":")[0] in ("jpeg", "denoise") for s in steps):
        sigma = max(ORACLE_DEBLUR_SIGMA_AFTER_STEPS, 0.1 * float(analysis["noise_sigma"]))
    return OraclePlan(steps, analysis, kernel, "map-hyper-laplacian", scale, round(sigma, 3))


def run_oracle(image: np.ndarray, record: dict[str, Any], *, pipeline: Any = None) -> np.ndarray:
    """Restore ``image`` with the truth of ``record`` (see :func:`oracle_plan`)."""
    from restora.pipeline.plan import Plan

    pipe = pipeline if pipeline is not None else _pipeline("cpu")
    op = oracle_plan(record, channels=image.shape[2])
    x = image
    if not op.steps and op.kernel is None:
        return x
    options: dict[str, Any] = {"analysis": op.analysis}
    if op.scale:
        options["scale"] = op.scale
    if op.steps:
        plan = pipe.plan(x, steps=op.steps, **options)
        before = [s for s in plan.steps if s.name in ("jpeg", "denoise")]
        upscale = [s for s in plan.steps if s.name == "upscale"]
        if before:
            x = pipe.run(x, Plan(before, plan.analysis)).image
        if upscale:
            x = pipe.run(x, Plan(upscale, plan.analysis)).image
    if op.kernel is not None:
        x = pipe.restorer(op.deblur_method)(x, kernel=op.kernel, sigma=op.deblur_sigma)
    return np.asarray(x, dtype=np.float32)


# ----------------------------------------------------------------------------- methods
def _input(image: np.ndarray, **condition: Any) -> np.ndarray:
    return image


def _method(name: str, fn: Callable[..., np.ndarray], kind: str, description: str) -> BenchMethod:
    return BenchMethod(name=name, restorer=fn, kind=kind, source="builtin", description=description)


def _none_method(name: str) -> Callable[[str | None], BenchMethod]:
    return lambda device: BenchMethod(
        name=name, restorer=_input, kind="baseline", source="builtin", params=0, flops_per_pixel=0.0,
        description="the damaged input itself (no restoration)",
    )


def _scale_of(condition: dict[str, Any]) -> dict[str, Any]:
    s = condition.get("scale")
    return {"scale": int(s)} if s not in (None, 1) else {}


def _auto(device: str | None) -> BenchMethod:
    def auto(image: np.ndarray, **condition: Any) -> np.ndarray:
        return _pipeline(device).restore(image, **_scale_of(condition)).image

    return _method("auto", auto, "pipeline", "RestorePipeline().restore(image): analyse, plan, run (no options)")


def _fixed(name: str, steps: Callable[[np.ndarray], list[str]], description: str) -> Callable[[str | None], BenchMethod]:
    def factory(device: str | None) -> BenchMethod:
        def fixed(image: np.ndarray, **condition: Any) -> np.ndarray:
            return _pipeline(device).restore(image, steps=steps(image), **_scale_of(condition)).image

        return _method(name, fixed, "pipeline", description)

    return factory


def _oracle(device: str | None) -> BenchMethod:
    def oracle(image: np.ndarray, *, damage: dict[str, Any] | None = None, **condition: Any) -> np.ndarray:
        if damage is None:
            raise InvalidParameterError("oracle needs the condition damage= (the restore-auto task gives it)")
        return run_oracle(image, damage, pipeline=_pipeline(device))

    return _method("oracle", oracle, "pipeline", "the pipeline given the true damage (steps, sigma, quality, kernel)")


def _levin_oracle(device: str | None) -> BenchMethod:
    def oracle(image: np.ndarray, *, kernel: np.ndarray | None = None, **condition: Any) -> np.ndarray:
        if kernel is None:
            raise InvalidParameterError("oracle needs the condition kernel= (the deblur-levin task gives it)")
        return _pipeline(device).restorer("map-hyper-laplacian")(image, kernel=kernel, sigma=ORACLE_DEBLUR_SIGMA)

    return _method("oracle", oracle, "classical", f"map-hyper-laplacian with the true (calibrated) kernel, sigma {ORACLE_DEBLUR_SIGMA:g}")


def gaussian_denoiser(channels: int) -> str:
    """The zoo denoiser the planner picks for Gaussian noise on ``channels``-channel images
    (by the cards' measured scores): ``drunet-gray`` for both since session 25, run on the
    opponent-colour channels of colour images (it was ``ffdnet-color`` for colour before)."""
    from restora.pipeline.methods import neural_choice

    choice = neural_choice("denoise", channels=channels, sigma=25.0)
    return choice.method if choice is not None else "collaborative-wiener"


def _denoiser(image: np.ndarray) -> list[str]:
    return ["denoise:" + gaussian_denoiser(image.shape[2])]


#: restore-auto's methods: name -> factory(device) -> BenchMethod.
RESTORE_METHODS: dict[str, Callable[[str | None], BenchMethod]] = {
    "none": _none_method("none"),
    "auto": _auto,
    "oracle": _oracle,
    "fixed-denoise": _fixed("fixed-denoise", _denoiser, "always denoise with the planner's Gaussian denoiser (blind: sigma estimated)"),
    "fixed-camera": _fixed("fixed-camera", lambda im: ["denoise:ffdnet-camera"], "always denoise with ffdnet-camera"),
    "fixed-jpeg": _fixed("fixed-jpeg", lambda im: ["jpeg"], "always the JPEG step (quality estimated from blockiness)"),
    "fixed-deblur": _fixed("fixed-deblur", lambda im: ["deblur"], "always deblur (blind kernel estimate + deconvolution)"),
}
_POLYU_METHODS: dict[str, Callable[[str | None], BenchMethod]] = {"none": _none_method("none"), "auto": _auto}
def deblur_command_method(device: str | None) -> BenchMethod:
    """The bench method that runs exactly ``restora deblur IN OUT`` (blind, no options)."""
    def deblur(image: np.ndarray, **condition: Any) -> np.ndarray:
        from restora.pipeline.deblur import deblur_image

        return deblur_image(image).image  # no kernel, no sigma: what `restora deblur IN OUT` runs

    return _method("deblur-command", deblur, "pipeline", "restora deblur IN OUT with no options (blind)")


_LEVIN_METHODS: dict[str, Callable[[str | None], BenchMethod]] = {
    "none": _none_method("none"),
    "deblur-command": deblur_command_method,
    "auto": _auto,
    "oracle": _levin_oracle,
    "fixed-deblur": _fixed("fixed-deblur", lambda im: ["deblur"], "always deblur (blind kernel estimate + deconvolution)"),
}


# ----------------------------------------------------------------------------- restore-auto
def _identity(image: np.ndarray) -> np.ndarray:
    return image


def _restore_auto_degrade(ref: np.ndarray, rng: np.random.Generator):
    from restora.degrade.realistic import damage_target, random_damage

    out = random_damage(ref, rng)
    blur = [max(np.shape(st["kernel"])) for st in out.record.get("steps", []) if "kernel" in st]
    if blur:  # score blurred images up to a translation, as deblur-levin (Levin et al.'s convention)
        out.record["score_align"] = int(max(blur) // 2)
    condition: dict[str, Any] = {"damage": out.record}
    target = damage_target(ref, out.record)
    if target.shape != ref.shape or not np.array_equal(target, ref):
        condition["target"] = target
    return out.image, condition, out.record


# ----------------------------------------------------------------------------- PolyU
def _read(path: Path) -> np.ndarray:
    from restora.io import read_image

    img = np.asarray(read_image(path), dtype=np.float32)
    return img[:, :, None] if img.ndim == 2 else img


def _polyu_collect(folder: Path) -> list[tuple[Path, dict[str, Any]]]:
    out = []
    for mean in sorted(p for p in folder.iterdir() if p.is_file() and re.search(r"_mean\.[A-Za-z]+$", p.name)):
        real = mean.with_name(mean.name.replace("_mean.", "_real."))
        if real.is_file():
            out.append((mean, {"degraded": str(real)}))
    return out


def _polyu_load(image: np.ndarray, info: dict[str, Any]):
    noisy = _read(Path(info["degraded"]))
    record = {"op": "real_camera_noise", "noisy": Path(info["degraded"]).name, "dataset": "PolyU"}
    return image, noisy, {}, record


# ----------------------------------------------------------------------------- Levin
_LEVIN_NAME = re.compile(r"^im(\d+)_kernel(\d+)_img$")
_CALIBRATION: dict[tuple[str, str], dict[str, Any]] = {}


def levin_kernel_calibration(sharp: np.ndarray, blurred: np.ndarray, kernel: np.ndarray, max_shift: int = 5) -> tuple[np.ndarray, dict[str, Any]]:
    """The variant of ``kernel`` (as stored, or rotated 180 degrees; shifted by up to
    ``max_shift`` px) that best reproduces ``blurred`` from ``sharp`` (PSNR on the interior),
    returned padded so its centre is the true centre; and ``{"rotated", "shift", "psnr"}``."""
    from restora.degrade.convolve import convolve

    k = np.asarray(kernel, dtype=np.float64)
    k = k / k.sum()
    m = max_shift + max(k.shape) // 2 + 1
    s, b = sharp[..., 0], blurred[..., 0]
    best: tuple[float, bool, int, int] | None = None
    for rotated in (False, True):
        kk = k[::-1, ::-1] if rotated else k
        c = np.asarray(convolve(sharp, kk.astype(np.float32), boundary="reflect"))[..., 0]
        for dy in range(-max_shift, max_shift + 1):
            for dx in range(-max_shift, max_shift + 1):
                d = np.roll(c, (dy, dx), axis=(0, 1))[m:-m, m:-m] - b[m:-m, m:-m]
                mse = float(np.mean(d * d))
                if best is None or mse < best[0]:
                    best = (mse, rotated, dy, dx)
    assert best is not None
    mse, rotated, dy, dx = best
    kk = k[::-1, ::-1] if rotated else k
    p = max(abs(dy), abs(dx))
    out = np.roll(np.pad(kk, p), (dy, dx), axis=(0, 1))
    del s
    return out, {"rotated_180": rotated, "shift": [dy, dx], "psnr": round(10 * math.log10(1.0 / max(mse, 1e-12)), 2)}


def _levin_collect(folder: Path) -> list[tuple[Path, dict[str, Any]]]:
    blurred = folder / "blurred"
    if not blurred.is_dir():
        raise MissingResourceError(f"{folder}: no blurred/ folder (expected blurred/imI_kernelK_img.png, sharp/imI.png, kernels/kernelK.png)")
    out = []
    for p in sorted(blurred.iterdir()):
        m = _LEVIN_NAME.match(p.stem)
        if not m:
            continue
        sharp = folder / "sharp" / f"im{m.group(1)}.png"
        kernel = folder / "kernels" / f"kernel{m.group(2)}.png"
        if sharp.is_file() and kernel.is_file():
            out.append((p, {"sharp": str(sharp), "kernel": str(kernel)}))
    return out


def _levin_load(image: np.ndarray, info: dict[str, Any]):
    sharp = _read(Path(info["sharp"]))
    stored = _read(Path(info["kernel"]))[..., 0].astype(np.float64)
    key = (info["sharp"], info["kernel"])
    kernel, cal = levin_kernel_calibration(sharp, image, stored)
    _CALIBRATION[key] = cal
    record = {"op": "levin_blur", "kernel_file": Path(info["kernel"]).name, "sharp": Path(info["sharp"]).name,
              "kernel_calibration": cal, "score_crop": int(max(stored.shape) // 2),
              "score_align": int(max(stored.shape) // 2)}
    return sharp, image, {"kernel": kernel.astype(np.float32)}, record


# ----------------------------------------------------------------------------- tasks
def restore_tasks() -> list[BenchTask]:
    """The tasks of this module (registered in :data:`restora.bench.tasks.TASKS`)."""
    return [
        BenchTask(
            name="restore-auto",
            kind="restore",
            description="realistic damage chains (restora.degrade.realistic: 1-3 of blur/noise/JPEG or clean, seeded per "
            "image); methods none, auto, oracle, fixed-*; RGB PSNR/SSIM on 8-bit output; summary: "
            "python -m restora.bench.restore_auto RESULT_DIR",
            datasets=RESTORE_AUTO_DATASETS,
            default_datasets=("Kodak24",),
            channels="color",
            prepare=_identity,
            degrade=_restore_auto_degrade,
            scoring=Scoring(crop=0, y_channel=False, round_to_uint8=True),
            parameters={"chain": "realistic", "clean_share": 0.1, "downscale": False},
            methods=RESTORE_METHODS,
        ),
        BenchTask(
            name="denoise-polyu",
            kind="denoise",
            description="real camera noise, PolyU pairs (*_real vs *_mean, 512x512), blind; RGB PSNR/SSIM on 8-bit output",
            datasets=("PolyU",),
            default_datasets=("PolyU",),
            channels="color",
            prepare=_identity,
            degrade=_no_degrade,
            scoring=Scoring(crop=0, y_channel=False, round_to_uint8=True),
            parameters={"pairs": "real"},
            methods=_POLYU_METHODS,
            pairing=Pairing(collect=_polyu_collect, load=_polyu_load),
        ),
        BenchTask(
            name="deblur-levin",
            kind="deblur",
            description="Levin et al. 2009 real camera-shake blur (4 images x 8 kernels, gray); condition kernel= (calibrated), "
            "auto ignores it, name+blind withholds it; PSNR/SSIM on 8-bit output, kernel half-width cropped",
            datasets=("Levin",),
            default_datasets=("Levin",),
            channels="gray",
            prepare=_identity,
            degrade=_no_degrade,
            scoring=Scoring(crop=13, y_channel=False, round_to_uint8=True),
            parameters={"blind_auto": True},
            methods=_LEVIN_METHODS,
            pairing=Pairing(collect=_levin_collect, load=_levin_load),
        ),
    ]


def _no_degrade(ref: np.ndarray, rng: np.random.Generator):  # pragma: no cover - paired tasks load their inputs
    raise InvalidParameterError("this task reads stored pairs; give a paired dataset folder")


# ----------------------------------------------------------------------------- summary
def _records(result: Any) -> dict[tuple[str, str], dict[str, Any]]:
    """Damage records per (dataset, image), redrawn from the seed and the image names (the
    chain is drawn before the image is touched, so no image is needed)."""
    from restora.bench.tasks import image_rng
    from restora.degrade.realistic import draw_damage

    out = {}
    for ds in result.datasets:
        names = {s.image for s in result.images if s.dataset == ds}
        for name in names:
            out[(ds, name)] = draw_damage(image_rng(int(result.seed), name))
    return out


def summarize(result: Any, *, method: str = "auto", baseline: str = "none", oracle: str = "oracle", metric: str = "psnr") -> dict[str, Any]:
    """Issue 15's figures from a ``restore-auto`` :class:`~restora.bench.BenchResult` (or its
    ``result.json`` dict), per dataset. Over the *damaged* images (``n``): ``better_share``
    (images where ``method``'s PSNR beats ``baseline``'s by more than 0.01 dB), ``worse``
    (images where it loses more than 0.01 dB), ``worst_delta`` / ``worst_image`` (the lowest
    ``method - baseline``), ``mean_delta``, ``mean_gap_oracle`` (mean ``oracle - method``).
    Untouched images (their input *is* the reference, PSNR infinite) are counted apart:
    ``n_clean``, ``clean_unchanged`` (left exactly as they were) and ``clean_min_psnr``
    (``method``'s lowest PSNR against them; infinite when all are unchanged). ``per_kind``
    gives the damaged-image figures per damage kind present, ``images`` one row per image
    (label, the scores of every method)."""
    from restora.bench.runner import BenchResult
    from restora.degrade.realistic import damage_kinds, damage_label

    res = BenchResult.from_dict(result) if isinstance(result, dict) else result
    records = _records(res)
    out: dict[str, Any] = {"metric": metric, "method": method, "baseline": baseline, "oracle": oracle, "datasets": {}}
    for ds in res.datasets:
        table: dict[str, dict[str, float]] = {}
        for s in res.images:
            if s.dataset == ds and metric in s.scores:
                table.setdefault(s.image, {})[s.method] = float(s.scores[metric])
        rows = []
        for name in sorted(table):
            rec = records[(ds, name)]
            rows.append({"image": name, "label": damage_label(rec), "kinds": damage_kinds(rec), "clean": bool(rec["clean"]), **table[name]})
        damaged = [r for r in rows if not r["clean"]]
        pairs = [r for r in damaged if method in r and baseline in r]
        deltas = [r[method] - r[baseline] for r in pairs]
        gaps = [r[oracle] - r[method] for r in damaged if oracle in r and method in r]

        def stats(sel: list[dict[str, Any]]) -> dict[str, Any]:
            d = [r[method] - r[baseline] for r in sel if method in r and baseline in r]
            g = [r[oracle] - r[method] for r in sel if oracle in r and method in r]
            return {
                "n": len(sel),
                "better_share": (sum(x > 0.01 for x in d) / len(d)) if d else None,
                "mean_delta": float(np.mean(d)) if d else None,
                "worst_delta": float(min(d)) if d else None,
                "mean_gap_oracle": float(np.mean(g)) if g else None,
            }

        worst = min(pairs, key=lambda r: r[method] - r[baseline]) if pairs else None
        per_kind = {}
        for kind in sorted({k for r in damaged for k in r["kinds"]}):
            per_kind[kind] = stats([r for r in damaged if kind in r["kinds"]])
        clean_scores = [r[method] for r in rows if r["clean"] and method in r]
        out["datasets"][ds] = {
            **stats(damaged),
            "worse": sum(x < -0.01 for x in deltas),
            "worst_image": None if worst is None else f"{worst['image']} ({worst['label']})",
            "n_clean": sum(r["clean"] for r in rows),
            "clean_unchanged": sum(math.isinf(x) for x in clean_scores),
            "clean_min_psnr": min(clean_scores) if clean_scores else None,
            "mean_gap_oracle": float(np.mean(gaps)) if gaps else None,
            "per_kind": per_kind,
            "images": rows,
        }
    return out


def _f(v: Any, spec: str = ".2f") -> str:
    return "-" if v is None else (f"{v:{spec}}" if isinstance(v, (int, float)) else str(v))


def summary_markdown(summary: dict[str, Any]) -> str:
    """:func:`summarize`'s figures as Markdown: the headline, per damage kind, per image."""
    m, b, o = summary["method"], summary["baseline"], summary["oracle"]
    lines = []
    for ds, s in summary["datasets"].items():
        lines += [
            f"### {ds}: `{m}` against `{b}` and `{o}` ({summary['metric'].upper()}, dB)",
            "",
            f"| damaged images | {m} better than {b} | {m} worse | mean {m} - {b} | worst {m} - {b} | mean {o} - {m} "
            f"| clean images: left unchanged, lowest {m} PSNR |",
            "|---|---|---|---|---|---|---|",
            f"| {s['n']} | {_f(None if s['better_share'] is None else 100 * s['better_share'], '.0f')} % | {s['worse']} "
            f"| {_f(s['mean_delta'], '+.2f')} | {_f(s['worst_delta'], '+.2f')} ({s['worst_image']}) "
            f"| {_f(s['mean_gap_oracle'], '+.2f')} | {s['clean_unchanged']} of {s['n_clean']}, {_f(s['clean_min_psnr'], '.2f')} |",
            "",
            f"| damage kind | images | {m} better | mean {m} - {b} | worst {m} - {b} | mean {o} - {m} |",
            "|---|---|---|---|---|---|",
        ]
        for kind, k in s["per_kind"].items():
            share = None if k["better_share"] is None else 100 * k["better_share"]
            lines.append(f"| {kind} | {k['n']} | {_f(share, '.0f')} % | {_f(k['mean_delta'], '+.2f')} | {_f(k['worst_delta'], '+.2f')} | {_f(k['mean_gap_oracle'], '+.2f')} |")
        methods = [x for x in dict.fromkeys(k for r in s["images"] for k in r if k not in ("image", "label", "kinds", "clean"))]
        lines += ["", "| image | damage | " + " | ".join(methods) + " |", "|---|---|" + "---|" * len(methods)]
        for r in s["images"]:
            lines.append(f"| {r['image']} | {r['label']} | " + " | ".join(_f(r.get(x)) for x in methods) + " |")
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """``python -m restora.bench.restore_auto RESULT_DIR_OR_JSON``: print and write the summary."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m restora.bench.restore_auto RESULT_DIR|result.json", file=sys.stderr)
        return 2
    p = Path(args[0])
    path = p / "result.json" if p.is_dir() else p
    data = json.loads(path.read_text())
    if data.get("task") != "restore-auto":
        print(f"{path}: task {data.get('task')!r} is not restore-auto", file=sys.stderr)
        return 2
    text = summary_markdown(summarize(data))
    (path.parent / "summary_restore_auto.md").write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
