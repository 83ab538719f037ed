"""What the restore pipeline will do: :class:`Step`, :class:`Plan` and the planner's rules.

The planner turns an analysis of the image (see :func:`restora.classical.estimate.analyse`)
and the user's wishes (scale, target size, explicit steps, a forced model) into an ordered
list of steps. The rules (documented in ``docs/restore.md``):

* ``jpeg``: when the file's quantisation tables say quality < :data:`JPEG_QUALITY_THRESHOLD`,
  or (no tables, e.g. a PNG saved from a JPEG) the 8x8 blockiness of the pixels says a
  quality < :data:`PIXEL_JPEG_QUALITY_THRESHOLD` (images of at least
  :data:`PIXEL_JPEG_MIN_PIXELS` pixels only).
  On a colour image the step runs a remover trained on camera JPEGs (sensor noise under the
  blocks, card ``degradation: camera``) when the zoo has one covering the quality: a colour
  JPEG is a camera's or a phone's output, whose noise the libjpeg-trained remover leaves
  (not where the noise found is Gaussian- or Poisson-like: no camera leaves that).
* ``denoise``: when the estimated noise sigma exceeds :data:`NOISE_SIGMA_THRESHOLD` (8-bit
  levels); after a JPEG step only the noise the JPEG step does not account for counts.
  Under a JPEG the fine-scale estimate misses most of the noise (quantisation removed its
  fine part): when a ``jpeg`` step is planned and the fine scale found Gaussian or Poisson
  noise (camera noise is correlated across channels; "none" is too often texture), sigma is the
  larger of it and the noise the luma shows at half resolution
  (:func:`restora.classical.noise_level.estimate_noise_under_jpeg`).
* ``denoise`` of camera-like noise (spatially correlated: demosaiced sensor noise) uses a
  real-camera model when the zoo has one; Gaussian and Poisson noise the Gaussian models,
  with the noise's overall standard deviation as sigma.
* ``deblur``: when asked (``steps``), or when blur detection
  (:func:`restora.classical.blur_detect.detect_blur`) finds motion, defocus or Gaussian
  blur of at least :data:`BLUR_MIN_SIZE_PX` pixels on both halves of the frame (camera shake
  or a missed focus; blur in one half only is depth of field and is left alone; both halves
  must read similar sizes, or motion along one direction: a shake's length read on half a
  frame is noisy); the kernel is then estimated blindly with a support fitted to the
  measured size.
* ``dehaze`` / ``exposure``: with ``enhance=True`` (``--enhance``), when a detector of
  :mod:`restora.classical.enhance_detect` fires (haze; under- or over-exposure). They are
  tuned for no false alarm on the clean training photos and catch clear synthetic cases
  only (about half the strong ones), but fire on some real photos (12 of 100 PolyU camera
  images, mostly dark indoor scenes), so they are opt-in; ``steps`` forces them.
* ``upscale``: when ``scale`` or ``target_size`` is given; a real-world model is preferred
  when the image carries noise, JPEG or blur, a clean-input one when it is clean.
* Never worse: every step the planner chose itself is judged after it ran
  (:mod:`restora.pipeline.check`) and dropped, keeping its input, when it made the image
  less natural.

Steps always run in the order :data:`STEP_ORDER`.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

__all__ = [
    "BLIND_DECONV_SIGMA",
    "NOISY_BLIND_DECONV_SIGMA",
    "NOISY_DEBLUR_MIN_SIGMA",
    "CLEAN_BLIND_DECONV_SIGMA",
    "CLEAN_BLIND_MAX_NOISE",
    "REFINED_KERNEL_RESIDUAL",
    "BLUR_MIN_SIZE_PX",
    "BLUR_STRONG_THRESHOLD",
    "JPEG_QUALITY_THRESHOLD",
    "NOISE_SIGMA_THRESHOLD",
    "PIXEL_JPEG_MIN_PIXELS",
    "PIXEL_JPEG_QUALITY_THRESHOLD",
    "STEP_ORDER",
    "STEP_TASKS",
    "Plan",
    "Step",
    "JPEG_SIGMA_TABLE",
    "jpeg_equivalent_sigma",
]

#: The order steps run in.
STEP_ORDER = ("jpeg", "denoise", "deblur", "dehaze", "exposure", "upscale")
#: Step name -> restorer task in :mod:`restora.restorers`.
STEP_TASKS = {"jpeg": "jpeg", "denoise": "denoise", "deblur": "deblur", "dehaze": "dehaze", "exposure": "exposure", "upscale": "sr"}

#: A JPEG whose quantisation tables say a quality below this gets the ``jpeg`` step.
JPEG_QUALITY_THRESHOLD = 90
#: JPEG evidence as good as proof: the file's tables, or decoded pixels whose block DCT
#: coefficients sit on an IJG table's lattice (:func:`restora.classical.estimate.jpeg_quality_from_pixels`).
#: A ``jpeg`` step planned from either uses JPEG_QUALITY_THRESHOLD and is judged by its
#: removal budget, not by NIQE (which prefers the blocks' crisp edges to a deblocked image).
TRUSTED_JPEG_SOURCES = ("tables", "dct")
#: Without tables (e.g. a PNG saved from a JPEG) the quality estimated from 8x8 blockiness
#: must be below this: pixel estimates scatter by about +-10 and natural images with strong
#: straight edges show some blockiness, so clearer evidence is required.
PIXEL_JPEG_QUALITY_THRESHOLD = 75
#: ... and the image must have at least this many pixels (blockiness of small crops scatters).
PIXEL_JPEG_MIN_PIXELS = 256 * 256
#: Estimated noise sigma (8-bit levels) above which the ``denoise`` step runs.
NOISE_SIGMA_THRESHOLD = 3.0
#: Detected blur (motion length, defocus diameter, 4 sigma) at or above which ``deblur`` runs.
BLUR_MIN_SIZE_PX = 5.0
#: A Gaussian-looking blur (no motion path, no defocus disk the spectrum confirms) smaller than
#: this (4 sigma; sigma < 1.6 px) is a camera's native softness (lens, anti-aliasing,
#: demosaicing, noise reduction), not damage: blind deconvolution only sharpens it into halos.
#: PolyU camera JPEGs read as 5.0-5.1 px lost 3.8-4.9 dB (3 of 3) when deblurred against their
#: references; synthetic Gaussian blurs of sigma 1-1.5 get a confirmed disk, and of sigma 2-3
#: (7.6-11.7 px) gain +2.4 dB from the blind estimate (sample image).
CAMERA_SOFTNESS_PX = 6.5
#: Least regularisation (noise sigma, 8-bit levels) of the deconvolution that follows a blind
#: kernel estimate: an estimated kernel is never exact, and a weakly regularised MAP
#: deconvolution turns its errors into ringing. On 6 CBSD432 images (training set) blurred by
#: random ``kernels/motion32`` kernels (+1 level of noise), blind kernel + hyper-Laplacian MAP,
#: scored up to a translation: sigma 0.5 / 1 / 1.5 / 2 / 3 gave a mean of 22.15 / 26.43 /
#: 27.68 / 28.06 / 27.99 dB (input 25.14) and a worst change of -9.42 / -3.58 / -1.51 / -0.54
#: / +0.20 dB: 3 never made an image worse.
BLIND_DECONV_SIGMA = 3.0
#: ... and when the photo was noisy: a ``denoise`` step planned, or camera-like noise (which
#: the JPEG step leaves and the denoise threshold may let through). Session 30, CBSD432 photos
#: with bank motion kernels, camera noise ISO 400-1600 and/or Gaussian/Poisson noise, with and
#: without JPEG, the planned steps run, then the blind kernel at sigma 3 / 4 / 5 / 6.5 / 8: on
#: the 6 noisy photos this rule covers the best level was 5-8, and 6.5 gains +0.04 to +2.13 dB
#: over 3 (within 0.33 dB of the best on each); photos without noise (with or without JPEG)
#: stayed best at 3 on 11 of 13 (`benchmarks/results/deblur-sigma-s30`).
NOISY_BLIND_DECONV_SIGMA = 6.5
#: Camera-like noise counts for NOISY_BLIND_DECONV_SIGMA from this level (8-bit): a motion-blurred
#: clean photo's texture read as camera noise of 1.5 (and lost 2.1 dB at 6.5); camera noise
#: under JPEG read 3.2-3.9 on the study's photos.
NOISY_DEBLUR_MIN_SIGMA = 2.5
#: ... and when the photo reads as noise-free (estimate under CLEAN_BLIND_MAX_NOISE, no JPEG or
#: denoise step): nothing but the kernel's error to regularise against, so a lower floor.
#: Session 31, CBSD432 photos with bank motion kernels and no noise, blind kernel then sigma
#: 3 / 2: mean 29.46 / 30.24 dB (5 photos, seed 3) and 28.51 / 28.74 (6 photos, seed 5; one
#: photo whose support was read as 49 px for a 23 px kernel lost 1.45 dB, already below its
#: input at 3); with 2 levels of Gaussian noise 2 lost 0.31 dB on average, hence the threshold.
#: Session 33: on Levin's 32 real camera-shake photos (27 read noise-free and changed) floor 2 gave
#: 27.65 dB against 28.15 at 3, lower on 20 of 32 (`benchmarks/results/deblur-levin-s33-floor2`,
#: `-floor3`): the synthetic gain (exact convolutions; +2.2 dB summed over 7 CBSD68 photos)
#: does not carry to photographed blur, so the floor is back at BLIND_DECONV_SIGMA.
CLEAN_BLIND_DECONV_SIGMA = 3.0
CLEAN_BLIND_MAX_NOISE = 0.5
#: On a photo without noise or JPEG whose blur reads as motion the run also refines the
#: blind kernel at full resolution (:func:`restora.classical.blind.estimate_kernel_pair`) and
#: keeps the refined one only where it explains the blur clearly better: its re-blur residual (the deconvolution at the plan's
#: floor, convolved back, against the photo; :func:`~restora.classical.blind.reblur_residual`)
#: under REFINED_KERNEL_RESIDUAL times the coarse-to-fine kernel's. Session 36: on 15 CBSD432
#: training photos with motion32 kernels the rule picks 11, +0.81 dB each on average at floor 3
#: (`benchmarks/results/blind-refine-s36`); on Levin's 32 real camera-shake photos it picks 6
#: and gains 0.07 dB on average. Deconvolving the picks at sigma 1.5 instead (their residual
#: halves there, on both kinds of blur) added +1.0 dB each on the training photos but cost
#: Levin 0.08 dB (28.49 against 28.57; `benchmarks/results/deblur-levin-s36-refine-floor15`):
#: photographed shake is not an exact convolution, so the floor stays. Only for motion: on a
#: Gaussian blur (tests/test_pipeline.py's sigma-2 case) the thinner kernel passed the test
#: and lost 1.7 of the 2.4 dB the default kernel gains (x0.72 residual).
REFINED_KERNEL_RESIDUAL = 0.91
#: The spectral defocus fit (:func:`restora.classical.defocus.estimate_defocus`) deblurs with
#: a disk of its radius when the radius is at least DEFOCUS_MIN_RADIUS px, the disk explains
#: the spectrum DEFOCUS_MIN_EVIDENCE times better than no blur, both halves of the frame agree,
#: the blind kernel is not a motion path and the noise is at most DEFOCUS_MAX_NOISE levels.
#: Measured on Kodak24/CBSD68/Set14: defocused photos (radius 1.5-6, noise 2 levels) give
#: evidence 27-800 and radii within 0.1 px; sharp ones at most 7, at radius 0.8-1.0; motion
#: blur 3-24 at about 1 px; Barbara's fine stripes hide a 1.5 px disk (evidence 1).
DEFOCUS_MIN_RADIUS = 1.3
DEFOCUS_MIN_EVIDENCE = 8.0
DEFOCUS_MAX_NOISE = 12.0
#: ... and when the blind kernel *is* a motion path, a disk must fit this much better than no
#: blur (motion32 kernels on 16 CBSD68 photos: at most 13.5, always at radius <= 1.1; a
#: defocused synthetic texture whose blind kernel read as motion: 448).
DEFOCUS_OVERRIDE_EVIDENCE = 30.0
#: Regularisation (noise sigma, 8-bit levels) of the deconvolution with the fitted disk: the
#: fit is close to exact, so blur alone gets the oracle's 1.0 (kodim13, radius 1.8: 29.09 dB
#: at 1.0, 26.36 at the 2.06 levels of "noise" the estimator reads on the blurred texture);
#: after a JPEG or denoise step the residual artifacts need BLIND_DECONV_SIGMA.
DEFOCUS_DECONV_SIGMA = 1.0
#: Gaussian-equivalent blur sigma in pixels (:func:`restora.classical.estimate.estimate_blur`)
#: at or above which ``deblur`` runs without being asked. Sharp benchmark photos measure at
#: most 0.87 (Set5, Set14, CBSD68, LIVE1: 30 images each); a Gaussian blur of sigma 2
#: measures about 1.8.
BLUR_STRONG_THRESHOLD = 1.5


#: (quality, sigma) behind :func:`jpeg_equivalent_sigma`: the median RMS error of libjpeg
#: (4:2:0) on 16 LIVE1/CBSD68 crops (15.8, 12.2, 10.4, 8.3, 6.6, 4.1 levels at q = 10, 20,
#: 30, 50, 70, 90) times the multiple a non-local-means sweep found best (about 0.9 at
#: q <= 20, where sigma = 1.0 x RMS beat 0.5 x RMS, falling to about 0.55 at q >= 50, where
#: 0.5 x RMS won); ``python benchmarks/bench_batch.py --jpeg-sigma`` repeats the measurement.
JPEG_SIGMA_TABLE = ((1, 20.0), (10, 14.2), (20, 11.0), (30, 7.8), (50, 5.4), (70, 4.0), (90, 2.2), (100, 0.5))


def jpeg_equivalent_sigma(quality: float) -> float:
    """The Gaussian-noise sigma (8-bit levels) a denoiser should be given to remove the
    artifacts of JPEG quality ``quality`` when no JPEG model is available (interpolated in
    :data:`JPEG_SIGMA_TABLE`)."""
    q = min(max(float(quality), 1.0), 100.0)
    qs, sig = zip(*JPEG_SIGMA_TABLE)
    return float(np.interp(q, qs, sig))


@dataclass
class Step:
    """One restoration step.

    ``name`` is one of :data:`STEP_ORDER`; ``method`` the
    restorer's name in :mod:`restora.restorers` (or the path of a forced weights file);
    ``params`` the condition passed to it (e.g. ``{"sigma": 18.5}``, ``{"scale": 4}``);
    ``reason`` a human explanation of why the step runs and why this method.
    """

    name: str
    method: str
    params: dict[str, Any] = field(default_factory=dict)
    reason: str = ""
    #: the planner chose this step itself, so the never-worse check judges its result
    checked: bool = False
    #: set by the run when the check judged the result worse and the step's input was kept
    dropped: str | None = None
    #: a second method the run tries when the check drops ``method``'s result (the planner's
    #: runner-up model; see :attr:`restora.pipeline.methods.Choice.runner_up`)
    fallback: str | None = None
    #: set by the run when it replaced ``method`` by the fallback: what was judged worse and why
    fell_back: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict."""
        return _jsonable(asdict(self))


