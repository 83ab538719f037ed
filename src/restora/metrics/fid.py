"""Fréchet Inception Distance (Heusel et al. 2017) in the pytorch-fid convention.

Features: the 2048-d pool3 output of the TensorFlow FID Inception-v3 (ported to PyTorch by
pytorch-fid, file ``pt_inception-2015-12-05-6726825d.pth``), with inputs in [0, 1] resized to
299 x 299 (bilinear, ``align_corners=False``) and scaled to [-1, 1]. The network is defined
here with the key names of that checkpoint; nothing is downloaded (see
:mod:`restora.metrics.weights` for where the file is looked for).

FID needs many images (pytorch-fid recommends >= 2048 per set; the covariance of fewer
than 2048 features is rank-deficient and biases the value upwards): compare FIDs only
between runs that use the same number of images.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
import scipy.linalg
import torch
import torch.nn.functional as F
from torch import nn

from restora.data import list_images
from restora.errors import InvalidParameterError, MissingResourceError
from restora.metrics._imread import read_rgb_or_gray
from restora.metrics.weights import find_weights, load_checkpoint

__all__ = [
    "frechet_distance",
    "feature_statistics",
    "fid",
    "fid_from_folders",
    "image_features",
    "InceptionV3FID",
    "load_fid_inception",
    "FID_WEIGHTS_FILE",
]

FID_WEIGHTS_FILE = "pt_inception-2015-12-05-6726825d.pth"
_SOURCE = {
    FID_WEIGHTS_FILE: "pytorch-fid's FID Inception, https://github.com/mseitzer/pytorch-fid/releases/download/"
    "fid_weights/pt_inception-2015-12-05-6726825d.pth"
}

FeatureExtractor = Callable[[torch.Tensor], "torch.Tensor | np.ndarray"]


# --------------------------------------------------------------------------- statistics
def frechet_distance(
    mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray, *, eps: float = 1e-6
) -> float:
    """Fréchet distance between the Gaussians N(mu1, sigma1) and N(mu2, sigma2):

    ``|mu1 - mu2|^2 + tr(sigma1 + sigma2 - 2 (sigma1 sigma2)^(1/2))``.

    As pytorch-fid: if the matrix square root is not finite, ``eps * I`` is added to both
    covariances and it is recomputed; a complex result whose diagonal has an imaginary
    part above 1e-3 is an error, a smaller one is dropped.
    """
    m1 = np.atleast_1d(np.asarray(mu1, dtype=np.float64))
    m2 = np.atleast_1d(np.asarray(mu2, dtype=np.float64))
    s1 = np.atleast_2d(np.asarray(sigma1, dtype=np.float64))
    s2 = np.atleast_2d(np.asarray(sigma2, dtype=np.float64))
    d = m1.shape[0]
    if m1.shape != (d,) or m2.shape != (d,) or s1.shape != (d, d) or s2.shape != (d, d):
        raise InvalidParameterError(
            f"means must be (D,) and covariances (D, D) with the same D; got "
            f"{m1.shape}, {s1.shape}, {m2.shape}, {s2.shape}"
        )
    diff = m1 - m2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", scipy.linalg.LinAlgWarning)  # singular: handled below
        covmean = scipy.linalg.sqrtm(s1 @ s2)
        if not np.all(np.isfinite(covmean)):
            offset = np.eye(d) * eps
            covmean = scipy.linalg.sqrtm((s1 + offset) @ (s2 + offset))
    if np.iscomplexobj(covmean):
        if not np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3):
            worst = float(np.max(np.abs(covmean.imag)))
            raise InvalidParameterError(
                f"covariances are too ill-conditioned for the Fréchet distance (imaginary part {worst:.3g}); "
                "use more samples than feature dimensions"
            )
        covmean = covmean.real
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * np.trace(covmean))


def feature_statistics(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean (D,) and unbiased covariance (D, D) of an ``N x D`` feature matrix (N >= 2)."""
    f = np.asarray(features, dtype=np.float64)
    if f.ndim != 2 or f.shape[0] < 2:
        raise InvalidParameterError(f"features must be an N x D array with N >= 2; got shape {f.shape}")
    return f.mean(axis=0), np.cov(f, rowvar=False).reshape(f.shape[1], f.shape[1])


def fid(features_a: np.ndarray, features_b: np.ndarray) -> float:
    """FID between two feature sets (``N x D`` arrays, N >= 2): the Fréchet distance of
    their fitted Gaussians."""
    fa = np.asarray(features_a, dtype=np.float64)
    fb = np.asarray(features_b, dtype=np.float64)
    if fa.ndim != 2 or fb.ndim != 2 or fa.shape[1] != fb.shape[1]:
        raise InvalidParameterError(
            f"features must be N x D arrays with the same D; got {fa.shape} and {fb.shape}"
        )
    mu1, s1 = feature_statistics(fa)
    mu2, s2 = feature_statistics(fb)
    return frechet_distance(mu1, s1, mu2, s2)


