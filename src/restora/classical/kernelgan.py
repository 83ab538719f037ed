"""KernelGAN (Bell-Kligler, Shocher and Irani, NeurIPS 2019): blind estimation of the
super-resolution (downscaling) kernel of one image, trained on that image alone.

A deep *linear* generator ``G`` (convolutions 7x7, 5x5, 3x3, 1x1, 1x1, 1x1 without bias,
activations or pooling; the last one has stride ``scale``) learns to downscale crops of the
image so that a fully-convolutional patch discriminator ``D`` (a spectrally normalised 7x7
convolution, then 1x1 convolutions with batch norm and ReLU, a sigmoid map) cannot tell the
patches of ``G(crop)`` from the image's own patches. Since ``G`` is linear and has no bias,
it *is* one convolution with stride ``scale``: its kernel is read off by passing a delta
through the layers, and the downscaled crops are made with that composed kernel, which is
the same function as running the layers (and its gradients reach every layer's weights)
but costs a few megaflops per step instead of a full-resolution pass: the reduction that
makes the method fit a CPU (see ``docs/blind_sr.md``).

Losses (L1 GAN as in the paper): ``D`` minimises ``E|D(x) - 1| + E|D(G(x))|``, ``G``
minimises ``E|D(G(x)) - 1|`` plus the kernel regularisers: sum to one ``|1 - sum k|``,
boundaries ``sum |k * m|`` (``m`` grows away from the centre), sparsity ``mean |k|^0.5``
and centring (squared distance of the centre of mass from where the kernel must sit). For
the first iterations ``G`` is also pulled towards the bicubic kernel (the paper's
initialisation loss). Crops are drawn with probability proportional to the local gradient
magnitude. The final kernel is cleaned as the paper does (values below a fraction of the
``n``-th largest are zeroed) and moved so its centre of mass is exactly on the target.

Kernel convention (shared by :func:`downscale_with_kernel`, the bench task ``sr-kernel-x*``
and :func:`restora.classical.zssr.zssr`): the LR image is ``correlate(HR, k)`` sampled at
every ``scale``-th pixel from the first, with the kernel's centre of mass
``(scale - 1) / 2`` pixels below and right of its middle element, so LR pixel ``i`` sits
at HR position ``scale * i + (scale - 1) / 2``: MATLAB ``imresize``'s grid. The bicubic
kernel in this convention is :func:`bicubic_kernel`. An x4 kernel is estimated as the
composition of the x2 kernel with itself (:func:`compose_x4`, the paper's analytic x4).
"""

from __future__ import annotations

import time
from typing import Any, Callable

import numpy as np

from restora.errors import InvalidParameterError
from restora.rng import RngLike, as_generator, child_seed
from restora.validation import as_image, check_range

__all__ = [
    "estimate_sr_kernel",
    "bicubic_kernel",
    "downscale_with_kernel",
    "compose_x4",
    "center_kernel",
    "kernel_error",
    "match_kernel_size",
    "luma",
    "KERNELGAN_ITERATIONS",
    "KERNELGAN_KERNEL_SIZE",
]

#: Default number of iterations (the paper: 3000 with batch 1; here 1000 with 4 crops a step).
KERNELGAN_ITERATIONS = 1000
#: Side of the estimated x2 kernel (the receptive field of the 7-5-3-1-1-1 generator).
KERNELGAN_KERNEL_SIZE = 13

_Y = np.array([65.481, 128.553, 24.966], dtype=np.float32) / 255.0


def luma(image: np.ndarray) -> np.ndarray:
    """The BT.601 luma (MATLAB ``rgb2ycbcr`` Y without the offset, in [0, 0.86]) of an RGB
    image as ``H x W``; a gray image is returned as it is."""
    img = as_image(image)
    if img.shape[2] == 1:
        return img[:, :, 0]
    return np.tensordot(img[:, :, :3], _Y, axes=([2], [0])).astype(np.float32)


def _target_center(size: int, scale: int) -> float:
    """Where the centre of mass of a ``size x size`` kernel for ``scale`` must be (row = column)."""
    return size // 2 + (scale - 1) / 2.0


