"""Face deblurring with a regression network fused with a generative face prior (issue 19).

Three parts, composed by :class:`FaceFusionNet`:

* ``x_R = NAFNet(x)``: the regression restorer (:class:`restora.nn.nafnet.NAFNet`);
* ``x_G = G(E(x_R))``: :class:`InversionEncoder` ``E`` maps ``x_R`` to StyleGAN2 latents w+
  (pSp-style: a conv pyramid with a feature-pyramid top-down path; coarse / medium / fine
  latents from the 4x4 / 8x8 / 16x16 maps, predicted as offsets from the generator's
  ``w_avg``) and a 16x16 feature map (BDInvert-style base code) that replaces the
  generator's own 16x16 activation; ``G`` is :class:`restora.nn.stylegan2.StyleGAN2Generator`;
* ``x = Conv(Res(Conv(x_R) + Conv(x_G)))``: :class:`FusionNet` (3x3 convs, 8 residual blocks).

Images are restora's ``B x 3 x H x W`` tensors in [0, 1]; the conversion to the GAN's
[-1, 1] happens here (``E`` centres its input, ``x_G = (G(...) + 1) / 2``).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from restora.errors import InvalidParameterError
from restora.nn.nafnet import NAFNet
from restora.nn.spec import ArchSpec
from restora.nn.stylegan2 import StyleGAN2Generator

__all__ = [
    "Inversion", "InversionEncoder", "ResBlock", "FusionNet", "FaceFusionOutput", "FaceFusionNet", "FACE_FUSION_OUTPUTS",
    "build_face_fusion", "ws_groups", "SPECS",
]

#: ``output`` choices of :class:`FaceFusionNet`: all three images, or one of them as a tensor.
FACE_FUSION_OUTPUTS = ("all", "fused", "regression", "inversion")


class Inversion(NamedTuple):
    """What the encoder predicts: w+ offsets (``B x num_ws x w_dim``) and the feature map."""

    ws: torch.Tensor
    feature: torch.Tensor


def ws_groups(num_ws: int) -> tuple[int, int, int]:
    """(coarse, medium, fine) counts of latents: those used at <= 8x8 (up to 4), then the
    16x16 layers (up to 2), then the rest, as pSp splits its styles by pyramid level."""
    coarse = min(4, num_ws)
    medium = min(2, num_ws - coarse)
    return coarse, medium, num_ws - coarse - medium


def _act(x: torch.Tensor) -> torch.Tensor:
    return F.leaky_relu(x, 0.2)


class _DownBlock(nn.Module):
    """Residual stride-2 block: conv3x3/2 -> conv3x3, skip avg-pool + 1x1."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=2, padding=1)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = nn.Conv2d(cin, cout, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2(_act(self.conv1(x))) + self.skip(F.avg_pool2d(x, 2))


