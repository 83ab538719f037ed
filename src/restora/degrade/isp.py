"""Camera sensor noise through an invertible camera pipeline (ISP).

After Brooks et al., "Unprocessing Images for Learned Raw Denoising" (CVPR 2019), as used
by BSRGAN: an sRGB image is *unprocessed* to a plausible raw Bayer image (inverse tone
map, inverse gamma, inverse colour correction with a random camera matrix, inverse white
balance and brightness gains, RGGB mosaic), noise with the heteroscedastic shot/read model
of real sensors is added there, and the image is *processed* back (gains, demosaic, colour
correction, gamma, tone map). The raw domain is linear in [0, 1]; the ISP stages are
defined on [0, 1] and clip there (this is the one place where the degradation clips).
"""

from __future__ import annotations

import math
from typing import Any

import cv2
import numpy as np

from restora.degrade.record import Degraded, jsonable
from restora.errors import InvalidParameterError
from restora.rng import RngLike, as_generator
from restora.validation import as_image, check_choice, check_range

__all__ = [
    "unprocess",
    "process",
    "camera_sensor_noise",
    "random_ccm",
    "random_gains",
    "random_noise_levels",
    "read_noise_for_shot",
    "add_raw_noise",
    "mosaic",
    "demosaic",
    "DEMOSAIC_METHODS",
]

#: Demosaicing methods of :func:`demosaic` / :func:`process`.
DEMOSAIC_METHODS: tuple[str, ...] = ("bilinear", "opencv", "opencv_ea")

# Linear sRGB (D65) -> CIE XYZ, IEC 61966-2-1.
_RGB2XYZ = np.array(
    [
        [0.4124564, 0.3575761, 0.1804375],
        [0.2126729, 0.7151522, 0.0721750],
        [0.0193339, 0.1191920, 0.9503041],
    ]
)

# XYZ -> camera matrices of four real cameras (the Adobe DNG "ColorMatrix" calibration data
# used by Brooks et al.); a random convex combination of them is a plausible camera.
_XYZ2CAMS = np.array(
    [
        [[1.0234, -0.2969, -0.2266], [-0.5625, 1.6328, -0.0469], [-0.0703, 0.2188, 0.6406]],
        [[0.4913, -0.0541, -0.0202], [-0.6130, 1.3513, 0.2906], [-0.1564, 0.2151, 0.7183]],
        [[0.8380, -0.2630, -0.0639], [-0.2887, 1.0725, 0.2496], [-0.0627, 0.1427, 0.5438]],
        [[0.6596, -0.2079, -0.0562], [-0.4782, 1.3016, 0.1933], [-0.0970, 0.1581, 0.5181]],
    ]
)

_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)  # BT.601, for gray images
_GAMMA = 2.2


# --------------------------------------------------------------------------- random parameters
def random_ccm(rng: RngLike = None) -> np.ndarray:
    """A random 3x3 linear-sRGB -> camera matrix, rows normalised to sum 1 (white stays white).

    ``xyz2cam`` is a random convex combination (weights uniform in [1e-8, 1e8]) of four real
    cameras' XYZ -> camera matrices; the result is ``xyz2cam @ rgb2xyz``.
    """
    gen = as_generator(rng)
    weights = gen.uniform(1e-8, 1e8, size=len(_XYZ2CAMS))
    xyz2cam = np.tensordot(weights, _XYZ2CAMS, axes=1) / weights.sum()
    rgb2cam = xyz2cam @ _RGB2XYZ
    return rgb2cam / rgb2cam.sum(axis=1, keepdims=True)


def random_gains(rng: RngLike = None) -> dict[str, float]:
    """Random brightness and white-balance gains (Brooks et al.).

    ``rgb_gain = 1 / N(0.8, 0.1)`` (the image was brightened by this), ``red_gain`` uniform
    in [1.9, 2.4], ``blue_gain`` uniform in [1.5, 1.9].
    """
    gen = as_generator(rng)
    rgb_gain = 1.0 / max(float(gen.normal(0.8, 0.1)), 0.1)
    return {"rgb_gain": rgb_gain, "red_gain": float(gen.uniform(1.9, 2.4)), "blue_gain": float(gen.uniform(1.5, 1.9))}


def read_noise_for_shot(gen: np.random.Generator, shot: float) -> float:
    """A read-noise standard deviation for ``shot``, from the log-linear relation of real
    sensors (see :func:`random_noise_levels`)."""
    log_read_var = 2.18 * math.log(shot) + 1.20 + float(gen.normal(0.0, 0.26))
    return math.sqrt(math.exp(log_read_var))


