"""Reading and writing image files as float32 ``H x W x C`` arrays in [0, 1].

Formats: PNG, JPEG, TIFF, WebP and BMP, 8- and 16-bit, with C = 1 (gray), 2 (gray + alpha),
3 (RGB) or 4 (RGBA). Alpha is carried through untouched (not premultiplied). Palette and CMYK
files are converted to RGB(A) with an :class:`ImageWarning`. The EXIF orientation is applied on
read; the ICC profile and EXIF block are kept and can be written back (``info=``).

Decoding uses Pillow, with OpenCV for the 16-bit colour PNG/TIFF files Pillow reduces to 8 bits
and ``tifffile`` (a scikit-image dependency) for 16-bit multi-channel TIFF writes and the TIFF
layouts neither reads (e.g. 16-bit gray + alpha).

Safety: the image size is read from the file header and checked against a pixel limit before any
pixel is decoded (decompression bombs), every failure is a one-line :class:`RestoraError` naming
the file, and writes are atomic and never replace an existing file unless ``overwrite=True``.
"""

from __future__ import annotations

import dataclasses
import io
import os
import struct
import threading
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image, ImageCms, UnidentifiedImageError

from restora.atomic import create_temp
from restora.errors import (
    ConfigError,
    ImageReadError,
    ImageTooLargeError,
    ImageWriteError,
    InvalidParameterError,
    OutputExistsError,
)
from restora.validation import RANGE_WARN_ABOVE, as_image, check_choice, check_range

if TYPE_CHECKING:  # torch is imported lazily: it is slow to import and only needed here
    import torch

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "FORMATS",
    "MAX_PIXELS",
    "ImageInfo",
    "ImageWarning",
    "get_max_pixels",
    "merge_alpha",
    "read_image",
    "read_image_info",
    "set_max_pixels",
    "split_alpha",
    "to_numpy",
    "to_tensor",
    "write_image",
]

PathLike = str | os.PathLike[str]
_Dpi = tuple[float, float] | None


class ImageWarning(UserWarning):
    """A file was read or written with a conversion the caller may want to know about
    (palette/CMYK converted to RGB, alpha dropped for JPEG, 16-bit reduced to 8-bit, ...)."""


#: File suffix -> format name. The suffix decides the format on write; on read the content
#: decides, but the suffix must be one of these.
FORMATS: dict[str, str] = {
    ".png": "PNG",
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".tif": "TIFF",
    ".tiff": "TIFF",
    ".webp": "WEBP",
    ".bmp": "BMP",
}
_PIL_FORMATS = ("PNG", "JPEG", "TIFF", "WEBP", "BMP")  # JPEG's opener also returns MPO files
_SIXTEEN_BIT_FORMATS = ("PNG", "TIFF")
_SUPPORTED = "PNG, JPEG, TIFF, WebP or BMP"

DEFAULT_MAX_PIXELS = 80_000_000
#: Pixel limit for reads. ``None``: ``$RESTORA_MAX_PIXELS`` if set, else
#: :data:`DEFAULT_MAX_PIXELS`. Set it with :func:`set_max_pixels` (or assign it directly).
MAX_PIXELS: int | None = None

_ORIENTATION_TAG = 0x0112
_INVERSE_ORIENTATION = {1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 6: 8, 7: 7, 8: 6}
_EXIF_PREFIX = b"Exif\x00\x00"
# TIFF IFD0 tags that describe the picture rather than the file layout; only these are carried
# from a TIFF's IFD0 into ImageInfo.exif (strip offsets etc. would be meaningless elsewhere).
_TIFF_EXIF_TAGS = (269, 270, 271, 272, 274, 305, 306, 315, 316, 33432, 0x8769, 0x8825)
_TIFF_ASCII_TAGS = (269, 270, 271, 272, 305, 306, 315, 316, 33432)


@dataclass(frozen=True)
class ImageInfo:
    """What :func:`read_image_info` learned about a file besides its pixels.

    ``width``/``height``/``channels`` describe the returned array (after orientation and
    palette/CMYK conversion); ``mode`` is Pillow's mode of the file as stored (e.g. ``"P"``,
    ``"CMYK"``, ``"I;16"``; ``"RGB"`` also for 16-bit RGB, see ``bit_depth``). ``exif`` is the
    raw EXIF block (starting ``b"Exif\\0\\0"``) with the orientation reset to 1 when it was
    applied; ``orientation`` is the file's original EXIF orientation (1 = upright).
    ``bit_depth`` is 8 or 16 (32 for float TIFFs; see :func:`read_image_info` for their range).
    """

    path: Path
    format: str
    width: int
    height: int
    channels: int
    bit_depth: int
    has_alpha: bool
    mode: str
    icc_profile: bytes | None = dataclasses.field(default=None, repr=False)
    exif: bytes | None = dataclasses.field(default=None, repr=False)
    orientation: int = 1
    dpi: tuple[float, float] | None = None
    n_frames: int = 1


# --------------------------------------------------------------------------- pixel limit


def set_max_pixels(n: int | None) -> None:
    """Set the pixel limit for reads (``None`` returns to ``$RESTORA_MAX_PIXELS`` / default).

    Raising the limit above Pillow's own decompression-bomb limit raises Pillow's
    (``PIL.Image.MAX_IMAGE_PIXELS``) to match, since restora checks the size first.
    """
    global MAX_PIXELS
    if n is not None:
        n = _positive_int("max_pixels", n)
    MAX_PIXELS = n


