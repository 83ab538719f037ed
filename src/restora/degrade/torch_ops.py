"""Batched degradations in torch for training-time synthesis on CPU or GPU.

Tensors are ``B x C x H x W`` float batches in [0, 1] on any device. Per-sample parameters
(kernels, noise levels, JPEG qualities) are given as length-B tensors or arrays; random
tensors (noise) are drawn with an optional :class:`torch.Generator` living on the batch's
device, so a seeded generator gives identical outputs on the same device and torch build.
(CPU and CUDA generators produce different streams: same seed, same device -> same bytes.)

The ops mirror the numpy ones in :mod:`restora.degrade` (see ``docs/degradations.md``):

* :func:`filter2d` per-sample kernels, true convolution, like :func:`restora.degrade.convolve`.
* :func:`add_gaussian_noise`, :func:`add_poisson_noise` (colour or gray per sample).
* :func:`imresize` MATLAB-exact bicubic/bilinear resize (the numpy :func:`imresize`
  weight matrices applied as two matrix products); :func:`resize` adds torch's
  ``interpolate`` modes.
* :func:`jpeg` (from :mod:`restora.degrade.torch_jpeg`): differentiable JPEG.
* whole pipelines: ``realesrgan_degradation_torch``, ``bsrgan_degradation_torch``,
  ``classical_degradation_torch`` (in :mod:`restora.degrade.torch_pipelines`, re-exported here).
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from restora.degrade.resize import imresize_matrix
from restora.degrade.torch_jpeg import jpeg, jpeg_quantization_tables
from restora.errors import InvalidParameterError

__all__ = [
    "to_tensor",
    "to_numpy",
    "filter2d",
    "add_gaussian_noise",
    "add_poisson_noise",
    "imresize",
    "resize",
    "jpeg",
    "jpeg_quantization_tables",
    "rgb_to_gray",
    "TORCH_RESIZE_MODES",
    "FILTER_BOUNDARIES",
    "realesrgan_degradation_torch",
    "bsrgan_degradation_torch",
    "classical_degradation_torch",
]

#: Modes accepted by :func:`resize`.
TORCH_RESIZE_MODES = ("nearest", "bilinear", "bicubic", "area", "matlab", "matlab_bilinear")

_PIPELINES = ("realesrgan_degradation_torch", "bsrgan_degradation_torch", "classical_degradation_torch")

# BT.601 luma weights (the gray conversion used for gray noise, as cv2/basicsr).
_GRAY = (0.299, 0.587, 0.114)


def __getattr__(name: str) -> Any:  # lazy re-export of the pipelines (avoids a circular import)
    if name in _PIPELINES:
        from restora.degrade import torch_pipelines

        return getattr(torch_pipelines, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# --------------------------------------------------------------------------- conversion
def to_tensor(images: np.ndarray | Sequence[np.ndarray], device: str | torch.device = "cpu") -> torch.Tensor:
    """``H x W x C`` image, ``B x H x W x C`` array or list of equal-size images -> ``B x C x H x W`` float32."""
    arr = np.stack(list(images)) if isinstance(images, (list, tuple)) else np.asarray(images)
    if arr.ndim == 3:
        arr = arr[None]
    if arr.ndim != 4:
        raise InvalidParameterError(f"images must be H x W x C or B x H x W x C; got shape {arr.shape}")
    t = torch.from_numpy(np.ascontiguousarray(arr, dtype=np.float32)).permute(0, 3, 1, 2)
    return t.contiguous().to(device)


def to_numpy(x: torch.Tensor) -> np.ndarray:
    """``B x C x H x W`` tensor -> float32 ``B x H x W x C`` numpy array (on the CPU)."""
    return np.ascontiguousarray(x.detach().to("cpu", torch.float32).permute(0, 2, 3, 1).numpy())


def _check_batch(x: Any, name: str = "x") -> torch.Tensor:
    if not isinstance(x, torch.Tensor) or x.ndim != 4:
        raise InvalidParameterError(f"{name} must be a B x C x H x W torch tensor; got {type(x).__name__} "
                                    f"{tuple(getattr(x, 'shape', ()))}")
    if not x.is_floating_point():
        raise InvalidParameterError(f"{name} must be a floating-point tensor; got {x.dtype}")
    return x


def _per_sample(value: Any, b: int, name: str, like: torch.Tensor) -> torch.Tensor:
    """A scalar or length-B value as a length-B tensor on ``like``'s device/dtype."""
    t = torch.as_tensor(value, dtype=like.dtype, device=like.device).reshape(-1)
    if t.numel() == 1:
        t = t.expand(b)
    if t.numel() != b:
        raise InvalidParameterError(f"{name} must be a number or have one value per sample ({b}); got {t.numel()}")
    return t


