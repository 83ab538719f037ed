"""Blind super-resolution tasks ``sr-kernel-x2`` and ``sr-kernel-x4`` (issue 20), made
like DIV2KRK (the KernelGAN paper's test set) on Set5, Set14 and Kodak24.

Degradation, seeded per image by the harness's :func:`~restora.bench.tasks.image_rng`:

* x2: a random anisotropic Gaussian kernel (:func:`div2krk_kernel`): covariance
  ``R(theta) diag(l1, l2) R(theta)^T`` with eigenvalues ``l1, l2`` uniform in
  :data:`DIV2KRK_EIGEN_RANGE` (0.6, 5) (the paper's "lambda"; the standard deviations are
  their square roots, 0.77 to 2.24 px), ``theta`` uniform in ``[0, pi)``, on an 11 x 11
  grid, times uniform multiplicative noise ``1 + U(-0.25, 0.25)`` per tap, re-centred and
  normalised to sum 1.
* x4: the x2 kernel composed with itself (:func:`restora.classical.kernelgan.compose_x4`,
  31 x 31): downscaling by 4 equals downscaling twice by 2 with the x2 kernel, the same
  model KernelGAN's x4 estimate assumes.

The HR image is cropped to a multiple of the scale, blurred by correlation with the kernel
(mirrored borders) and sampled on MATLAB ``imresize``'s grid
(:func:`restora.classical.kernelgan.downscale_with_kernel`), then rounded to 8 bits. The
restorer is told ``scale`` and ``kernel`` (the true kernel; only ``zssr-true-kernel`` uses
it). Scores: Y-channel PSNR/SSIM of the 8-bit output with ``scale`` pixels cropped from
each border, as ``sr-bicubic-x*``.

Methods: ``bicubic`` (catalogue), ``zssr`` (ZSSR assuming the bicubic kernel),
``kernelgan-zssr`` (KernelGAN's estimate, then ZSSR with it) and ``zssr-true-kernel``
(ZSSR with the true kernel: the upper bound).
"""

from __future__ import annotations

from typing import Any

import numpy as np

import restora.classical.zssr  # noqa: F401  (registers the zssr and kernelgan restorers)
from restora.bench.methods import BenchMethod
from restora.bench.tasks import TASKS, BenchTask, Scoring, modcrop, quantize

__all__ = [
    "DIV2KRK_EIGEN_RANGE",
    "DIV2KRK_KERNEL_SIZE",
    "DIV2KRK_NOISE",
    "BLIND_SR_DATASETS",
    "div2krk_kernel",
    "blind_sr_tasks",
]

#: Range of the covariance eigenvalues (px^2) of the x2 kernels (KernelGAN's DIV2KRK).
DIV2KRK_EIGEN_RANGE = (0.6, 5.0)
#: Side of the x2 kernels (the x4 ones are ``3 * 11 - 2 = 31``).
DIV2KRK_KERNEL_SIZE = 11
#: Multiplicative noise: each tap times ``1 + U(-DIV2KRK_NOISE, DIV2KRK_NOISE)``.
DIV2KRK_NOISE = 0.25
BLIND_SR_DATASETS = ("Set5", "Set14", "Kodak24")