def get_max_pixels() -> int:
    """The pixel limit reads use when no ``max_pixels`` is given (see :data:`MAX_PIXELS`)."""
    if MAX_PIXELS is not None:
        return _positive_int("restora.io.MAX_PIXELS", MAX_PIXELS)
    env = os.environ.get("RESTORA_MAX_PIXELS", "").strip()
    if not env:
        return DEFAULT_MAX_PIXELS
    try:
        value = int(float(env.replace("_", "")))
    except ValueError:
        value = 0
    if value < 1:
        raise ConfigError(f"RESTORA_MAX_PIXELS must be a positive whole number of pixels, got {env!r}")
    return value


def _positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise InvalidParameterError(f"{name} must be a positive whole number of pixels, got {value!r}")
    return int(value)


def _allow_in_pillow(limit: int) -> None:
    # Pillow refuses images over 2 x MAX_IMAGE_PIXELS on its own; our check comes first, so
    # Pillow's limit only needs to be at least ours. It is raised, never lowered.
    pil_limit = Image.MAX_IMAGE_PIXELS
    if pil_limit is not None and pil_limit < limit:
        Image.MAX_IMAGE_PIXELS = limit


def _check_size(path: Path, width: int, height: int, limit: int) -> None:
    pixels = int(width) * int(height)
    if pixels > limit:
        raise ImageTooLargeError(
            f"{path} is {width} x {height} = {pixels:,} pixels, over the limit of {limit:,} "
            "(decompression-bomb guard); raise it with max_pixels=, restora.io.set_max_pixels() "
            "or the RESTORA_MAX_PIXELS environment variable"
        )


# --------------------------------------------------------------------------- reading


def read_image(
    path: PathLike, *, max_pixels: int | None = None, apply_orientation: bool = True
) -> np.ndarray:
    """Read an image file as a float32 ``H x W x C`` array in [0, 1] (C = 1, 2, 3 or 4).

    See :func:`read_image_info`, which also returns the file's metadata.
    """
    return read_image_info(path, max_pixels=max_pixels, apply_orientation=apply_orientation)[0]


def read_image_info(
    path: PathLike, *, max_pixels: int | None = None, apply_orientation: bool = True
) -> tuple[np.ndarray, ImageInfo]:
    """Read an image file and its metadata.

    Returns a float32 ``H x W x C`` array in [0, 1] (C = 1 gray, 2 gray + alpha, 3 RGB,
    4 RGBA; 8- and 16-bit values are scaled by 255 / 65535) and an :class:`ImageInfo`.
    Palette and CMYK images become RGB(A) with an :class:`ImageWarning`; for multi-page or
    animated files the first frame is read (with a warning). ``max_pixels`` (default
    :func:`get_max_pixels`) is checked against the header before decoding; with
    ``apply_orientation`` the EXIF orientation is applied to the pixels.

    Float (32-bit) TIFFs: values are returned as stored when they lie in [0, 1]. A file with
    NaN or infinite values is refused (:class:`ImageReadError`). Values are never clipped
    silently: if the largest value exceeds 16 (:data:`restora.validation.RANGE_WARN_ABOVE`) the
    file holds integer-range data and is divided by 255 (max <= 255), 65535 (max <= 65535) or
    its maximum, with an :class:`ImageWarning`; smaller values above 1, and values below 0, are
    kept with an :class:`ImageWarning` (they are clipped only when written).

    Raises :class:`ImageReadError` (missing, unreadable, corrupt or non-image file, unsupported
    suffix, non-finite float pixels) or :class:`ImageTooLargeError`, each with a one-line message
    naming the file.
    """
    p = _as_path(path)
    limit = get_max_pixels() if max_pixels is None else _positive_int("max_pixels", max_pixels)
    suffix = p.suffix.lower()
    if suffix not in FORMATS:
        raise ImageReadError(
            f"cannot read {p}: unsupported file type {p.suffix or '(no suffix)'!r}; "
            f"supported: {', '.join(FORMATS)}"
        )
    if not p.exists():
        raise ImageReadError(f"cannot read {p}: no such file")
    if p.is_dir():
        raise ImageReadError(f"cannot read {p}: it is a folder, not an image file")
    _allow_in_pillow(limit)
    try:
        im = _pil_open(p)
    except UnidentifiedImageError:
        if _looks_like_tiff(p):
            return _checked_float(*_read_with_tifffile(p, limit, apply_orientation))
        raise ImageReadError(f"cannot read {p}: not a {_SUPPORTED} image, or its header is damaged") from None
    except Image.DecompressionBombError:
        raise ImageTooLargeError(
            f"{p} is larger than Pillow's decompression-bomb limit; raise the limit with "
            "max_pixels= or RESTORA_MAX_PIXELS"
        ) from None
    except Exception as e:
        raise ImageReadError(f"cannot read {p}: {_one_line(e)}") from None
    try:
        with im:
            _check_size(p, im.width, im.height, limit)
            return _checked_float(*_read_with_pillow(p, im, apply_orientation))
    except (ImageTooLargeError, ImageReadError):
        raise
    except MemoryError:
        size = f"{im.width} x {im.height}"
        raise ImageReadError(f"cannot read {p}: not enough memory to decode {size} pixels") from None
    except Exception as e:
        raise ImageReadError(f"cannot read {p}: {_one_line(e)}") from None


