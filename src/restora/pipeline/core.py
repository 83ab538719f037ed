"""The restore pipeline: analyse an image, plan the steps, run them.

>>> from restora.pipeline import RestorePipeline
>>> pipe = RestorePipeline()                       # doctest: +SKIP
>>> result = pipe.restore(image, scale=2)          # doctest: +SKIP
>>> print(result.plan.describe())                  # doctest: +SKIP
"""

from __future__ import annotations

import math
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from restora.classical.enhance_detect import DETECTORS
from restora.errors import InvalidParameterError, MissingResourceError
from restora.faces.restorer import FACE_ARCHS
from restora.pipeline.methods import (
    Choice,
    check_positive_size,
    classical_choice,
    model_card,
    neural_choice,
    total_factor,
    upscale_passes,
)
from restora.pipeline.plan import (
    BLIND_DECONV_SIGMA,
    BLUR_MIN_SIZE_PX,
    CAMERA_SOFTNESS_PX,
    DEFOCUS_DECONV_SIGMA,
    DEFOCUS_MAX_NOISE,
    DEFOCUS_MIN_EVIDENCE,
    DEFOCUS_MIN_RADIUS,
    DEFOCUS_OVERRIDE_EVIDENCE,
    TRUSTED_JPEG_SOURCES,
    BLUR_STRONG_THRESHOLD,
    JPEG_QUALITY_THRESHOLD,
    NOISE_SIGMA_THRESHOLD,
    NOISY_BLIND_DECONV_SIGMA,
    NOISY_DEBLUR_MIN_SIGMA,
    CLEAN_BLIND_DECONV_SIGMA,
    CLEAN_BLIND_MAX_NOISE,
    PIXEL_JPEG_MIN_PIXELS,
    PIXEL_JPEG_QUALITY_THRESHOLD,
    STEP_ORDER,
    STEP_TASKS,
    Plan,
    Step,
    jpeg_equivalent_sigma,
)
from restora.pipeline.tiled import apply_tiled
from restora.validation import as_image, check_choice

__all__ = ["ANALYSIS_MAX_SIDE", "Progress", "RestorePipeline", "RestoreResult"]

#: Images larger than this on either side are analysed on a centre crop of this side.
ANALYSIS_MAX_SIDE = 1024
#: Tile side for classical methods with ``tile="auto"``.
CLASSICAL_TILE = 1024
_INTERPOLATORS = ("bicubic", "bilinear", "nearest", "lanczos")

#: ``progress(stage, done, total)``: ``stage`` is a step name; ``done``/``total`` count tiles.
Progress = Callable[[str, int, int], None]


@dataclass
class RestoreResult:
    """The restored image (float32 ``H x W x C``, not clipped; alpha kept when the input had
    one), the plan that made it and seconds per stage (``analyse``, each step, ``total``;
    :func:`~restora.pipeline.restore_file` adds ``read`` and ``write``)."""

    image: np.ndarray
    plan: Plan
    timings: dict[str, float] = field(default_factory=dict)


@dataclass
class _Forced:
    method: str  # catalogue name or weights path
    step: str
    restorer: Any
    scale: int
    label: str