def _cubic(x: np.ndarray) -> np.ndarray:
    a = np.abs(x)
    return np.where(a <= 1, 1.5 * a**3 - 2.5 * a**2 + 1, np.where(a < 2, -0.5 * a**3 + 2.5 * a**2 - 4 * a + 2, 0.0))


def bicubic_kernel(scale: int, size: int | None = None) -> np.ndarray:
    """MATLAB ``imresize``'s antialiased bicubic downscaling kernel for integer ``scale``
    as a ``size x size`` float64 array in this module's convention (sum 1; it has
    negative lobes). ``size`` defaults to ``4 * scale + 3``."""
    s = int(scale)
    if s < 1 or s != scale:
        raise InvalidParameterError(f"scale must be a positive integer; got {scale!r}")
    size = 4 * s + 3 if size is None else int(size)
    if size < 1 or size % 2 == 0:
        raise InvalidParameterError(f"size must be a positive odd integer; got {size!r}")
    d = np.arange(size) - _target_center(size, s)
    w = _cubic(d / s)
    k = np.outer(w, w)
    return k / k.sum()


def downscale_with_kernel(image: np.ndarray, kernel: np.ndarray, scale: int) -> np.ndarray:
    """Blur ``image`` (H x W x C or H x W) by correlation with ``kernel`` (mirrored borders,
    MATLAB's ``symmetric``) and keep every ``scale``-th pixel from the first: the LR image
    on ``imresize``'s grid when the kernel follows this module's convention. Returns
    float32 ``ceil(H / scale) x ceil(W / scale) x C``."""
    import cv2

    img = as_image(image)
    k = np.asarray(kernel, dtype=np.float32)
    if k.ndim != 2 or k.shape[0] != k.shape[1] or k.shape[0] % 2 == 0:
        raise InvalidParameterError(f"kernel must be a square 2-D array of odd size; got shape {k.shape}")
    s = int(scale)
    if s < 1 or s != scale:
        raise InvalidParameterError(f"scale must be a positive integer; got {scale!r}")
    r = k.shape[0] // 2
    padded = np.pad(img, ((r, r), (r, r), (0, 0)), mode="symmetric")
    chans = [cv2.filter2D(padded[:, :, c], cv2.CV_32F, k, borderType=cv2.BORDER_REFLECT)[r:-r or None, r:-r or None]
             for c in range(img.shape[2])]
    out = np.stack(chans, axis=2)[::s, ::s]
    return np.ascontiguousarray(out, dtype=np.float32)


def compose_x4(kernel2: np.ndarray) -> np.ndarray:
    """The x4 kernel equal to downscaling twice by 2 with ``kernel2`` (the paper's analytic
    x4 kernel): ``(3n - 2) x (3n - 2)`` for an ``n x n`` input, in this module's convention."""
    from scipy.signal import convolve

    k = np.asarray(kernel2, dtype=np.float64)
    n = k.shape[0]
    dilated = np.zeros((2 * n - 1, 2 * n - 1))
    dilated[::2, ::2] = k
    out = convolve(dilated, k, mode="full")
    return out / out.sum()


def center_kernel(kernel: np.ndarray, scale: int) -> np.ndarray:
    """``kernel`` shifted (bilinear sub-pixel shift) so its centre of mass sits where this
    module's convention puts it for ``scale``; renormalised to sum 1."""
    from scipy import ndimage

    k = np.asarray(kernel, dtype=np.float64)
    total = k.sum()
    if not np.isfinite(total) or abs(total) < 1e-12:
        raise InvalidParameterError("kernel must have a finite, non-zero sum")
    com = np.array(ndimage.center_of_mass(k / total))
    target = _target_center(k.shape[0], int(scale))
    out = ndimage.shift(k, target - com, order=1, mode="constant")
    return out / out.sum()