# --------------------------------------------------------------------------- network
class _BasicConv2d(nn.Module):
    def __init__(self, cin: int, cout: int, **kwargs: object) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, bias=False, **kwargs)  # type: ignore[arg-type]
        self.bn = nn.BatchNorm2d(cout, eps=0.001)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.conv(x)))


def _avg3(x: torch.Tensor) -> torch.Tensor:
    # TensorFlow's average pooling ignores the zero padding (pytorch-fid's FID patch).
    return F.avg_pool2d(x, kernel_size=3, stride=1, padding=1, count_include_pad=False)


class _InceptionA(nn.Module):
    def __init__(self, cin: int, pool_features: int) -> None:
        super().__init__()
        self.branch1x1 = _BasicConv2d(cin, 64, kernel_size=1)
        self.branch5x5_1 = _BasicConv2d(cin, 48, kernel_size=1)
        self.branch5x5_2 = _BasicConv2d(48, 64, kernel_size=5, padding=2)
        self.branch3x3dbl_1 = _BasicConv2d(cin, 64, kernel_size=1)
        self.branch3x3dbl_2 = _BasicConv2d(64, 96, kernel_size=3, padding=1)
        self.branch3x3dbl_3 = _BasicConv2d(96, 96, kernel_size=3, padding=1)
        self.branch_pool = _BasicConv2d(cin, pool_features, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b1 = self.branch1x1(x)
        b5 = self.branch5x5_2(self.branch5x5_1(x))
        b3 = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        bp = self.branch_pool(_avg3(x))
        return torch.cat([b1, b5, b3, bp], 1)


class _InceptionB(nn.Module):
    def __init__(self, cin: int) -> None:
        super().__init__()
        self.branch3x3 = _BasicConv2d(cin, 384, kernel_size=3, stride=2)
        self.branch3x3dbl_1 = _BasicConv2d(cin, 64, kernel_size=1)
        self.branch3x3dbl_2 = _BasicConv2d(64, 96, kernel_size=3, padding=1)
        self.branch3x3dbl_3 = _BasicConv2d(96, 96, kernel_size=3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b3 = self.branch3x3(x)
        bd = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        bp = F.max_pool2d(x, kernel_size=3, stride=2)
        return torch.cat([b3, bd, bp], 1)


class _InceptionC(nn.Module):
    def __init__(self, cin: int, c7: int) -> None:
        super().__init__()
        self.branch1x1 = _BasicConv2d(cin, 192, kernel_size=1)
        self.branch7x7_1 = _BasicConv2d(cin, c7, kernel_size=1)
        self.branch7x7_2 = _BasicConv2d(c7, c7, kernel_size=(1, 7), padding=(0, 3))
        self.branch7x7_3 = _BasicConv2d(c7, 192, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7dbl_1 = _BasicConv2d(cin, c7, kernel_size=1)
        self.branch7x7dbl_2 = _BasicConv2d(c7, c7, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7dbl_3 = _BasicConv2d(c7, c7, kernel_size=(1, 7), padding=(0, 3))
        self.branch7x7dbl_4 = _BasicConv2d(c7, c7, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7dbl_5 = _BasicConv2d(c7, 192, kernel_size=(1, 7), padding=(0, 3))
        self.branch_pool = _BasicConv2d(cin, 192, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b1 = self.branch1x1(x)
        b7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        bd = self.branch7x7dbl_1(x)
        for layer in (self.branch7x7dbl_2, self.branch7x7dbl_3, self.branch7x7dbl_4, self.branch7x7dbl_5):
            bd = layer(bd)
        bp = self.branch_pool(_avg3(x))
        return torch.cat([b1, b7, bd, bp], 1)


class _InceptionD(nn.Module):
    def __init__(self, cin: int) -> None:
        super().__init__()
        self.branch3x3_1 = _BasicConv2d(cin, 192, kernel_size=1)
        self.branch3x3_2 = _BasicConv2d(192, 320, kernel_size=3, stride=2)
        self.branch7x7x3_1 = _BasicConv2d(cin, 192, kernel_size=1)
        self.branch7x7x3_2 = _BasicConv2d(192, 192, kernel_size=(1, 7), padding=(0, 3))
        self.branch7x7x3_3 = _BasicConv2d(192, 192, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7x3_4 = _BasicConv2d(192, 192, kernel_size=3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b3 = self.branch3x3_2(self.branch3x3_1(x))
        b7 = self.branch7x7x3_4(self.branch7x7x3_3(self.branch7x7x3_2(self.branch7x7x3_1(x))))
        bp = F.max_pool2d(x, kernel_size=3, stride=2)
        return torch.cat([b3, b7, bp], 1)


class _InceptionE(nn.Module):
    def __init__(self, cin: int, max_pool: bool) -> None:
        super().__init__()
        self.max_pool = max_pool  # FID Inception's last block max-pools (as TF's graph does)
        self.branch1x1 = _BasicConv2d(cin, 320, kernel_size=1)
        self.branch3x3_1 = _BasicConv2d(cin, 384, kernel_size=1)
        self.branch3x3_2a = _BasicConv2d(384, 384, kernel_size=(1, 3), padding=(0, 1))
        self.branch3x3_2b = _BasicConv2d(384, 384, kernel_size=(3, 1), padding=(1, 0))
        self.branch3x3dbl_1 = _BasicConv2d(cin, 448, kernel_size=1)
        self.branch3x3dbl_2 = _BasicConv2d(448, 384, kernel_size=3, padding=1)
        self.branch3x3dbl_3a = _BasicConv2d(384, 384, kernel_size=(1, 3), padding=(0, 1))
        self.branch3x3dbl_3b = _BasicConv2d(384, 384, kernel_size=(3, 1), padding=(1, 0))
        self.branch_pool = _BasicConv2d(cin, 192, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b1 = self.branch1x1(x)
        t = self.branch3x3_1(x)
        b3 = torch.cat([self.branch3x3_2a(t), self.branch3x3_2b(t)], 1)
        t = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        bd = torch.cat([self.branch3x3dbl_3a(t), self.branch3x3dbl_3b(t)], 1)
        pooled = F.max_pool2d(x, kernel_size=3, stride=1, padding=1) if self.max_pool else _avg3(x)
        bp = self.branch_pool(pooled)
        return torch.cat([b1, b3, bd, bp], 1)


class InceptionV3FID(nn.Module):
    """The FID Inception-v3 up to pool3. ``forward`` takes ``B x 3 x H x W`` in [0, 1] and
    returns ``B x 2048`` features. Key names match ``pt_inception-2015-12-05-6726825d.pth``
    (torchvision's ``Inception3`` names; its ``fc`` classifier is not needed and not kept).
    Randomly initialised: use :func:`load_fid_inception` for the real weights.

    ``input_size`` is 299, the FID convention; tests may lower it (>= 75) to run faster."""

    input_size = 299

    def __init__(self) -> None:
        super().__init__()
        self.Conv2d_1a_3x3 = _BasicConv2d(3, 32, kernel_size=3, stride=2)
        self.Conv2d_2a_3x3 = _BasicConv2d(32, 32, kernel_size=3)
        self.Conv2d_2b_3x3 = _BasicConv2d(32, 64, kernel_size=3, padding=1)
        self.Conv2d_3b_1x1 = _BasicConv2d(64, 80, kernel_size=1)
        self.Conv2d_4a_3x3 = _BasicConv2d(80, 192, kernel_size=3)
        self.Mixed_5b = _InceptionA(192, 32)
        self.Mixed_5c = _InceptionA(256, 64)
        self.Mixed_5d = _InceptionA(288, 64)
        self.Mixed_6a = _InceptionB(288)
        self.Mixed_6b = _InceptionC(768, 128)
        self.Mixed_6c = _InceptionC(768, 160)
        self.Mixed_6d = _InceptionC(768, 160)
        self.Mixed_6e = _InceptionC(768, 192)
        self.Mixed_7a = _InceptionD(768)
        self.Mixed_7b = _InceptionE(1280, max_pool=False)
        self.Mixed_7c = _InceptionE(2048, max_pool=True)
        self.eval()
        self.requires_grad_(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = (self.input_size, self.input_size)
        x = F.interpolate(x, size=size, mode="bilinear", align_corners=False)
        x = 2.0 * x - 1.0
        x = self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x)))
        x = F.max_pool2d(x, kernel_size=3, stride=2)
        x = self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(x))
        x = F.max_pool2d(x, kernel_size=3, stride=2)
        for block in (self.Mixed_5b, self.Mixed_5c, self.Mixed_5d, self.Mixed_6a, self.Mixed_6b,
                      self.Mixed_6c, self.Mixed_6d, self.Mixed_6e, self.Mixed_7a, self.Mixed_7b, self.Mixed_7c):
            x = block(x)
        return torch.flatten(F.adaptive_avg_pool2d(x, (1, 1)), 1)

    def load_weights(self, path: str | os.PathLike[str]) -> "InceptionV3FID":
        """Load pytorch-fid's checkpoint (its ``fc.*`` classifier keys are ignored)."""
        state = {k: v for k, v in load_checkpoint(path).items() if not k.startswith(("fc.", "AuxLogits."))}
        result = self.load_state_dict(state, strict=False)
        missing = [k for k in result.missing_keys if not k.endswith("num_batches_tracked")]
        if missing or result.unexpected_keys:
            raise MissingResourceError(
                f"{path} is not the FID Inception checkpoint: missing {missing[:3]}, "
                f"unexpected {list(result.unexpected_keys)[:3]}"
            )
        return self


_CACHE: dict[tuple[str, str], InceptionV3FID] = {}


def load_fid_inception(
    weights: str | os.PathLike[str] | None = None,
    *,
    weights_dir: str | os.PathLike[str] | None = None,
    device: str | torch.device | None = None,
) -> InceptionV3FID:
    """The FID Inception with pytorch-fid's weights: the file ``weights`` if given, else
    ``pt_inception-2015-12-05-6726825d.pth`` found in the weights folders (cached)."""
    if weights is not None:
        path = Path(weights).expanduser()
        if not path.is_file():
            raise MissingResourceError(f"FID Inception weights file {path} not found ({_SOURCE[FID_WEIGHTS_FILE]})")
    else:
        path = find_weights([FID_WEIGHTS_FILE], what="FID", weights_dir=weights_dir, sources=_SOURCE)[FID_WEIGHTS_FILE]
    dev = str(torch.device(device)) if device is not None else "cpu"
    key = (str(path.resolve()), dev)
    if key not in _CACHE:
        _CACHE[key] = InceptionV3FID().load_weights(path).to(dev)
    return _CACHE[key]


# --------------------------------------------------------------------------- images -> FID
def image_features(
    images: Iterable[np.ndarray],
    extractor: FeatureExtractor,
    *,
    batch_size: int = 32,
    device: str | torch.device | None = None,
) -> np.ndarray:
    """Features (``N x D`` float64) of ``H x W x C`` images in [0, 1] (gray is repeated to RGB).

    Consecutive images of the same size are batched (at most ``batch_size``); each batch
    goes to ``extractor`` as a float32 ``B x 3 x H x W`` tensor on ``device`` (default: the
    extractor's device if it is a module, else CPU) and must come back as ``B x D``.
    """
    if int(batch_size) < 1:
        raise InvalidParameterError(f"batch_size must be >= 1; got {batch_size!r}")
    if device is None and isinstance(extractor, nn.Module):
        p = next(iter(extractor.parameters()), None)
        dev = p.device if p is not None else torch.device("cpu")
    else:
        dev = torch.device(device) if device is not None else torch.device("cpu")
    feats: list[np.ndarray] = []
    batch: list[np.ndarray] = []

    def flush() -> None:
        if not batch:
            return
        t = torch.from_numpy(np.stack(batch).transpose(0, 3, 1, 2).copy()).to(dev)
        with torch.no_grad():
            out = extractor(t)
        arr = out.detach().cpu().double().numpy() if isinstance(out, torch.Tensor) else np.asarray(out, np.float64)
        feats.append(arr.reshape(len(batch), -1))
        batch.clear()

    for img in images:
        a = np.asarray(img, dtype=np.float32)
        if a.ndim == 2:
            a = a[:, :, None]
        if a.ndim != 3 or a.shape[2] not in (1, 3):
            raise InvalidParameterError(f"images must be H x W x C with C in (1, 3); got shape {a.shape}")
        if a.shape[2] == 1:
            a = np.repeat(a, 3, axis=2)
        if batch and (a.shape != batch[0].shape or len(batch) >= batch_size):
            flush()
        batch.append(a)
    flush()
    if not feats:
        raise InvalidParameterError("no images given")
    return np.concatenate(feats, axis=0)


def fid_from_folders(
    dir_a: str | os.PathLike[str],
    dir_b: str | os.PathLike[str],
    *,
    weights: str | os.PathLike[str] | None = None,
    weights_dir: str | os.PathLike[str] | None = None,
    feature_extractor: FeatureExtractor | None = None,
    batch_size: int = 32,
    device: str | torch.device | None = None,
) -> float:
    """FID between the images of two folders (each needs >= 2 images; see the module note
    on set sizes). Features come from the FID Inception (``weights`` file or the weights
    folders) unless a ``feature_extractor`` callable is given (e.g. a tiny network in tests)."""
    paths_a, paths_b = list_images(dir_a), list_images(dir_b)
    for d, p in ((dir_a, paths_a), (dir_b, paths_b)):
        if len(p) < 2:
            raise InvalidParameterError(f"FID needs at least 2 images per folder; {d} has {len(p)}")
    extractor: FeatureExtractor
    if feature_extractor is None:
        extractor = load_fid_inception(weights, weights_dir=weights_dir, device=device)
    else:
        extractor = feature_extractor
    fa = image_features((read_rgb_or_gray(p) for p in paths_a), extractor, batch_size=batch_size, device=device)
    fb = image_features((read_rgb_or_gray(p) for p in paths_b), extractor, batch_size=batch_size, device=device)
    return fid(fa, fb)
