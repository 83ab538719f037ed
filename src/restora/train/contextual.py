"""The contextual loss (Mechrez, Talmi & Zelnik-Manor, ECCV 2018).

Two images are compared as *sets* of feature vectors, ignoring where each vector sits, so
the loss asks "does every target feature have a close match in the output?" rather than
"is every pixel in place". For output vectors ``x_i`` and target vectors ``y_j``:

1. centre both sets by the target mean ``mu_y`` and L2-normalise each vector;
2. cosine distance ``d_ij = 1 - <x_i, y_j>``;
3. relative distance ``d~_ij = d_ij / (min_k d_ik + eps)`` (``eps = 1e-5``);
4. affinity ``w_ij = exp((1 - d~_ij) / h)`` with bandwidth ``h``;
5. normalised affinity ``CX_ij = w_ij / sum_k w_ik`` (a softmax over the target set);
6. ``CX(X, Y) = mean_j max_i CX_ij`` and the loss is ``-log CX(X, Y)``.

Identical sets give ``CX = 1`` (loss ~0); the loss is invariant to any permutation of the
vectors of either set.

Bandwidth: ``h = 0.5`` by default (the paper's experiments use values between 0.1 and 1).
As ``h -> 0`` the affinity of each output vector concentrates on its nearest target, and CX
tends to the fraction of target vectors that are some output's nearest neighbour; as ``h``
grows it flattens and CX tends to ``1 / M`` (loss ``log M``) whatever the sets. Between
the two, ``h`` sets how much a near-but-not-nearest match still counts.

Vectors come from :class:`ContextualLoss`'s feature extractor: by default restora's seeded
random conv features (:class:`restora.train.features.RandomFeatures`, layer ``stage3``: one
vector per 4x4 input patch, receptive field ~40 px), since VGG19 weights cannot be
downloaded here (``features="vgg19"`` uses them where present, layer ``conv4_2`` as the
paper); ``features=None`` uses raw RGB patches (5x5, stride 2). Each vector of a feature map
describes a patch of the image; ``patch_size > 1`` additionally stacks ``p x p``
neighbourhoods of feature vectors. To run on a CPU the number of vectors per image is capped
(``max_vectors``, default 1024): above the cap the same random positions (from a seeded
``torch.Generator``) are kept in both maps, which makes the loss a stochastic estimate.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from restora.errors import InvalidParameterError

__all__ = ["contextual_similarity", "contextual_loss_vectors", "contextual_loss_maps", "feature_vectors", "ContextualLoss"]

_EPS = 1e-5


def contextual_similarity(x: torch.Tensor, y: torch.Tensor, h: float = 0.5) -> torch.Tensor:
    """``CX(X, Y)`` per batch item for vector sets ``x`` (``B x N x C``, the output) and ``y``
    (``B x M x C``, the target): a ``B`` tensor in (0, 1]."""
    if x.dim() != 3 or y.dim() != 3 or x.shape[0] != y.shape[0] or x.shape[2] != y.shape[2]:
        raise InvalidParameterError(f"contextual loss needs B x N x C and B x M x C sets, got {tuple(x.shape)} and {tuple(y.shape)}")
    if not h > 0:
        raise InvalidParameterError(f"contextual loss bandwidth h must be > 0, got {h}")
    mu = y.mean(dim=1, keepdim=True)
    xn = F.normalize(x - mu, dim=2)
    yn = F.normalize(y - mu, dim=2)
    d = (1.0 - xn @ yn.transpose(1, 2)).clamp_min(0.0)  # B x N x M cosine distances
    d_rel = d / (d.min(dim=2, keepdim=True).values + _EPS)
    cx = torch.softmax((1.0 - d_rel) / h, dim=2)  # normalised over the target set
    return cx.max(dim=1).values.mean(dim=1)


def contextual_loss_vectors(x: torch.Tensor, y: torch.Tensor, h: float = 0.5) -> torch.Tensor:
    """Mean over the batch of ``-log CX(X, Y)`` (see :func:`contextual_similarity`)."""
    return -torch.log(contextual_similarity(x, y, h).clamp_min(1e-12)).mean()


def feature_vectors(fmap: torch.Tensor, patch_size: int = 1, stride: int = 1) -> torch.Tensor:
    """``B x C x H x W`` map -> ``B x N x (C p^2)`` vectors of its ``p x p`` patches."""
    if patch_size == 1 and stride == 1:
        return fmap.flatten(2).transpose(1, 2)
    return F.unfold(fmap, patch_size, stride=stride).transpose(1, 2)


def contextual_loss_maps(
    fx: torch.Tensor,
    fy: torch.Tensor,
    *,
    h: float = 0.5,
    patch_size: int = 1,
    stride: int = 1,
    max_vectors: int | None = 1024,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Contextual loss between feature maps ``fx`` (output) and ``fy`` (target), ``B x C x H x W``.

    When a map has more than ``max_vectors`` vectors, the same random subset of positions
    (drawn from ``generator``) is used in both."""
    if fx.shape != fy.shape:
        raise InvalidParameterError(f"contextual loss maps must have equal shapes, got {tuple(fx.shape)} and {tuple(fy.shape)}")
    vx = feature_vectors(fx, patch_size, stride)
    vy = feature_vectors(fy, patch_size, stride)
    n = vx.shape[1]
    if max_vectors is not None and n > max_vectors:
        idx = torch.randperm(n, generator=generator)[: int(max_vectors)].to(fx.device)
        vx, vy = vx[:, idx], vy[:, idx]
    return contextual_loss_vectors(vx, vy, h)


