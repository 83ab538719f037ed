"""ZSSR, "zero-shot" super-resolution (Shocher, Cohen and Irani, CVPR 2018): a small CNN
trained at test time on the image alone, and KernelGAN + ZSSR (issue 20).

Training pairs come from the low-resolution image itself: "fathers" are the image and
bicubic-shrunk copies of it (scales between ``min_father_scale`` and 1), each in its 8
flips/rotations; a father's "son" is the father downscaled with the SR ``kernel``
(:func:`restora.classical.kernelgan.downscale_with_kernel`; the bicubic kernel when none is
given) and bicubic-upscaled back to the father's size. The network (``layers`` 3x3
convolutions of ``channels`` features with ReLUs, residual: it adds to its bicubic input)
learns son -> father with an L1 loss on random crops; then it is applied to the
bicubic-upscaled image. The learning rate is divided by 10 when the training loss stops
falling (the mean of the last ``check_every`` steps is not 1 % below the previous
window's: a simplification of the paper's regression on the reconstruction error) and
training stops after the third cut or at ``iterations``.

CPU reductions (documented in ``docs/blind_sr.md``): width 32 instead of 64, crops of 64 px
instead of 128, at most 1000 steps (batch 4) instead of up to 3000, and the network
works on the luma only: the chroma is bicubic (the change of luma is added equally to R, G
and B, which leaves Cb and Cr unchanged). The geometric self-ensemble at test time is
optional (``ensemble=True``; off by default).

Registered restorers: ``zssr`` (assumes the bicubic kernel) and ``kernelgan`` (KernelGAN's
estimate, then ZSSR with it; blind). Per image they train for tens of seconds on a CPU.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from restora.classical.kernelgan import (
    KERNELGAN_ITERATIONS,
    bicubic_kernel,
    downscale_with_kernel,
    estimate_sr_kernel,
    luma,
)
from restora.errors import InvalidParameterError
from restora.restorers import RestorerInfo, register
from restora.rng import RngLike, as_generator, child_seed
from restora.validation import as_image, check_range

__all__ = ["zssr", "kernelgan_zssr", "ZSSR_ITERATIONS"]

#: Default (maximum) number of ZSSR training steps on a CPU.
ZSSR_ITERATIONS = 1000
#: Sum of the BT.601 luma weights: adding ``d / LUMA_GAIN`` to R, G and B adds ``d`` to Y.
LUMA_GAIN = float((65.481 + 128.553 + 24.966) / 255.0)


def _scale(scale: Any) -> int:
    try:
        s = float(scale)
    except (TypeError, ValueError):
        raise InvalidParameterError(f"scale must be an integer >= 2; got {scale!r}") from None
    if abs(s - round(s)) > 1e-9 or round(s) < 2:
        raise InvalidParameterError(f"scale must be an integer >= 2; got {scale!r}")
    return int(round(s))


def _dihedral(a: np.ndarray, k: int) -> np.ndarray:
    out = np.rot90(a, k % 4)
    return np.ascontiguousarray(out[:, ::-1] if k >= 4 else out)


def _undihedral(a: np.ndarray, k: int) -> np.ndarray:
    a = a[:, ::-1] if k >= 4 else a
    return np.ascontiguousarray(np.rot90(a, -(k % 4)))


def _network(layers: int, channels: int):
    from torch import nn

    mods: list[nn.Module] = [nn.Conv2d(1, channels, 3, padding=1), nn.ReLU(inplace=True)]
    for _ in range(layers - 2):
        mods += [nn.Conv2d(channels, channels, 3, padding=1), nn.ReLU(inplace=True)]
    last = nn.Conv2d(channels, 1, 3, padding=1)
    nn.init.zeros_(last.weight)  # start as the bicubic upscaling
    nn.init.zeros_(last.bias)
    mods.append(last)
    return nn.Sequential(*mods)


def _pairs(y: np.ndarray, kernel: np.ndarray, s: int, scales: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """``(interpolated son, father)`` pairs of full images for each father scale and orientation."""
    from restora.degrade.resize import imresize

    out = []
    h, w = y.shape
    for f in scales:
        father = y if f >= 1.0 else imresize(y, output_shape=(max(s, round(h * f)), max(s, round(w * f))))[:, :, 0]
        for k in range(8):
            fa = _dihedral(father, k)
            fa = fa[: fa.shape[0] - fa.shape[0] % s, : fa.shape[1] - fa.shape[1] % s]
            if min(fa.shape) < max(2 * s, 8):
                continue
            son = downscale_with_kernel(fa, kernel, s)
            interp = imresize(son, output_shape=fa.shape)[:, :, 0]
            out.append((interp.astype(np.float32), fa.astype(np.float32)))
    return out


def zssr(
    image: np.ndarray,
    scale: int,
    kernel: np.ndarray | None = None,
    *,
    iterations: int = ZSSR_ITERATIONS,
    channels: int = 32,
    layers: int = 8,
    crop: int = 64,
    batch: int = 4,
    lr: float = 1e-3,
    check_every: int = 100,
    min_father_scale: float = 0.5,
    ensemble: bool = False,
    rng: RngLike = 0,
    progress: Callable[[int, int, float], None] | None = None,
) -> np.ndarray:
    """Super-resolve ``image`` (float32 h x w x C, the LR image) by the integer ``scale``
    with ZSSR trained on the image itself; returns float32 ``scale*h x scale*w x C``.

    ``kernel``: the SR kernel that made the image (2-D, sums to 1, in
    :mod:`restora.classical.kernelgan`'s convention; e.g. KernelGAN's estimate); ``None``
    assumes MATLAB's bicubic kernel. ``iterations`` caps the training steps (``batch``
    crops of ``crop`` px); the learning rate (``lr``) is cut by 10 when the loss stalls
    and training ends after the third cut. ``ensemble`` averages the 8 flips/rotations at
    test time. ``progress(step, iterations, loss)`` is called every ``check_every`` steps.
    Reproducible for a given ``rng`` on one machine and thread count.
    """
    img = as_image(image)
    s = _scale(scale)
    iterations = int(check_range("iterations", iterations, 1, 10**6))
    check_range("min_father_scale", min_father_scale, 0, 1, lo_open=True)
    if kernel is None:
        k = bicubic_kernel(s)
    else:
        k = np.asarray(kernel, dtype=np.float64)
        if k.ndim != 2 or k.shape[0] != k.shape[1] or k.shape[0] % 2 == 0 or not np.all(np.isfinite(k)):
            raise InvalidParameterError(f"kernel must be a finite square 2-D array of odd size; got shape {k.shape}")
        if abs(k.sum()) < 1e-8:
            raise InvalidParameterError("kernel must not sum to 0")
        k = k / k.sum()
    h, w = img.shape[:2]
    if min(h, w) < 2 * s:
        raise InvalidParameterError(f"image is too small for ZSSR x{s}: {h}x{w}")
    gen = as_generator(rng)
    torch_seed = child_seed(gen)
    import torch

    from restora.degrade.resize import imresize

    y = luma(img)
    scales = np.unique(np.round(np.linspace(min_father_scale, 1.0, 4), 3))
    pairs = _pairs(y, k, s, scales)
    weights = np.array([p[1].size for p in pairs], dtype=np.float64)  # bigger fathers more often
    weights /= weights.sum()
    c = crop - crop % s
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(torch_seed)
        net = _network(layers, channels)
        opt = torch.optim.Adam(net.parameters(), lr=lr)
        history: list[float] = []
        prev: float | None = None
        cuts = 0
        step = 0
        for step in range(1, iterations + 1):
            xs, ys = [], []
            for i in gen.choice(len(pairs), size=batch, p=weights):
                interp, father = pairs[i]
                ch, cw = min(c, father.shape[0]), min(c, father.shape[1])
                r0 = int(gen.integers(0, father.shape[0] - ch + 1))
                c0 = int(gen.integers(0, father.shape[1] - cw + 1))
                xs.append(interp[r0 : r0 + ch, c0 : c0 + cw])
                ys.append(father[r0 : r0 + ch, c0 : c0 + cw])
            if len({a.shape for a in xs}) > 1:  # small fathers: crop all to the smallest
                mh, mw = min(a.shape[0] for a in xs), min(a.shape[1] for a in xs)
                xs, ys = [a[:mh, :mw] for a in xs], [a[:mh, :mw] for a in ys]
            x = torch.from_numpy(np.stack(xs))[:, None]
            t = torch.from_numpy(np.stack(ys))[:, None]
            loss = (x + net(x) - t).abs().mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            history.append(float(loss.detach()))
            if step % check_every == 0:
                window = float(np.mean(history[-check_every:]))
                if progress is not None:
                    progress(step, iterations, window)
                if prev is not None and window > 0.99 * prev:
                    cuts += 1
                    if cuts >= 3:
                        break
                    for group in opt.param_groups:
                        group["lr"] *= 0.1
                prev = window
        net.eval()
        up_y = imresize(y, s)[:, :, 0]
        with torch.no_grad():
            orientations = range(8) if ensemble else (0,)
            deltas = []
            for o in orientations:
                inp = torch.from_numpy(_dihedral(up_y, o))[None, None]
                deltas.append(_undihedral(net(inp)[0, 0].numpy(), o))
            delta = np.mean(deltas, axis=0) if ensemble else deltas[0]
    up = imresize(img, s)
    if img.shape[2] == 1:
        out = up + delta[:, :, None]
    else:
        out = up + (delta / LUMA_GAIN)[:, :, None]
    return np.ascontiguousarray(out, dtype=np.float32)


def kernelgan_zssr(
    image: np.ndarray,
    scale: int,
    *,
    kernelgan_iterations: int = KERNELGAN_ITERATIONS,
    zssr_iterations: int = ZSSR_ITERATIONS,
    ensemble: bool = False,
    rng: RngLike = 0,
) -> np.ndarray:
    """Blind SR: estimate ``image``'s kernel with KernelGAN
    (:func:`restora.classical.kernelgan.estimate_sr_kernel`), then :func:`zssr` with it."""
    s = _scale(scale)
    if s not in (2, 4):
        raise InvalidParameterError(f"scale must be 2 or 4 for KernelGAN; got {scale!r}")
    gen = as_generator(rng)
    kernel, _ = estimate_sr_kernel(image, s, iterations=kernelgan_iterations, rng=child_seed(gen))
    return zssr(image, s, kernel, iterations=zssr_iterations, ensemble=ensemble, rng=child_seed(gen))


def _factory(kind: str):
    def factory(**options: Any):
        def run(image: np.ndarray, **condition: Any) -> np.ndarray:
            scale = condition.get("scale")
            if scale is None:
                raise InvalidParameterError(f"{kind}: pass condition scale= (the SR factor)")
            if kind == "kernelgan":
                return kernelgan_zssr(image, scale, **options)
            return zssr(image, scale, None, **options)

        return run

    return factory


register(RestorerInfo(name="zssr", task="sr", kind="classical", factory=_factory("zssr"),
                      description="ZSSR: a small CNN trained on the image itself, bicubic kernel assumed (per image, CPU: ~1 min)"))
register(RestorerInfo(name="kernelgan", task="sr", kind="classical", factory=_factory("kernelgan"), blind=True,
                      description="blind SR: KernelGAN estimates the image's kernel, then ZSSR with it (x2/x4; per image, CPU: minutes)"))