class RestorePipeline:
    """Analyse -> plan -> run, with built restorers cached (a model is loaded once).

    Parameters
    ----------
    device : ``"auto"`` (CUDA, else MPS, else CPU), ``"cpu"``, ``"cuda"``, ``"cuda:N"``.
    dtype : neural inference precision: ``"auto"`` (bf16/fp16 on CUDA, fp32 on CPU) or a name.
    tile : tile side for neural models (``"auto"``: from free memory) and classical methods
        (``"auto"``: 1024); ``None`` processes whole images (unbounded memory).
    prefer : ``"auto"`` (a fitting zoo model, else classical), ``"neural"`` (the same, but the
        plan says when it had to fall back) or ``"classical"`` (never a neural model).
    model : a zoo model name, a restora ``.safetensors`` path (card beside it), or another
        project's checkpoint (``.pth``/``.safetensors``, needs the ``thirdparty`` extra); it
        is used for the step its task names (denoise, jpeg, deblur, upscale), which then
        always runs.
    time_budget : seconds per image that classical choices should fit (the strongest
        classical method expected to finish within it is chosen); ``None``: always the strongest.
    check : judge each step the planner chose by itself after it ran
        (:mod:`restora.pipeline.check`) and keep its input when it made the image worse.
    aligned_face : a forced face model (``portrait-3stage``, ``face-fusion``: see
        :mod:`restora.faces.restorer`) takes the image as one aligned face crop instead of
        detecting and aligning the faces in it.
    """

    def __init__(
        self,
        *,
        device: str = "auto",
        dtype: str = "auto",
        tile: int | str | None = "auto",
        prefer: str = "auto",
        model: str | os.PathLike[str] | None = None,
        time_budget: float | None = 60.0,
        check: bool = True,
        aligned_face: bool = False,
    ) -> None:
        from restora.engine import pick_device

        self.prefer = check_choice("prefer", prefer, ("auto", "neural", "classical"))
        if isinstance(tile, str) and tile != "auto":
            raise InvalidParameterError(f"tile must be an int >= 16, 'auto' or None; got {tile!r}")
        if isinstance(tile, (int, np.integer)) and not isinstance(tile, bool) and tile < 16:
            raise InvalidParameterError(f"tile must be an int >= 16, 'auto' or None; got {tile!r}")
        if time_budget is not None and not time_budget > 0:
            raise InvalidParameterError(f"time_budget must be > 0 seconds or None; got {time_budget!r}")
        self.device = device
        self.device_type = pick_device(device).type
        self.dtype = dtype
        self.tile = tile
        self.time_budget = time_budget
        self.check = bool(check)
        self.aligned_face = bool(aligned_face)
        self._restorers: dict[str, Any] = {}
        self._lock = threading.RLock()  # guards the cache
        self._run_lock = threading.Lock()  # one neural forward at a time per pipeline
        self._forced: _Forced | None = self._load_forced(model) if model is not None else None

    # ----------------------------------------------------------------------- models
    def _neural_options(self) -> dict[str, Any]:
        return {"device": self.device, "dtype": self.dtype, "tile": self.tile}

    def _load_forced(self, model: str | os.PathLike[str]) -> _Forced:
        from restora import zoo

        s = str(model)
        p = Path(s)
        card = model_card(s) if not p.suffix else None
        if card is not None:  # a zoo name
            step = _step_of_task(card.task, s)
            restorer = self._face_restorer(zoo.load(s)) if card.arch in FACE_ARCHS else self._build(s)
            return _Forced(s, step, restorer, int(card.scale), f"zoo model {s}")
        if not p.is_file():
            names = ", ".join(c.name for c in zoo.list_models()) or "(none installed)"
            raise MissingResourceError(f"--model {s}: no such zoo model or weights file; zoo models: {names}")
        if p.suffix == ".safetensors" and p.with_suffix(".json").is_file():
            from restora.zoo.restorers import NeuralRestorer

            loaded = zoo.load_file(p)
            restorer = self._face_restorer(loaded) if loaded.card.arch in FACE_ARCHS else NeuralRestorer(loaded, **self._neural_options())
            step = _step_of_task(loaded.card.task, s)
            scale = int(loaded.card.scale) if loaded.card.input_upsampled else int(restorer.descriptor.scale)
            return _Forced(s, step, restorer, scale, f"restora weights {p.name}")
        from restora.thirdparty import load_third_party

        restorer = load_third_party(p, **self._neural_options())
        step = "upscale" if restorer.descriptor.scale > 1 else _step_of_task(restorer.descriptor.task, s)
        return _Forced(s, step, restorer, int(restorer.descriptor.scale), f"third-party {restorer.arch} weights {p.name}")

    def _face_restorer(self, loaded: Any) -> Any:
        from restora.engine import pick_device
        from restora.faces.restorer import face_restorer

        return face_restorer(loaded, device=str(pick_device(self.device)), aligned=self.aligned_face)

    def _build(self, method: str) -> Any:
        from restora.restorers import get_restorer, get_restorer_info

        info = get_restorer_info(method)
        if info.kind == "neural":
            return get_restorer(method, **self._neural_options())
        if method == "collaborative-wiener" and self.device_type == "cuda":
            return get_restorer(method, device="cuda")
        return get_restorer(method)

    def restorer(self, method: str) -> Any:
        """The built restorer for ``method`` (cached: built once per pipeline)."""
        if self._forced is not None and method == self._forced.method:
            return self._forced.restorer
        with self._lock:
            if method not in self._restorers:
                self._restorers[method] = self._build(method)
            return self._restorers[method]

    # ----------------------------------------------------------------------- analyse
    def analyse(self, image: np.ndarray, path: str | os.PathLike[str] | None = None) -> dict[str, Any]:
        """What hurts ``image``: :func:`restora.classical.estimate.analyse` plus ``blockiness``.

        Images larger than :data:`ANALYSIS_MAX_SIDE` are measured on a centre crop (``crop``
        says its width and height); the JPEG quality of a JPEG ``path`` comes from its tables.
        """
        from restora.classical import estimate

        img = _colour(as_image(image, channels=(1, 2, 3, 4)))
        h, w = img.shape[:2]
        crop = img
        if max(h, w) > ANALYSIS_MAX_SIDE:
            ch, cw = min(h, ANALYSIS_MAX_SIDE), min(w, ANALYSIS_MAX_SIDE)
            y0, x0 = (h - ch) // 2, (w - cw) // 2
            crop = img[y0 : y0 + ch, x0 : x0 + cw]
        a = dict(estimate.analyse(crop, path=path))
        a["height"], a["width"] = int(h), int(w)
        sub = _jpeg_subsampling(path) if path is not None and a.get("jpeg_source") == "tables" else None
        if sub is not None:
            a["jpeg_subsampling"] = sub
        a["blockiness"] = float(estimate.blockiness(crop)[0])
        from restora.classical.enhance_detect import detect_enhancements

        a["enhance"] = detect_enhancements(img)  # global statistics: on the whole (reduced) image
        if crop is not img:
            a["crop"] = [int(crop.shape[1]), int(crop.shape[0])]
        return a

    # ----------------------------------------------------------------------- plan
    def plan(
        self,
        image: np.ndarray,
        *,
        path: str | os.PathLike[str] | None = None,
        scale: float | None = None,
        target_size: tuple[int, int] | None = None,
        steps: list[str] | None = None,
        analysis: dict[str, Any] | None = None,
        enhance: bool = False,
    ) -> Plan:
        """Decide the steps for ``image`` (see ``docs/restore.md`` for the rules).

        ``scale`` (factor) or ``target_size`` (``(width, height)``) asks for upscaling;
        ``steps`` overrides the automatic choice, e.g. ``["denoise", "upscale"]`` or
        ``["denoise:nlm", "upscale:bicubic"]``; ``analysis`` reuses a :meth:`analyse` result.
        ``enhance``: let the haze / exposure detectors add ``dehaze`` / ``exposure`` steps
        (off by default: on real photos they fired on 12 of 100 PolyU camera images, dark
        indoor scenes read as under-exposed; the analysis still reports what they found).
        """
        img = as_image(image, channels=(1, 2, 3, 4))
        h, w = img.shape[:2]
        channels = 1 if img.shape[2] in (1, 2) else 3
        target = self._target(h, w, scale, target_size)
        requested = _parse_steps(steps)
        forced = self._forced
        for name, method in (requested or {}).items():  # fail before the (slow) analysis
            if method is not None and not (forced is not None and method == forced.method):
                _check_method(name, method)
        if analysis is not None:
            a = dict(analysis)
        elif requested is not None and set(requested) <= {"upscale"} and (forced is None or forced.step == "upscale"):
            # only upscaling asked: nothing to measure
            a = {"height": int(h), "width": int(w), "channels": channels, "skipped": "only upscaling requested"}
        else:
            a = self.analyse(img, path)

        sigma = float(a.get("noise_sigma") or 0.0)
        quality = a.get("jpeg_quality")
        blur = a.get("blur") if isinstance(a.get("blur"), dict) else {}
        blur_sigma = float(blur.get("sigma", float("nan")))
        blur_kind = blur.get("kind")
        blur_size = float(blur.get("size_px") or 0.0)
        noise_kind = (a.get("noise") or {}).get("kind") if isinstance(a.get("noise"), dict) else None
        defocus_radius = float(blur.get("defocus_radius") or 0.0)
        defocus_evidence = float(blur.get("defocus_evidence") or 0.0)
        spectral_defocus = (
            (blur_kind != "motion" or defocus_evidence >= DEFOCUS_OVERRIDE_EVIDENCE)
            and defocus_radius >= DEFOCUS_MIN_RADIUS
            and defocus_evidence >= DEFOCUS_MIN_EVIDENCE
            and bool(blur.get("defocus_uniform", True))
            and sigma <= DEFOCUS_MAX_NOISE
        )

        wanted: dict[str, str] = {}
        if requested is not None:
            for name in requested:
                wanted[name] = "requested with steps"
            if "jpeg" in wanted:
                sigma = max(sigma, _noise_under_jpeg(a, noise_kind))
        else:
            from_tables = a.get("jpeg_source") in TRUSTED_JPEG_SOURCES
            limit = JPEG_QUALITY_THRESHOLD if from_tables else PIXEL_JPEG_QUALITY_THRESHOLD
            trusted = from_tables or h * w >= PIXEL_JPEG_MIN_PIXELS
            if quality is not None and trusted and quality < limit:
                src = {"tables": "the file's quantisation tables", "dct": "its DCT coefficients sit on the quantisation lattice"}.get(
                    a.get("jpeg_source") or "", f"estimated from 8x8 blockiness {a.get('blockiness', 0):.2f}")
                wanted["jpeg"] = f"JPEG quality {quality:.0f} ({src}) < {limit}"
            under_jpeg = _noise_under_jpeg(a, noise_kind)
            read_under_jpeg = "jpeg" in wanted and under_jpeg > sigma
            if read_under_jpeg:  # the JPEG removed the noise's fine part: the coarse luma keeps it
                fine_sigma, sigma = sigma, under_jpeg
            residual = _residual_sigma(sigma, quality if "jpeg" in wanted else None)
            if residual > NOISE_SIGMA_THRESHOLD:
                if read_under_jpeg:
                    wanted["denoise"] = (
                        f"noise sigma {sigma:.1f} under the JPEG (half-resolution luma; the fine scale, which the "
                        f"JPEG smoothed, reads {fine_sigma:.1f}); {residual:.1f} remains beyond what the JPEG step "
                        f"removes (> {NOISE_SIGMA_THRESHOLD:g})"
                    )
                elif "jpeg" in wanted:
                    wanted["denoise"] = (
                        f"noise sigma {sigma:.1f} estimated; {residual:.1f} remains beyond what the JPEG step "
                        f"removes (> {NOISE_SIGMA_THRESHOLD:g})"
                    )
                else:
                    wanted["denoise"] = f"noise sigma {sigma:.1f} estimated > {NOISE_SIGMA_THRESHOLD:g}"
            if spectral_defocus:
                wanted["deblur"] = (
                    f"defocus blur: a disk of radius {defocus_radius:.1f} px fits the power spectrum "
                    f"{defocus_evidence:.0f}x better than no blur, on both halves of the frame"
                )
            elif blur_kind is not None:
                softness = blur_kind == "gaussian" and blur_size < CAMERA_SOFTNESS_PX  # not damage (plan.py)
                if blur_kind != "none" and not softness and blur_size >= BLUR_MIN_SIZE_PX and blur.get("uniform", True):
                    wanted["deblur"] = f"{blur_kind} blur of about {blur_size:.0f} px detected (>= {BLUR_MIN_SIZE_PX:g}) across the whole frame"
            elif math.isfinite(blur_sigma) and blur_sigma >= BLUR_STRONG_THRESHOLD:
                wanted["deblur"] = f"strong blur: Gaussian-equivalent sigma {blur_sigma:.1f} px >= {BLUR_STRONG_THRESHOLD:g}"
            found = a.get("enhance") if isinstance(a.get("enhance"), dict) else {}
            enhance_found = found if enhance else {}
            scores = found.get("scores") or {}
            if enhance_found.get("haze"):
                wanted["dehaze"] = f"haze detected (score {scores.get('haze', 0):.1f} > {DETECTORS['haze'].threshold:g})"
            for side, label in (("under", "under-exposure"), ("over", "over-exposure")):
                if enhance_found.get(side):
                    wanted["exposure"] = f"{label} detected (score {scores.get(side, 0):.1f} > {DETECTORS[side].threshold:g})"
            if target is not None and target != (h, w):
                wanted["upscale"] = "scale/target size asked"
        if forced is not None and forced.step not in wanted:
            wanted[forced.step] = f"{forced.label} forced with model="
        if "upscale" in wanted and target is None:
            if forced is not None and forced.step == "upscale" and forced.scale > 1:
                target = (h * forced.scale, w * forced.scale)
            else:
                raise InvalidParameterError("the upscale step needs scale= or target_size= (--scale N or --target-size WxH)")

        damaged = any(k in wanted for k in ("jpeg", "denoise", "deblur")) or sigma > NOISE_SIGMA_THRESHOLD
        plan_steps: list[Step] = []
        noise_left = sigma
        for name in STEP_ORDER:
            if name not in wanted:
                continue
            why = wanted[name]
            method_req = requested.get(name) if requested else None
            if name == "jpeg":
                q = float(quality) if quality is not None else 75.0
                params: dict[str, Any] = {"quality": round(q, 1)}
                if channels == 3:  # chroma is deblocked at the resolution the codec stored it
                    params["subsampling"] = str(a.get("jpeg_subsampling") or "4:2:0")
                if quality is None:
                    why += "; no JPEG quality measurable, assuming 75"
                # a colour JPEG is a camera's (or phone's) output, with its sensor noise under
                # the blocks: a remover trained on camera JPEGs first where the zoo has one,
                # unless the noise found is Gaussian- or Poisson-like, which no camera leaves
                # (CBSD68 restore-auto, session 35: Poisson + q58 -0.69 dB, Gaussian-read + q61 -0.97)
                camera_jpeg = channels == 3 and noise_kind not in ("gaussian", "poisson")
                choice = self._choose(name, method_req, channels=channels, pixels=h * w, quality=q, real_world=camera_jpeg)
                if choice.kind == "classical" or _task_of(choice.method) == "denoise":
                    params["sigma"] = round(jpeg_equivalent_sigma(q), 2)
                    if choice.kind == "classical":
                        choice = Choice(choice.method, choice.kind, f"no JPEG model in the zoo; {choice.why}, run as a deblocking denoiser with the sigma equivalent to quality {q:.0f}")
                noise_left = _residual_sigma(noise_left, q)
            elif name == "denoise":
                s = round(max(noise_left, 0.0), 2)
                params = {"sigma": s}
                camera = noise_kind == "camera"
                choice = self._choose(name, method_req, channels=channels, pixels=h * w, sigma=s, real_world=camera)
                if camera and choice.kind == "neural":
                    why += "; the noise is spatially correlated (camera-like)"
                noise_left = 0.0
            elif name == "deblur":
                params = {"sigma": round(max(noise_left, 0.5), 2)}
                choice = self._choose(name, method_req, channels=channels, pixels=h * w)
                if _needs_kernel(choice) and spectral_defocus:
                    if choice.kind != "neural":
                        # blur alone (noise under the denoise threshold: on a blurred photo the
                        # estimate reads texture as noise): the oracle's level; after a JPEG or
                        # denoise step their residue needs the blind floor
                        cleaned = "jpeg" in wanted or "denoise" in wanted
                        params["sigma"] = round(max(noise_left, BLIND_DECONV_SIGMA), 2) if cleaned else DEFOCUS_DECONV_SIGMA
                    params["defocus_radius"] = round(defocus_radius, 2)
                    then = "plug-and-play deconvolution" if choice.kind == "neural" else "non-blind deconvolution"
                    choice = Choice(choice.method, choice.kind, choice.why + f"; the fitted defocus disk, then {then}")
                elif _needs_kernel(choice):
                    if choice.kind != "neural":  # plug-and-play floors its own level (PNP_MIN_SIGMA)
                        # a blind kernel on a noisy photo (denoised, or camera noise kept): its
                        # residue and the kernel's error need firmer regularisation (plan.py)
                        noisy = "denoise" in wanted or (noise_kind == "camera" and sigma >= NOISY_DEBLUR_MIN_SIGMA)
                        clean = not noisy and "jpeg" not in wanted and sigma < CLEAN_BLIND_MAX_NOISE
                        floor = NOISY_BLIND_DECONV_SIGMA if noisy else CLEAN_BLIND_DECONV_SIGMA if clean else BLIND_DECONV_SIGMA
                        params["sigma"] = round(max(noise_left, floor), 2)
                        if not noisy and "jpeg" not in wanted and blur_kind == "motion":
                            params["_refine"] = True  # the run may refine a shake kernel (plan.REFINED_KERNEL_RESIDUAL)
                    if blur_kind not in (None, "none") and blur_size > 0:
                        from restora.classical.blur_detect import kernel_support

                        ks = kernel_support(blur_size)
                        params["_blur_px"] = round(float(blur_size), 1)  # the run's kernel must confirm it (check.KERNEL_CONFIRM)
                    else:
                        bs = blur_sigma if math.isfinite(blur_sigma) and blur_sigma > 0 else 2.0
                        ks = int(min(35, max(9, 2 * math.ceil(3.0 * bs) + 1)))
                    # the blind estimate searches at most half the image's shorter side
                    params["kernel_size"] = int(min(ks, (min(h, w) // 2 - 1) | 1))
                    then = "plug-and-play deconvolution" if choice.kind == "neural" else "non-blind deconvolution"
                    choice = Choice(choice.method, choice.kind, choice.why + f"; blur kernel estimated blindly (Cho & Lee) then {then}")
            elif name in ("dehaze", "exposure"):
                params = {}
                choice = self._choose(name, method_req, channels=channels, pixels=h * w)
            else:  # upscale
                assert target is not None
                f = total_factor(h, w, target)
                choice = self._choose(name, method_req, channels=channels, pixels=h * w, factor=f, real_world=damaged)
                scales = choice.scales
                if scales is None and choice.method not in _INTERPOLATORS:
                    scales = _method_scales(choice.method)
                if scales is None:  # interpolation: one integer pass (the registered method), else a plain resize
                    passes = [int(round(f))] if f >= 2 - 1e-9 and abs(f - round(f)) < 1e-9 else []
                else:
                    passes = upscale_passes(f, scales)
                got = int(np.prod(passes)) if passes else 1
                params = {"scale": round(f, 4) if abs(f - round(f)) > 1e-9 else int(round(f)), "passes": passes, "target_size": [target[1], target[0]]}
                if (h * got, w * got) != target:
                    params["final_resize"] = "area" if h * got > target[0] or w * got > target[1] else "cubic"
                    why += f"; {' x '.join(f'x{p}' for p in passes) or 'no model pass'} then resize to exactly {target[1]}x{target[0]}"
            checked = requested is None and not (forced is not None and forced.step == name)
            plan_steps.append(Step(name, choice.method, params, f"{why}; {choice.why}", checked=checked,
                                   fallback=choice.runner_up if checked else None))
        return Plan(plan_steps, a)

    def _target(self, h: int, w: int, scale: float | None, target_size: tuple[int, int] | None) -> tuple[int, int] | None:
        if scale is not None and target_size is not None:
            raise InvalidParameterError("give scale or target_size, not both")
        if scale is not None:
            try:
                s = float(scale)
            except (TypeError, ValueError):
                raise InvalidParameterError(f"scale must be a number > 0 (e.g. 2 or 4); got {scale!r}") from None
            if not (s > 0 and math.isfinite(s)) or s > 16:
                raise InvalidParameterError(f"scale must be in (0, 16]; got {scale!r}")
            return (max(1, int(round(h * s))), max(1, int(round(w * s))))
        if target_size is not None:
            tw, th = check_positive_size(target_size)
            return (th, tw)
        return None

    def _choose(self, step: str, method: str | None, *, channels: int, pixels: int, sigma: float | None = None, quality: float | None = None, factor: float | None = None, real_world: bool = False) -> Choice:
        forced = self._forced
        if method is not None:
            if forced is not None and method == forced.method:
                return Choice(method, "forced", f"{forced.label} forced with model=", _forced_scales(forced))
            _check_method(step, method)
            kind = _kind_of(method)
            return Choice(method, kind, f"method {method} requested", _method_scales(method))
        if forced is not None and forced.step == step:
            return Choice(forced.method, "forced", f"{forced.label} forced with model=", _forced_scales(forced))
        fallback_note = ""
        if self.prefer != "classical":
            n = neural_choice(step, channels=channels, sigma=sigma, quality=quality, factor=factor, real_world=real_world)
            if n is not None:
                return n
            if self.prefer == "neural":
                fallback_note = "no fitting zoo model (prefer=neural), falling back to classical: "
        work = pixels * (factor * factor if step == "upscale" and factor else 1.0)
        c = classical_choice(step, pixels=int(work), budget=self.time_budget, device=self.device_type)
        if step == "upscale" and c.method == "patch-sr":
            have = _method_scales("patch-sr")
            if have:
                c = Choice(c.method, c.kind, c.why, have)
            else:
                c = Choice("bicubic", "classical", "bicubic: MATLAB-compatible interpolation (patch-sr has no trained models installed)", None)
        if self.prefer == "auto" and not fallback_note:
            fallback_note = "no fitting zoo model; "
        return Choice(c.method, c.kind, fallback_note + c.why, c.scales)

    # ----------------------------------------------------------------------- run
    def run(self, image: np.ndarray, plan: Plan, *, progress: Progress | None = None) -> RestoreResult:
        """Apply ``plan``'s steps to ``image`` (alpha, if any, is resized alongside and kept).

        ``progress(stage, done, total)`` is called at the start of each step (``done=0``) and
        after each tile of a tiled classical step.
        """
        from restora.io import merge_alpha, split_alpha

        t_start = time.perf_counter()
        img = as_image(image, channels=(1, 2, 3, 4))
        x, alpha = split_alpha(img)
        timings: dict[str, float] = {}
        input_niqe: float | None = None  # the original input's, from the first judged step
        i = -1
        while i + 1 < len(plan.steps):  # a denoise step may add or drop the deblur after it
            i += 1
            step = plan.steps[i]
            if step.dropped:  # dropped before it ran (the blur re-read after denoising)
                continue
            t0 = time.perf_counter()
            if progress:
                progress(step.name, 0, 1)
            before = x
            checking = step.checked and self.check
            if checking:
                from restora.pipeline.check import judge_step

                deblur_next = any(s.name == "deblur" for s in plan.steps[i + 1 :])
                trusted = step.name == "jpeg" and plan.analysis.get("jpeg_source") in TRUSTED_JPEG_SOURCES

                read: list[Any] = [None, None]  # the last judged result and its blur reading

                def judge(result: np.ndarray) -> Any:
                    revealed = False
                    if step.name == "denoise" and not deblur_next and min(result.shape[:2]) >= 64:
                        # a motion blur the noise hid: NIQE would read the noise as detail (as
                        # with a planned deblur), so the removal budget judges alone
                        from restora.classical.blur_detect import detect_blur

                        read[:] = [result, detect_blur(_colour(result))]
                        revealed = self._reveals_blur(plan, i, read[1])
                    return judge_step(step.name, before, result, step.params, deblur_next=deblur_next or revealed,
                                      trusted=trusted, input_niqe=input_niqe)

            x = self._run_step(step, x, progress)
            if checking:
                verdict = judge(x)
                if trusted and input_niqe is None:  # NIQE was not judged here: later deblurring answers to the input's
                    input_niqe = verdict.scores.get("niqe_before")
                if not verdict.keep and step.fallback:  # the runner-up model, judged the same way
                    step.fell_back = f"{step.method} judged worse ({verdict.reason})"
                    step.method, step.fallback = step.fallback, None
                    x = self._run_step(step, before, progress)
                    verdict = judge(x)
                step.params["_check"] = verdict.scores
                if not verdict.keep:
                    step.dropped = verdict.reason
                    x = before
                elif step.name == "denoise":
                    self._reread_blur(plan, i, x, read[1] if read[0] is x else None)
            timings[step.name] = time.perf_counter() - t0
        x = np.ascontiguousarray(x, dtype=np.float32)
        if alpha is not None:
            if alpha.shape[:2] != x.shape[:2]:
                alpha = np.clip(_resize(alpha, x.shape[:2]), 0.0, 1.0)
            x = merge_alpha(x, alpha)
        timings["total"] = time.perf_counter() - t_start
        return RestoreResult(x, plan, timings)

    def _reveals_blur(self, plan: Plan, i: int, b: Any) -> bool:
        """Does blur reading ``b`` of the denoise step ``plan.steps[i]``'s output show a motion
        blur the noise hid (at least :data:`BLUR_MIN_SIZE_PX`), for which the run adds a
        ``deblur`` step? A blur the analysis saw and the planner declined stays declined
        (CBSD68 253027, defocus read as a 32 px motion path once denoised, lost 9 dB to a
        deblur added here)."""
        if b is None or b.kind != "motion" or b.size_px < BLUR_MIN_SIZE_PX:
            return False
        if any(s.name == "deblur" for s in plan.steps[i + 1 :]) or (self._forced is not None and self._forced.step != "deblur"):
            return False
        seen = plan.analysis.get("blur") or {}
        return not (seen.get("kind") not in (None, "none") and float(seen.get("size_px") or 0.0) >= BLUR_MIN_SIZE_PX)

    def _reread_blur(self, plan: Plan, i: int, x: np.ndarray, b: Any = None) -> None:
        """Read the blur again (``b``, when already read) on the image the automatic denoise
        step ``plan.steps[i]`` made.

        Noise hides motion blur from the analysis (its edges look sharp) and makes some
        noise look like a blur. On the denoised image: a blind-kernel ``deblur`` planned from
        the noisy input is dropped when no blur is left to see, and a motion blur found now
        (:meth:`_reveals_blur`) where the analysis saw none gets the ``deblur`` step it
        missed, with the noisy-photo floor (``docs/restore.md``, session 32: CBSD68
        ``restore-auto``).
        """
        from restora.classical.blur_detect import detect_blur, kernel_support

        if min(x.shape[:2]) < 64:
            return
        b = b if b is not None else detect_blur(_colour(x))
        plan.analysis["blur_after_denoise"] = {"kind": b.kind, "size_px": round(float(b.size_px), 1), "confidence": round(float(b.confidence), 2)}
        later = next((s for s in plan.steps[i + 1 :] if s.name == "deblur"), None)
        if later is not None:
            if later.checked and "kernel_size" in later.params and b.kind == "none":
                later.dropped = f"no blur left on the denoised image (read again: {b.size_px:.0f} px, none): the noise looked like a blur"
            return
        if not self._reveals_blur(plan, i, b):
            return
        h, w = x.shape[:2]
        channels = 1 if _colour(x).shape[2] == 1 else 3
        choice = self._choose("deblur", None, channels=channels, pixels=h * w)
        if not _needs_kernel(choice):
            return
        params: dict[str, Any] = {"sigma": NOISY_BLIND_DECONV_SIGMA} if choice.kind != "neural" else {"sigma": 0.5}
        params["_blur_px"] = round(float(b.size_px), 1)
        params["kernel_size"] = int(min(kernel_support(b.size_px), (min(h, w) // 2 - 1) | 1))
        why = f"motion blur of about {b.size_px:.0f} px found after denoising (the noise hid it from the analysis)"
        plan.steps.insert(i + 1, Step("deblur", choice.method, params, f"{why}; {choice.why}; blur kernel estimated blindly",
                                      checked=True, fallback=choice.runner_up))

    def restore(self, image: np.ndarray, **plan_options: Any) -> RestoreResult:
        """:meth:`plan` then :meth:`run`; ``progress=`` is passed to :meth:`run` and
        ``on_plan(plan)`` is called between the two (to show the plan before the work)."""
        progress = plan_options.pop("progress", None)
        on_plan = plan_options.pop("on_plan", None)
        t0 = time.perf_counter()
        plan = self.plan(image, **plan_options)
        t1 = time.perf_counter()
        if on_plan is not None:
            on_plan(plan)
        result = self.run(image, plan, progress=progress)
        timings = {"analyse": t1 - t0, **result.timings}
        timings["total"] = result.timings["total"] + (t1 - t0)
        result.timings = timings
        return result

    def _classical_tile(self, h: int, w: int) -> int:
        if self.tile is None:
            return max(h, w, 16)
        if self.tile == "auto":
            return CLASSICAL_TILE
        return int(self.tile)

    def _apply(self, restorer: Any, x: np.ndarray, condition: dict[str, Any], *, scale: int, overlap: int, stage: str, progress: Progress | None) -> np.ndarray:
        if getattr(restorer, "whole_image", False):  # face models: a tile could cut a face
            with self._run_lock:
                return restorer(x, **condition)
        if getattr(restorer, "engine", None) is not None:  # neural: the engine tiles on its own
            if progress is not None and getattr(restorer, "accepts_progress", False):
                condition = {**condition, "progress": lambda d, t: progress(stage, d, t)}
            with self._run_lock:
                return restorer(x, **condition)
        tile = self._classical_tile(*x.shape[:2])
        tile = max(tile, 4 * overlap)
        cb = (lambda d, t: progress(stage, d, t)) if progress else None
        return apply_tiled(lambda t: restorer(t, **condition), x, tile=tile, overlap=overlap, scale=scale, progress=cb)

    def _run_step(self, step: Step, x: np.ndarray, progress: Progress | None) -> np.ndarray:
        restorer = self.restorer(step.method)
        p = step.params
        if step.name in ("jpeg", "denoise"):
            cond = {k: p[k] for k in ("sigma", "quality") if k in p}
            if "subsampling" in p and getattr(restorer, "engine", None) is not None:
                cond["subsampling"] = p["subsampling"]
            return self._apply(restorer, x, cond, scale=1, overlap=48, stage=step.name, progress=progress)
        if step.name == "deblur":
            cond = {"sigma": p.get("sigma")}
            if "defocus_radius" in p and getattr(restorer, "engine", None) is None:
                from restora.degrade.kernels import defocus_kernel

                cond["kernel"] = defocus_kernel(float(p["defocus_radius"]))
                ks = int(cond["kernel"].shape[0])
                return self._apply(restorer, x, cond, scale=1, overlap=max(32, 3 * ks), stage=step.name, progress=progress)
            if "kernel_size" in p and getattr(restorer, "engine", None) is None:
                from restora.classical.blind import estimate_kernel

                ks = int(p["kernel_size"])
                h, w = x.shape[:2]
                side = 768
                y0, x0 = max(0, (h - side) // 2), max(0, (w - side) // 2)
                crop = x[y0 : y0 + side, x0 : x0 + side]
                if p.get("_refine"):
                    from restora.classical.blind import estimate_kernel_pair
                    from restora.pipeline.deblur import choose_clean_kernel

                    chosen = choose_clean_kernel(crop, *estimate_kernel_pair(crop, ks), float(cond["sigma"]))
                    cond["kernel"] = chosen.kernel
                    if "; run: " not in step.reason:
                        step.reason += f"; run: {chosen.why}"
                else:
                    cond["kernel"] = estimate_kernel(crop, ks)
                from restora.classical.blur_detect import kernel_extent

                p["_kernel_px"] = round(kernel_extent(cond["kernel"]), 1)
                return self._apply(restorer, x, cond, scale=1, overlap=3 * ks, stage=step.name, progress=progress)
            if getattr(restorer, "engine", None) is None and _is_blind(step.method):
                # a blind classical method estimates its kernel from what it sees: whole image
                return restorer(x, **cond)
            return self._apply(restorer, x, cond, scale=1, overlap=32, stage=step.name, progress=progress)
        if step.name in ("dehaze", "exposure"):
            # global estimates (airlight, exposure gamma): the whole image at once, never tiled
            if progress:
                progress(step.name, 0, 1)
            return restorer(x)
        # upscale
        for s in p.get("passes", []):
            x = self._apply(restorer, x, {"scale": int(s)}, scale=int(s), overlap=16, stage=step.name, progress=progress)
        tw, th = p["target_size"]
        if x.shape[:2] != (th, tw):
            x = _resize(x, (th, tw))
        return x


# --------------------------------------------------------------------------- helpers
def _jpeg_subsampling(path: str | os.PathLike[str]) -> str | None:
    """The chroma subsampling of a JPEG file (``"4:2:0"``, ``"4:2:2"``, ``"4:4:4"``) from its
    header, or None when it is not a colour JPEG or cannot be read."""
    try:
        from PIL import Image, JpegImagePlugin

        with Image.open(path) as im:
            if im.format != "JPEG" or im.mode not in ("RGB", "YCbCr"):
                return None
            return {0: "4:4:4", 1: "4:2:2", 2: "4:2:0"}.get(JpegImagePlugin.get_sampling(im))
    except Exception:  # noqa: BLE001 - an unreadable header only loses the hint
        return None


def _colour(img: np.ndarray) -> np.ndarray:
    return img[:, :, : img.shape[2] - 1] if img.shape[2] in (2, 4) else img


def _noise_under_jpeg(analysis: dict[str, Any], noise_kind: str | None) -> float:
    """The noise sigma the half-resolution luma shows under a JPEG (``noise.sigma_under_jpeg``
    of the analysis) where the fine scale found Gaussian or Poisson noise, else 0: camera
    noise is correlated across channels (the luma reading is off), and where the fine scale
    found none the coarse reading is too often texture (see ``plan.py``)."""
    noise = analysis.get("noise")
    if not isinstance(noise, dict) or noise_kind not in ("gaussian", "poisson"):
        return 0.0
    return float(noise.get("sigma_under_jpeg") or 0.0)


def _residual_sigma(sigma: float, quality: float | None) -> float:
    """Noise left after a JPEG step run at ``quality`` (``sigma`` itself without one)."""
    if quality is None:
        return float(sigma)
    sj = jpeg_equivalent_sigma(quality)
    return float(math.sqrt(max(sigma * sigma - sj * sj, 0.0)))


def _resize(x: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize ``H x W x C`` float32 to ``size = (height, width)`` (OpenCV: area when shrinking,
    bicubic when enlarging); float32, memory-light for large images."""
    import cv2

    th, tw = size
    h, w = x.shape[:2]
    interp = cv2.INTER_AREA if th <= h and tw <= w else cv2.INTER_CUBIC
    c = x.shape[2]
    planes = [x] if c <= 4 else [x[:, :, i : i + 1] for i in range(c)]
    out = [cv2.resize(np.ascontiguousarray(pl, dtype=np.float32), (tw, th), interpolation=interp).reshape(th, tw, -1) for pl in planes]
    return np.concatenate(out, axis=2) if len(out) > 1 else out[0]


def _parse_steps(steps: list[str] | str | None) -> dict[str, str | None] | None:
    if steps is None:
        return None
    if isinstance(steps, str):
        steps = [s for s in steps.split(",") if s.strip()]
    out: dict[str, str | None] = {}
    for item in steps:
        name, _, method = str(item).strip().partition(":")
        name = name.strip().lower()
        if name == "sr":
            name = "upscale"
        if name not in STEP_ORDER:
            raise InvalidParameterError(f"unknown step {name!r} in steps; valid: {', '.join(STEP_ORDER)} (optionally step:method)")
        if name in out:
            raise InvalidParameterError(f"step {name!r} given twice in steps")
        out[name] = method.strip() or None
    return out


def _task_of(method: str) -> str | None:
    from restora.restorers import get_restorer_info

    try:
        return get_restorer_info(method).task
    except InvalidParameterError:
        return None


def _kind_of(method: str) -> str:
    from restora.restorers import get_restorer_info

    return get_restorer_info(method).kind


def _check_method(step: str, method: str) -> None:
    from restora.restorers import get_restorer_info, list_restorers

    info = get_restorer_info(method)  # raises listing the valid names
    allowed = {STEP_TASKS[step]} | ({"denoise"} if step == "jpeg" else set())
    if info.task not in allowed:
        names = ", ".join(i.name for i in list_restorers() if i.task in allowed)
        raise InvalidParameterError(f"method {method!r} is a {info.task} method, not usable for step {step!r}; use one of: {names}")


def _method_scales(method: str) -> tuple[int, ...] | None:
    """Integer factors ``method`` offers per pass (None: any size in one go)."""
    if method in _INTERPOLATORS:
        return None
    if method == "patch-sr":
        try:
            from restora.classical.patch_sr import default_model_path
        except ImportError:
            return ()
        return tuple(s for s in (2, 3, 4) if default_model_path(s).is_file())
    card = model_card(method)
    if card is not None:
        return (int(card.scale),)
    return None


def _forced_scales(forced: _Forced) -> tuple[int, ...] | None:
    return (forced.scale,) if forced.step == "upscale" else None


def _is_blind(method: str) -> bool:
    from restora.restorers import get_restorer_info

    try:
        info = get_restorer_info(method)
    except InvalidParameterError:
        return False
    return info.blind and info.kind != "neural"


def _needs_kernel(choice: Choice) -> bool:
    """A deblur choice that takes the kernel the pipeline estimates: a non-blind classical
    method, or the plug-and-play method (neural prior, non-blind data term)."""
    from restora.pipeline.methods import PNP_DEBLUR

    if choice.kind == "forced":
        return False
    if choice.kind == "neural":
        return choice.method == PNP_DEBLUR
    return not _is_blind(choice.method)


def _step_of_task(task: str, name: str) -> str:
    mapping = {"denoise": "denoise", "jpeg": "jpeg", "deblur": "deblur", "sr": "upscale", "upscale": "upscale", "restore": "denoise",
               "face-deblur": "deblur"}
    if task not in mapping:
        raise InvalidParameterError(f"model {name}: task {task!r} is not one the restore pipeline runs ({', '.join(STEP_TASKS)})")
    return mapping[task]