def random_noise_levels(rng: RngLike = None) -> tuple[float, float]:
    """Random ``(shot, read)`` sensor noise levels with the log-linear relation of real sensors.

    ``shot`` is log-uniform in [1e-4, 1.2e-2]; the read-noise *variance* follows
    ``log(read²) = 2.18 log(shot) + 1.20 + N(0, 0.26²)`` (Brooks et al.). ``read`` is
    returned as a standard deviation, so the raw noise variance is ``shot * x + read²``.
    """
    gen = as_generator(rng)
    shot = math.exp(float(gen.uniform(math.log(1e-4), math.log(1.2e-2))))
    return shot, read_noise_for_shot(gen, shot)


# --------------------------------------------------------------------------- mosaic / demosaic
def mosaic(image: np.ndarray) -> np.ndarray:
    """RGGB-mosaic an even-sized ``H x W x 3`` image into packed ``H/2 x W/2 x 4`` planes.

    The planes are ``[R, G (red rows), G (blue rows), B]`` from sites (0,0), (0,1), (1,0), (1,1).
    """
    img = np.asarray(image)
    if img.ndim != 3 or img.shape[2] != 3 or img.shape[0] % 2 or img.shape[1] % 2:
        raise InvalidParameterError(f"image must be H x W x 3 with even H and W, got shape {img.shape}")
    return np.stack([img[0::2, 0::2, 0], img[0::2, 1::2, 1], img[1::2, 0::2, 1], img[1::2, 1::2, 2]], axis=2)


def _to_bayer(raw: np.ndarray) -> np.ndarray:
    """Packed ``h x w x 4`` RGGB planes -> ``2h x 2w`` Bayer mosaic (2-D input passes through)."""
    r = np.asarray(raw, dtype=np.float32)
    if r.ndim == 2:
        if r.shape[0] % 2 or r.shape[1] % 2:
            raise InvalidParameterError(f"raw Bayer mosaic must have even height and width, got shape {r.shape}")
        return r
    if r.ndim != 3 or r.shape[2] != 4:
        raise InvalidParameterError(f"raw must be an H x W Bayer mosaic or h x w x 4 RGGB planes, got shape {r.shape}")
    h, w, _ = r.shape
    bayer = np.empty((2 * h, 2 * w), dtype=np.float32)
    bayer[0::2, 0::2] = r[:, :, 0]
    bayer[0::2, 1::2] = r[:, :, 1]
    bayer[1::2, 0::2] = r[:, :, 2]
    bayer[1::2, 1::2] = r[:, :, 3]
    return bayer


_K_RB = np.array([[1, 2, 1], [2, 4, 2], [1, 2, 1]], dtype=np.float32) / 4
_K_G = np.array([[0, 1, 0], [1, 4, 1], [0, 1, 0]], dtype=np.float32) / 4


def demosaic(raw: np.ndarray, method: str = "bilinear") -> np.ndarray:
    """Demosaic an RGGB raw image (``H x W`` mosaic or ``H/2 x W/2 x 4`` packed) to ``H x W x 3``.

    ``"bilinear"``: each missing sample is the mean of its nearest same-colour neighbours
    (exact for linear ramps; borders mirror the mosaic about the edge samples). ``"opencv"`` / ``"opencv_ea"``: OpenCV's bilinear / edge-aware demosaicing on a
    16-bit copy (values clipped to [0, 1] and quantised to 1/65535).
    """
    check_choice("method", method, DEMOSAIC_METHODS)
    bayer = _to_bayer(raw)
    h, w = bayer.shape
    if method != "bilinear":
        code = getattr(cv2, "COLOR_BayerRGGB2RGB", cv2.COLOR_BayerBG2RGB)
        if method == "opencv_ea":
            code = getattr(cv2, "COLOR_BayerRGGB2RGB_EA", cv2.COLOR_BayerBG2RGB_EA)
        u16 = np.round(np.clip(bayer, 0.0, 1.0) * 65535.0).astype(np.uint16)
        return cv2.demosaicing(u16, code).astype(np.float32) / 65535.0
    # Scatter the samples into three sparse planes and interpolate each with its bilinear
    # kernel; mirroring about the edge samples (BORDER_REFLECT_101) keeps the Bayer parity,
    # so borders use the same formula on mirrored samples.
    sparse = np.zeros((h, w, 3), dtype=np.float32)
    sparse[0::2, 0::2, 0] = bayer[0::2, 0::2]
    sparse[0::2, 1::2, 1] = bayer[0::2, 1::2]
    sparse[1::2, 0::2, 1] = bayer[1::2, 0::2]
    sparse[1::2, 1::2, 2] = bayer[1::2, 1::2]
    border = cv2.BORDER_REFLECT_101
    out = cv2.filter2D(sparse, -1, _K_RB, borderType=border)
    out[:, :, 1] = cv2.filter2D(np.ascontiguousarray(sparse[:, :, 1]), -1, _K_G, borderType=border)
    return out


