"""StyleGAN2 (Karras et al. 2020): a style-based generator with modulated/demodulated
convolutions, per-layer noise and skip (toRGB) outputs, and its residual discriminator with
a minibatch standard-deviation layer; plus the logistic GAN losses and the R1 penalty.

Written for restora's face prior at CPU scale (64 px, narrow layers). The generator and
discriminator work on images in **[-1, 1]** (the GAN convention); callers that hold restora's
[0, 1] images convert at the edge (``2 * x - 1`` in, ``(y + 1) / 2`` out).

Simplifications against the official implementation (documented in ``docs/face_prior.md``):
upsampling in the generator is bilinear x2 followed by a 3x3 modulated convolution (the
official one is a transposed convolution followed by a [1, 3, 3, 1] FIR blur; bilinear x2 is
that filter up to edge handling); downsampling in the discriminator is the [1, 3, 3, 1] blur
with stride 2 followed by a 3x3 convolution; no custom CUDA kernels; no path-length
regulariser.

Generator layout (``num_ws = 2 * log2(resolution) - 2`` latents, as StyleGAN2): at 4x4 a
learned constant, one styled 3x3 conv (``ws[:, 0]``) and a toRGB (``ws[:, 1]``); at each
following resolution r an upsampling styled conv (``ws[:, i]``), a styled conv
(``ws[:, i + 1]``) and a toRGB (``ws[:, i + 2]``), with ``i`` advancing by 2 per resolution
(a toRGB shares its latent index with the next resolution's first conv). The RGB outputs are
upsampled and summed (skip architecture).
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from restora.errors import InvalidParameterError
from restora.nn.spec import ArchSpec

__all__ = [
    "EqualLinear",
    "EqualConv2d",
    "MappingNetwork",
    "ModulatedConv2d",
    "StyledConv",
    "ToRGB",
    "StyleGAN2Generator",
    "StyleGAN2Discriminator",
    "minibatch_stddev",
    "num_ws_for",
    "channels_for",
    "g_nonsaturating_loss",
    "d_logistic_loss",
    "r1_penalty",
]

_SQRT2 = math.sqrt(2.0)


def _lrelu(x: torch.Tensor) -> torch.Tensor:
    """Leaky ReLU (slope 0.2) with StyleGAN's gain sqrt(2), which keeps unit variance."""
    return F.leaky_relu(x, 0.2) * _SQRT2


def _log2_resolution(resolution: int) -> int:
    r = int(resolution)
    if r < 4 or r & (r - 1):
        raise InvalidParameterError(f"resolution must be a power of two >= 4, got {resolution}")
    return int(math.log2(r))


def num_ws_for(resolution: int) -> int:
    """Number of per-layer latents (w+) of a generator at ``resolution``: ``2 log2(r) - 2``."""
    return 2 * _log2_resolution(resolution) - 2