def _checked_float(arr: np.ndarray, info: ImageInfo) -> tuple[np.ndarray, ImageInfo]:
    """Apply the float-file rule (see :func:`read_image_info`) to a 32-bit float image."""
    if info.bit_depth != 32:
        return arr, info
    p = info.path
    hi, lo = float(arr.max()), float(arr.min())
    if not (np.isfinite(hi) and np.isfinite(lo)):
        bad = int(arr.size - np.count_nonzero(np.isfinite(arr)))
        raise ImageReadError(f"cannot read {p}: {bad} pixel value(s) are NaN or infinite; restora needs finite values")
    if hi > RANGE_WARN_ABOVE:
        scale = 255.0 if hi <= 255 else 65535.0 if hi <= 65535 else hi
        arr = np.divide(arr, np.float32(scale), dtype=np.float32)
        message = f"{p}: float pixel values up to {hi:g} read as 0-{scale:g} data (divided by {scale:g})"
        warnings.warn(message, ImageWarning, stacklevel=3)
        hi, lo = hi / scale, lo / scale
    elif hi > 1.0:
        message = f"{p}: float pixel values up to {hi:g} are above 1; kept as they are (clipped to 1 when written)"
        warnings.warn(message, ImageWarning, stacklevel=3)
    if lo < 0.0:
        message = f"{p}: float pixel values down to {lo:g} are below 0; kept as they are (clipped to 0 when written)"
        warnings.warn(message, ImageWarning, stacklevel=3)
    return arr, info


def _pil_open(p: Path) -> Image.Image:
    """``Image.open`` without Pillow's DecompressionBombWarning (our own size check follows).

    ``warnings.catch_warnings`` changes process-wide state, so it is used only while no other
    thread runs; otherwise Pillow's warning may show before our ImageTooLargeError.
    """
    if threading.active_count() > 1:
        return Image.open(p, formats=_PIL_FORMATS)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        return Image.open(p, formats=_PIL_FORMATS)


def _as_path(path: Any) -> Path:
    if not isinstance(path, (str, os.PathLike)):
        raise InvalidParameterError(f"path must be a str or os.PathLike, got {type(path).__name__}")
    return Path(path)


def _one_line(e: BaseException) -> str:
    text = " ".join(str(e).split()) or type(e).__name__
    return text if len(text) <= 300 else text[:297] + "..."


def _looks_like_tiff(p: Path) -> bool:
    try:
        with open(p, "rb") as f:
            head = f.read(4)
    except OSError:
        return False
    return head in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")


def _rawmode(im: Image.Image) -> str:
    tile = getattr(im, "tile", None)
    if not tile:
        return ""
    args = tile[0].args if hasattr(tile[0], "args") else tile[0][3]
    if isinstance(args, tuple):
        args = args[0] if args else ""
    return args if isinstance(args, str) else ""


def _is_high_bit_colour(im: Image.Image) -> bool:
    """True for 16-bit LA/RGB/RGBA files, which Pillow decodes only to 8 bits."""
    if im.mode not in ("LA", "RGB", "RGBA", "RGBX"):
        return False
    if ";16" in _rawmode(im):
        return True
    bits = getattr(im, "tag_v2", {}).get(258) if im.format == "TIFF" else None
    return isinstance(bits, tuple) and bool(bits) and max(bits) == 16


def _read_with_pillow(p: Path, im: Image.Image, apply_orientation: bool) -> tuple[np.ndarray, ImageInfo]:
    src = im  # the opened file: its info/EXIF survive the conversions below
    fmt = "JPEG" if im.format == "MPO" else str(im.format)
    mode = im.mode
    n_frames = int(getattr(im, "n_frames", 1))
    if n_frames > 1 and fmt != "JPEG":  # MPO JPEGs carry extra views; frame 0 is the photo
        warnings.warn(f"{p} has {n_frames} frames/pages; reading the first", ImageWarning, stacklevel=4)
    icc = im.info.get("icc_profile") or None
    if fmt == "TIFF":  # before load(): Pillow's TIFF loader applies and removes the orientation
        exif_obj = _tiff_exif(im)
        orientation = _orientation_of(exif_obj)

    high_bit = _is_high_bit_colour(im)
    if high_bit:
        if _rawmode(im).startswith("LA;"):  # Pillow opens 16-bit gray + alpha PNGs as RGBA
            mode = "LA"
        arr = _decode_tiff_high_bit(p) if fmt == "TIFF" else _decode_png_high_bit(p, mode)
        bit_depth = 16
    else:
        im.load()
        icc = im.info.get("icc_profile") or icc
        im, icc = _to_standard_mode(p, im, icc)
        arr, bit_depth = _pil_to_float(im)
    if fmt != "TIFF":  # after load(): a PNG's eXIf chunk may follow the pixel data
        exif_obj = _exif_of(src)
        orientation = _orientation_of(exif_obj)
    exif_bytes = _exif_bytes(src, exif_obj, fmt)
    dpi = _dpi_of(src.info.get("dpi"))

    # Pillow >= 10 turns TIFF pixels upright while loading them (and drops the tag)
    pillow_turned = fmt == "TIFF" and not high_bit and orientation != 1 and _ORIENTATION_TAG not in src.tag_v2
    if apply_orientation and orientation != 1:
        if not pillow_turned:
            arr = _apply_orientation(arr, orientation)
        if dpi is not None and orientation >= 5:
            dpi = (dpi[1], dpi[0])
        exif_obj[_ORIENTATION_TAG] = 1
        exif_bytes = exif_obj.tobytes()
    elif pillow_turned:
        arr = _apply_orientation(arr, _INVERSE_ORIENTATION[orientation])
    info = ImageInfo(
        path=p,
        format=fmt,
        width=arr.shape[1],
        height=arr.shape[0],
        channels=arr.shape[2],
        bit_depth=bit_depth,
        has_alpha=arr.shape[2] in (2, 4),
        mode=mode,
        icc_profile=bytes(icc) if icc else None,
        exif=exif_bytes,
        orientation=orientation,
        dpi=dpi,
        n_frames=n_frames,
    )
    return arr, info


