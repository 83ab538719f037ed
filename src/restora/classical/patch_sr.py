"""Example-based super-resolution with anchored neighbourhood regression (A+ style).

This is an implementation of the idea of *A+* (Timofte, De Smet & Van Gool, "A+: Adjusted
Anchored Neighborhood Regression for Fast Super-Resolution", ACCV 2014), written from the
paper's description:

* the low-resolution (LR) image is upscaled with MATLAB bicubic (the "mid" image);
* features: first- and second-order derivatives of the mid image's Y channel (filters
  ``[1, 0, -1]`` and ``[1, 0, -2, 0, 1] / 2`` dilated to the LR pixel spacing, along x and y),
  taken in ``3s x 3s`` patches on the LR pixel grid, reduced by PCA (99.9 % energy);
* targets: the high-resolution (HR) minus mid residual in the same patches;
* anchors: ``n_anchors`` unit vectors in feature space found by spherical k-means on
  normalised features (A+ uses K-SVD atoms; k-means is a common replacement);
* for each anchor a ridge regressor ``R_j = H_j L_j^T (L_j L_j^T + ridge I)^-1`` is fitted on
  the ``neighbours`` training samples most correlated with it (the "adjusted" neighbourhood
  of A+, taken from training samples rather than from other atoms);
* prediction: each LR patch takes the regressor of its most correlated anchor, the predicted
  residual patches are averaged where they overlap and added to the mid image. Chroma is
  upscaled with bicubic.

The model is stored as an ``.npz`` of plain arrays plus a JSON string (``np.load`` with
``allow_pickle=False``), see :meth:`PatchSR.save`.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from scipy import ndimage

from restora.ensemble import dihedral, self_ensemble
from restora.errors import InvalidParameterError, MissingResourceError
from restora.rng import RngLike, as_generator
from restora.validation import as_image, check_choice, check_range

__all__ = ["PatchSR", "rgb_to_ycbcr", "ycbcr_to_rgb", "FORMAT_VERSION", "default_model_path"]

FORMAT_VERSION = 1

_DATA_DIR = Path(__file__).resolve().parent / "data"

# MATLAB rgb2ycbcr for RGB in [0, 1]: ycbcr(8-bit levels) = offset + M @ rgb; here / 255.
_M = np.array(
    [[65.481, 128.553, 24.966], [-37.797, -74.203, 112.0], [112.0, -93.786, -18.214]], dtype=np.float64
) / 255.0
_OFF = np.array([16.0, 128.0, 128.0]) / 255.0
_MINV = np.linalg.inv(_M)


def rgb_to_ycbcr(image: np.ndarray) -> np.ndarray:
    """RGB in [0, 1] -> YCbCr (ITU-R BT.601, MATLAB ``rgb2ycbcr``) in [0, 1] units (Y in [16, 235]/255)."""
    img = as_image(image, channels=(3,)).astype(np.float64)
    return (img @ _M.T + _OFF).astype(np.float32)


def ycbcr_to_rgb(image: np.ndarray) -> np.ndarray:
    """Inverse of :func:`rgb_to_ycbcr` (MATLAB ``ycbcr2rgb``), no clipping."""
    img = as_image(image, channels=(3,)).astype(np.float64)
    return ((img - _OFF) @ _MINV.T).astype(np.float32)


def default_model_path(scale: int) -> Path:
    """Path of the shipped model for ``scale`` (``restora/classical/data/patch_sr_x{scale}.npz``)."""
    return _DATA_DIR / f"patch_sr_x{int(scale)}.npz"


# --------------------------------------------------------------------------------------
# Features
# --------------------------------------------------------------------------------------


def _bicubic(image: np.ndarray, scale: float) -> np.ndarray:
    from restora.degrade.resize import imresize

    return imresize(image, scale)


def _feature_maps(mid: np.ndarray, scale: int) -> np.ndarray:
    """4 derivative maps (gx, gy, gxx, gyy) of a 2-D mid image, filters dilated by ``scale``."""
    z = [0.0] * (scale - 1)
    g = np.array([1.0, *z, -1.0])
    lap = np.array([1.0, *z, -2.0, *z, 1.0]) / 2.0
    m = mid.astype(np.float32)
    maps = [
        ndimage.correlate1d(m, g, axis=1, mode="reflect"),
        ndimage.correlate1d(m, g, axis=0, mode="reflect"),
        ndimage.correlate1d(m, lap, axis=1, mode="reflect"),
        ndimage.correlate1d(m, lap, axis=0, mode="reflect"),
    ]
    return np.stack(maps, axis=0)


def _patches_at(maps: np.ndarray, rows: np.ndarray, cols: np.ndarray, size: int) -> np.ndarray:
    """Flattened ``size x size`` patches of ``maps`` (C x H x W) with top-left corners (rows, cols)."""
    win = np.lib.stride_tricks.sliding_window_view(maps, (size, size), axis=(-2, -1))
    # win: C x (H-size+1) x (W-size+1) x size x size
    out = win[:, rows, cols]  # C x n x size x size
    return np.ascontiguousarray(out.transpose(1, 0, 2, 3).reshape(len(rows), -1))


def _grid_patches(maps: np.ndarray, size: int, step: int) -> tuple[np.ndarray, int, int]:
    """All patches on a regular grid (top-left at multiples of ``step``); returns (patches, ny, nx)."""
    win = np.lib.stride_tricks.sliding_window_view(maps, (size, size), axis=(-2, -1))[:, ::step, ::step]
    c, ny, nx = win.shape[:3]
    out = win.transpose(1, 2, 0, 3, 4).reshape(ny * nx, c * size * size)
    return np.ascontiguousarray(out), ny, nx


def _training_pairs(
    hr: np.ndarray, scale: int, size: int, rng: np.random.Generator, count: int
) -> tuple[np.ndarray, np.ndarray]:
    """Sample ``count`` (feature, residual) patch pairs from one HR image (float32 HxWxC in [0,1])."""
    from restora.degrade.resize import imresize

    h, w = hr.shape[:2]
    h, w = h - h % scale, w - w % scale
    hr = hr[:h, :w]
    # LR exactly as the benchmark makes it: MATLAB bicubic on the 8-bit image, rounded.
    hr_u8 = np.floor(np.clip(hr, 0, 1) * 255.0 + 0.5).astype(np.uint8)
    lr = imresize(hr_u8, 1.0 / scale)
    hr_f = hr_u8.astype(np.float32) / 255.0
    if hr.shape[2] == 3:
        hr_y = rgb_to_ycbcr(hr_f)[:, :, 0]
        lr_y = rgb_to_ycbcr(lr)[:, :, 0]
    else:
        hr_y, lr_y = hr_f[:, :, 0], lr[:, :, 0]
    mid = _bicubic(lr_y, scale)[:, :, 0]
    maps = _feature_maps(mid, scale)
    ny, nx = (h - size) // scale + 1, (w - size) // scale + 1
    if ny < 1 or nx < 1:
        return np.zeros((0, 4 * size * size), np.float32), np.zeros((0, size * size), np.float32)
    n = min(count, ny * nx)
    pick = rng.choice(ny * nx, size=n, replace=False)
    rows, cols = (pick // nx) * scale, (pick % nx) * scale
    feats = _patches_at(maps, rows, cols, size)
    res = (hr_y - mid)[None]
    targets = _patches_at(res, rows, cols, size)
    return feats, targets


def _load_training_image(item: Any) -> np.ndarray:
    if isinstance(item, (str, os.PathLike)):
        from PIL import Image

        try:
            with Image.open(item) as im:
                arr = np.asarray(im.convert("RGB") if im.mode not in ("L", "RGB") else im)
        except OSError as exc:
            raise InvalidParameterError(f"training image {item} could not be read: {exc}") from None
        return as_image(arr)
    return as_image(item, "training image")


# --------------------------------------------------------------------------------------
# Model
# --------------------------------------------------------------------------------------


class PatchSR:
    """Anchored neighbourhood regression super-resolution (A+ style) for one integer scale.

    Build with :meth:`fit` or :meth:`load`; run with :meth:`predict` (or call the object).
    """

    def __init__(
        self,
        scale: int,
        patch_size: int,
        pca: np.ndarray,
        anchors: np.ndarray,
        regressors: np.ndarray,
        meta: dict[str, Any] | None = None,
        target_basis: np.ndarray | None = None,
    ) -> None:
        self.scale = int(scale)
        self.patch_size = int(patch_size)  # in HR pixels (a multiple of scale)
        self.pca = np.asarray(pca, dtype=np.float32)  # F x d
        self.anchors = np.asarray(anchors, dtype=np.float32)  # K x d (unit rows)
        self.regressors = np.asarray(regressors, dtype=np.float32)  # K x r x d
        self.meta = dict(meta or {})
        # Residual patches are predicted as r coefficients on an orthonormal basis (D x r).
        D = self.patch_size**2
        self.target_basis = (
            np.eye(D, dtype=np.float32) if target_basis is None else np.asarray(target_basis, dtype=np.float32)
        )
        f, d = self.pca.shape
        k, r, d2 = self.regressors.shape
        if (
            f != 4 * D
            or d2 != d
            or self.target_basis.shape != (D, r)
            or self.anchors.shape != (k, d)
        ):
            raise InvalidParameterError("PatchSR arrays have inconsistent shapes")

    # ------------------------------------------------------------------ training
    @classmethod
    def fit(
        cls,
        images: Sequence[np.ndarray | str | os.PathLike[str]],
        scale: int,
        *,
        patch_size: int | None = None,
        max_patches: int = 400_000,
        n_anchors: int = 1024,
        neighbours: int = 2048,
        ridge: float = 0.1,
        pca_energy: float = 0.999,
        target_energy: float | None = None,
        kmeans_iters: int = 20,
        augment: bool = True,
        min_feature_norm: float = 1e-3,
        rng: RngLike = None,
        verbose: bool = False,
    ) -> "PatchSR":
        """Learn anchors and regressors from HR training ``images`` (arrays or file paths).

        ``patch_size`` is in HR pixels (default ``3 * scale``, must be a multiple of
        ``scale``); ``max_patches`` training pairs are sampled evenly over the images
        (random dihedral transform per image when ``augment``); patches whose feature norm
        is below ``min_feature_norm`` (flat areas) are skipped. Features keep the PCA
        components holding ``pca_energy`` of their energy; ``target_energy`` (if given)
        likewise compresses the predicted residual patches onto a PCA basis (smaller files
        for large scales).
        """
        scale = int(check_range("scale", scale, 2, 8))
        size = 3 * scale if patch_size is None else int(patch_size)
        if size < scale or size % scale:
            raise InvalidParameterError(f"patch_size must be a positive multiple of scale={scale}; got {patch_size}")
        n_anchors = int(check_range("n_anchors", n_anchors, 1, 65536))
        neighbours = int(check_range("neighbours", neighbours, 1, None))
        check_range("ridge", ridge, 0, None)
        check_range("pca_energy", pca_energy, 0, 1, lo_open=True)
        items = list(images)
        if not items:
            raise InvalidParameterError("images must hold at least one training image")
        gen = as_generator(rng)
        t0 = time.perf_counter()
        per = max(1, int(np.ceil(max_patches / len(items))))
        transforms = gen.integers(8, size=len(items)) if augment else np.zeros(len(items), np.int64)
        seeds = gen.integers(0, 2**63 - 1, size=len(items))

        def pairs(i: int, count: int, salt: int) -> tuple[np.ndarray, np.ndarray]:
            img = np.ascontiguousarray(dihedral(_load_training_image(items[i]), int(transforms[i])))
            g = np.random.default_rng([int(seeds[i]), salt])
            f, t = _training_pairs(img, scale, size, g, count)
            keep = np.linalg.norm(f, axis=1) > min_feature_norm
            return f[keep], t[keep]

        # Pass 1: PCA of the features from a subsample (keeps memory small for large scales).
        pca_per = max(1, int(np.ceil(min(max_patches, 200_000) / len(items))))
        cov = np.zeros((4 * size * size,) * 2)
        tcov = np.zeros((size * size,) * 2)
        for i in range(len(items)):
            f, t = pairs(i, pca_per, 1)
            f64, t64 = f.astype(np.float64), t.astype(np.float64)
            cov += f64.T @ f64
            tcov += t64.T @ t64
        V = _pca_basis(cov, pca_energy)
        d = V.shape[1]
        U = None if target_energy is None else _pca_basis(tcov, float(check_range("target_energy", target_energy, 0, 1, lo_open=True)))
        # Pass 2: the training pairs, projected at once.
        Ls, Ts = [], []
        for i in range(len(items)):
            f, t = pairs(i, per, 2)
            Ls.append(f @ V)
            Ts.append(t if U is None else t @ U)
        L = np.concatenate(Ls).astype(np.float32)
        T = np.concatenate(Ts).astype(np.float32)
        del Ls, Ts
        if L.shape[0] < max(n_anchors, 16):
            raise InvalidParameterError(
                f"only {L.shape[0]} textured training patches found; need at least n_anchors={n_anchors}"
            )
        if verbose:
            print(f"  {L.shape[0]} patch pairs from {len(items)} images ({time.perf_counter() - t0:.1f}s)")
        norms = np.linalg.norm(L, axis=1, keepdims=True)
        Ln = L / np.maximum(norms, 1e-12)
        Tn = T / np.maximum(norms, 1e-12)  # targets scaled with their features (A+)
        del T
        if verbose:
            print(f"  PCA: {V.shape[0]} -> {d} dims; k-means with {n_anchors} anchors")
        anchors = _spherical_kmeans(Ln, n_anchors, kmeans_iters, gen)
        if verbose:
            print(f"  anchors done ({time.perf_counter() - t0:.1f}s); fitting regressors")
        regs = _anchor_regressors(Ln, Tn, anchors, neighbours, ridge)
        meta = {
            "format_version": FORMAT_VERSION,
            "method": "anchored neighbourhood regression (A+ style), spherical k-means anchors",
            "scale": scale,
            "patch_size": size,
            "features": "gx, gy, gxx, gyy of bicubic-upscaled Y (filters dilated by scale)",
            "pca_dims": d,
            "target_dims": int(size * size if U is None else U.shape[1]),
            "n_anchors": n_anchors,
            "neighbours": neighbours,
            "ridge": ridge,
            "training_patches": int(L.shape[0]),
            "training_images": len(items),
        }
        if verbose:
            print(f"  done in {time.perf_counter() - t0:.1f}s")
        return cls(scale, size, V, anchors, regs, meta, target_basis=U)

    # ------------------------------------------------------------------ inference
    def predict_y(self, lr_y: np.ndarray) -> np.ndarray:
        """Super-resolve a single 2-D plane (the Y channel); returns ``s*h x s*w`` float32."""
        s, size = self.scale, self.patch_size
        lr_y = np.asarray(lr_y, dtype=np.float32)
        h, w = lr_y.shape
        mid = _bicubic(lr_y, s)[:, :, 0]
        H, W = mid.shape
        # Pad by one patch on each side (mirrored) so that every pixel gets size/s x size/s
        # overlapping patches, all on the LR pixel grid (the phase used in training).
        p = size
        midp = np.pad(mid, ((p, p + (-(H + 2 * p - size) % s)), (p, p + (-(W + 2 * p - size) % s))), mode="symmetric")
        maps = _feature_maps(midp, s)
        patches, ny, nx = _grid_patches(maps, size, s)
        res = self._regress(patches) @ self.target_basis.T  # n x size*size
        b = size // s  # blocks per patch side
        res = res.reshape(ny, nx, b, s, b, s)
        canvas = np.zeros((ny + b - 1, s, nx + b - 1, s), np.float32)
        count = np.zeros((ny + b - 1, nx + b - 1), np.float32)
        for i in range(b):
            for j in range(b):
                canvas[i : i + ny, :, j : j + nx, :] += res[:, :, i, :, j, :].transpose(0, 2, 1, 3)
                count[i : i + ny, j : j + nx] += 1.0
        canvas = canvas / count[:, None, :, None]
        canvas = canvas.reshape((ny + b - 1) * s, (nx + b - 1) * s)
        return (mid + canvas[p : p + H, p : p + W]).astype(np.float32)

    def _regress(self, patches: np.ndarray, chunk: int = 65536) -> np.ndarray:
        out = np.empty((patches.shape[0], self.regressors.shape[1]), np.float32)
        for start in range(0, patches.shape[0], chunk):
            f = patches[start : start + chunk] @ self.pca  # n x d
            idx = np.argmax(np.abs(f @ self.anchors.T), axis=1)  # most correlated anchor
            order = np.argsort(idx, kind="stable")
            bounds = np.searchsorted(idx[order], np.arange(self.anchors.shape[0] + 1))
            block = np.empty((f.shape[0], self.regressors.shape[1]), np.float32)
            for a in np.nonzero(np.diff(bounds))[0]:
                sel = order[bounds[a] : bounds[a + 1]]
                block[sel] = f[sel] @ self.regressors[a].T
            out[start : start + chunk] = block
        return out

    def predict(self, lr_image: np.ndarray, *, ensemble: bool = False) -> np.ndarray:
        """Super-resolve ``lr_image`` (H x W x C, C = 1 or 3) by ``self.scale``.

        Colour images: Y by the model, Cb/Cr by MATLAB bicubic. ``ensemble`` averages the
        8 flips/rotations of the input (slower by 8x, usually +0.1 dB).
        """
        img = as_image(lr_image, "lr_image")
        if img.shape[0] < 2 or img.shape[1] < 2:
            raise InvalidParameterError(f"lr_image must be at least 2 x 2 pixels; got {img.shape[:2]}")
        if img.shape[2] == 3:
            ycc = rgb_to_ycbcr(img)
            y = ycc[:, :, 0]
        else:
            y = img[:, :, 0]
        if ensemble:
            hy = self_ensemble(self.predict_y, y)
        else:
            hy = self.predict_y(y)
        if img.shape[2] == 1:
            return hy[:, :, None].astype(np.float32)
        chroma = np.concatenate([_bicubic(ycc[:, :, c], self.scale) for c in (1, 2)], axis=2)
        return ycbcr_to_rgb(np.concatenate([hy[:, :, None], chroma], axis=2))

    __call__ = predict

    # ------------------------------------------------------------------ storage
    def save(self, path: str | os.PathLike[str], *, dtype: str = "float16") -> Path:
        """Write the model as ``.npz`` (plain arrays + JSON metadata; no pickle).

        ``dtype`` of the stored regressors: ``"float32"``, ``"float16"`` (half the size) or
        ``"int8"`` (a quarter; symmetric 8-bit quantisation with one float16 scale per
        regressor row). The PSNR cost of either is a few thousandths of a dB.
        """
        check_choice("dtype", dtype, ("float32", "float16", "int8"))
        p = Path(path)
        meta = dict(
            self.meta,
            format_version=FORMAT_VERSION,
            scale=self.scale,
            patch_size=self.patch_size,
            regressor_dtype=dtype,
        )
        arrays: dict[str, np.ndarray] = {
            "pca": self.pca,
            "anchors": self.anchors,
            "target_basis": self.target_basis,
        }
        if dtype == "int8":
            scale = np.abs(self.regressors).max(axis=2, keepdims=True) / 127.0
            scale = np.where(scale > 0, scale, 1.0).astype(np.float16)
            q = np.round(self.regressors / scale.astype(np.float32))
            arrays["regressors"] = np.clip(q, -127, 127).astype(np.int8)
            arrays["regressor_scale"] = scale
        else:
            arrays["regressors"] = self.regressors.astype(dtype)
        p.parent.mkdir(parents=True, exist_ok=True)
        with open(p, "wb") as fh:
            np.savez_compressed(fh, meta=np.array(json.dumps(meta, sort_keys=True)), **arrays)
        return p

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> "PatchSR":
        """Read a model written by :meth:`save` (``np.load(..., allow_pickle=False)``)."""
        p = Path(path)
        if not p.is_file():
            raise MissingResourceError(f"patch SR model {p} does not exist")
        try:
            with np.load(p, allow_pickle=False) as z:
                meta = json.loads(str(z["meta"]))
                arrays = {k: z[k] for k in ("pca", "anchors", "regressors", "target_basis")}
                if arrays["regressors"].dtype == np.int8:
                    arrays["regressors"] = arrays["regressors"].astype(np.float32) * z["regressor_scale"].astype(np.float32)
        except (OSError, ValueError, KeyError) as exc:
            raise MissingResourceError(f"{p} is not a restora patch SR model: {exc}") from None
        if int(meta.get("format_version", -1)) != FORMAT_VERSION:
            raise MissingResourceError(f"{p}: unsupported patch SR format {meta.get('format_version')!r}")
        return cls(
            meta["scale"],
            meta["patch_size"],
            arrays["pca"],
            arrays["anchors"],
            arrays["regressors"],
            meta,
            target_basis=arrays["target_basis"],
        )

    @classmethod
    def pretrained(cls, scale: int) -> "PatchSR":
        """The model shipped with restora for ``scale`` (2, 3 or 4)."""
        path = default_model_path(scale)
        if not path.is_file():
            have = sorted(q.name for q in _DATA_DIR.glob("patch_sr_x*.npz")) if _DATA_DIR.is_dir() else []
            raise MissingResourceError(
                f"no shipped patch SR model for scale {scale} ({path.name}); available: {', '.join(have) or 'none'}"
            )
        return cls.load(path)

    def __repr__(self) -> str:
        return (
            f"PatchSR(scale={self.scale}, patch_size={self.patch_size}, pca_dims={self.pca.shape[1]}, "
            f"anchors={self.anchors.shape[0]})"
        )


# --------------------------------------------------------------------------------------
# Training helpers
# --------------------------------------------------------------------------------------


def _pca_basis(cov: np.ndarray, energy: float) -> np.ndarray:
    """Leading eigenvectors of the (uncentred) covariance ``cov`` holding ``energy`` of the trace."""
    evals, evecs = np.linalg.eigh(cov)
    order = np.argsort(evals)[::-1]
    evals, evecs = np.maximum(evals[order], 0), evecs[:, order]
    cum = np.cumsum(evals) / max(evals.sum(), 1e-300)
    d = int(min(np.searchsorted(cum, energy) + 1, len(evals)))
    return evecs[:, :d].astype(np.float32)


def _spherical_kmeans(X: np.ndarray, k: int, iters: int, gen: np.random.Generator, sample: int = 300_000) -> np.ndarray:
    """Antipodal spherical k-means on unit rows of ``X``: centres maximise sum |<x, c>|."""
    if X.shape[0] > sample:
        X = X[gen.choice(X.shape[0], sample, replace=False)]
    C = X[gen.choice(X.shape[0], k, replace=False)].copy()
    for _ in range(iters):
        idx, sign = _assign(X, C)
        Xs = X * sign[:, None]
        newC = np.zeros_like(C)
        _scatter_add(newC, idx, Xs)
        nrm = np.linalg.norm(newC, axis=1)
        empty = nrm < 1e-9
        if np.any(empty):  # re-seed empty clusters with random samples
            newC[empty] = X[gen.choice(X.shape[0], int(empty.sum()), replace=False)]
            nrm = np.linalg.norm(newC, axis=1)
        C = newC / nrm[:, None]
    return C.astype(np.float32)


def _scatter_add(out: np.ndarray, idx: np.ndarray, rows: np.ndarray) -> None:
    """``out[idx[i]] += rows[i]`` for all i (sort + reduceat; fast for many rows)."""
    order = np.argsort(idx, kind="stable")
    present, starts = np.unique(idx[order], return_index=True)
    out[present] += np.add.reduceat(rows[order], starts, axis=0)


def _assign(X: np.ndarray, C: np.ndarray, chunk: int = 32768) -> tuple[np.ndarray, np.ndarray]:
    idx = np.empty(X.shape[0], np.int64)
    sign = np.empty(X.shape[0], np.float32)
    for s in range(0, X.shape[0], chunk):
        sim = X[s : s + chunk] @ C.T
        j = np.argmax(np.abs(sim), axis=1)
        idx[s : s + chunk] = j
        sign[s : s + chunk] = np.where(sim[np.arange(len(j)), j] >= 0, 1.0, -1.0)
    return idx, sign


def _anchor_regressors(
    Ln: np.ndarray, Tn: np.ndarray, anchors: np.ndarray, neighbours: int, ridge: float, chunk: int = 32
) -> np.ndarray:
    """Ridge regressors (K x D x d) on each anchor's most correlated training samples."""
    k, d = anchors.shape
    D = Tn.shape[1]
    m = min(neighbours, Ln.shape[0])
    regs = np.empty((k, D, d), np.float32)
    eye = ridge * np.eye(d)
    for s in range(0, k, chunk):
        sim = anchors[s : s + chunk] @ Ln.T  # c x n
        top = np.argpartition(-np.abs(sim), m - 1, axis=1)[:, :m]
        for r in range(sim.shape[0]):
            sel = top[r]
            sg = np.sign(sim[r, sel]).astype(np.float64)
            sg[sg == 0] = 1.0
            Lj = Ln[sel].astype(np.float64) * sg[:, None]  # m x d
            Tj = Tn[sel].astype(np.float64) * sg[:, None]  # m x D
            A = Lj.T @ Lj + eye
            regs[s + r] = np.linalg.solve(A, Lj.T @ Tj).T
    return regs