class ContextualLoss(nn.Module):
    """Contextual loss between images (``B x C x H x W`` in [0, 1]): ``loss(output, target)``.

    ``features``: ``"random"`` (default: restora's seeded :class:`RandomFeatures`), ``"vgg19"``,
    ``"auto"``, a ready feature network (see :mod:`restora.train.features`) or None for raw
    RGB patches. ``layers``: the layers whose losses are averaged (default: ``stage3`` for the
    random features, ``conv4_2`` for VGG19). ``patch_size``/``stride``: neighbourhoods of
    vectors (default 1/1 on features, 5/2 on raw RGB). ``seed`` seeds the subsampling
    generator used above ``max_vectors``. Gradients flow into both arguments; detach the
    target yourself when it should stay fixed.
    """

    def __init__(
        self,
        features: str | nn.Module | None = "random",
        layers: Sequence[str] | None = None,
        *,
        h: float = 0.5,
        patch_size: int | None = None,
        stride: int | None = None,
        max_vectors: int | None = 1024,
        seed: int = 0,
    ) -> None:
        super().__init__()
        if not h > 0:
            raise InvalidParameterError(f"contextual loss bandwidth h must be > 0, got {h}")
        if features is None:
            self.net: nn.Module | None = None
            self.layers: tuple[str, ...] = ()
            self.patch_size, self.stride = patch_size or 5, stride or 2
        else:
            from restora.train.features import build_feature_network

            self.net = build_feature_network(features)  # type: ignore[arg-type]
            if layers is None:
                layers = ("conv4_2",) if getattr(self.net, "network", "") == "vgg19" else ("stage3",)
                if not all(name in self.net.layer_names for name in layers):  # type: ignore[operator]
                    layers = (self.net.layer_names[min(2, len(self.net.layer_names) - 1)],)  # type: ignore[index]
            unknown = [name for name in layers if name not in self.net.layer_names]  # type: ignore[operator]
            if unknown:
                raise InvalidParameterError(f"contextual loss layers {unknown} unknown; valid: {', '.join(self.net.layer_names)}")  # type: ignore[arg-type]
            self.layers = tuple(layers)
            self.patch_size, self.stride = patch_size or 1, stride or 1
        self.h = float(h)
        self.max_vectors = max_vectors
        self.generator = torch.Generator().manual_seed(int(seed))

    def forward(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        kw = dict(h=self.h, patch_size=self.patch_size, stride=self.stride, max_vectors=self.max_vectors, generator=self.generator)
        if self.net is None:
            return contextual_loss_maps(output, target, **kw)  # type: ignore[arg-type]
        fo = self.net(output, self.layers)
        ft = self.net(target, self.layers)
        losses = [contextual_loss_maps(fo[name], ft[name], **kw) for name in self.layers]  # type: ignore[arg-type]
        return torch.stack(losses).mean()