def match_kernel_size(kernel: np.ndarray, size: int) -> np.ndarray:
    """Zero-pad or crop an odd square kernel symmetrically to ``size x size`` (middle
    element kept in the middle, so this module's convention is preserved)."""
    k = np.asarray(kernel, dtype=np.float64)
    n = k.shape[0]
    if size == n:
        return k.copy()
    if size > n:
        p = (size - n) // 2
        return np.pad(k, p)
    c = (n - size) // 2
    return k[c : c + size, c : c + size].copy()


def kernel_error(estimate: np.ndarray, truth: np.ndarray) -> float:
    """Relative L2 error ``||k_est - k_true|| / ||k_true||`` on the larger of the two grids."""
    n = max(np.asarray(estimate).shape[0], np.asarray(truth).shape[0])
    a, b = match_kernel_size(estimate, n), match_kernel_size(truth, n)
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


# ----------------------------------------------------------------------------- networks


def _networks(kernel_size: int, scale: int, g_channels: int, d_channels: int, d_layers: int, d_in: int = 1):
    import torch
    from torch import nn

    struct = [7, 5, 3, 1, 1, 1]
    if sum(struct) - len(struct) + 1 != kernel_size:  # stretch the first layer for another size
        struct[0] = kernel_size - (sum(struct[1:]) - len(struct) + 1) + 1
        if struct[0] < 1:
            raise InvalidParameterError(f"kernel_size must be at least 9; got {kernel_size}")
    layers = []
    chans = [1] + [g_channels] * (len(struct) - 1) + [1]
    for i, k in enumerate(struct):
        layers.append(nn.Conv2d(chans[i], chans[i + 1], k, bias=False))
    gen = nn.Sequential(*layers)
    for layer in layers:  # small start (the bicubic loss then shapes the kernel), as the paper's code
        nn.init.xavier_normal_(layer.weight, 0.1)

    sn = nn.utils.spectral_norm
    blocks: list[nn.Module] = [sn(nn.Conv2d(d_in, d_channels, 7))]
    for _ in range(d_layers - 2):
        blocks += [sn(nn.Conv2d(d_channels, d_channels, 1)), nn.BatchNorm2d(d_channels), nn.ReLU(inplace=True)]
    blocks += [sn(nn.Conv2d(d_channels, 1, 1)), nn.Sigmoid()]
    disc = nn.Sequential(*blocks)
    return gen, disc, torch


def _composed_kernel(gen, torch, size: int):
    """The correlation kernel ``k`` with ``G(x)[p] = sum_j k[j] x[s p + j]`` (differentiable)."""
    delta = torch.zeros(1, 1, 2 * size - 1, 2 * size - 1)
    delta[0, 0, size - 1, size - 1] = 1.0
    return torch.flip(gen(delta)[0, 0], dims=(0, 1))


