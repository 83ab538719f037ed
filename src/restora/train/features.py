"""Feature networks for the perceptual loss.

A :class:`FeatureNetwork` maps a ``B x C x H x W`` batch in [0, 1] to named feature maps.
Three are provided:

``network: auto`` (the default) takes VGG19 when its weights file is present, else the random
features, so a recipe runs on any machine and uses the stronger network where it can.

* :class:`RandomFeatures` (``network: random``): a fixed multi-scale conv/ReLU
  net whose weights are drawn from a seeded generator, never trained. It needs no download,
  is the same on every machine, and random conv features are known to carry much of a
  trained net's perceptual signal (texture statistics at several scales).
* :class:`VGG19Features` (``network: vgg19``): torchvision's VGG19 ``features`` layout,
  loaded from a torchvision weights file ``vgg19-dcbb9e9d.pth`` found in the weights
  folders (``$RESTORA_WEIGHTS``, ``~/.cache/restora/weights``, ``$TORCH_HOME/hub/checkpoints``)
  or named by ``weights:``. Nothing is downloaded; torchvision is not needed.
* :class:`ModelFeatures` (``network: "zoo:<model>"``): the activations of one of restora's
  own trained models (e.g. ``zoo:denoise-gray``), taken after each activation layer.

Each is an ``nn.Module`` with frozen parameters; none is saved in checkpoints.
"""

from __future__ import annotations

import os
from typing import Protocol, Sequence, runtime_checkable

import torch
import torch.nn.functional as F
from torch import nn

from restora.errors import ConfigError, MissingResourceError

__all__ = ["FeatureNetwork", "RandomFeatures", "VGG19Features", "ModelFeatures", "build_feature_network", "VGG19_FILE"]

VGG19_FILE = "vgg19-dcbb9e9d.pth"
_VGG19_SOURCE = "torchvision VGG19, https://download.pytorch.org/models/vgg19-dcbb9e9d.pth"
_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)


@runtime_checkable
class FeatureNetwork(Protocol):
    """What :class:`~restora.train.losses.PerceptualLoss` needs from a feature extractor."""

    layer_names: tuple[str, ...]  # every layer it can return
    default_layers: dict[str, float]  # the layers (and weights) used when none are named

    def __call__(self, x: torch.Tensor, layers: Sequence[str]) -> dict[str, torch.Tensor]:
        """Feature maps of ``x`` (``B x C x H x W`` in [0, 1], C = 1 or 3) for ``layers``."""
        ...


def _to_rgb(x: torch.Tensor) -> torch.Tensor:
    if x.shape[1] == 1:
        return x.expand(-1, 3, -1, -1)
    if x.shape[1] != 3:
        raise ConfigError(f"feature networks take 1 or 3 channels, got {x.shape[1]}")
    return x


def _freeze(module: nn.Module) -> None:
    module.eval()
    for p in module.parameters():
        p.requires_grad_(False)


class RandomFeatures(nn.Module):
    """Fixed random-weight multi-scale conv net: ``len(widths)`` stages of two 3x3 conv+ReLU,
    average-pooled by 2 between stages; layers ``stage1`` .. ``stageN``.

    Weights are Kaiming-normal draws of a CPU generator seeded with ``seed`` (identical on
    every machine), biases zero; the input is centred (``x - 0.5``) and gray is replicated.
    """

    network = "random"

    def __init__(self, widths: Sequence[int] = (32, 64, 128, 256), seed: int = 0) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(int(seed))
        stages = []
        cin = 3
        for w in widths:
            convs = []
            for c_in in (cin, w):
                conv = nn.Conv2d(c_in, w, 3, padding=1, padding_mode="reflect")
                std = (2.0 / (c_in * 9)) ** 0.5
                with torch.no_grad():
                    conv.weight.copy_(torch.randn(conv.weight.shape, generator=gen) * std)
                    conv.bias.zero_()
                convs += [conv, nn.ReLU()]
            stages.append(nn.Sequential(*convs))
            cin = w
        self.stages = nn.ModuleList(stages)
        self.layer_names = tuple(f"stage{i + 1}" for i in range(len(widths)))
        self.default_layers = {name: 1.0 for name in self.layer_names}
        _freeze(self)

    def train(self, mode: bool = True) -> "RandomFeatures":  # always frozen
        return super().train(False)

    def forward(self, x: torch.Tensor, layers: Sequence[str] = ()) -> dict[str, torch.Tensor]:
        want = set(layers or self.default_layers)
        last = max(self.layer_names.index(n) for n in want)
        h = _to_rgb(x) - 0.5
        out: dict[str, torch.Tensor] = {}
        for i, stage in enumerate(self.stages[: last + 1]):
            if i:
                h = F.avg_pool2d(h, 2)
            h = stage(h)
            if self.layer_names[i] in want:
                out[self.layer_names[i]] = h
        return out