def _to_standard_mode(p: Path, im: Image.Image, icc: bytes | None) -> tuple[Image.Image, bytes | None]:
    """Convert a loaded Pillow image to L, LA, RGB, RGBA, I;16*, I or F."""
    mode = im.mode
    if mode in ("L", "LA", "RGB", "RGBA", "I", "F") or mode.startswith("I;16"):
        if mode in ("L", "RGB") and "transparency" in im.info:  # tRNS colour key -> real alpha
            return im.convert(mode[0] + "A" if mode == "L" else "RGBA"), icc
        return im, icc
    if mode == "1":
        return im.convert("L"), icc
    if mode in ("RGBX", "YCbCr"):
        return im.convert("RGB"), icc
    if mode in ("RGBa", "La"):
        return im.convert(mode.upper()), icc
    if mode in ("P", "PA"):
        target = "RGBA" if mode == "PA" or "transparency" in im.info else "RGB"
        warnings.warn(f"{p}: palette image (mode {mode}) converted to {target}", ImageWarning, stacklevel=5)
        return im.convert(target), icc
    if mode == "CMYK":
        if icc:
            try:
                src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
                srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
                rgb = ImageCms.profileToProfile(im, src, srgb, outputMode="RGB")
                if rgb is not None:
                    message = f"{p}: CMYK image converted to sRGB with its ICC profile"
                    warnings.warn(message, ImageWarning, stacklevel=5)
                    return rgb, srgb.tobytes()
            except (ImageCms.PyCMSError, OSError, ValueError):
                pass
        message = f"{p}: CMYK image converted to RGB (without colour management)"
        warnings.warn(message, ImageWarning, stacklevel=5)
        return im.convert("RGB"), None
    try:
        rgb = im.convert("RGBA" if "A" in mode else "RGB")
    except (ValueError, OSError):
        raise ImageReadError(f"cannot read {p}: unsupported pixel mode {mode}") from None
    warnings.warn(f"{p}: {mode} image converted to {rgb.mode}", ImageWarning, stacklevel=5)
    return rgb, icc


def _pil_to_float(im: Image.Image) -> tuple[np.ndarray, int]:
    a = np.asarray(im)
    if a.ndim == 2:
        a = a[:, :, None]
    if im.mode == "F":
        return np.ascontiguousarray(a, dtype=np.float32), 32
    if im.mode == "I":  # 32-bit integer (e.g. signed 16-bit TIFF): clip to the 16-bit range
        lo, hi = int(a.min()), int(a.max())
        if lo < 0 or hi > 65535:
            message = f"{getattr(im, 'filename', '') or 'image'}: 32-bit integer values {lo}..{hi} clipped to the 16-bit range 0..65535"
            warnings.warn(message, ImageWarning, stacklevel=5)
        return np.divide(np.clip(a, 0, 65535), 65535, dtype=np.float32), 16
    if a.dtype == np.uint8:
        return np.divide(a, 255, dtype=np.float32), 8
    return np.divide(a, 65535, dtype=np.float32), 16


def _decode_png_high_bit(p: Path, pil_mode: str) -> np.ndarray:
    """16-bit gray + alpha / RGB / RGBA PNG pixels via OpenCV (which ignores EXIF orientation)."""
    return _opencv_16(p, np.fromfile(p, dtype=np.uint8), pil_mode)


def _opencv_16(p: Path, data: np.ndarray, pil_mode: str) -> np.ndarray:
    import cv2

    arr = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    if arr is None or arr.dtype != np.uint16:
        raise ImageReadError(
            f"cannot read {p}: 16-bit {pil_mode} data could not be decoded (truncated or corrupt?)"
        )
    if arr.ndim == 2:
        arr = arr[:, :, None]
    c = arr.shape[2]
    if pil_mode == "LA":  # OpenCV expands gray + alpha to BGRA
        arr = arr[:, :, [0, 3]] if c == 4 else arr
    elif c == 3:
        arr = arr[:, :, ::-1]
    elif c == 4:
        arr = arr[:, :, [2, 1, 0, 3]]
    return np.divide(arr, 65535, dtype=np.float32)