# --------------------------------------------------------------------------- pipeline
def _check_metadata(metadata: dict[str, Any]) -> dict[str, Any]:
    try:
        rgb2cam = np.asarray(metadata["rgb2cam"], dtype=np.float64).reshape(3, 3)
        gains = {k: float(metadata[k]) for k in ("rgb_gain", "red_gain", "blue_gain")}
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidParameterError(
            f"metadata must hold rgb2cam (3x3), rgb_gain, red_gain and blue_gain; problem: {exc}"
        ) from None
    if any(not math.isfinite(v) or v <= 0 for v in gains.values()):
        raise InvalidParameterError(f"metadata gains must be positive, got {gains}")
    return {"rgb2cam": rgb2cam, **gains}


def unprocess(
    image: np.ndarray,
    rng: RngLike = None,
    *,
    metadata: dict[str, Any] | None = None,
    packed: bool = True,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Invert a camera pipeline: sRGB image -> linear raw RGGB Bayer data in [0, 1].

    Steps (each the inverse of a :func:`process` step, in reverse order): clip to [0, 1];
    inverse smoothstep tone map ``0.5 - sin(asin(1 - 2y) / 3)``; inverse gamma ``x^2.2``;
    inverse colour correction with a random RGB -> camera matrix (:func:`random_ccm`);
    inverse white-balance and brightness gains (:func:`random_gains`) with Brooks et al.'s
    highlight-preserving "safe" inversion (near-white pixels keep gain 1 so they do not
    turn into saturated colours); clip; RGGB mosaic. Odd heights/widths are padded by one
    edge row/column (and cropped back by :func:`process`).

    ``metadata`` (from an earlier call) reuses its camera instead of drawing one. Returns
    ``(raw, metadata)``: ``raw`` is ``ceil(H/2) x ceil(W/2) x 4`` packed planes ``[R, Gr,
    Gb, B]`` (``packed=True``, Brooks et al.'s layout) or the ``H' x W'`` Bayer mosaic with
    R at (0, 0); ``metadata`` is JSON-serialisable (``rgb2cam``, ``cam2rgb``, ``rgb_gain``,
    ``red_gain``, ``blue_gain``, ``shape``, ``channels``, ``pattern``). Gray images are
    treated as RGB with three equal channels.
    """
    img = as_image(image)
    h, w, c = img.shape
    if metadata is None:
        gen = as_generator(rng)
        meta = {"rgb2cam": random_ccm(gen), **random_gains(gen)}
    else:
        meta = _check_metadata(metadata)
    rgb2cam = np.asarray(meta["rgb2cam"], dtype=np.float64)
    x = np.clip(img, 0.0, 1.0)
    if c == 1:
        x = np.repeat(x, 3, axis=2)
    x = np.ascontiguousarray(x)
    x = 0.5 - np.sin(np.arcsin(1.0 - 2.0 * x) / 3.0)  # inverse smoothstep
    x = cv2.pow(np.maximum(x, np.float32(1e-8)), _GAMMA)  # inverse gamma
    x = cv2.transform(x, rgb2cam.astype(np.float32))  # inverse CCM: rgb -> camera
    gains = np.array([1.0 / meta["red_gain"], 1.0, 1.0 / meta["blue_gain"]], dtype=np.float32) / np.float32(meta["rgb_gain"])
    # Safe inversion: above the inflection (mean of the pixel) the gain blends towards 1,
    # never below the plain inverse gain; only those few pixels need the blend.
    inflection = 0.9
    gray = cv2.transform(x, np.full((1, 3), 1.0 / 3.0, dtype=np.float32)).reshape(x.shape[:2])
    bright = gray > inflection
    scaled = x * gains
    if bright.any():
        mask = np.square((gray[bright] - inflection) / (1.0 - inflection))[:, None]
        scaled[bright] = x[bright] * np.maximum(mask + (1.0 - mask) * gains, gains)
    x = np.clip(scaled, 0.0, 1.0)
    if h % 2 or w % 2:
        x = np.pad(x, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")
    raw = mosaic(x)
    if not packed:
        raw = _to_bayer(raw)
    record = {
        "rgb2cam": rgb2cam,
        "cam2rgb": np.linalg.inv(rgb2cam),
        "rgb_gain": meta["rgb_gain"],
        "red_gain": meta["red_gain"],
        "blue_gain": meta["blue_gain"],
        "shape": [h, w],
        "channels": c,
        "pattern": "RGGB",
    }
    return np.ascontiguousarray(raw, dtype=np.float32), jsonable(record)


def process(raw: np.ndarray, metadata: dict[str, Any], *, demosaic_method: str = "bilinear") -> np.ndarray:
    """Run the camera pipeline on raw RGGB data: the inverse of :func:`unprocess`.

    ``raw`` is packed ``h x w x 4`` ``[R, Gr, Gb, B]`` planes or an ``H x W`` Bayer mosaic;
    ``metadata`` as returned by :func:`unprocess`. Steps: white-balance and brightness gains,
    clip to [0, 1], :func:`demosaic`, colour correction (camera -> linear sRGB), clip, gamma
    ``x^(1/2.2)``, smoothstep tone map ``3y² - 2y³``. The result is cropped to
    ``metadata["shape"]`` when present and, when ``metadata["channels"] == 1``, reduced to
    BT.601 luma (``H x W x 1``); otherwise ``H x W x 3`` float32 in [0, 1].
    """
    meta = _check_metadata(metadata)
    bayer = _to_bayer(raw)
    g = meta["rgb_gain"]
    gain_map = np.empty((2, 2), dtype=np.float32)
    gain_map[0, 0] = meta["red_gain"] * g
    gain_map[0, 1] = g
    gain_map[1, 0] = g
    gain_map[1, 1] = meta["blue_gain"] * g
    hb, wb = bayer.shape
    bayer = np.clip(bayer * np.tile(gain_map, (hb // 2, wb // 2)), 0.0, 1.0)
    x = demosaic(bayer, demosaic_method)
    cam2rgb = np.linalg.inv(meta["rgb2cam"]).astype(np.float32)
    x = np.clip(cv2.transform(x, cam2rgb), 1e-8, 1.0)
    x = cv2.pow(x, 1.0 / _GAMMA)
    x = x * x * (3.0 - 2.0 * x)  # smoothstep
    shape = metadata.get("shape")
    if shape is not None:
        x = x[: int(shape[0]), : int(shape[1])]
    if int(metadata.get("channels", 3)) == 1:
        x = (x @ _LUMA)[:, :, None]
    return np.ascontiguousarray(x, dtype=np.float32)


def add_raw_noise(raw: np.ndarray, shot: float, read: float, rng: RngLike = None) -> np.ndarray:
    """``raw`` plus heteroscedastic Gaussian noise of variance ``shot * x + read²`` (linear raw)."""
    gen = as_generator(rng)
    std = np.sqrt(np.maximum(raw, 0.0) * np.float32(shot) + np.float32(read * read))
    return raw + gen.standard_normal(raw.shape, dtype=np.float32) * std


def camera_sensor_noise(
    image: np.ndarray,
    rng: RngLike = None,
    *,
    shot: float | None = None,
    read: float | None = None,
    demosaic_method: str = "bilinear",
) -> Degraded:
    """Realistic sensor noise: :func:`unprocess`, add raw noise, :func:`process` back.

    In the linear raw domain the noise is heteroscedastic Gaussian with variance
    ``shot * x + read²`` (Brooks et al.'s model; ``read`` is a standard deviation, in [0, 1]
    units of the raw signal). When ``shot`` is None it and ``read`` are drawn by
    :func:`random_noise_levels`; when only ``read`` is None it is drawn from the log-linear
    relation with ``shot``; when only ``shot`` is None it is drawn log-uniformly.

    The record holds ``op``, ``shot``, ``read``, ``read_variance``, the gains (``rgb_gain``,
    ``red_gain``, ``blue_gain``), ``ccm`` (the RGB -> camera matrix) and ``demosaic``.
    """
    check_choice("demosaic_method", demosaic_method, DEMOSAIC_METHODS)
    gen = as_generator(rng)
    raw, meta = unprocess(image, gen)
    if shot is None:
        a, b = random_noise_levels(gen)
        if read is not None:
            b = check_range("read", read, 0, None)
    else:
        a = check_range("shot", shot, 0, None)
        if read is None:
            if a == 0:
                raise InvalidParameterError("read must be given when shot is 0 (the log-linear relation needs shot > 0)")
            b = read_noise_for_shot(gen, a)
        else:
            b = check_range("read", read, 0, None)
    out = process(add_raw_noise(raw, a, b, gen), meta, demosaic_method=demosaic_method)
    record = {
        "op": "camera_sensor_noise",
        "shot": a,
        "read": b,
        "read_variance": b * b,
        "rgb_gain": meta["rgb_gain"],
        "red_gain": meta["red_gain"],
        "blue_gain": meta["blue_gain"],
        "ccm": meta["rgb2cam"],
        "demosaic": demosaic_method,
    }
    return Degraded(out, jsonable(record))
