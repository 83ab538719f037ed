"""LPIPS v0.1 (Zhang et al. 2018), with AlexNet / VGG16 trunks defined here.

The trunks use torchvision's ``state_dict`` key names (``features.0.weight`` ...), so the
torchvision ImageNet checkpoints load as they are, and the linear heads use the LPIPS
release's names (``lin0.model.1.weight`` ...). Weights are looked for as described in
:mod:`restora.metrics.weights`; nothing is downloaded.

Files: ``alexnet-owt-7be5be79.pth`` + ``alex.pth`` (``net="alex"``, the LPIPS default) or
``vgg16-397923af.pth`` + ``vgg.pth`` (``net="vgg"``).
"""

from __future__ import annotations

import os

import numpy as np
import torch
from torch import nn

from restora.errors import InvalidParameterError, MissingResourceError
from restora.metrics._common import as_float64_image
from restora.metrics.weights import find_weights, load_checkpoint
from restora.validation import check_choice

__all__ = ["lpips", "load_lpips", "LPIPS", "AlexNetFeatures", "VGG16Features", "LPIPS_FILES"]

#: Weights files per trunk: (torchvision trunk checkpoint, LPIPS v0.1 linear heads).
LPIPS_FILES = {
    "alex": ("alexnet-owt-7be5be79.pth", "alex.pth"),
    "vgg": ("vgg16-397923af.pth", "vgg.pth"),
}
_SOURCES = {
    "alexnet-owt-7be5be79.pth": "torchvision AlexNet, https://download.pytorch.org/models/alexnet-owt-7be5be79.pth",
    "vgg16-397923af.pth": "torchvision VGG16, https://download.pytorch.org/models/vgg16-397923af.pth",
    "alex.pth": "LPIPS v0.1 heads, lpips/weights/v0.1/alex.pth of github.com/richzhang/PerceptualSimilarity",
    "vgg.pth": "LPIPS v0.1 heads, lpips/weights/v0.1/vgg.pth of github.com/richzhang/PerceptualSimilarity",
}
# LPIPS ScalingLayer: input in [-1, 1] -> (x - shift) / scale (ImageNet statistics).
_SHIFT = (-0.030, -0.088, -0.188)
_SCALE = (0.458, 0.448, 0.450)


class _Trunk(nn.Module):
    """A torchvision ``features`` stack that returns the activations at ``taps``."""

    channels: tuple[int, ...] = ()
    taps: tuple[int, ...] = ()
    min_size = 1
    features: nn.Sequential

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        outs = []
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in self.taps:
                outs.append(x)
                if i == self.taps[-1]:
                    break
        return outs


class AlexNetFeatures(_Trunk):
    """torchvision ``alexnet().features``; returns the five ReLU outputs LPIPS compares."""

    channels = (64, 192, 384, 256, 256)
    taps = (1, 4, 7, 9, 11)
    min_size = 31

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 64, kernel_size=11, stride=4, padding=2), nn.ReLU(),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(64, 192, kernel_size=5, padding=2), nn.ReLU(),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(192, 384, kernel_size=3, padding=1), nn.ReLU(),
            nn.Conv2d(384, 256, kernel_size=3, padding=1), nn.ReLU(),
            nn.Conv2d(256, 256, kernel_size=3, padding=1), nn.ReLU(),
            nn.MaxPool2d(kernel_size=3, stride=2),
        )


class VGG16Features(_Trunk):
    """torchvision ``vgg16().features``; returns relu1_2, relu2_2, relu3_3, relu4_3, relu5_3."""

    channels = (64, 128, 256, 512, 512)
    taps = (3, 8, 15, 22, 29)
    min_size = 16

    def __init__(self) -> None:
        super().__init__()
        cfg = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]
        layers: list[nn.Module] = []
        cin = 3
        for v in cfg:
            if v == "M":
                layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            else:
                layers += [nn.Conv2d(cin, int(v), kernel_size=3, padding=1), nn.ReLU()]
                cin = int(v)
        self.features = nn.Sequential(*layers)