# torchvision's VGG19 ("E") feature layout: conv widths, "M" = max-pool
_VGG19_CFG = (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M")


def _vgg19_names() -> list[str]:
    names, block, conv = [], 1, 1
    for v in _VGG19_CFG:
        if v == "M":
            names.append(f"pool{block}")
            block, conv = block + 1, 1
        else:
            names += [f"conv{block}_{conv}", f"relu{block}_{conv}"]
            conv += 1
    return names


class VGG19Features(nn.Module):
    """VGG19 ``features`` with torchvision's parameter names (``features.N.weight``).

    Layers are named ``conv1_1``, ``relu1_1``, ..., ``pool5`` (``conv*`` = before the ReLU,
    as ESRGAN's loss). Inputs are normalised with the ImageNet mean/std; gray is replicated.
    Default layers: Real-ESRGAN's ``conv1_2: 0.1, conv2_2: 0.1, conv3_4: 1, conv4_4: 1, conv5_4: 1``.
    ``weights``: a ``.pth``/``.safetensors`` file; None looks for ``vgg19-dcbb9e9d.pth``
    in the weights folders (see :mod:`restora.metrics.weights`); ``False``: random init (tests).
    """

    network = "vgg19"

    def __init__(self, weights: str | os.PathLike[str] | None | bool = None, weights_dir: str | None = None) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        cin = 3
        for v in _VGG19_CFG:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(cin, int(v), 3, padding=1), nn.ReLU(inplace=False)]
                cin = int(v)
        self.features = nn.Sequential(*layers)
        self.layer_names = tuple(_vgg19_names())
        self.default_layers = {"conv1_2": 0.1, "conv2_2": 0.1, "conv3_4": 1.0, "conv4_4": 1.0, "conv5_4": 1.0}
        self.register_buffer("mean", torch.tensor(_IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(_IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        if weights is not False:
            self._load(weights, weights_dir)
        _freeze(self)

    def _load(self, weights: str | os.PathLike[str] | None | bool, weights_dir: str | None) -> None:
        from restora.metrics.weights import find_weights
        from restora.zoo.store import load_third_party_state

        if weights in (None, True):
            path = find_weights([VGG19_FILE], what="the VGG19 perceptual loss (network: vgg19)",
                                weights_dir=weights_dir, sources={VGG19_FILE: _VGG19_SOURCE})[VGG19_FILE]
        else:
            path = os.fspath(weights)  # type: ignore[arg-type]
            if not os.path.isfile(path):
                raise MissingResourceError(f"VGG19 weights file {path} does not exist")
        state = load_third_party_state(path)
        state = {k[len("features."):]: v for k, v in state.items() if k.startswith("features.")}
        try:
            self.features.load_state_dict(state, strict=True)
        except RuntimeError as exc:
            raise ConfigError(f"{path}: not torchvision VGG19 weights ({str(exc).splitlines()[0]})") from None

    def train(self, mode: bool = True) -> "VGG19Features":
        return super().train(False)

    def forward(self, x: torch.Tensor, layers: Sequence[str] = ()) -> dict[str, torch.Tensor]:
        want = set(layers or self.default_layers)
        last = max(self.layer_names.index(n) for n in want)
        h = (_to_rgb(x) - self.mean) / self.std
        out: dict[str, torch.Tensor] = {}
        for i, module in enumerate(self.features[: last + 1]):
            h = module(h)
            if self.layer_names[i] in want:
                out[self.layer_names[i]] = h
        return out


_ACTIVATIONS = (nn.ReLU, nn.LeakyReLU, nn.GELU, nn.SiLU, nn.PReLU)


class ModelFeatures(nn.Module):
    """Activations of a (trained) restoration network, e.g. a restora zoo model.

    Layers are ``act1`` .. ``actN``: the outputs of the network's activation modules in
    call order (found with forward hooks). Default: three evenly spaced ones. The input is
    converted to the network's channel count (gray <-> RGB).
    """

    network = "zoo"

    def __init__(self, model: nn.Module, in_channels: int, condition: str | None = None) -> None:
        super().__init__()
        self.net = model
        self.in_channels = in_channels
        self.condition = condition
        acts = [m for m in model.modules() if isinstance(m, _ACTIVATIONS)]
        if not acts:
            raise ConfigError("the feature model has no activation layers to take features from")
        self._acts = acts
        self.layer_names = tuple(f"act{i + 1}" for i in range(len(acts)))
        n = len(acts)
        picks = sorted({max(0, round(n * f) - 1) for f in (1 / 3, 2 / 3, 1.0)})
        self.default_layers = {self.layer_names[i]: 1.0 for i in picks}
        _freeze(self)

    def train(self, mode: bool = True) -> "ModelFeatures":
        return super().train(False)

    def forward(self, x: torch.Tensor, layers: Sequence[str] = ()) -> dict[str, torch.Tensor]:
        want = list(layers or self.default_layers)
        captured: dict[str, torch.Tensor] = {}
        handles = []
        for name in want:
            module = self._acts[self.layer_names.index(name)]
            handles.append(module.register_forward_hook(lambda _m, _i, out, n=name: captured.setdefault(n, out.clone())))
        try:
            if self.in_channels == 3:
                x = _to_rgb(x)
            elif x.shape[1] == 3:
                x = (x * torch.tensor([0.299, 0.587, 0.114], device=x.device, dtype=x.dtype).view(1, 3, 1, 1)).sum(1, keepdim=True)
            extra = ()
            if self.condition == "noise_map":
                extra = (torch.zeros(x.shape[0], 1, *x.shape[2:], device=x.device, dtype=x.dtype),)
            self.net(x, *extra)
        finally:
            for h in handles:
                h.remove()
        return {n: captured[n] for n in want}


def build_feature_network(network: str | FeatureNetwork, weights: str | None = None, weights_dir: str | None = None) -> nn.Module:
    """``"auto"``, ``"random"``, ``"vgg19"``, ``"zoo:<name or path>"`` or a ready :class:`FeatureNetwork`.

    ``"auto"``: :class:`VGG19Features` when its weights are found (``weights`` or the weights
    folders), else :class:`RandomFeatures`; the result's ``network`` attribute says which.
    """
    if not isinstance(network, str):
        if not isinstance(network, nn.Module):
            raise ConfigError("a feature network must be an nn.Module implementing FeatureNetwork")
        return network
    if network == "auto":
        try:
            net: nn.Module = VGG19Features(weights, weights_dir)
        except MissingResourceError:
            net = RandomFeatures()
        return net
    if network == "random":
        return RandomFeatures()
    if network == "vgg19":
        return VGG19Features(weights, weights_dir)
    if network.startswith("zoo:"):
        from restora import zoo

        loaded = zoo.load(network[4:])
        return ModelFeatures(loaded.model, loaded.descriptor.in_channels, loaded.descriptor.condition)
    raise ConfigError(f"perceptual network {network!r} is unknown; valid: auto, random, vgg19, zoo:<model name or path>")