def _decode_tiff_high_bit(p: Path) -> np.ndarray:
    """Stored (not yet oriented) pixels of a 16-bit multi-channel TIFF.

    tifffile reads the layout exactly; for compressions it cannot decode without the optional
    ``imagecodecs`` package (LZW, JPEG) OpenCV decodes a copy whose orientation tag is set to 1,
    because OpenCV's TIFF reader applies (some) orientations itself.
    """
    import tifffile

    try:
        return _tifffile_pixels(p)[0]
    except ImageReadError:
        raise
    except Exception as first:
        try:
            data = bytearray(p.read_bytes())
            with tifffile.TiffFile(io.BytesIO(bytes(data))) as tf:
                tag = tf.pages[0].tags.get(274)
                if tag is not None and tag.count == 1:
                    struct.pack_into(tf.byteorder + "H", data, tag.valueoffset, 1)
            arr = np.frombuffer(data, dtype=np.uint8)
            return _opencv_16(p, arr, "LA" if _tiff_channels(p) == 2 else "RGB")
        except ImageReadError:
            raise ImageReadError(f"cannot read {p}: {_one_line(first)}") from None


def _tiff_channels(p: Path) -> int:
    import tifffile

    with tifffile.TiffFile(p) as tf:
        return int(tf.pages[0].samplesperpixel)


def _tifffile_pixels(p: Path, limit: int | None = None) -> tuple[np.ndarray, int, dict[str, Any]]:
    """First-page pixels of a TIFF as float32 H x W x C (stored orientation), depth, tags."""
    import tifffile

    with tifffile.TiffFile(p) as tf:
        page = tf.pages[0]
        if limit is not None:
            _check_size(p, page.imagewidth, page.imagelength, limit)
        a = page.asarray()
        axes = page.axes
        photometric = int(page.photometric)
        icc_tag = page.tags.get(34675)
        orient_tag = page.tags.get(274)
        meta = {
            "n_frames": len(tf.pages),
            "icc": bytes(icc_tag.value) if icc_tag is not None else None,
            "orientation": int(orient_tag.value) if orient_tag is not None else 1,
        }
    if a.ndim == 3 and axes.startswith("S"):
        a = np.moveaxis(a, 0, -1)
    if a.ndim == 2:
        a = a[:, :, None]
    if a.ndim != 3 or a.shape[2] > 4 or photometric not in (0, 1, 2):
        raise ImageReadError(
            f"cannot read {p}: unsupported TIFF layout (axes {axes}, photometric {photometric})"
        )
    if a.dtype == np.uint8:
        arr, depth = np.divide(a, 255, dtype=np.float32), 8
    elif a.dtype == np.uint16:
        arr, depth = np.divide(a, 65535, dtype=np.float32), 16
    elif a.dtype.kind == "f":
        arr, depth = a.astype(np.float32), 32
    else:
        raise ImageReadError(f"cannot read {p}: unsupported TIFF sample type {a.dtype}")
    if photometric == 0 and depth != 32:  # min-is-white
        arr[..., :1] = 1.0 - arr[..., :1]
    return arr, depth, meta


def _read_with_tifffile(p: Path, limit: int, apply_orientation: bool) -> tuple[np.ndarray, ImageInfo]:
    """TIFF layouts Pillow cannot open (16-bit gray + alpha, float RGB, ...)."""
    try:
        arr, depth, meta = _tifffile_pixels(p, limit)
    except (ImageTooLargeError, ImageReadError):
        raise
    except Exception as e:
        raise ImageReadError(f"cannot read {p}: {_one_line(e)}") from None
    n_frames = meta["n_frames"]
    if n_frames > 1:
        warnings.warn(f"{p} has {n_frames} pages; reading the first", ImageWarning, stacklevel=3)
    orientation = meta["orientation"] if 1 <= meta["orientation"] <= 8 else 1
    if apply_orientation and orientation != 1:
        arr = _apply_orientation(arr, orientation)
    c = arr.shape[2]
    info = ImageInfo(
        path=p,
        format="TIFF",
        width=arr.shape[1],
        height=arr.shape[0],
        channels=c,
        bit_depth=depth,
        has_alpha=c in (2, 4),
        mode=("L", "LA", "RGB", "RGBA")[c - 1] + {8: "", 16: ";16", 32: ";F"}[depth],
        icc_profile=meta["icc"],
        exif=None,
        orientation=orientation,
        n_frames=n_frames,
    )
    return arr, info


# -------------------------------------------------------------- metadata helpers


def _exif_of(im: Image.Image) -> Image.Exif:
    """The EXIF of a non-TIFF image, parsed from the raw block without decoding pixels."""
    exif = Image.Exif()
    raw = im.info.get("exif")
    if raw:
        try:
            exif.load(raw)
        except Exception:  # a damaged EXIF block should not make the picture unreadable
            return Image.Exif()
    return exif


def _tiff_exif(im: Image.Image) -> Image.Exif:
    """A TIFF's descriptive IFD0 tags (and Exif/GPS sub-IFDs) as a fresh Exif object."""
    out = Image.Exif()
    try:
        src = im.getexif()
        for tag in _TIFF_EXIF_TAGS:
            if tag in src:
                out[tag] = src.get_ifd(tag) if tag in (0x8769, 0x8825) else src[tag]
    except Exception:
        return Image.Exif()
    return out