def _boundary_mask(size: int) -> np.ndarray:
    """0 in the central ``size // 2 + 1`` square, then growing with the distance (max 1)."""
    d = np.abs(np.arange(size) - size // 2)
    r = np.maximum.outer(d, d).astype(np.float64)
    inner = (size // 2 + 1) // 2
    m = np.clip((r - inner) / max(size // 2 - inner, 1), 0.0, 1.0)
    return m


def _crop_sampler(img: np.ndarray, rng: np.random.Generator):
    """Draw top-left corners of ``m x m`` crops with probability ~ gradient magnitude."""
    import cv2

    gx = cv2.Sobel(img, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(img, cv2.CV_32F, 0, 1, ksize=3)
    mag = cv2.GaussianBlur(np.sqrt(gx * gx + gy * gy), (0, 0), 2.0)
    h, w = img.shape

    def sample(m: int, n: int) -> list[tuple[int, int]]:
        cy, cx = m // 2, m // 2
        region = mag[cy : h - m + cy + 1, cx : w - m + cx + 1].astype(np.float64)
        p = region.ravel() + 0.1 * (region.mean() + 1e-8)  # a floor: flat regions are rare, not never
        p /= p.sum()
        idx = rng.choice(p.size, size=n, p=p)
        return [(int(i // region.shape[1]), int(i % region.shape[1])) for i in idx]

    return sample


def estimate_sr_kernel(
    image: np.ndarray,
    scale: int = 2,
    *,
    iterations: int = KERNELGAN_ITERATIONS,
    kernel_size: int = KERNELGAN_KERNEL_SIZE,
    batch: int = 4,
    crop: int = 64,
    g_channels: int = 64,
    d_channels: int = 64,
    d_layers: int = 7,
    lr: float = 1e-3,
    lr_every: int | None = None,
    bicubic_iterations: int | None = None,
    keep_largest: int = 80,
    rng: RngLike = 0,
    progress: Callable[[int, int, np.ndarray], None] | None = None,
    progress_every: int | None = None,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Estimate the SR kernel of ``image`` (float32 H x W x C, the LR image) with KernelGAN.

    Returns ``(kernel, info)``: ``kernel`` is float64, sums to 1, centred per this module's
    convention; for ``scale`` 2 it is ``kernel_size x kernel_size``, for ``scale`` 4 it is
    :func:`compose_x4` of the x2 estimate (``3 * kernel_size - 2`` wide). ``info`` holds
    the iterations, seconds and the final losses. Works on the luma of colour images.

    ``iterations`` steps of ``batch`` crops of ``crop`` px (clipped to the image);
    ``g_channels`` is the generator width (64 as the paper); the discriminator has
    ``d_layers`` layers of ``d_channels``. The bicubic initialisation loss is on for the
    first ``bicubic_iterations`` (default: a tenth); sparsity and centring switch on after
    it. ``keep_largest``: the final kernel keeps values above 0.75 x its
    ``keep_largest``-th largest value (the paper: 40; ``0`` keeps everything).
    ``progress(i, iterations, kernel)`` is called every ``progress_every`` iterations
    (default: 20 times per run) with the cleaned kernel so far. Reproducible for a given
    ``rng`` on one machine and thread count.
    """
    s = int(scale)
    if s not in (2, 4) or s != scale:
        raise InvalidParameterError(f"scale must be 2 or 4 (x4 composes the x2 kernel); got {scale!r}")
    iterations = int(check_range("iterations", iterations, 1, 10**6))
    kernel_size = int(kernel_size)
    if kernel_size < 9 or kernel_size % 2 == 0:
        raise InvalidParameterError(f"kernel_size must be an odd integer >= 9; got {kernel_size!r}")
    rgb = as_image(image)
    img = luma(rgb)
    h, w = img.shape
    planes = rgb[:, :, :3] if rgb.shape[2] >= 3 else rgb[:, :, :1]  # D sees colour, as the paper
    crop = int(min(crop, h, w))
    if crop < kernel_size + 2 * 7:
        raise InvalidParameterError(f"image is too small for KernelGAN: {h}x{w}, needs at least {kernel_size + 14} px a side")
    gen_rng = as_generator(rng)
    torch_seed = child_seed(gen_rng)
    import torch

    g_scale = 2  # the network always estimates the x2 kernel
    out_size = (crop - kernel_size) // g_scale + 1
    bicubic_iterations = max(1, iterations // 10) if bicubic_iterations is None else int(bicubic_iterations)
    progress_every = max(1, iterations // 20) if progress_every is None else max(1, int(progress_every))
    lr_every = max(1, (3 * iterations) // 5) if lr_every is None else max(1, int(lr_every))
    t0 = time.perf_counter()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(torch_seed)
        gen, disc, _ = _networks(kernel_size, g_scale, g_channels, d_channels, d_layers, planes.shape[2])
        opt_g = torch.optim.Adam(gen.parameters(), lr=lr, betas=(0.5, 0.999))
        opt_d = torch.optim.Adam(disc.parameters(), lr=lr, betas=(0.5, 0.999))
        img_t = torch.from_numpy(np.ascontiguousarray(planes.transpose(2, 0, 1)))
        sample = _crop_sampler(img, gen_rng)
        bic = torch.from_numpy(bicubic_kernel(g_scale, kernel_size)).float()
        mask = torch.from_numpy(_boundary_mask(kernel_size)).float()
        grid = torch.arange(kernel_size, dtype=torch.float32)
        target = _target_center(kernel_size, g_scale)

        def crops(m: int, n: int):
            return torch.stack([img_t[:, y : y + m, x : x + m] for y, x in sample(m, n)])

        def cleaned(k_t) -> np.ndarray:
            return _post_process(k_t.detach().double().numpy(), g_scale, keep_largest)

        losses: dict[str, float] = {}
        for it in range(1, iterations + 1):
            if it % lr_every == 0:  # the paper: lr / 10 every 750 of its 3000 iterations
                for opt in (opt_g, opt_d):
                    for group in opt.param_groups:
                        group["lr"] *= 0.1
            gcrop = crops(crop, batch)
            real = crops(out_size, batch)
            k = _composed_kernel(gen, torch, kernel_size)
            nb, nc = gcrop.shape[:2]  # the kernel applies to each colour plane
            fake = torch.nn.functional.conv2d(gcrop.reshape(nb * nc, 1, crop, crop), k[None, None], stride=g_scale)
            fake = fake.reshape(nb, nc, out_size, out_size)
            # discriminator
            opt_d.zero_grad(set_to_none=True)
            noisy_fake = fake.detach() + torch.randn_like(fake) / 255.0  # the paper's code: 1/255 noise on D's fakes
            # real and fake go through D together, so its batch norm compares them on one scale
            d_out = disc(torch.cat([real, noisy_fake]))
            d_loss = (d_out[:batch] - 1).abs().mean() + d_out[batch:].abs().mean()
            d_loss.backward()
            opt_d.step()
            # generator
            opt_g.zero_grad(set_to_none=True)
            g_gan = (disc(torch.cat([real, fake]))[batch:] - 1).abs().mean()
            ksum = k.sum()
            reg_sum = (1 - ksum).abs()
            reg_bound = (k * mask).abs().sum()
            if it <= bicubic_iterations:
                reg = 0.5 * reg_sum + 0.5 * reg_bound + 500.0 * ((k - bic) ** 2).sum()
            else:
                reg_sparse = (k.abs() + 1e-8).pow(0.5).mean()
                kn = k / ksum
                cy = (kn.sum(dim=1) * grid).sum()
                cx = (kn.sum(dim=0) * grid).sum()
                reg_center = (cy - target) ** 2 + (cx - target) ** 2
                reg = 0.5 * reg_sum + 0.5 * reg_bound + 0.2 * reg_sparse + 1.0 * reg_center
            g_loss = g_gan + reg
            g_loss.backward()
            opt_g.step()
            if progress is not None and (it % progress_every == 0 or it == iterations):
                kk = cleaned(k)
                progress(it, iterations, compose_x4(kk) if s == 4 else kk)
            losses = {"d": float(d_loss.detach()), "g_gan": float(g_gan.detach()), "g_reg": float(reg.detach())}
        with torch.no_grad():
            k_final = cleaned(_composed_kernel(gen, torch, kernel_size))
    if s == 4:
        k_final = center_kernel(compose_x4(k_final), 4)
    info = {
        "method": "kernelgan",
        "scale": s,
        "iterations": iterations,
        "batch": batch,
        "crop": crop,
        "kernel_size": int(k_final.shape[0]),
        "g_channels": g_channels,
        "seconds": time.perf_counter() - t0,
        "final_losses": losses,
    }
    return k_final, info


def _post_process(k: np.ndarray, scale: int, keep_largest: int) -> np.ndarray:
    """The paper's cleaning: subtract 0.75 x the ``keep_largest``-th largest value, clip
    at 0, normalise, then move the centre of mass onto the target."""
    k = np.asarray(k, dtype=np.float64)
    if keep_largest > 0 and k.size > keep_largest:
        thr = 0.75 * np.sort(k.ravel())[-keep_largest - 1]
        k = np.clip(k - thr, 0.0, None)
    else:
        k = np.clip(k, 0.0, None)
    if k.sum() <= 0:
        k = bicubic_kernel(scale, k.shape[0])
    k = k / k.sum()
    for _ in range(3):  # a bilinear shift moves the centre exactly only if no mass leaves the grid
        k = center_kernel(k, scale)
    return k