def _mask(value: Any, b: int, name: str, device: torch.device) -> torch.Tensor:
    if value is None:
        return torch.zeros(b, dtype=torch.bool, device=device)
    t = torch.as_tensor(value, device=device).reshape(-1).to(torch.bool)
    if t.numel() == 1:
        t = t.expand(b)
    if t.numel() != b:
        raise InvalidParameterError(f"{name} must be a bool or have one value per sample ({b}); got {t.numel()}")
    return t


def rgb_to_gray(x: torch.Tensor) -> torch.Tensor:
    """``B x 3 x H x W`` -> ``B x 1 x H x W`` BT.601 luma (``B x 1`` passes through)."""
    if x.shape[1] == 1:
        return x
    w = torch.tensor(_GRAY, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return (x * w).sum(dim=1, keepdim=True)


# --------------------------------------------------------------------------- blur
def _mirror_pad_axis(x: torch.Tensor, pad: int, dim: int, repeat_edge: bool) -> torch.Tensor:
    """Mirror-pad one axis by ``pad`` on both sides, any amount (see :func:`_mirror_pad`)."""
    skip = 0 if repeat_edge else 1
    while pad > 0:
        n = x.shape[dim]
        if n - skip < 1:  # a single sample: every mirror image is the sample itself
            reps = [1] * x.ndim
            reps[dim] = 2 * pad + 1
            return x.repeat(*reps)
        step = min(pad, n - skip)
        first = x.narrow(dim, skip, step).flip(dim)
        last = x.narrow(dim, n - skip - step, step).flip(dim)
        x = torch.cat([first, x, last], dim=dim)
        pad -= step
    return x


def _mirror_pad(x: torch.Tensor, ph: int, pw: int, repeat_edge: bool) -> torch.Tensor:
    """Mirror padding by any amount.

    ``repeat_edge=True``: half-sample symmetric (``c b a | a b c``, OpenCV ``BORDER_REFLECT``,
    numpy ``symmetric``, what :func:`restora.degrade.convolve` calls ``"reflect"``);
    ``False``: whole-sample (``c b | a b c``, torch ``reflect``, OpenCV ``BORDER_REFLECT_101``).
    Pads wider than the image repeat the reflection (the periodic mirror extension), in
    chunks that each end on a symmetry point of that extension.
    """
    return _mirror_pad_axis(_mirror_pad_axis(x, ph, -2, repeat_edge), pw, -1, repeat_edge)


#: Boundary modes of :func:`filter2d` (the first four are :func:`restora.degrade.convolve`'s).
FILTER_BOUNDARIES = ("reflect", "replicate", "wrap", "constant", "reflect101")


def _pad(x: torch.Tensor, ph: int, pw: int, boundary: str) -> torch.Tensor:
    if boundary not in FILTER_BOUNDARIES:
        raise InvalidParameterError(f"boundary must be one of {', '.join(FILTER_BOUNDARIES)}; got {boundary!r}")
    if ph == 0 and pw == 0:
        return x
    if boundary in ("reflect", "reflect101"):
        return _mirror_pad(x, ph, pw, repeat_edge=boundary == "reflect")
    if boundary == "wrap":
        h, w = x.shape[-2:]
        if ph > h or pw > w:  # circular padding wider than the image: tile first
            reps = (1 + 2 * -(-ph // h), 1 + 2 * -(-pw // w))
            t = x.repeat(1, 1, *reps)
            oy, ox = (reps[0] // 2) * h - ph, (reps[1] // 2) * w - pw
            return t[..., oy:oy + h + 2 * ph, ox:ox + w + 2 * pw]
        return F.pad(x, (pw, pw, ph, ph), mode="circular")
    if boundary == "replicate":
        return F.pad(x, (pw, pw, ph, ph), mode="replicate")
    return F.pad(x, (pw, pw, ph, ph), mode="constant", value=0.0)


def _fft_convolve(xp: torch.Tensor, k: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """Valid true convolution of padded ``xp`` (B x C x Hp x Wp) with ``k`` (B x kh x kw) via FFT."""
    from scipy.fft import next_fast_len

    kh, kw = k.shape[-2:]
    hp, wp = xp.shape[-2:]
    fh, fw = next_fast_len(hp, real=True), next_fast_len(wp, real=True)
    spec = torch.fft.rfft2(xp, s=(fh, fw)) * torch.fft.rfft2(k, s=(fh, fw)).unsqueeze(1)
    full = torch.fft.irfft2(spec, s=(fh, fw))
    return full[..., kh - 1: kh - 1 + h, kw - 1: kw - 1 + w]


#: Kernels with more taps than this use the FFT under ``method="auto"`` (as the numpy convolve).
_DIRECT_MAX_TAPS = 15 * 15


def filter2d(x: torch.Tensor, kernels: Any, boundary: str = "reflect", *, method: str = "auto") -> torch.Tensor:
    """Convolve each sample with its own kernel: ``x`` is ``B x C x H x W``, ``kernels``
    ``B x k x k`` (or one ``k x k`` for all), odd ``k``.

    True convolution (the kernel is flipped, as :func:`restora.degrade.convolve`), every
    channel with the sample's kernel, output the same size. ``boundary`` as
    :func:`restora.degrade.convolve`: ``"reflect"`` (half-sample symmetric, the edge pixel
    repeated), ``"replicate"``, ``"wrap"``, ``"constant"`` (zeros); plus ``"reflect101"``
    (mirror without repeating the edge: torch's ``reflect``, which Real-ESRGAN uses). One
    grouped ``conv2d`` does the whole batch (``method="direct"``); ``"fft"`` multiplies
    spectra instead, which is faster for large kernels; ``"auto"`` (default) uses the FFT
    above 15 x 15 taps, like the numpy :func:`restora.degrade.convolve`.
    """
    _check_batch(x)
    b, c, h, w = x.shape
    k = torch.as_tensor(np.asarray(kernels) if not isinstance(kernels, torch.Tensor) else kernels)
    k = k.to(device=x.device, dtype=x.dtype)
    if k.ndim == 2:
        k = k.unsqueeze(0).expand(b, -1, -1)
    if k.ndim != 3 or k.shape[0] != b or k.shape[1] % 2 == 0 or k.shape[2] % 2 == 0:
        raise InvalidParameterError(
            f"kernels must be k x k or B x k x k with odd k and B = {b}; got shape {tuple(k.shape)}"
        )
    if method not in ("auto", "direct", "fft"):
        raise InvalidParameterError(f"method must be one of auto, direct, fft; got {method!r}")
    kh, kw = k.shape[1:]
    xp = _pad(x, kh // 2, kw // 2, boundary)
    if method == "fft" or (method == "auto" and kh * kw > _DIRECT_MAX_TAPS):
        return _fft_convolve(xp, k, h, w).contiguous()
    weight = k.flip(-2, -1).unsqueeze(1).repeat_interleave(c, dim=0)  # (B*C) x 1 x kh x kw
    out = F.conv2d(xp.reshape(1, b * c, xp.shape[-2], xp.shape[-1]), weight, groups=b * c)
    return out.reshape(b, c, h, w)


# --------------------------------------------------------------------------- noise
def add_gaussian_noise(
    x: torch.Tensor,
    sigma: Any,
    gray: Any = None,
    *,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """``x + sigma/255 * N(0, 1)`` with per-sample ``sigma`` (8-bit levels, scalar or length B).

    ``gray`` (bool or length-B mask): those samples get one noise plane shared by all
    channels (luminance-only noise) instead of independent noise per channel. Not clipped.
    """
    _check_batch(x)
    b, c, h, w = x.shape
    s = _per_sample(sigma, b, "sigma", x)
    if torch.any(s < 0):
        raise InvalidParameterError("sigma must be >= 0")
    g = _mask(gray, b, "gray", x.device)

    def draw(sub: torch.Tensor, channels: int) -> torch.Tensor:
        n = torch.randn((sub.shape[0], channels, h, w), generator=generator, device=x.device, dtype=x.dtype)
        return n.expand(-1, c, -1, -1) if channels != c else n

    noise = _split_by_mask(x, g, draw)
    return x + noise * (s / 255.0).view(b, 1, 1, 1)


def _split_by_mask(x: torch.Tensor, gray: torch.Tensor, draw: Any) -> torch.Tensor:
    """Noise for a batch: ``draw(samples, C)`` for colour samples, ``draw(samples, 1)``
    (one plane shared by the channels) for the samples where ``gray`` is set."""
    c = x.shape[1]
    if c == 1 or not bool(gray.any()):
        return draw(x, c)
    if bool(gray.all()):
        return draw(x, 1)
    noise = torch.empty_like(x)
    idx_c, idx_g = torch.nonzero(~gray).flatten(), torch.nonzero(gray).flatten()
    noise[idx_c] = draw(x[idx_c], c)
    noise[idx_g] = draw(x[idx_g], 1)
    return noise


def add_poisson_noise(
    x: torch.Tensor,
    scale: Any,
    gray: Any = None,
    *,
    peak: float = 255.0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Real-ESRGAN's Poisson noise: ``x + scale * (Poisson(peak * x) / peak - x)``.

    ``scale`` per sample (Real-ESRGAN draws it in [0.05, 3]); the photon count uses
    ``clip(x, 0, 1)``. Its variance ``scale² x / peak`` equals that of plain Poisson noise
    ``Poisson(p x) / p`` with ``p = peak / scale²`` (what the numpy pipeline records as
    ``peak``). ``gray`` samples draw the noise from the BT.601 luma and add it to every
    channel. Not clipped.
    """
    _check_batch(x)
    b, c = x.shape[:2]
    s = _per_sample(scale, b, "scale", x)
    if torch.any(s < 0):
        raise InvalidParameterError("scale must be >= 0")
    g = _mask(gray, b, "gray", x.device)

    def draw(sub: torch.Tensor, channels: int) -> torch.Tensor:
        lam = (sub if channels == c else rgb_to_gray(sub)).clamp(0.0, 1.0) * peak
        n = (torch.poisson(lam, generator=generator) - lam) / peak
        return n.expand(-1, c, -1, -1) if channels != c else n

    noise = _split_by_mask(x, g, draw)
    return x + noise * s.view(b, 1, 1, 1)


# --------------------------------------------------------------------------- resize
@lru_cache(maxsize=128)
def _matrix(n_in: int, n_out: int, scale: float | None, method: str, antialias: bool,
            device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    m = imresize_matrix(n_in, n_out, scale, method=method, antialias=antialias)
    return torch.from_numpy(m).to(device=device, dtype=dtype)


def _out_size(h: int, w: int, scale: Any, size: Any, rounding: str) -> tuple[tuple[float | None, float | None], tuple[int, int]]:
    if (scale is None) == (size is None):
        raise InvalidParameterError("give exactly one of scale or size")
    if size is not None:
        try:
            oh, ow = (int(size[0]), int(size[1]))
        except (TypeError, IndexError, ValueError):
            raise InvalidParameterError(f"size must be (height, width); got {size!r}") from None
        if oh < 1 or ow < 1:
            raise InvalidParameterError(f"size must be positive; got {size!r}")
        return (None, None), (oh, ow)
    s = float(scale)
    if not np.isfinite(s) or s <= 0:
        raise InvalidParameterError(f"scale must be > 0; got {scale!r}")
    if rounding == "ceil":  # MATLAB / numpy resize rule
        oh, ow = int(math.ceil(s * h)), int(math.ceil(s * w))
    else:  # torch interpolate(scale_factor=...) rule
        oh, ow = int(math.floor(h * s)), int(math.floor(w * s))
    if oh < 1 or ow < 1:
        raise InvalidParameterError(f"scale {scale!r} gives an empty output for a {h}x{w} image")
    return (s, s), (oh, ow)


def imresize(
    x: torch.Tensor,
    scale: float | None = None,
    *,
    size: tuple[int, int] | None = None,
    method: str = "bicubic",
    antialias: bool = True,
) -> torch.Tensor:
    """MATLAB ``imresize`` on a batch: the numpy :func:`restora.degrade.imresize` weights
    (bicubic a=-0.5 or bilinear, antialiased when shrinking, symmetric borders) applied as
    ``Wh @ x @ Ww.T``. Output size ``ceil(scale * size)`` (MATLAB's rule) or ``size``.
    Equal to the numpy version up to float32 rounding (~1e-6).
    """
    _check_batch(x)
    if method not in ("bicubic", "bilinear"):
        raise InvalidParameterError(f"method must be bicubic or bilinear; got {method!r}")
    h, w = x.shape[-2:]
    (sh, sw), (oh, ow) = _out_size(h, w, scale, size, "ceil")
    wh = _matrix(h, oh, sh, method, bool(antialias), x.device, x.dtype)
    ww = _matrix(w, ow, sw, method, bool(antialias), x.device, x.dtype)
    return torch.matmul(torch.matmul(wh, x), ww.T)


def resize(
    x: torch.Tensor,
    scale: float | None = None,
    *,
    size: tuple[int, int] | None = None,
    mode: str = "bicubic",
    antialias: bool | None = None,
) -> torch.Tensor:
    """Resize a batch by ``scale`` or to ``size=(h, w)``.

    ``mode``: ``"matlab"`` / ``"matlab_bilinear"`` are :func:`imresize` (MATLAB-exact,
    output ``ceil(scale * size)``); ``"nearest"``, ``"bilinear"``, ``"bicubic"``, ``"area"``
    are ``torch.nn.functional.interpolate`` (half-pixel centres, output
    ``floor(scale * size)`` as torch). ``antialias`` (bilinear/bicubic only) defaults to
    True when shrinking: torch's antialiased bicubic is Pillow's (a = -0.5, kernel widened
    by 1/scale), so it equals MATLAB's in the interior and differs only within a few pixels
    of the border (MATLAB mirrors, Pillow renormalises the truncated kernel); without
    antialias torch's bicubic is OpenCV's (a = -0.75), the one Real-ESRGAN uses.
    """
    _check_batch(x)
    if mode not in TORCH_RESIZE_MODES:
        raise InvalidParameterError(f"mode must be one of {', '.join(TORCH_RESIZE_MODES)}; got {mode!r}")
    if mode == "matlab":
        return imresize(x, scale, size=size, method="bicubic")
    if mode == "matlab_bilinear":
        return imresize(x, scale, size=size, method="bilinear")
    h, w = x.shape[-2:]
    _, (oh, ow) = _out_size(h, w, scale, size, "floor")
    if (oh, ow) == (h, w):
        return x
    kwargs: dict[str, Any] = {}
    if mode in ("bilinear", "bicubic"):
        shrink = oh < h or ow < w
        kwargs = {"align_corners": False, "antialias": shrink if antialias is None else bool(antialias)}
    return F.interpolate(x, size=(oh, ow), mode=mode, **kwargs)