@dataclass
class Plan:
    """The ordered steps and the analysis they were planned from."""

    steps: list[Step]
    analysis: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        """Multi-line human text: what was measured, then each step with its reason."""
        lines = [f"analysis: {describe_analysis(self.analysis)}"]
        if not self.steps:
            lines.append("plan: nothing to do (no degradation above the thresholds; use --steps to force one)")
        for i, s in enumerate(self.steps, 1):
            params = ", ".join(f"{k}={_fmt(v, k)}" for k, v in s.params.items() if not k.startswith("_"))
            lines.append(f"{i}. {s.name}: {s.method}" + (f" ({params})" if params else ""))
            if s.reason:
                lines.append(f"   why: {s.reason}")
            if s.dropped:
                lines.append(f"   DROPPED after running: {s.dropped}; its input was kept")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict (``steps`` and ``analysis``)."""
        return {"steps": [s.to_dict() for s in self.steps], "analysis": _jsonable(self.analysis)}

    def to_json(self) -> str:
        """:meth:`to_dict` as JSON text."""
        return json.dumps(self.to_dict(), indent=2)

    def step(self, name: str) -> Step | None:
        """The step called ``name``, or None."""
        return next((s for s in self.steps if s.name == name), None)


def describe_analysis(a: dict[str, Any]) -> str:
    """One line summarising an analysis dict."""
    parts = []
    if a.get("width") and a.get("height"):
        parts.append(f"{a['width']}x{a['height']}")
    if a.get("noise_sigma") is not None:
        parts.append(f"noise sigma {a['noise_sigma']:.1f}")
    q = a.get("jpeg_quality")
    if q is not None:
        src = {"tables": " (file's tables)", "dct": " (DCT lattice)", "pixels": " (from blockiness)"}.get(a.get("jpeg_source") or "", "")
        parts.append(f"JPEG quality {q:.0f}{src}")
    else:
        parts.append("no JPEG blocking")
    if a.get("blockiness") is not None:
        parts.append(f"blockiness {a['blockiness']:.2f}")
    noise = a.get("noise")
    if isinstance(noise, dict) and noise.get("kind") not in (None, "none", "gaussian"):
        parts.append(f"{noise['kind']} noise" + (" (spatially correlated)" if noise.get("correlated") else ""))
    blur = a.get("blur")
    if isinstance(blur, dict) and blur.get("kind") not in (None, "none"):
        local = "" if blur.get("uniform", True) else " in part of the frame only (depth of field? not deblurred)"
        parts.append(f"{blur['kind']} blur ~{blur.get('size_px', 0):.0f} px{local}")
    elif isinstance(blur, dict) and blur.get("sigma") is not None and math.isfinite(blur["sigma"]):
        parts.append(f"blur sigma {blur['sigma']:.2f} px")
    enhance = a.get("enhance")
    if isinstance(enhance, dict):
        found = [label for key, label in (("haze", "haze"), ("under", "under-exposed"), ("over", "over-exposed")) if enhance.get(key)]
        if found:
            parts.append(" and ".join(found) + "?")
    if a.get("crop"):
        parts.append(f"(measured on a {a['crop'][0]}x{a['crop'][1]} centre crop)")
    return ", ".join(parts) or "(none)"


def _fmt(v: Any, key: str = "") -> str:
    if isinstance(v, float):
        return f"{v:.3g}" if abs(v) < 1000 else f"{v:.0f}"
    if isinstance(v, (list, tuple)):
        if key in ("target_size", "size") and len(v) == 2:
            return f"{v[0]}x{v[1]}"
        return "[" + ", ".join(_fmt(x) for x in v) + "]"
    return str(v)


def _jsonable(obj: Any) -> Any:
    """Convert numpy scalars/arrays and tuples so ``json.dumps`` accepts ``obj``."""
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return obj.tolist() if obj.size <= 64 else f"array{list(obj.shape)}"
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if obj is None or isinstance(obj, (str, int, float, bool)):
        return obj
    return str(obj)
