"""Batched torch versions of the degradation pipelines, for synthesising training pairs on
the fly (CPU or GPU). Import them from :mod:`restora.degrade.torch_ops`.

They follow the numpy pipelines of :mod:`restora.degrade.pipelines` step by step and draw
from the same distributions, with the differences a batch imposes (documented in
``docs/degradations.md``):

* kernels, noise levels, noise types, gray-noise flags, JPEG qualities and the
  probabilistic blur/JPEG steps are drawn **per sample**; resize factors and methods and
  the order of steps are drawn **per batch** (a batch must keep one size), as in
  Real-ESRGAN's own training code;
* JPEG is :func:`restora.degrade.torch_jpeg.jpeg` (a differentiable re-implementation of
  the IJG codec) instead of libjpeg; resizes use ``torch.nn.functional.interpolate``
  (area / bilinear / bicubic without antialiasing, OpenCV's kernels) instead of OpenCV;
* the BSRGAN version leaves out the camera-ISP noise step (probability 0.25 in numpy).

Random parameters are drawn from a numpy Generator (cheap, on the CPU); noise tensors from
a :class:`torch.Generator` on the batch's device seeded from it. ``generator`` may be an
int seed, a numpy Generator, a torch Generator or None. Same seed, same device and torch
build -> identical output.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from restora.degrade.kernels import random_kernel
from restora.degrade.pipelines import (
    BSRGAN_DEFAULTS,
    REALESRGAN_DEFAULTS,
    _draw_resize_scale,
    _options,
    _shifted_gaussian,
)
from restora.degrade.record import jsonable
from restora.degrade.torch_jpeg import jpeg
from restora.degrade.torch_ops import (
    _check_batch,
    add_gaussian_noise,
    add_poisson_noise,
    filter2d,
    imresize,
    resize,
)
from restora.errors import InvalidParameterError
from restora.rng import as_generator, child_seed

__all__ = ["realesrgan_degradation_torch", "bsrgan_degradation_torch", "classical_degradation_torch"]

# numpy pipeline method names -> torch interpolate modes (no antialiasing: OpenCV's kernels)
_TORCH_MODE = {"area": "area", "bilinear": "bilinear", "cv2_bicubic": "bicubic", "nearest": "nearest"}


class _Rngs:
    """A numpy Generator for parameters and a torch Generator on ``device`` for tensors."""

    def __init__(self, generator: Any, device: torch.device):
        if isinstance(generator, torch.Generator):
            seed = int(torch.randint(0, 2**62, (1,), generator=generator, device=generator.device).item())
            self.np = np.random.default_rng(seed)
            if generator.device == device:
                self.torch = generator
                return
        else:
            self.np = as_generator(generator)
        self.torch = torch.Generator(device=device)
        self.torch.manual_seed(child_seed(self.np))


def _seed_of(generator: Any) -> int | None:
    return int(generator) if isinstance(generator, (int, np.integer)) and not isinstance(generator, bool) else None


def _delta(size: int) -> np.ndarray:
    k = np.zeros((size, size))
    k[size // 2, size // 2] = 1.0
    return k


def _scale_arg(scale: Any, allowed: tuple[int, ...] | None = None) -> int:
    if isinstance(scale, bool) or not isinstance(scale, (int, np.integer)) or scale < 1:
        raise InvalidParameterError(f"scale must be a positive integer, got {scale!r}")
    if allowed is not None and scale not in allowed:
        raise InvalidParameterError(f"scale must be one of {', '.join(map(str, allowed))}, got {scale!r}")
    return int(scale)


def _torch_modes(methods: Any) -> list[str]:
    modes = []
    for m in methods:
        if m not in _TORCH_MODE:
            raise InvalidParameterError(f"resize_methods for the torch pipelines must be among {', '.join(_TORCH_MODE)}; got {m!r}")
        modes.append(_TORCH_MODE[m])
    return modes


def _noise(x: torch.Tensor, rngs: _Rngs, o: dict[str, Any], suffix: str) -> tuple[torch.Tensor, list[dict]]:
    """Real-ESRGAN noise with per-sample type (Gaussian / Poisson), level and gray flag; clipped."""
    b = x.shape[0]
    g = rngs.np
    gray = g.random(b) < o["gray_noise_prob" + suffix]
    use_gauss = g.random(b) < o["gaussian_noise_prob" + suffix]
    sigma = g.uniform(*o["noise_range" + suffix], size=b)
    pscale = g.uniform(*o["poisson_scale_range" + suffix], size=b)
    out = x.clone()
    idx_g = torch.from_numpy(np.flatnonzero(use_gauss)).to(x.device)
    idx_p = torch.from_numpy(np.flatnonzero(~use_gauss)).to(x.device)
    if idx_g.numel():
        out[idx_g] = add_gaussian_noise(x[idx_g], sigma[use_gauss], gray[use_gauss], generator=rngs.torch)
    if idx_p.numel():
        out[idx_p] = add_poisson_noise(x[idx_p], pscale[~use_gauss], gray[~use_gauss], generator=rngs.torch)
    rec = [
        {"type": "gaussian", "sigma": float(sigma[i]), "gray": bool(gray[i])} if use_gauss[i]
        else {"type": "poisson", "scale": float(pscale[i]), "gray": bool(gray[i])}
        for i in range(b)
    ]
    return out.clamp_(0.0, 1.0), rec


def _kernels(rngs: _Rngs, b: int, kind: str, size: int, prob: float = 1.0, **kw: Any) -> tuple[np.ndarray, list]:
    ks, recs = [], []
    for _ in range(b):
        if rngs.np.random() < prob:
            k, rec = random_kernel(child_seed(rngs.np), kind=kind, size=size, **kw)
        else:
            k, rec = _delta(size), None
        ks.append(k)
        recs.append(rec)
    return np.stack(ks), recs


def realesrgan_degradation_torch(
    hr: torch.Tensor, scale: int = 4, generator: Any = None, **options: Any
) -> tuple[torch.Tensor, dict[str, Any]]:
    """Real-ESRGAN's second-order degradation of a ``B x C x H x W`` HR batch in [0, 1].

    Same stages and distributions as :func:`restora.degrade.realesrgan_degradation`
    (``options`` override :data:`REALESRGAN_DEFAULTS`); kernels, noise and JPEG quality
    per sample, resize factor/method and the final order per batch. Returns
    ``(lr, record)`` with ``lr`` of size ``(H // scale, W // scale)``, 8-bit quantised.
    """
    _check_batch(hr, "hr")
    s = _scale_arg(scale)
    b, c, h, w = hr.shape
    if h < s or w < s:
        raise InvalidParameterError(f"hr {h}x{w} is smaller than the scale {s}")
    o = _options(REALESRGAN_DEFAULTS, options, "realesrgan")
    modes = _torch_modes(o["resize_methods"])
    ks = int(o["kernel_size"])
    rngs = _Rngs(generator, hr.device)
    g = rngs.np
    k1, rec_k1 = _kernels(rngs, b, "realesrgan", ks)
    k2, rec_k2 = _kernels(rngs, b, "realesrgan2", ks, o["second_blur_prob"])
    k3, rec_k3 = _kernels(rngs, b, "final_sinc", ks, o["final_sinc_prob"])
    batch_steps: list[dict] = []

    def mode() -> str:
        return modes[int(g.integers(0, len(modes)))]

    # ---- stage 1
    out = filter2d(hr, k1)
    direction, f = _draw_resize_scale(g, o["resize_prob"], o["resize_range"])
    m = mode()
    if direction != "keep":
        size = (max(1, int(h * f)), max(1, int(w * f)))
        out = resize(out, size=size, mode=m, antialias=False)
        batch_steps.append({"op": "resize", "size": list(size), "mode": m, "direction": direction, "scale": f})
    out, rec_n1 = _noise(out, rngs, o, "")
    q1 = g.integers(int(o["jpeg_range"][0]), int(o["jpeg_range"][1]) + 1, size=b)
    out = jpeg(out, torch.from_numpy(q1))
    # ---- stage 2
    out = filter2d(out, k2)
    direction, f = _draw_resize_scale(g, o["resize_prob2"], o["resize_range2"])
    m = mode()
    size = (max(1, int(h / s * f)), max(1, int(w / s * f)))
    out = resize(out, size=size, mode=m, antialias=False)
    batch_steps.append({"op": "resize", "size": list(size), "mode": m, "direction": direction, "scale": f})
    out, rec_n2 = _noise(out, rngs, o, "2")
    # ---- final
    sinc_first = bool(g.random() < 0.5)
    m = mode()
    q2 = g.integers(int(o["jpeg_range2"][0]), int(o["jpeg_range2"][1]) + 1, size=b)
    final = (h // s, w // s)
    if sinc_first:
        out = filter2d(resize(out, size=final, mode=m, antialias=False), k3)
        out = jpeg(out, torch.from_numpy(q2))
    else:
        out = jpeg(out, torch.from_numpy(q2))
        out = filter2d(resize(out, size=final, mode=m, antialias=False), k3)
    batch_steps.append({"op": "final", "order": "resize+sinc, jpeg" if sinc_first else "jpeg, resize+sinc",
                        "size": list(final), "mode": m})
    lr = torch.round(out.clamp(0.0, 1.0) * 255.0) / 255.0
    samples = [
        {"kernel1": rec_k1[i], "noise1": rec_n1[i], "jpeg1": int(q1[i]), "kernel2": rec_k2[i],
         "noise2": rec_n2[i], "jpeg2": int(q2[i]), "final_sinc": rec_k3[i]}
        for i in range(b)
    ]
    record = {"pipeline": "realesrgan_torch", "seed": _seed_of(generator), "scale": s, "batch": b,
              "input_shape": [b, c, h, w], "output_shape": list(lr.shape), "batch_steps": batch_steps,
              "samples": samples}
    return lr, jsonable(record)


def _correlated_factors(rngs: _Rngs, n: int, level: float) -> np.ndarray:
    """Per-sample 3x3 factors ``F`` with ``F Fᵀ = (level/255)² UᵀDU`` (BSRGAN's correlated noise)."""
    from scipy.linalg import orth

    out = np.empty((n, 3, 3))
    for i in range(n):
        d = rngs.np.random(3)
        u = orth(rngs.np.random((3, 3)))
        cov = (level / 255.0) ** 2 * (u.T @ np.diag(d) @ u)
        vals, vecs = np.linalg.eigh(cov)
        out[i] = vecs * np.sqrt(np.clip(vals, 0.0, None))
    return out


def bsrgan_degradation_torch(
    hr: torch.Tensor, scale: int = 4, generator: Any = None, **options: Any
) -> tuple[torch.Tensor, dict[str, Any]]:
    """BSRGAN's degradation of a ``B x C x H x W`` HR batch (a documented subset).

    As :func:`restora.degrade.bsrgan_degradation` (``options`` override
    :data:`BSRGAN_DEFAULTS`): the batch is cropped to a multiple of ``scale``; the x4
    pre-halving, the step order and the downsampling branch/factor/method are drawn per
    batch; the two blur kernels, the noise type and level, and the JPEG steps (probability
    and quality) per sample. The camera-ISP noise step is left out. Output size
    ``(H // scale, W // scale)``. Returns ``(lr, record)``.
    """
    _check_batch(hr, "hr")
    s = _scale_arg(scale, (2, 3, 4))
    o = _options(BSRGAN_DEFAULTS, options, "bsrgan")
    b, c, h0, w0 = hr.shape
    if h0 < 4 * s or w0 < 4 * s:
        raise InvalidParameterError(f"hr {h0}x{w0} is too small for BSRGAN x{s} (needs at least {4 * s} px)")
    modes = _torch_modes(o["resize_methods"])
    ks = int(o["kernel_size"])
    rngs = _Rngs(generator, hr.device)
    g = rngs.np
    out = hr[:, :, : h0 - h0 % s, : w0 - w0 % s]
    batch_steps: list[dict] = []
    samples: list[dict] = [{} for _ in range(b)]

    def mode() -> str:
        return modes[int(g.integers(0, len(modes)))]

    sf = s
    if sf == 4 and g.random() < o["scale2_prob"]:
        hh, ww = out.shape[-2:]
        if g.random() < 0.5:
            m = mode()
            out = resize(out, size=(hh // 2, ww // 2), mode=m, antialias=False)
        else:
            m = "matlab"
            out = imresize(out, 0.5)
        out = out.clamp(0.0, 1.0)
        batch_steps.append({"op": "resize", "size": [hh // 2, ww // 2], "mode": m})
        sf = 2
    order = [int(i) for i in g.permutation(7)]
    i2, i3 = order.index(2), order.index(3)
    if i2 > i3:
        order[i2], order[i3] = order[i3], order[i2]
    before = tuple(out.shape[-2:])
    nlo, nhi = (int(v) for v in o["noise_range"])
    for i in order:
        if i in (0, 1):
            kern, recs = _kernels(rngs, b, "bsrgan", ks, scale=sf)
            out = filter2d(out, kern)
            for j in range(b):
                samples[j].setdefault("blur", []).append(recs[j])
        elif i == 2:
            before = tuple(out.shape[-2:])
            hh, ww = before
            if g.random() > o["direct_downsample_prob"]:
                sf1 = float(g.uniform(1, 2 * sf))
                m = mode()
                size = (max(1, int(hh / sf1)), max(1, int(ww / sf1)))
                out = resize(out, size=size, mode=m, antialias=False)
                batch_steps.append({"op": "resize", "size": list(size), "mode": m, "factor": sf1})
            else:
                sigma = float(g.uniform(0.1, 0.6 * sf))
                d = (sf - 1) / 2.0
                out = filter2d(out, _shifted_gaussian(ks, sigma, (-d, -d)))[:, :, ::sf, ::sf]
                batch_steps.append({"op": "blur_decimate", "sigma": sigma, "factor": sf})
            out = out.clamp(0.0, 1.0)
        elif i == 3:
            hh, ww = before
            m = mode()
            out = resize(out, size=(hh // sf, ww // sf), mode=m, antialias=False).clamp(0.0, 1.0)
            batch_steps.append({"op": "resize", "size": [hh // sf, ww // sf], "mode": m})
        elif i == 4:
            levels = g.integers(nlo, nhi + 1, size=b).astype(np.float64)
            r = g.random(b)
            kind = np.where(r > 0.6, 0, np.where(r < 0.4, 1, 2)) if c == 3 else np.zeros(b, dtype=int)
            factors = _correlated_factors(rngs, b, float(nhi))
            noisy = add_gaussian_noise(out, levels, kind == 1, generator=rngs.torch)
            if np.any(kind == 2):
                z = torch.randn(out.shape, generator=rngs.torch, device=out.device, dtype=out.dtype)
                fac = torch.from_numpy(factors).to(out.device, out.dtype)
                corr = out + torch.einsum("bij,bjhw->bihw", fac, z)
                sel = torch.from_numpy(kind == 2).to(out.device).view(b, 1, 1, 1)
                noisy = torch.where(sel, corr, noisy)
            out = noisy.clamp(0.0, 1.0)
            names = ("gaussian", "gray", "correlated")
            for j in range(b):
                samples[j]["noise"] = {"type": names[int(kind[j])], "sigma": float(nhi if kind[j] == 2 else levels[j])}
        elif i == 5:
            do = g.random(b) < o["jpeg_prob"]
            q = g.integers(int(o["jpeg_range"][0]), int(o["jpeg_range"][1]) + 1, size=b)
            if np.any(do):
                idx = torch.from_numpy(np.flatnonzero(do)).to(out.device)
                out = out.clone()
                out[idx] = jpeg(out[idx], torch.from_numpy(q[do]))
            for j in range(b):
                samples[j]["jpeg1"] = int(q[j]) if do[j] else None
        # i == 6: camera-ISP noise, not in the torch version
    q = g.integers(int(o["jpeg_range"][0]), int(o["jpeg_range"][1]) + 1, size=b)
    lr = jpeg(out, torch.from_numpy(q))
    for j in range(b):
        samples[j]["jpeg2"] = int(q[j])
    record = {"pipeline": "bsrgan_torch", "seed": _seed_of(generator), "scale": s, "batch": b, "order": order,
              "input_shape": [b, c, h0, w0], "output_shape": list(lr.shape), "batch_steps": batch_steps,
              "samples": samples}
    return lr, jsonable(record)


def classical_degradation_torch(
    hr: torch.Tensor,
    kernels: Any = None,
    scale: int = 1,
    sigma: Any = 0.0,
    *,
    generator: Any = None,
    downsample: str = "bicubic",
    boundary: str = "reflect",
) -> tuple[torch.Tensor, dict[str, Any]]:
    """The classical model ``y = (x * k)↓s + n`` on a batch, like
    :func:`restora.degrade.classical_degradation`.

    ``kernels``: None, one ``k x k`` kernel or ``B x k x k`` per-sample kernels. The batch
    is cropped to a multiple of ``scale``; ``downsample="direct"`` keeps ``x[..., ::s, ::s]``,
    ``"bicubic"`` is MATLAB-exact :func:`restora.degrade.torch_ops.imresize`. ``sigma``
    (8-bit levels, scalar or per sample) Gaussian noise, not clipped. Returns ``(lr, record)``;
    without noise the result equals the numpy version up to float32 rounding.
    """
    _check_batch(hr, "hr")
    s = _scale_arg(scale)
    if downsample not in ("bicubic", "direct"):
        raise InvalidParameterError(f"downsample must be one of bicubic, direct; got {downsample!r}")
    b, c, h, w = hr.shape
    out = hr[:, :, : h - h % s, : w - w % s]
    if kernels is not None:
        out = filter2d(out, kernels, boundary)
    if s > 1:
        out = out[:, :, ::s, ::s] if downsample == "direct" else imresize(out, 1.0 / s)
    sig = torch.as_tensor(sigma, dtype=torch.float64).reshape(-1)
    if sig.numel() not in (1, b) or torch.any(sig < 0) or not torch.all(torch.isfinite(sig)):
        raise InvalidParameterError(f"sigma must be >= 0, a number or one per sample ({b})")
    if torch.any(sig > 0):
        rngs = _Rngs(generator, hr.device)
        out = add_gaussian_noise(out, sig.to(out.dtype), generator=rngs.torch)
    record = {"pipeline": "classical_torch", "seed": _seed_of(generator), "scale": s, "downsample": downsample,
              "sigma": sig.tolist() if sig.numel() > 1 else float(sig[0]), "boundary": boundary,
              "input_shape": [b, c, h, w], "output_shape": list(out.shape),
              "kernels": None if kernels is None else list(np.shape(kernels))}
    return out.contiguous(), jsonable(record)