def _orientation_of(exif: Image.Exif) -> int:
    try:
        value = int(exif.get(_ORIENTATION_TAG, 1))
    except (TypeError, ValueError):
        return 1
    return value if 1 <= value <= 8 else 1


def _exif_bytes(im: Image.Image, exif: Image.Exif, fmt: str) -> bytes | None:
    if fmt == "TIFF":
        return exif.tobytes() if len(exif) else None
    raw = im.info.get("exif")
    if not raw:
        return None
    raw = bytes(raw)
    return raw if raw.startswith(_EXIF_PREFIX) else _EXIF_PREFIX + raw


def _dpi_of(dpi: Any) -> tuple[float, float] | None:
    try:
        x, y = float(dpi[0]), float(dpi[1])
    except (TypeError, ValueError, IndexError):
        return None
    return (x, y) if x > 0 and y > 0 else None


def _apply_orientation(arr: np.ndarray, orientation: int) -> np.ndarray:
    """Turn stored pixels upright for an EXIF orientation 1..8 (as PIL.ImageOps.exif_transpose)."""
    if orientation == 2:
        out = arr[:, ::-1]
    elif orientation == 3:
        out = arr[::-1, ::-1]
    elif orientation == 4:
        out = arr[::-1]
    elif orientation == 5:
        out = arr.transpose(1, 0, 2)
    elif orientation == 6:
        out = np.rot90(arr, k=-1)
    elif orientation == 7:
        out = arr.transpose(1, 0, 2)[::-1, ::-1]
    elif orientation == 8:
        out = np.rot90(arr, k=1)
    else:
        return arr
    return np.ascontiguousarray(out)


# --------------------------------------------------------------------------- writing


def write_image(
    path: PathLike,
    image: np.ndarray,
    *,
    bit_depth: int | None = None,
    quality: int = 95,
    overwrite: bool = False,
    info: ImageInfo | None = None,
    icc_profile: bytes | None = None,
    exif: bytes | None = None,
) -> Path:
    """Write an ``H x W x C`` image (C = 1, 2, 3, 4; float in [0, 1] or uint8/uint16) atomically.

    The format follows the suffix (``.png .jpg .jpeg .tif .tiff .webp .bmp``). Values are
    clipped to [0, 1] and rounded (``np.round``) to ``bit_depth`` bits: 8 or 16 (PNG and TIFF
    only). The default is 8, or 16 when ``info.bit_depth`` is 16 and the format can store it
    (otherwise 8 with an :class:`ImageWarning`). ``quality`` (1-100) applies to JPEG and WebP;
    WebP at quality 100 is lossless. JPEG has no alpha: it is dropped with an ImageWarning.

    ``info`` (from :func:`read_image_info`) supplies the ICC profile, EXIF block and DPI;
    ``icc_profile``/``exif`` override them. They are written to PNG, JPEG, WebP and TIFF
    (16-bit gray+alpha/RGB/RGBA TIFF keep only the descriptive EXIF text tags); BMP has none.

    The file is written to a temporary file in the same folder, flushed to disk and renamed
    into place. An existing file is never replaced unless ``overwrite=True``
    (:class:`OutputExistsError`). Returns the path written.
    """
    p = _as_path(path)
    fmt = FORMATS.get(p.suffix.lower())
    if fmt is None:
        raise ImageWriteError(
            f"cannot write {p}: unsupported file type {p.suffix or '(no suffix)'!r}; "
            f"use one of {', '.join(FORMATS)}"
        )
    arr = as_image(image, f"image to write to {p}", channels=(1, 2, 3, 4))
    quality = int(check_range("quality", quality, 1, 100))
    if info is not None and not isinstance(info, ImageInfo):
        raise InvalidParameterError(f"info must be an ImageInfo from read_image_info, got {type(info).__name__}")
    depth = _resolve_bit_depth(p, fmt, bit_depth, info)
    if icc_profile is None and info is not None:
        icc_profile = info.icc_profile
    if exif is None and info is not None:
        exif = info.exif
    dpi = info.dpi if info is not None else None

    folder = p.parent
    if not folder.is_dir():
        raise ImageWriteError(f"cannot write {p}: folder {folder} does not exist")
    if p.is_dir():
        raise ImageWriteError(f"cannot write {p}: it is a folder")
    if not overwrite and os.path.lexists(p):
        raise _exists_error(p)
    try:
        data = _encode(p, fmt, arr, depth, quality, icc_profile, exif, dpi)
    except (ImageWriteError, InvalidParameterError):
        raise
    except Exception as e:
        raise ImageWriteError(f"cannot write {p}: {_one_line(e)}") from None
    _atomic_write(p, data, overwrite)
    return p


def _exists_error(p: Path) -> OutputExistsError:
    return OutputExistsError(f"{p} already exists; pass overwrite=True (CLI: --overwrite) to replace it")


def _resolve_bit_depth(p: Path, fmt: str, bit_depth: int | None, info: ImageInfo | None) -> int:
    if bit_depth is not None:
        depth = check_choice("bit_depth", bit_depth, (8, 16))
        if depth == 16 and fmt not in _SIXTEEN_BIT_FORMATS:
            raise ImageWriteError(
                f"cannot write {p}: {fmt} stores only 8 bits per channel; use bit_depth=8 or a .png/.tif file"
            )
        return int(depth)
    if info is not None and info.bit_depth > 8:
        if fmt in _SIXTEEN_BIT_FORMATS:
            return 16
        warnings.warn(
            f"{p}: {fmt} stores only 8 bits per channel; writing the {info.bit_depth}-bit source as 8-bit",
            ImageWarning,
            stacklevel=3,
        )
    return 8