class _StyleHead(nn.Module):
    """pSp's map2style for a group: stride-2 convs down to 1x1, then a linear layer to
    ``count`` latents (one head per group rather than per latent, to stay small)."""

    def __init__(self, channels: int, size: int, count: int, w_dim: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        while size > 1:
            layers += [nn.Conv2d(channels, channels, 3, stride=2, padding=1), nn.LeakyReLU(0.2)]
            size //= 2
        self.convs = nn.Sequential(*layers)
        self.linear = nn.Linear(channels, count * w_dim)
        self.count, self.w_dim = count, w_dim
        nn.init.zeros_(self.linear.bias)
        with torch.no_grad():
            self.linear.weight.mul_(0.1)  # start near w_avg

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(self.convs(x).flatten(1)).view(-1, self.count, self.w_dim)


class InversionEncoder(nn.Module):
    """pSp-style encoder with a BDInvert-style feature head.

    A stem and residual stride-2 blocks build a pyramid from ``resolution`` down to 4x4; a
    top-down path (1x1 laterals + upsampling) merges the 4x4, 8x8 and 16x16 levels; group heads
    predict the coarse / medium / fine latents (see :func:`ws_groups`) from those three maps
    and two 3x3 convs predict the ``feature_channels x 16 x 16`` base feature map from the 16x16
    level. Input: ``B x 3 x R x R`` in [0, 1]. Output: :class:`Inversion` (offsets from w_avg).
    """

    def __init__(
        self,
        resolution: int = 64,
        num_ws: int = 10,
        w_dim: int = 128,
        feature_channels: int = 128,
        feature_res: int = 16,
        width: int = 32,
        max_width: int = 128,
        in_channels: int = 3,
    ) -> None:
        super().__init__()
        if resolution < 16 or resolution & (resolution - 1):
            raise InvalidParameterError(f"encoder resolution must be a power of two >= 16, got {resolution}")
        if feature_res != 16:
            raise InvalidParameterError(f"encoder feature_res must be 16 (the BDInvert layer used here), got {feature_res}")
        self.resolution, self.num_ws, self.w_dim = int(resolution), int(num_ws), int(w_dim)
        chans: dict[int, int] = {}
        r, c = resolution, width
        while r >= 4:
            chans[r] = min(c, max_width)
            r, c = r // 2, c * 2
        self.stem = nn.Conv2d(in_channels, chans[resolution], 3, padding=1)
        self.downs = nn.ModuleList([_DownBlock(chans[r], chans[r // 2]) for r in sorted(chans, reverse=True) if r > 4])
        self.levels = sorted(chans, reverse=True)  # R, R/2, ..., 4
        fpn = max_width
        self.lateral = nn.ModuleDict({str(r): nn.Conv2d(chans[r], fpn, 1) for r in (4, 8, 16)})
        coarse, medium, fine = ws_groups(num_ws)
        self.heads = nn.ModuleList()
        self.head_levels: list[int] = []
        for count, level in ((coarse, 4), (medium, 8), (fine, 16)):
            if count:
                self.heads.append(_StyleHead(fpn, level, count, w_dim))
                self.head_levels.append(level)
        self.feature_head = nn.Sequential(nn.Conv2d(fpn, fpn, 3, padding=1), nn.LeakyReLU(0.2), nn.Conv2d(fpn, feature_channels, 3, padding=1))

    def forward(self, x: torch.Tensor) -> Inversion:
        if x.shape[-2:] != (self.resolution, self.resolution):
            raise InvalidParameterError(f"encoder takes {self.resolution}x{self.resolution} images, got {tuple(x.shape[-2:])}")
        h = _act(self.stem(2.0 * x - 1.0))
        maps = {self.levels[0]: h}
        for r, down in zip(self.levels[1:], self.downs):
            h = down(_act(h))
            maps[r] = h
        p4 = self.lateral["4"](maps[4])
        p8 = self.lateral["8"](maps[8]) + F.interpolate(p4, scale_factor=2, mode="bilinear", align_corners=False)
        p16 = self.lateral["16"](maps[16]) + F.interpolate(p8, scale_factor=2, mode="bilinear", align_corners=False)
        pyramid = {4: p4, 8: p8, 16: p16}
        ws = torch.cat([head(pyramid[level]) for head, level in zip(self.heads, self.head_levels)], dim=1)
        return Inversion(ws, self.feature_head(p16))


class ResBlock(nn.Module):
    """conv3x3 -> ReLU -> conv3x3, plus the input."""

    def __init__(self, features: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(features, features, 3, padding=1)
        self.conv2 = nn.Conv2d(features, features, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(F.relu(self.conv1(x)))


class FusionNet(nn.Module):
    """``x = Conv(Res(Conv(x_R) + Conv(x_G)))``: 3x3 convs, ``blocks`` residual blocks (8).

    ``residual=True`` (a CPU-scale variant, not the paper's): ``x = x_R + Conv(...)`` with the
    last convolution zero-initialised, so training starts at the regression output and only
    has to learn what to take from ``x_G``, instead of first re-learning the identity."""

    def __init__(self, channels: int = 3, features: int = 32, blocks: int = 8, residual: bool = False) -> None:
        super().__init__()
        self.residual = bool(residual)
        self.conv_r = nn.Conv2d(channels, features, 3, padding=1)
        self.conv_g = nn.Conv2d(channels, features, 3, padding=1)
        self.body = nn.Sequential(*[ResBlock(features) for _ in range(blocks)])
        self.conv_out = nn.Conv2d(features, channels, 3, padding=1)
        if self.residual:
            nn.init.zeros_(self.conv_out.weight)
            nn.init.zeros_(self.conv_out.bias)

    def forward(self, x_r: torch.Tensor, x_g: torch.Tensor) -> torch.Tensor:
        if x_r.shape != x_g.shape:
            raise InvalidParameterError(f"fusion inputs must have equal shapes, got {tuple(x_r.shape)} and {tuple(x_g.shape)}")
        out = self.conv_out(self.body(self.conv_r(x_r) + self.conv_g(x_g)))
        return x_r + out if self.residual else out


class FaceFusionOutput(NamedTuple):
    """The three images of :class:`FaceFusionNet` (``B x 3 x R x R``, [0, 1] scale)."""

    x_r: torch.Tensor  # regression (NAFNet) output
    x_g: torch.Tensor  # generative prior output G(E(x_R))
    x: torch.Tensor  # fused output


class FaceFusionNet(nn.Module):
    """NAFNet -> encoder -> StyleGAN2 generator -> fusion, in one forward (see module doc).

    ``noise_mode``: the generator's noise during restoration (``"const"``: deterministic).
    ``use_feature``: False drops the BDInvert feature map (pure w+ inversion, pSp-style).
    ``output``: ``"all"`` returns :class:`FaceFusionOutput` (training, benches); ``"fused"``,
    ``"regression"`` or ``"inversion"`` return that image alone (the zoo's image-to-image form;
    ``"regression"`` runs only the NAFNet)."""

    def __init__(
        self, restorer: nn.Module, encoder: InversionEncoder, generator: StyleGAN2Generator, fusion: FusionNet,
        *, noise_mode: str = "const", use_feature: bool = True, output: str = "all",
    ) -> None:
        super().__init__()
        if output not in FACE_FUSION_OUTPUTS:
            raise InvalidParameterError(f"output must be one of {', '.join(FACE_FUSION_OUTPUTS)}, got {output!r}")
        self.output = output
        if encoder.num_ws != generator.num_ws or encoder.w_dim != generator.w_dim:
            raise InvalidParameterError(
                f"encoder predicts {encoder.num_ws} x {encoder.w_dim} latents, generator takes {generator.num_ws} x {generator.w_dim}"
            )
        self.restorer, self.encoder, self.generator, self.fusion = restorer, encoder, generator, fusion
        self.noise_mode, self.use_feature = noise_mode, use_feature

    def invert(self, x_r: torch.Tensor) -> torch.Tensor:
        """``x_G = G(E(x_R))`` in [0, 1] scale."""
        inv = self.encoder(x_r)
        ws = inv.ws + self.generator.w_avg.to(inv.ws.dtype)
        g = self.generator(ws, feature=inv.feature if self.use_feature else None, noise_mode=self.noise_mode)
        return (g + 1.0) / 2.0  # type: ignore[operator]

    def forward(self, x: torch.Tensor) -> Any:
        x_r = self.restorer(x)
        if self.output == "regression":
            return x_r
        x_g = self.invert(x_r)
        if self.output == "inversion":
            return x_g
        fused = self.fusion(x_r, x_g)
        return fused if self.output == "fused" else FaceFusionOutput(x_r, x_g, fused)


def build_face_fusion(
    resolution: int = 64,
    *,
    nafnet: dict[str, Any] | None = None,
    generator: dict[str, Any] | None = None,
    encoder: dict[str, Any] | None = None,
    fusion: dict[str, Any] | None = None,
    **kwargs: Any,
) -> FaceFusionNet:
    """A :class:`FaceFusionNet` from argument dicts of its parts (CPU-scale defaults: NAFNet
    width 16 with blocks (1, 1, 1, 2); the generator's defaults; encoder width 32; fusion 32
    features x 8 blocks). The encoder's latent and feature sizes follow the generator."""
    g = StyleGAN2Generator(**{"resolution": resolution, **(generator or {})})
    e = InversionEncoder(**{"resolution": resolution, "num_ws": g.num_ws, "w_dim": g.w_dim,
                            "feature_channels": g.feature_channels, "feature_res": g.feature_res, **(encoder or {})})
    r = NAFNet(**{"width": 16, "enc_blocks": (1, 1, 1, 2), "dec_blocks": (1, 1, 1, 1), **(nafnet or {})})
    f = FusionNet(**(fusion or {}))
    return FaceFusionNet(r, e, g, f, **kwargs)


SPECS = [
    ArchSpec(
        name="face-fusion",
        task="face-deblur",
        build=build_face_fusion,
        description="issue-19 face deblurring: NAFNet -> StyleGAN2 inversion (encoder + generator) -> fusion; "
        "fixed-size aligned faces (restora.faces.align brings photos' faces in); output= picks x, x_R or x_G",
        defaults={"resolution": 64, "output": "fused"},
        dtypes=("float32", "bfloat16"),
        size_multiple_of=lambda a: int(a.get("resolution", 64)),
    ),
]