def div2krk_kernel(scale: int, rng: np.random.Generator) -> tuple[np.ndarray, dict[str, Any]]:
    """A DIV2KRK-like random kernel for ``scale`` 2 or 4 and its record (``l1``, ``l2``,
    ``theta``); float64, sums to 1, in :mod:`restora.classical.kernelgan`'s convention."""
    from restora.classical.kernelgan import center_kernel, compose_x4

    if scale not in (2, 4):
        from restora.errors import InvalidParameterError

        raise InvalidParameterError(f"scale must be 2 or 4; got {scale!r}")
    n = DIV2KRK_KERNEL_SIZE
    l1, l2 = (float(v) for v in rng.uniform(*DIV2KRK_EIGEN_RANGE, size=2))
    theta = float(rng.uniform(0.0, np.pi))
    noise = rng.uniform(-DIV2KRK_NOISE, DIV2KRK_NOISE, size=(n, n))
    c, s_ = np.cos(theta), np.sin(theta)
    q = np.array([[c, -s_], [s_, c]])
    inv = np.linalg.inv(q @ np.diag([l1, l2]) @ q.T)
    mu = n // 2 + 0.5  # the x2 target centre (the kernel is re-centred after the noise anyway)
    yy, xx = np.mgrid[0:n, 0:n].astype(np.float64)
    v = np.stack([xx - mu, yy - mu], axis=-1)
    quad = np.einsum("...i,ij,...j->...", v, inv, v)
    k = np.exp(-0.5 * quad) * (1.0 + noise)
    k = center_kernel(k / k.sum(), 2)
    if scale == 4:
        k = center_kernel(compose_x4(k), 4)
    record = {"kind": "div2krk_gaussian", "l1": l1, "l2": l2, "theta": theta, "noise": DIV2KRK_NOISE,
              "size": int(k.shape[0]), "scale": int(scale)}
    return k, record


def _degrade(scale: int):
    def degrade(ref: np.ndarray, rng: np.random.Generator):
        from restora.classical.kernelgan import downscale_with_kernel

        kernel, krec = div2krk_kernel(scale, rng)
        lr = quantize(downscale_with_kernel(ref, kernel, scale))
        record = {"kernel": krec, "downscale": {"op": "correlate+subsample", "boundary": "symmetric",
                                                "grid": "imresize"}, "uint8": True}
        return lr, {"scale": int(scale), "kernel": kernel}, record

    return degrade


def _zssr_method(name: str, use: str, description: str):
    def factory(device: str | None = None) -> BenchMethod:
        from restora.classical.zssr import kernelgan_zssr, zssr

        def run(image: np.ndarray, **condition: Any) -> np.ndarray:
            scale = int(condition["scale"])
            if use == "true":
                return zssr(image, scale, condition["kernel"])
            if use == "kernelgan":
                return kernelgan_zssr(image, scale)
            return zssr(image, scale, None)

        return BenchMethod(name=name, restorer=run, kind="classical", source="builtin", description=description)

    return factory


def blind_sr_tasks() -> list[BenchTask]:
    """The tasks of this module (added to :data:`restora.bench.tasks.TASKS` on import)."""
    methods = {
        "zssr": _zssr_method("zssr", "bicubic", "ZSSR trained on the image, assuming the bicubic kernel"),
        "kernelgan-zssr": _zssr_method("kernelgan-zssr", "kernelgan", "KernelGAN kernel estimate, then ZSSR with it"),
        "zssr-true-kernel": _zssr_method("zssr-true-kernel", "true", "ZSSR with the true kernel (upper bound)"),
    }
    tasks = []
    for scale in (2, 4):
        size = DIV2KRK_KERNEL_SIZE if scale == 2 else 3 * DIV2KRK_KERNEL_SIZE - 2
        tasks.append(
            BenchTask(
                name=f"sr-kernel-x{scale}",
                kind="sr",
                description=(
                    f"blind x{scale} SR, DIV2KRK-like: seeded anisotropic Gaussian kernel (eigenvalues U{DIV2KRK_EIGEN_RANGE}, "
                    f"random angle, x{1 + DIV2KRK_NOISE:g}/x{1 - DIV2KRK_NOISE:g} tap noise"
                    + (", x4 = x2 kernel composed with itself" if scale == 4 else "")
                    + f"), blur + subsample, 8-bit; kernel given to zssr-true-kernel only; Y-PSNR/SSIM crop {scale}"
                ),
                datasets=BLIND_SR_DATASETS,
                default_datasets=("Set5",),
                channels="any",
                prepare=lambda img, s=scale: modcrop(img, s),
                degrade=_degrade(scale),
                scoring=Scoring(crop=scale, y_channel=True, round_to_uint8=True),
                parameters={"scale": scale, "kernel_size": size, "eigen_range": list(DIV2KRK_EIGEN_RANGE),
                            "kernel_noise": DIV2KRK_NOISE},
                methods=dict(methods),
            )
        )
    return tasks


TASKS.update({t.name: t for t in blind_sr_tasks()})
