"""One call to deblur an image: known kernel or blind, classical or with the learned prior.

>>> result = deblur_image(img)                      # doctest: +SKIP  (blind, the default)
>>> result = deblur_image(img, kernel=k, method="wiener")   # doctest: +SKIP

Methods (``method=``):

* ``auto``: ``pnp`` with a kernel (``map`` when the zoo lacks the denoiser prior
  ``drunet-gray``), ``blind`` without one: on Levin et al.'s real camera shake, MAP after the
  blind estimate gained +4.9 dB where plug-and-play gained +3.7 (it amplifies the
  estimate's errors), while with the true kernel plug-and-play has the best SSIM;
* known kernel: ``pnp`` (plug-and-play HQS with the denoiser prior, :mod:`restora.zoo.pnp`),
  ``wiener``, ``rl`` (Richardson-Lucy), ``map`` (hyper-Laplacian MAP), ``map-tv``;
* blind (the kernel is estimated, support ``kernel_size`` or fitted to the detected blur):
  ``blind`` (Cho & Lee style estimate, then ``map`` at a noise level of at least
  ``BLIND_DECONV_SIGMA``, as ``restore``'s deblur step; when a defocus disk explains the
  power spectrum of both halves of the photo, :func:`restora.classical.defocus.estimate_defocus`,
  that disk instead, reported as ``blind-defocus``), ``blind-pnp`` (the same estimate,
  then ``pnp``), ``blind-vb`` (variational-Bayes estimate, then ``map``);
* learned: ``learned`` runs a trained deblurring network (``model=``: an installed zoo name
  or a ``.safetensors`` file with its card, task ``deblur``). No kernel is estimated. At the
  CPU budgets measured so far the networks gain under 1 dB on Levin's set where ``blind``
  gains 5.5 (docs/deblur.md), so it is an option, not the default.

``restora deblur`` is a thin wrapper over :func:`deblur_image`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from restora.errors import ConfigError, InvalidParameterError

__all__ = ["DEBLUR_METHODS", "KNOWN_KERNEL_METHODS", "BLIND_METHODS", "DeblurResult", "KernelChoice", "choose_clean_kernel", "deblur_image",
           "resolve_method"]

KNOWN_KERNEL_METHODS = ("pnp", "wiener", "rl", "map", "map-tv")
BLIND_METHODS = ("blind", "blind-pnp", "blind-vb")
LEARNED_METHOD = "learned"
DEBLUR_METHODS = ("auto", *KNOWN_KERNEL_METHODS, *BLIND_METHODS, LEARNED_METHOD)


@dataclass
class DeblurResult:
    """The restored image, the kernel used (given or estimated), the method that ran and
    the noise level (8-bit levels) with where it came from."""

    image: np.ndarray
    kernel: np.ndarray | None  # None for ``learned`` (a network estimates no kernel)
    method: str
    sigma: float
    sigma_source: str  # "given" | "estimated" | "estimated, at least N for a blind kernel"
    # method "blind-defocus": the blind default found a defocus disk (kernel = that disk)


@dataclass
class KernelChoice:
    """The blind kernel a noise-free photo is deconvolved with, and why (the residual ratio
    that decided)."""

    kernel: np.ndarray
    refined: bool
    why: str


def choose_clean_kernel(image: np.ndarray, kernel: np.ndarray, refined: np.ndarray, sigma: float) -> KernelChoice:
    """Between the blind ``kernel`` of a noise-free ``image`` and its full-resolution
    refinement (:func:`restora.classical.blind.estimate_kernel_pair`), keep the refined one
    where it explains the blur clearly better at the plan's floor ``sigma`` (rule and figures:
    :data:`~restora.pipeline.plan.REFINED_KERNEL_RESIDUAL`). Costs two MAP deconvolutions
    of ``image``.
    """
    from restora.classical.blind import reblur_residual
    from restora.classical.deconvolve import map_deconvolution
    from restora.pipeline.plan import REFINED_KERNEL_RESIDUAL

    def residual(k: np.ndarray) -> float:
        return reblur_residual(image, map_deconvolution(image, k, prior="hyper-laplacian", sigma=sigma), k)

    base, thin = residual(kernel), residual(refined)
    ratio = thin / base if base > 0 else 1.0
    if ratio < REFINED_KERNEL_RESIDUAL:
        return KernelChoice(refined, True, f"refined kernel kept (re-blur residual x{ratio:.2f})")
    return KernelChoice(kernel, False, f"refined kernel not kept (re-blur residual x{ratio:.2f}, needs < {REFINED_KERNEL_RESIDUAL:g})")


def _has_prior() -> bool:
    from restora.pipeline.methods import PNP_PRIOR
    from restora.zoo import list_models

    return any(c.name == PNP_PRIOR for c in list_models())


def resolve_method(method: str, has_kernel: bool) -> str:
    """The method ``auto`` stands for (others are checked and returned as they are)."""
    if method not in DEBLUR_METHODS:
        raise InvalidParameterError(f"method must be one of {', '.join(DEBLUR_METHODS)}; got {method!r}")
    if method != "auto":
        if method in KNOWN_KERNEL_METHODS and not has_kernel:
            raise ConfigError(f"method {method} needs the blur kernel (or use a blind method: {', '.join(BLIND_METHODS)})")
        return method
    if has_kernel:
        return "pnp" if _has_prior() else "map"
    return "blind"


def _fitted_defocus(img: np.ndarray) -> float | None:
    """The radius of the defocus disk that fits ``img``'s power spectrum (both halves agreeing,
    :data:`~restora.pipeline.plan.DEFOCUS_OVERRIDE_EVIDENCE` times better than no blur), or
    None: then the blind estimate runs. The strict evidence keeps camera shake (Levin's set,
    motion kernels: at most 13.5) on the free-form estimate."""
    if min(img.shape[:2]) < 64:
        return None
    from restora.classical.estimate import defocus_of_halves
    from restora.pipeline.plan import DEFOCUS_MIN_RADIUS, DEFOCUS_OVERRIDE_EVIDENCE

    fit = defocus_of_halves(img)
    ok = fit["defocus_radius"] >= DEFOCUS_MIN_RADIUS and fit["defocus_evidence"] >= DEFOCUS_OVERRIDE_EVIDENCE and fit["defocus_uniform"]
    return float(fit["defocus_radius"]) if ok else None


def _learned(img: np.ndarray, model: str | None) -> DeblurResult:
    """Run the deblurring network ``model`` (zoo name or weights file) on ``img``."""
    from restora.zoo import load
    from restora.zoo.restorers import NeuralRestorer

    if not model:
        raise ConfigError(f"method {LEARNED_METHOD} needs a model: an installed deblur model's name or a .safetensors file")
    loaded = load(model)
    if loaded.card.task != "deblur":
        raise InvalidParameterError(f"model {model!r} is a {loaded.card.task} model; method {LEARNED_METHOD} needs a deblur model")
    out = NeuralRestorer(loaded)(img)
    return DeblurResult(np.clip(np.asarray(out, np.float32), 0.0, 1.0), None, LEARNED_METHOD, 0.0, f"not used by {loaded.card.name}")


def deblur_image(
    image: np.ndarray,
    *,
    method: str = "auto",
    kernel: np.ndarray | None = None,
    sigma: float | None = None,
    kernel_size: int | None = None,
    iterations: int | None = None,
    model: str | None = None,
) -> DeblurResult:
    """Deblur ``image`` (``H x W x C`` float in [0, 1]) with ``method`` (see the module).

    ``kernel``: the blur PSF for the known-kernel methods (ignored by blind ones);
    ``sigma``: noise level in 8-bit levels (estimated when None); ``kernel_size``: the
    support a blind method searches (odd; default from :func:`~restora.classical.blur_detect.detect_blur`);
    ``iterations``: Richardson-Lucy iterations (default 30); ``model``: the network of
    ``learned`` (zoo name or ``.safetensors`` path).
    """
    from restora.classical.deconvolve import as_kernel, map_deconvolution, richardson_lucy, wiener
    from restora.validation import as_image

    img = as_image(image)
    name = resolve_method(method, kernel is not None)
    if name == LEARNED_METHOD:
        return _learned(img, model)
    if model is not None:
        raise InvalidParameterError(f"model= is for method {LEARNED_METHOD}; method {name} does not take a network")
    k = as_kernel(kernel) if kernel is not None and name in KNOWN_KERNEL_METHODS else None
    if sigma is None:
        from restora.classical.estimate import estimate_noise_sigma

        s, source = float(estimate_noise_sigma(img)), "estimated"
    else:
        s, source = float(sigma), "given"
    if not math.isfinite(s) or s < 0:
        raise InvalidParameterError(f"sigma must be a finite level >= 0; got {sigma}")
    disk = _fitted_defocus(img) if name == "blind" and kernel_size is None else None
    if disk is not None:  # a defocused photo: the disk that fits its spectrum, not a free-form estimate
        from restora.degrade.kernels import defocus_kernel
        from restora.pipeline.plan import BLIND_DECONV_SIGMA, DEFOCUS_DECONV_SIGMA, NOISE_SIGMA_THRESHOLD

        k = defocus_kernel(disk)
        name = "blind-defocus"
        if source == "estimated":
            s, source = ((DEFOCUS_DECONV_SIGMA, f"{DEFOCUS_DECONV_SIGMA:g}: blur alone") if s <= NOISE_SIGMA_THRESHOLD
                         else (max(s, BLIND_DECONV_SIGMA), f"estimated, at least {BLIND_DECONV_SIGMA:g}"))
    elif name in BLIND_METHODS:
        if kernel_size is None:
            from restora.classical.blur_detect import blind_kernel_size

            kernel_size = blind_kernel_size(img)
        if name == "blind-vb":
            try:
                from restora.classical.blind_vb import vb_estimate_kernel
            except ImportError:  # pragma: no cover - shipped with the package
                raise InvalidParameterError("method blind-vb is not available in this installation") from None
            k = np.asarray(vb_estimate_kernel(img, int(kernel_size))[0], np.float64)
        else:
            from restora.classical.blind import estimate_kernel

            k = estimate_kernel(img, int(kernel_size))
        if name != "blind-pnp" and source == "estimated":  # blind-pnp floors at PNP_MIN_SIGMA itself
            from restora.pipeline.plan import BLIND_DECONV_SIGMA

            s = max(s, BLIND_DECONV_SIGMA)  # an estimated kernel needs firmer regularisation
            source = f"estimated, at least {BLIND_DECONV_SIGMA:g} for a blind kernel"
    assert k is not None
    if name in ("pnp", "blind-pnp"):
        from restora.zoo.pnp import pnp_deconvolve

        out = pnp_deconvolve(img, k, sigma=s)
    elif name == "wiener":
        out = wiener(img, k, sigma=s)
    elif name == "rl":
        out = richardson_lucy(img, k, iterations=iterations or 30)
    elif name == "map-tv":
        out = map_deconvolution(img, k, prior="tv", sigma=s)
    elif name == "map":
        out = map_deconvolution(img, k, prior="hyper-laplacian", sigma=s)
    else:  # blind, blind-vb, blind-defocus: MAP, as restore's deblur step
        out = map_deconvolution(img, k, prior="hyper-laplacian", sigma=s)
    return DeblurResult(np.asarray(out, np.float32), np.asarray(k, np.float64), name, s, source)