class _Head(nn.Module):
    """LPIPS ``NetLinLayer``: dropout (inactive in eval) + 1x1 conv to one channel, no bias."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.model = nn.Sequential(nn.Dropout(), nn.Conv2d(channels, 1, kernel_size=1, bias=False))


class LPIPS(nn.Module):
    """The LPIPS v0.1 distance. ``forward(a, b)`` takes ``B x C x H x W`` tensors in [0, 1]
    (C = 1 is repeated to RGB) and returns ``Tensor[B]``; gradients flow to the inputs.

    ``LPIPS(net)`` is randomly initialised: load real weights with :func:`load_lpips`, or
    use :meth:`untrained` for tests.
    """

    def __init__(self, net: str = "alex") -> None:
        super().__init__()
        self.net_name = check_choice("net", net, tuple(LPIPS_FILES))
        self.trunk: _Trunk = AlexNetFeatures() if net == "alex" else VGG16Features()
        self.register_buffer("shift", torch.tensor(_SHIFT).view(1, 3, 1, 1))
        self.register_buffer("scale", torch.tensor(_SCALE).view(1, 3, 1, 1))
        for i, c in enumerate(self.trunk.channels):
            self.add_module(f"lin{i}", _Head(c))
        self.eval()
        self.requires_grad_(False)

    @classmethod
    def untrained(cls, net: str = "alex", seed: int = 0) -> "LPIPS":
        """A deterministic random trunk with uniform non-negative heads (``1 / channels``);
        for tests only: its values are not LPIPS values."""
        gen = torch.Generator().manual_seed(int(seed))
        model = cls(net)
        with torch.no_grad():
            for m in model.trunk.modules():
                if isinstance(m, nn.Conv2d):
                    fan_in = m.in_channels * m.kernel_size[0] * m.kernel_size[1]
                    m.weight.copy_(torch.randn(m.weight.shape, generator=gen) * (2.0 / fan_in) ** 0.5)
                    if m.bias is not None:
                        m.bias.zero_()
            for i, c in enumerate(model.trunk.channels):
                getattr(model, f"lin{i}").model[1].weight.fill_(1.0 / c)
        return model

    def load_weights(self, trunk_path: str | os.PathLike[str], heads_path: str | os.PathLike[str]) -> "LPIPS":
        """Load a torchvision trunk checkpoint and an LPIPS v0.1 heads file (strict key check)."""
        trunk_state = {k: v for k, v in load_checkpoint(trunk_path).items() if k.startswith("features.")}
        try:
            self.trunk.load_state_dict(trunk_state, strict=True)
        except RuntimeError as exc:
            raise MissingResourceError(f"{trunk_path} is not a torchvision {self.net_name} checkpoint: {exc}") from None
        heads = load_checkpoint(heads_path)
        expected = {f"lin{i}.model.1.weight" for i in range(len(self.trunk.channels))}
        if not expected <= set(heads):
            raise MissingResourceError(
                f"{heads_path} is not an LPIPS v0.1 '{self.net_name}' heads file "
                f"(missing keys: {', '.join(sorted(expected - set(heads)))})"
            )
        try:
            self.load_state_dict({k: heads[k] for k in expected}, strict=False)
        except RuntimeError as exc:
            raise MissingResourceError(f"{heads_path} does not fit the {self.net_name} trunk: {exc}") from None
        return self

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        if a.shape != b.shape or a.dim() != 4 or a.shape[1] not in (1, 3):
            raise InvalidParameterError(
                f"LPIPS inputs must be two B x C x H x W tensors of the same shape, C in (1, 3); "
                f"got {tuple(a.shape)} and {tuple(b.shape)}"
            )
        if min(a.shape[2], a.shape[3]) < self.trunk.min_size:
            raise InvalidParameterError(
                f"LPIPS ({self.net_name}) needs images of at least {self.trunk.min_size}x"
                f"{self.trunk.min_size} pixels; got {a.shape[2]}x{a.shape[3]}"
            )
        if a.shape[1] == 1:
            a, b = a.expand(-1, 3, -1, -1), b.expand(-1, 3, -1, -1)
        dtype = self.shift.dtype
        x = ((2.0 * a.to(dtype) - 1.0) - self.shift) / self.scale
        y = ((2.0 * b.to(dtype) - 1.0) - self.shift) / self.scale
        total = torch.zeros(a.shape[0], dtype=dtype, device=a.device)
        for i, (fx, fy) in enumerate(zip(self.trunk(x), self.trunk(y))):
            fx = fx / (torch.sqrt((fx * fx).sum(dim=1, keepdim=True)) + 1e-10)
            fy = fy / (torch.sqrt((fy * fy).sum(dim=1, keepdim=True)) + 1e-10)
            d = getattr(self, f"lin{i}").model((fx - fy) ** 2)
            total = total + d.mean(dim=(1, 2, 3))
        return total


_CACHE: dict[tuple[str, str, str, str], LPIPS] = {}


def load_lpips(
    net: str = "alex",
    *,
    weights_dir: str | os.PathLike[str] | None = None,
    device: str | torch.device | None = None,
) -> LPIPS:
    """The pretrained LPIPS model (cached per files and device).

    Raises :class:`MissingResourceError` naming the missing files and where to put them.
    """
    net = check_choice("net", net, tuple(LPIPS_FILES))
    trunk_file, heads_file = LPIPS_FILES[net]
    paths = find_weights([trunk_file, heads_file], what=f"LPIPS (net={net!r})",
                         weights_dir=weights_dir, sources=_SOURCES)
    dev = str(torch.device(device)) if device is not None else "cpu"
    key = (net, str(paths[trunk_file].resolve()), str(paths[heads_file].resolve()), dev)
    if key not in _CACHE:
        _CACHE[key] = LPIPS(net).load_weights(paths[trunk_file], paths[heads_file]).to(dev)
    return _CACHE[key]


def _to_tensor(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1), dtype=np.float32))[None]


def lpips(
    a: np.ndarray,
    b: np.ndarray,
    *,
    net: str | LPIPS = "alex",
    weights_dir: str | os.PathLike[str] | None = None,
    device: str | torch.device | None = None,
) -> float:
    """LPIPS v0.1 distance between two ``H x W x C`` images in [0, 1] (lower is more similar).

    Images are scaled to [-1, 1] and then by LPIPS's ScalingLayer, exactly as the reference
    ``lpips.LPIPS(net=...)(a, b, normalize=True)``; values are not clipped. ``net`` is
    ``"alex"`` (the LPIPS default), ``"vgg"``, or an :class:`LPIPS` module (e.g.
    :meth:`LPIPS.untrained` in tests). ``weights_dir``: see :mod:`restora.metrics.weights`.
    """
    x = as_float64_image(a, "a")
    y = as_float64_image(b, "b")
    if x.shape != y.shape:
        raise InvalidParameterError(f"a and b must have the same shape; got {x.shape} and {y.shape}")
    if isinstance(net, LPIPS):
        model = net
    elif isinstance(net, str):
        model = load_lpips(net, weights_dir=weights_dir, device=device)
    else:
        raise InvalidParameterError(f"net must be 'alex', 'vgg' or an LPIPS module; got {type(net).__name__}")
    dev = next(model.parameters()).device
    with torch.no_grad():
        value = model(_to_tensor(x).to(dev), _to_tensor(y).to(dev))
    return float(value[0])