def _quantise(arr: np.ndarray, depth: int) -> np.ndarray:
    top = 255 if depth == 8 else 65535
    q = np.clip(arr, 0.0, 1.0)
    q *= top
    np.round(q, out=q)
    return q.astype(np.uint8 if depth == 8 else np.uint16)


def _encode(
    p: Path,
    fmt: str,
    arr: np.ndarray,
    depth: int,
    quality: int,
    icc: bytes | None,
    exif: bytes | None,
    dpi: tuple[float, float] | None,
) -> bytes:
    c = arr.shape[2]
    if fmt == "JPEG" and c in (2, 4):
        message = f"{p}: JPEG cannot store alpha; the alpha channel was dropped"
        warnings.warn(message, ImageWarning, stacklevel=4)
        arr, c = arr[:, :, : c - 1], c - 1
    if fmt in ("WEBP", "BMP") and c == 2:
        arr, c = np.concatenate([arr[:, :, :1]] * 3 + [arr[:, :, 1:]], axis=2), 4
    if fmt == "WEBP" and c == 1:
        arr, c = np.repeat(arr, 3, axis=2), 3
    q = _quantise(arr, depth)
    if exif is not None and not isinstance(exif, (bytes, bytearray)):
        raise InvalidParameterError(f"exif must be bytes, got {type(exif).__name__}")
    if icc is not None and not isinstance(icc, (bytes, bytearray)):
        raise InvalidParameterError(f"icc_profile must be bytes, got {type(icc).__name__}")
    exif = _with_exif_prefix(bytes(exif)) if exif else None
    icc = bytes(icc) if icc else None

    if depth == 16 and c > 1:
        if fmt == "PNG":
            return _encode_png16(q, icc, exif, dpi)
        return _encode_tiff16(q, icc, exif, dpi)
    if fmt == "BMP" and c == 4:  # Pillow writes BMP without alpha; OpenCV keeps it
        return _cv2_encode(".bmp", q)

    im = Image.fromarray(q[:, :, 0] if c == 1 else q)
    opts: dict[str, Any] = {}
    if fmt != "BMP":
        if icc:
            opts["icc_profile"] = icc
        if exif:
            opts["exif"] = exif
    if dpi is not None and fmt != "WEBP":
        opts["dpi"] = dpi
    if fmt == "JPEG":
        opts["quality"] = quality
    elif fmt == "WEBP":
        opts.update(quality=quality, lossless=quality == 100, exact=quality == 100)
    # TIFF through Pillow stays uncompressed: its libtiff (compressing) writer drops EXIF sub-IFDs
    buf = io.BytesIO()
    im.save(buf, fmt, **opts)
    return buf.getvalue()


def _with_exif_prefix(exif: bytes) -> bytes:
    return exif if exif.startswith(_EXIF_PREFIX) else _EXIF_PREFIX + exif


def _cv2_encode(suffix: str, q: np.ndarray) -> bytes:
    import cv2

    c = q.shape[2]
    bgr = q[:, :, 0] if c == 1 else q[:, :, ::-1] if c == 3 else q[:, :, [2, 1, 0, 3]]
    ok, buf = cv2.imencode(suffix, np.ascontiguousarray(bgr))
    if not ok:
        raise ImageWriteError(f"OpenCV could not encode a {q.shape} {q.dtype} image as {suffix}")
    return buf.tobytes()


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png_metadata_chunks(icc: bytes | None, exif: bytes | None, dpi: tuple[float, float] | None) -> bytes:
    out = b""
    if icc:
        out += _png_chunk(b"iCCP", b"ICC Profile\x00\x00" + zlib.compress(icc))
    if dpi is not None:
        ppm = [max(1, round(d / 0.0254)) for d in dpi]
        out += _png_chunk(b"pHYs", struct.pack(">IIB", ppm[0], ppm[1], 1))
    if exif:
        out += _png_chunk(b"eXIf", exif[len(_EXIF_PREFIX) :])
    return out


def _encode_png16(q: np.ndarray, icc: bytes | None, exif: bytes | None, dpi: _Dpi) -> bytes:
    """16-bit gray+alpha / RGB / RGBA PNG (Pillow has no such modes)."""
    meta = _png_metadata_chunks(icc, exif, dpi)
    h, w, c = q.shape
    if c in (3, 4):
        png = _cv2_encode(".png", q)
        # splice the metadata right after the 8-byte signature and the 25-byte IHDR chunk
        return png[:33] + meta + png[33:]
    # gray + alpha: OpenCV cannot write two channels, so encode it here ("Up" filter, zlib)
    rows = np.ascontiguousarray(q, dtype=">u2").view(np.uint8).reshape(h, w * c * 2)
    filtered = np.empty((h, rows.shape[1] + 1), dtype=np.uint8)
    filtered[:, 0] = 2  # filter type Up
    filtered[0, 1:] = rows[0]
    np.subtract(rows[1:], rows[:-1], out=filtered[1:, 1:])  # uint8 arithmetic wraps mod 256
    header = struct.pack(">IIBBBBB", w, h, 16, 4, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + meta
        + _png_chunk(b"IDAT", zlib.compress(filtered.tobytes(), 6))
        + _png_chunk(b"IEND", b"")
    )


