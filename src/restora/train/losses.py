"""Training losses: pixel (L1, L2, Charbonnier), SSIM, frequency (FFT), perceptual and GAN.

Every pixel-type loss maps ``(pred, target)`` (``B x C x H x W``) to a scalar and is
computed in float32 even under autocast. A recipe's ``loss`` mapping names the terms::

    loss:
      l1: 1.0                                    # name: weight
      perceptual: {weight: 1.0, network: vgg19}  # name: {weight, options of the class}
      gan: {weight: 0.1, kind: hinge}

:func:`build_losses` turns it into :class:`LossTerm` objects; :func:`check_loss_spec`
validates it (unknown names or options raise a one-line :class:`ConfigError`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from restora.errors import ConfigError

__all__ = [
    "L1Loss",
    "L2Loss",
    "CharbonnierLoss",
    "SSIMLoss",
    "FFTLoss",
    "PerceptualLoss",
    "GANLoss",
    "gradient_penalty",
    "LossTerm",
    "LOSSES",
    "GAN_KINDS",
    "build_losses",
    "check_loss_spec",
]


class _PixelLoss(nn.Module):
    """Base: casts both inputs to float32 and leaves autocast for the reduction."""

    pixel = True  # applied to every output of a multi-stage / multi-scale model

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        with torch.autocast(device_type=pred.device.type, enabled=False):
            return self.compute(pred.float(), target.float())

    def compute(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError


class L1Loss(_PixelLoss):
    """Mean absolute error."""

    def compute(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return F.l1_loss(pred, target)


class L2Loss(_PixelLoss):
    """Mean squared error (DnCNN's loss up to a constant factor)."""

    def compute(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return F.mse_loss(pred, target)


class CharbonnierLoss(_PixelLoss):
    """``mean(sqrt((pred - target)² + eps²))``: a smooth L1 (its minimum, ``eps``, at equality)."""

    def __init__(self, eps: float = 1e-3) -> None:
        super().__init__()
        if eps <= 0:
            raise ConfigError(f"charbonnier eps must be > 0, got {eps}")
        self.eps = float(eps)

    def compute(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return torch.sqrt((pred - target) ** 2 + self.eps**2).mean()


class SSIMLoss(_PixelLoss):
    """``1 - SSIM`` with the standard Gaussian window (11, sigma 1.5), data range 1, valid
    filtering, mean over channels and pixels (the convention of :func:`restora.metrics.ssim`).
    Inputs smaller than the window contribute 0 (and no gradient)."""

    def __init__(self, window: int = 11, sigma: float = 1.5) -> None:
        super().__init__()
        from restora.metrics.ssim import gaussian_window

        self.window = int(window)
        self.register_buffer("g", torch.as_tensor(gaussian_window(self.window, sigma), dtype=torch.float32), persistent=False)

    def compute(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if min(pred.shape[-2:]) < self.window:
            return pred.sum() * 0.0
        c = pred.shape[1]
        stack = torch.cat([pred, target, pred * pred, target * target, pred * target], dim=1)
        n = stack.shape[1]
        g = self.g.to(pred.device)
        f = F.conv2d(stack, g.view(1, 1, -1, 1).expand(n, 1, self.window, 1), groups=n)
        f = F.conv2d(f, g.view(1, 1, 1, -1).expand(n, 1, 1, self.window), groups=n)
        mu1, mu2, e11, e22, e12 = torch.split(f, c, dim=1)
        c1, c2 = 0.01**2, 0.03**2
        num = (2 * mu1 * mu2 + c1) * (2 * (e12 - mu1 * mu2) + c2)
        den = (mu1 * mu1 + mu2 * mu2 + c1) * ((e11 - mu1 * mu1) + (e22 - mu2 * mu2) + c2)
        return 1.0 - (num / den).mean()


class FFTLoss(_PixelLoss):
    """Frequency L1: mean absolute difference of the real and imaginary parts of the 2-D
    real FFT (orthonormal), which weights errors at every frequency alike."""

    def compute(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        diff = torch.fft.rfft2(pred - target, norm="ortho")
        return torch.view_as_real(diff).abs().mean()


class PerceptualLoss(nn.Module):
    """Distance between feature maps of a fixed :class:`~restora.train.features.FeatureNetwork`.

    ``network``: ``"auto"`` (default: VGG19 when its weights file is present, else random),
    ``"random"`` (no weights needed), ``"vgg19"`` (torchvision weights file required, see
    :mod:`restora.train.features`), ``"zoo:<model>"`` or a module.
    ``layers``: names, or a mapping name -> weight (default: the network's own).
    ``criterion``: ``"l1"`` or ``"l2"``. ``weights``: explicit weights file (vgg19).
    """

    pixel = False

    def __init__(
        self,
        network: Any = "auto",
        layers: Sequence[str] | Mapping[str, float] | None = None,
        criterion: str = "l1",
        weights: str | None = None,
        weights_dir: str | None = None,
    ) -> None:
        super().__init__()
        from restora.train.features import build_feature_network

        self.net = build_feature_network(network, weights, weights_dir)
        names = getattr(self.net, "layer_names", ())
        if layers is None:
            chosen = dict(self.net.default_layers)
        elif isinstance(layers, Mapping):
            chosen = {str(k): float(v) for k, v in layers.items()}
        else:
            chosen = {str(k): 1.0 for k in layers}
        bad = [k for k in chosen if k not in names]
        if bad or not chosen:
            raise ConfigError(f"perceptual layers {bad or '[]'} unknown; valid: {', '.join(names)}")
        self.layers = chosen
        if criterion not in ("l1", "l2"):
            raise ConfigError(f"perceptual criterion must be l1 or l2, got {criterion!r}")
        self.criterion = F.l1_loss if criterion == "l1" else F.mse_loss

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        fp = self.net(pred, list(self.layers))
        with torch.no_grad():
            ft = self.net(target.detach(), list(self.layers))
        total = pred.new_zeros((), dtype=torch.float32)
        for name, w in self.layers.items():
            total = total + w * self.criterion(fp[name].float(), ft[name].float())
        return total


#: GAN formulations for ``loss.gan.kind``.
GAN_KINDS = ("vanilla", "lsgan", "hinge", "wgan-gp")


def gradient_penalty(
    disc: nn.Module, real: torch.Tensor, fake: torch.Tensor, generator: torch.Generator | None = None
) -> torch.Tensor:
    """WGAN-GP penalty ``E[(||∇_x D(x̂)||₂ - 1)²]`` at ``x̂ = ε real + (1 - ε) fake``, one
    ``ε ~ U(0, 1)`` per sample (Gulrajani et al. 2017). Differentiable w.r.t. ``disc``."""
    b = real.shape[0]
    eps = torch.rand((b, 1, 1, 1), generator=generator, device=real.device, dtype=torch.float32)
    mix = (eps * real.detach().float() + (1 - eps) * fake.detach().float()).requires_grad_(True)
    with torch.autocast(device_type=real.device.type, enabled=False):
        out = disc(mix)
        (grad,) = torch.autograd.grad(out.sum(), mix, create_graph=True)
    norm = grad.reshape(b, -1).norm(2, dim=1)
    return ((norm - 1.0) ** 2).mean()


class GANLoss(nn.Module):
    """Adversarial losses on discriminator logits (any shape: per image or per pixel).

    ``kind``: ``vanilla`` (non-saturating BCE), ``lsgan`` (least squares to 1/0), ``hinge``,
    ``wgan-gp`` (Wasserstein critic + ``gp_weight`` x :func:`gradient_penalty`).
    :meth:`generator_loss` is what the restoration network minimises; :meth:`discriminator_loss`
    what the discriminator minimises (without the penalty, added by the trainer).
    ``n_critic``: discriminator updates per generator update (on the same batch; WGAN-GP and
    DeblurGAN use 5).
    """

    pixel = False

    def __init__(self, kind: str = "vanilla", gp_weight: float = 10.0, n_critic: int = 1) -> None:
        super().__init__()
        if kind not in GAN_KINDS:
            raise ConfigError(f"gan kind {kind!r} is unknown; valid: {', '.join(GAN_KINDS)}")
        if isinstance(n_critic, bool) or not isinstance(n_critic, int) or n_critic < 1:
            raise ConfigError(f"gan n_critic must be an integer >= 1, got {n_critic!r}")
        self.kind = kind
        self.gp_weight = float(gp_weight)
        self.n_critic = n_critic

    def generator_loss(self, fake: torch.Tensor) -> torch.Tensor:
        fake = fake.float()
        if self.kind == "vanilla":
            return F.binary_cross_entropy_with_logits(fake, torch.ones_like(fake))
        if self.kind == "lsgan":
            return F.mse_loss(fake, torch.ones_like(fake))
        return -fake.mean()  # hinge, wgan-gp

    def discriminator_loss(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        real, fake = real.float(), fake.float()
        if self.kind == "vanilla":
            return F.binary_cross_entropy_with_logits(real, torch.ones_like(real)) + F.binary_cross_entropy_with_logits(fake, torch.zeros_like(fake))
        if self.kind == "lsgan":
            return F.mse_loss(real, torch.ones_like(real)) + F.mse_loss(fake, torch.zeros_like(fake))
        if self.kind == "hinge":
            return F.relu(1.0 - real).mean() + F.relu(1.0 + fake).mean()
        return fake.mean() - real.mean()  # wgan-gp critic

    def forward(self, fake: torch.Tensor) -> torch.Tensor:
        return self.generator_loss(fake)


#: ``loss`` names -> classes.
LOSSES: dict[str, type[nn.Module]] = {
    "l1": L1Loss,
    "l2": L2Loss,
    "mse": L2Loss,
    "charbonnier": CharbonnierLoss,
    "ssim": SSIMLoss,
    "fft": FFTLoss,
    "perceptual": PerceptualLoss,
    "gan": GANLoss,
}


@dataclass
class LossTerm:
    """One weighted term of the objective."""

    name: str
    weight: float
    module: nn.Module

    @property
    def pixel(self) -> bool:
        return bool(getattr(self.module, "pixel", False))


def _split(name: str, value: Any) -> tuple[float, dict[str, Any]]:
    if value is None:
        return 0.0, {}
    if isinstance(value, bool):
        raise ConfigError(f"config key 'loss.{name}': expected a weight or a mapping, got {value!r}")
    if isinstance(value, (int, float)):
        return float(value), {}
    if isinstance(value, dict):
        opts = dict(value)
        w = opts.pop("weight", 1.0)
        if isinstance(w, bool) or not isinstance(w, (int, float)):
            raise ConfigError(f"config key 'loss.{name}.weight': expected a number, got {w!r}")
        return float(w), opts
    raise ConfigError(f"config key 'loss.{name}': expected a weight or a mapping, got {value!r}")


def check_loss_spec(spec: Mapping[str, Any]) -> None:
    """Validate a ``loss`` mapping without building anything (names, option keys, weights)."""
    from restora.train.config import signature_keys

    if not spec:
        raise ConfigError("config key 'loss' must name at least one loss (e.g. l1: 1.0)")
    active = 0
    for name, value in spec.items():
        if name not in LOSSES:
            raise ConfigError(f"config key 'loss.{name}' is unknown; valid losses: {', '.join(LOSSES)}")
        weight, opts = _split(name, value)
        if weight < 0:
            raise ConfigError(f"config key 'loss.{name}': weight must be >= 0, got {weight}")
        valid = signature_keys(LOSSES[name])
        for k in opts:
            if k not in valid:
                raise ConfigError(f"config key 'loss.{name}.{k}' is unknown; valid keys: weight, {', '.join(valid)}")
        if name == "gan" and opts.get("kind", "vanilla") not in GAN_KINDS:
            raise ConfigError(f"config key 'loss.gan.kind': {opts['kind']!r} is unknown; valid: {', '.join(GAN_KINDS)}")
        active += weight > 0 and name != "gan"
    if not active:
        raise ConfigError("config key 'loss' needs at least one non-adversarial term with a weight > 0")


def build_losses(spec: Mapping[str, Any]) -> list[LossTerm]:
    """The weighted terms of a ``loss`` mapping (terms of weight 0 are left out)."""
    check_loss_spec(spec)
    terms = []
    for name, value in spec.items():
        weight, opts = _split(name, value)
        if weight == 0:
            continue
        try:
            module = LOSSES[name](**opts)
        except TypeError as exc:
            raise ConfigError(f"config key 'loss.{name}': {exc}") from None
        terms.append(LossTerm(name, weight, module))
    return terms