def channels_for(resolution: int, channel_base: int, channel_max: int) -> dict[int, int]:
    """Feature channels per resolution, StyleGAN2-ADA's rule ``min(base // r, max)`` (>= 1)."""
    log = _log2_resolution(resolution)
    return {2**k: max(1, min(int(channel_base) // 2**k, int(channel_max))) for k in range(2, log + 1)}


def pixel_norm(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Normalise each vector of ``x`` (over dim 1) to unit root-mean-square."""
    return x * torch.rsqrt(x.square().mean(dim=1, keepdim=True) + eps)


class EqualLinear(nn.Module):
    """Linear layer with equalised learning rate: weights drawn N(0, 1/lr_mul^2) and scaled by
    ``lr_mul / sqrt(in_features)`` at run time; bias scaled by ``lr_mul``."""

    def __init__(
        self, in_features: int, out_features: int, *, bias: bool = True, bias_init: float = 0.0,
        lr_mul: float = 1.0, activation: bool = False,
    ) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_features, in_features) / lr_mul)
        self.bias = nn.Parameter(torch.full((out_features,), float(bias_init) / lr_mul)) if bias else None
        self.scale = lr_mul / math.sqrt(in_features)
        self.lr_mul = lr_mul
        self.activation = activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b = self.bias * self.lr_mul if self.bias is not None else None
        y = F.linear(x, self.weight * self.scale, b)
        return _lrelu(y) if self.activation else y


class EqualConv2d(nn.Module):
    """Convolution with equalised learning rate (weights N(0, 1) scaled by 1/sqrt(fan_in))."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, *, bias: bool = True, activation: bool = False) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        self.scale = 1.0 / math.sqrt(in_channels * kernel_size**2)
        self.padding = kernel_size // 2
        self.activation = activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.conv2d(x, self.weight * self.scale, self.bias, padding=self.padding)
        return _lrelu(y) if self.activation else y


class MappingNetwork(nn.Module):
    """z -> w: pixel norm of z, then ``num_layers`` equalised-lr dense layers with leaky ReLU
    and a reduced learning rate ``lr_mul`` (0.01 in StyleGAN2)."""

    def __init__(self, z_dim: int, w_dim: int, num_layers: int = 8, lr_mul: float = 0.01) -> None:
        super().__init__()
        if num_layers < 1:
            raise InvalidParameterError(f"mapping num_layers must be >= 1, got {num_layers}")
        dims = [z_dim] + [w_dim] * num_layers
        self.layers = nn.Sequential(*[EqualLinear(a, b, lr_mul=lr_mul, activation=True) for a, b in zip(dims[:-1], dims[1:])])

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.layers(pixel_norm(z))


class ModulatedConv2d(nn.Module):
    """StyleGAN2 modulated convolution: the weight is scaled per input channel by an affine
    style of ``w`` (bias initialised to 1), then (``demodulate``) each output filter is
    normalised to unit L2 norm, so unit-variance inputs give unit-variance outputs. Run as one
    grouped convolution over the batch. ``upsample``: bilinear x2 before the convolution."""

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: int, w_dim: int, *,
        demodulate: bool = True, upsample: bool = False,
    ) -> None:
        super().__init__()
        self.in_channels, self.out_channels, self.kernel_size = in_channels, out_channels, kernel_size
        self.weight = nn.Parameter(torch.randn(1, out_channels, in_channels, kernel_size, kernel_size))
        self.scale = 1.0 / math.sqrt(in_channels * kernel_size**2)
        self.affine = EqualLinear(w_dim, in_channels, bias_init=1.0)
        self.demodulate = demodulate
        self.upsample = upsample

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        b, c, h, wd = x.shape
        style = self.affine(w)  # B x in
        weight = self.weight * self.scale * style[:, None, :, None, None]  # B x out x in x k x k
        if self.demodulate:
            weight = weight * torch.rsqrt(weight.square().sum(dim=(2, 3, 4), keepdim=True) + 1e-8)
        if self.upsample:
            x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
            h, wd = 2 * h, 2 * wd
        k = self.kernel_size
        y = F.conv2d(x.reshape(1, b * c, h, wd), weight.reshape(b * self.out_channels, c, k, k), padding=k // 2, groups=b)
        return y.reshape(b, self.out_channels, h, wd)


class NoiseInjection(nn.Module):
    """Adds ``strength * noise`` (one noise plane per sample, broadcast over channels);
    ``strength`` is learned and starts at 0, as in StyleGAN2."""

    def __init__(self) -> None:
        super().__init__()
        self.strength = nn.Parameter(torch.zeros(()))

    def forward(self, x: torch.Tensor, noise: torch.Tensor | None) -> torch.Tensor:
        return x if noise is None else x + self.strength * noise


class StyledConv(nn.Module):
    """Modulated 3x3 conv + noise + bias + leaky ReLU (gain sqrt 2)."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, *, upsample: bool = False) -> None:
        super().__init__()
        self.conv = ModulatedConv2d(in_channels, out_channels, 3, w_dim, upsample=upsample)
        self.noise = NoiseInjection()
        self.bias = nn.Parameter(torch.zeros(1, out_channels, 1, 1))

    def forward(self, x: torch.Tensor, w: torch.Tensor, noise: torch.Tensor | None) -> torch.Tensor:
        return _lrelu(self.noise(self.conv(x, w), noise) + self.bias)


class ToRGB(nn.Module):
    """Modulated 1x1 conv to RGB without demodulation, plus bias."""

    def __init__(self, in_channels: int, w_dim: int, out_channels: int = 3) -> None:
        super().__init__()
        self.conv = ModulatedConv2d(in_channels, out_channels, 1, w_dim, demodulate=False)
        self.bias = nn.Parameter(torch.zeros(1, out_channels, 1, 1))

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return self.conv(x, w) + self.bias


NOISE_MODES = ("random", "const", "none")


class StyleGAN2Generator(nn.Module):
    """StyleGAN2 generator (skip architecture) producing ``B x 3 x R x R`` images in [-1, 1].

    ``forward(latent)``: ``latent`` is z (``B x z_dim``, mapped, optionally truncated) or w+
    (``B x num_ws x w_dim``, used as given). ``noise``: a list of per-layer noise tensors
    (``B x 1 x r x r``; None entries follow ``noise_mode``): ``"random"`` draws fresh noise
    (from ``noise_generator`` if given), ``"const"`` uses fixed buffers, ``"none"`` adds none.
    ``feature``: a ``B x C x F x F`` map (``F = feature_res``, 16 by default, ``C`` =
    ``channels[F]``) that replaces the activation after the two styled convs at that
    resolution (BDInvert's base code); the layers below still run for the RGB skip, and
    passing the map the generator makes itself (``return_feature=True``) reproduces the
    unmodified output. ``w_avg`` is the running mean of w (updated in training mode when z is
    given) used for truncation.
    """

    def __init__(
        self,
        resolution: int = 64,
        z_dim: int = 128,
        w_dim: int = 128,
        mapping_layers: int = 4,
        channel_base: int = 2048,
        channel_max: int = 128,
        mapping_lr_mul: float = 0.01,
        feature_res: int = 16,
        w_avg_beta: float = 0.995,
        out_channels: int = 3,
    ) -> None:
        super().__init__()
        log = _log2_resolution(resolution)
        if feature_res not in [2**k for k in range(2, log + 1)]:
            raise InvalidParameterError(f"feature_res must be a power of two in [4, {resolution}], got {feature_res}")
        self.resolution, self.z_dim, self.w_dim = int(resolution), int(z_dim), int(w_dim)
        self.feature_res, self.w_avg_beta = int(feature_res), float(w_avg_beta)
        self.channels = channels_for(resolution, channel_base, channel_max)
        self.num_ws = num_ws_for(resolution)
        self.mapping = MappingNetwork(z_dim, w_dim, mapping_layers, mapping_lr_mul)
        self.register_buffer("w_avg", torch.zeros(w_dim))
        ch = self.channels
        self.const = nn.Parameter(torch.randn(1, ch[4], 4, 4))
        self.conv1 = StyledConv(ch[4], ch[4], w_dim)
        self.to_rgb1 = ToRGB(ch[4], w_dim, out_channels)
        self.convs_up = nn.ModuleList()
        self.convs = nn.ModuleList()
        self.to_rgbs = nn.ModuleList()
        self.resolutions = [2**k for k in range(3, log + 1)]
        for r in self.resolutions:
            self.convs_up.append(StyledConv(ch[r // 2], ch[r], w_dim, upsample=True))
            self.convs.append(StyledConv(ch[r], ch[r], w_dim))
            self.to_rgbs.append(ToRGB(ch[r], w_dim, out_channels))
        self.noise_sizes = [4] + [r for r in self.resolutions for _ in range(2)]
        gen = torch.Generator().manual_seed(1234)
        for i, r in enumerate(self.noise_sizes):
            self.register_buffer(f"noise_const_{i}", torch.randn(1, 1, r, r, generator=gen))

    @property
    def feature_channels(self) -> int:
        """Channels of the injectable feature map (those of the generator at ``feature_res``)."""
        return self.channels[self.feature_res]

    @property
    def num_noise(self) -> int:
        """Number of noise inputs (one per styled conv)."""
        return len(self.noise_sizes)

    def map(self, z: torch.Tensor, *, truncation_psi: float = 1.0, truncation_cutoff: int | None = None,
            update_w_avg: bool = False) -> torch.Tensor:
        """w+ (``B x num_ws x w_dim``) of ``z``: mapped, broadcast to every layer, and pulled
        towards ``w_avg`` by ``truncation_psi`` on the first ``truncation_cutoff`` layers (all)."""
        w = self.mapping(z)
        if update_w_avg:
            with torch.no_grad():
                self.w_avg.lerp_(w.detach().mean(0).to(self.w_avg.dtype), 1.0 - self.w_avg_beta)
        ws = w[:, None, :].expand(-1, self.num_ws, -1)
        if truncation_psi != 1.0:
            avg = self.w_avg.to(ws.dtype)
            trunc = avg + truncation_psi * (ws - avg)
            if truncation_cutoff is None:
                ws = trunc
            else:
                ws = torch.cat([trunc[:, :truncation_cutoff], ws[:, truncation_cutoff:]], dim=1)
        return ws

    def mean_latent(self, n: int = 4096, seed: int = 0) -> torch.Tensor:
        """Mean of w over ``n`` seeded draws of z (a fresh estimate of ``w_avg``)."""
        gen = torch.Generator().manual_seed(int(seed))
        z = torch.randn(n, self.z_dim, generator=gen).to(self.w_avg.device)
        with torch.no_grad():
            return self.mapping(z).mean(0)

    def make_noise(self, batch: int, generator: torch.Generator | None = None) -> list[torch.Tensor]:
        """Fresh per-layer noise tensors (``B x 1 x r x r``) for every styled conv."""
        dev = self.const.device
        return [torch.randn(batch, 1, r, r, generator=generator).to(dev) for r in self.noise_sizes]

    def _noise(self, i: int, batch: int, mode: str, noise: Sequence[torch.Tensor | None] | None,
               generator: torch.Generator | None, dtype: torch.dtype) -> torch.Tensor | None:
        if noise is not None and noise[i] is not None:
            return noise[i]
        if mode == "none":
            return None
        if mode == "const":
            return getattr(self, f"noise_const_{i}").to(dtype)
        r = self.noise_sizes[i]
        return torch.randn(batch, 1, r, r, generator=generator).to(device=self.const.device, dtype=dtype)

    def forward(
        self,
        latent: torch.Tensor,
        *,
        noise: Sequence[torch.Tensor | None] | None = None,
        noise_mode: str = "random",
        noise_generator: torch.Generator | None = None,
        feature: torch.Tensor | None = None,
        truncation_psi: float = 1.0,
        truncation_cutoff: int | None = None,
        return_feature: bool = False,
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        if noise_mode not in NOISE_MODES:
            raise InvalidParameterError(f"noise_mode must be one of {', '.join(NOISE_MODES)}, got {noise_mode!r}")
        if noise is not None and len(noise) != self.num_noise:
            raise InvalidParameterError(f"noise must list {self.num_noise} tensors (or None), got {len(noise)}")
        if latent.dim() == 2:
            if latent.shape[1] != self.z_dim:
                raise InvalidParameterError(f"z must be B x {self.z_dim}, got {tuple(latent.shape)}")
            ws = self.map(latent, truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff, update_w_avg=self.training)
        elif latent.dim() == 3:
            if latent.shape[1:] != (self.num_ws, self.w_dim):
                raise InvalidParameterError(f"w+ must be B x {self.num_ws} x {self.w_dim}, got {tuple(latent.shape)}")
            ws = latent
        else:
            raise InvalidParameterError(f"latent must be z (B x z_dim) or w+ (B x num_ws x w_dim), got {tuple(latent.shape)}")
        b = ws.shape[0]
        fr = self.feature_res
        if feature is not None and feature.shape[1:] != (self.feature_channels, fr, fr):
            raise InvalidParameterError(
                f"feature must be B x {self.feature_channels} x {fr} x {fr}, got {tuple(feature.shape)}"
            )
        nz = lambda i: self._noise(i, b, noise_mode, noise, noise_generator, ws.dtype)  # noqa: E731
        feat: torch.Tensor | None = None
        if feature is not None and fr == 4:
            x = feature
        else:
            x = self.conv1(self.const.expand(b, -1, -1, -1).to(ws.dtype), ws[:, 0], nz(0))
        if fr == 4:
            feat = x
        rgb = self.to_rgb1(x, ws[:, 1])
        for j, r in enumerate(self.resolutions):
            i = 2 * j + 1
            if feature is not None and r == fr:
                x = feature
            else:
                x = self.convs_up[j](x, ws[:, i], nz(2 * j + 1))
                x = self.convs[j](x, ws[:, i + 1], nz(2 * j + 2))
            if r == fr:
                feat = x
            rgb = self.to_rgbs[j](x, ws[:, i + 2]) + F.interpolate(rgb, scale_factor=2, mode="bilinear", align_corners=False)
        if return_feature:
            assert feat is not None
            return rgb, feat
        return rgb


def minibatch_stddev(x: torch.Tensor, group_size: int = 4, num_channels: int = 1) -> torch.Tensor:
    """Append the minibatch standard-deviation feature (Karras et al. 2018; StyleGAN2 form).

    The batch is split into groups of ``G`` samples (``G`` = the largest divisor of the batch
    not above ``group_size``); within a group the std over samples of each feature (split in
    ``num_channels`` channel groups) is averaged over channels and pixels, and that scalar is
    appended as ``num_channels`` constant planes to every sample of the group.
    """
    b, c, h, w = x.shape
    g = max(d for d in range(1, min(group_size, b) + 1) if b % d == 0)
    f = int(num_channels)
    if c % f:
        raise InvalidParameterError(f"minibatch-std num_channels {f} must divide the channel count {c}")
    y = x.reshape(g, -1, f, c // f, h, w)
    y = (y - y.mean(dim=0)).square().mean(dim=0)
    y = (y + 1e-8).sqrt().mean(dim=(2, 3, 4))  # (B/G) x F
    y = y.reshape(-1, f, 1, 1).repeat(g, 1, h, w)  # sample n belongs to group n % (B/G)
    return torch.cat([x, y], dim=1)


def _blur_down(x: torch.Tensor) -> torch.Tensor:
    """[1, 3, 3, 1] blur then keep every other pixel (StyleGAN2's downsampling filter)."""
    c = x.shape[1]
    k1 = torch.tensor([1.0, 3.0, 3.0, 1.0], dtype=x.dtype, device=x.device)
    k = (k1[:, None] * k1[None, :]) / 64.0
    return F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), k.expand(c, 1, 4, 4), stride=2, groups=c)


class DiscriminatorBlock(nn.Module):
    """Residual block: conv3x3 -> blur/stride-2 + conv3x3, with a blurred 1x1 skip; sum / sqrt 2."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv1 = EqualConv2d(in_channels, in_channels, 3, activation=True)
        self.conv2 = EqualConv2d(in_channels, out_channels, 3, activation=True)
        self.skip = EqualConv2d(in_channels, out_channels, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv2(_blur_down(self.conv1(x)))
        return (y + self.skip(_blur_down(x))) / _SQRT2


class StyleGAN2Discriminator(nn.Module):
    """StyleGAN2 residual discriminator: fromRGB (1x1), residual blocks down to 4x4, then
    minibatch-std, a 3x3 conv, a dense layer and the logit (``B x 1``). Takes ``R x R`` images
    in [-1, 1]."""

    def __init__(
        self, resolution: int = 64, in_channels: int = 3, channel_base: int = 2048, channel_max: int = 128,
        mbstd_group: int = 4, mbstd_channels: int = 1,
    ) -> None:
        super().__init__()
        log = _log2_resolution(resolution)
        self.resolution = int(resolution)
        ch = channels_for(resolution, channel_base, channel_max)
        self.channels = ch
        self.from_rgb = EqualConv2d(in_channels, ch[self.resolution], 1, activation=True)
        self.blocks = nn.Sequential(*[DiscriminatorBlock(ch[2**k], ch[2 ** (k - 1)]) for k in range(log, 2, -1)])
        self.mbstd_group, self.mbstd_channels = int(mbstd_group), int(mbstd_channels)
        c4 = ch[4]
        self.conv = EqualConv2d(c4 + self.mbstd_channels, c4, 3, activation=True)
        self.fc = EqualLinear(c4 * 16, c4, activation=True)
        self.out = EqualLinear(c4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-2:] != (self.resolution, self.resolution):
            raise InvalidParameterError(f"discriminator takes {self.resolution}x{self.resolution} images, got {tuple(x.shape[-2:])}")
        y = self.blocks(self.from_rgb(x))
        y = self.conv(minibatch_stddev(y, self.mbstd_group, self.mbstd_channels))
        return self.out(self.fc(y.flatten(1)))


def g_nonsaturating_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """Non-saturating generator loss ``mean softplus(-D(G(z)))`` (= -log sigmoid)."""
    return F.softplus(-fake_logits).mean()


def d_logistic_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Logistic discriminator loss ``mean softplus(D(fake)) + mean softplus(-D(real))``."""
    return F.softplus(fake_logits).mean() + F.softplus(-real_logits).mean()


def r1_penalty(real_logits: torch.Tensor, real_images: torch.Tensor) -> torch.Tensor:
    """R1 penalty (Mescheder et al. 2018): mean over the batch of ``||d D(x) / d x||^2`` at the
    real images (which must require grad and be the input ``real_logits`` came from). The
    graph is kept so the penalty can be back-propagated; scale by ``gamma / 2`` yourself."""
    (grad,) = torch.autograd.grad(real_logits.sum(), real_images, create_graph=True)
    return grad.square().flatten(1).sum(1).mean()


SPECS = [
    ArchSpec(
        name="stylegan2-generator",
        task="generate",
        build=StyleGAN2Generator,
        description="StyleGAN2 generator (mapping MLP, modulated convs, noise, skip toRGB); latent z or w+ -> image in [-1, 1]",
        defaults={"resolution": 64, "z_dim": 128, "w_dim": 128, "mapping_layers": 4, "channel_base": 2048, "channel_max": 128},
        dtypes=("float32", "bfloat16"),
        in_channels_of=lambda a: int(a.get("z_dim", 128)),
        out_channels_of=lambda a: int(a.get("out_channels", 3)),
        size_multiple_of=lambda a: int(a.get("resolution", 64)),
    ),
    ArchSpec(
        name="stylegan2-discriminator",
        task="discriminator",
        build=StyleGAN2Discriminator,
        description="StyleGAN2 residual discriminator with minibatch-std; fixed-size image in [-1, 1] -> logit",
        defaults={"resolution": 64, "in_channels": 3, "channel_base": 2048, "channel_max": 128},
        out_channels_of=lambda a: 1,
        size_multiple_of=lambda a: int(a.get("resolution", 64)),
    ),
]