def _encode_tiff16(q: np.ndarray, icc: bytes | None, exif: bytes | None, dpi: _Dpi) -> bytes:
    """16-bit gray+alpha / RGB / RGBA TIFF via tifffile (Pillow has no such modes)."""
    import tifffile

    c = q.shape[2]
    extratags: list[tuple[int, str, int, Any, bool]] = []
    if icc:
        extratags.append((34675, "B", len(icc), icc, True))
    if exif:
        tags = Image.Exif()
        try:
            tags.load(exif)
        except Exception:
            tags = Image.Exif()
        for tag in _TIFF_ASCII_TAGS:
            value = tags.get(tag)
            if isinstance(value, str) and value:
                extratags.append((tag, "s", 0, value, True))
    kwargs: dict[str, Any] = {}
    if dpi is not None:
        kwargs.update(resolution=(float(dpi[0]), float(dpi[1])), resolutionunit="INCH")
    buf = io.BytesIO()
    tifffile.imwrite(
        buf,
        q,
        photometric="rgb" if c >= 3 else "minisblack",
        extrasamples=["unassalpha"] if c in (2, 4) else None,
        compression="zlib",
        predictor=True,
        extratags=extratags,
        metadata=None,
        **kwargs,
    )
    return buf.getvalue()


def _atomic_write(p: Path, data: bytes, overwrite: bool) -> None:
    """Write ``data`` to a temporary file beside ``p``, fsync, then move it into place.

    Without ``overwrite`` the temporary file is hard-linked to ``p``, which fails if ``p``
    appeared meanwhile, so an existing file is never replaced; where hard links are not
    available it falls back to check-then-rename.
    """
    folder = p.parent
    tmp: Path | None = None
    try:
        fd, tmp = create_temp(p)  # .<name>.<pid>.<hex>.tmp; permissions follow the umask
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        if overwrite:
            try:
                os.chmod(tmp, os.stat(p).st_mode & 0o7777)  # keep the replaced file's permissions
            except OSError:
                pass
            os.replace(tmp, p)
            tmp = None
        else:
            try:
                os.link(tmp, p)
            except FileExistsError:
                raise _exists_error(p) from None
            except OSError:  # no hard links here (e.g. FAT, some network shares)
                if os.path.lexists(p):
                    raise _exists_error(p) from None
                os.replace(tmp, p)
                tmp = None
        _fsync_folder(folder)
    except (OutputExistsError, ImageWriteError):
        raise
    except OSError as e:
        raise ImageWriteError(f"cannot write {p}: {e.strerror or _one_line(e)}") from None
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass


def _fsync_folder(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # e.g. Windows cannot open folders
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# --------------------------------------------------------------- alpha and tensors


def split_alpha(image: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """Split an ``H x W x C`` image into colour (C = 1 or 3) and alpha (``H x W x 1`` or None)."""
    arr = as_image(image, "image", channels=(1, 2, 3, 4))
    c = arr.shape[2]
    if c in (1, 3):
        return arr, None
    return arr[:, :, : c - 1], arr[:, :, c - 1 :]


def merge_alpha(color: np.ndarray, alpha: np.ndarray | None) -> np.ndarray:
    """Join colour (C = 1 or 3) and alpha (``H x W`` or ``H x W x 1``; None returns colour)."""
    col = as_image(color, "color", channels=(1, 3))
    if alpha is None:
        return col
    a = as_image(alpha, "alpha", channels=(1,))
    if a.shape[:2] != col.shape[:2]:
        raise InvalidParameterError(
            f"alpha must have the colour's height and width {col.shape[:2]}, got {a.shape[:2]}"
        )
    return np.concatenate([col, a], axis=2)


def to_tensor(image: np.ndarray) -> torch.Tensor:
    """``H x W x C`` (or ``H x W``) image -> contiguous float32 ``1 x C x H x W`` torch tensor."""
    import torch

    arr = as_image(image, "image", channels=(1, 2, 3, 4))
    return torch.from_numpy(np.ascontiguousarray(arr.transpose(2, 0, 1)))[None]


def to_numpy(tensor: torch.Tensor) -> np.ndarray:
    """``C x H x W`` or ``1 x C x H x W`` tensor (any device/dtype) -> float32 ``H x W x C`` array."""
    import torch

    if not isinstance(tensor, torch.Tensor):
        raise InvalidParameterError(f"tensor must be a torch.Tensor, got {type(tensor).__name__}")
    t = tensor.detach()
    if t.ndim == 4:
        if t.shape[0] != 1:
            raise InvalidParameterError(
                f"tensor must hold one image (1 x C x H x W), got shape {tuple(t.shape)}"
            )
        t = t[0]
    if t.ndim != 3:
        raise InvalidParameterError(f"tensor must be C x H x W or 1 x C x H x W, got shape {tuple(t.shape)}")
    return np.ascontiguousarray(t.to(device="cpu", dtype=torch.float32).permute(1, 2, 0).numpy())
