"""Uploaded image bytes in, encoded result bytes out, for the web entry points.

Nothing here takes a path from a request: uploads are decoded from their bytes (their type
sniffed from the content, never from the client's filename) through a private temporary
folder so that :func:`restora.io.read_image_info` applies the same checks as the CLI (pixel
limit before decoding, EXIF orientation, 16-bit, alpha, ICC). Client filenames are only ever
used, after :func:`safe_name`, to name the download.
"""

from __future__ import annotations

import io
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from restora.errors import ImageReadError, ImageTooLargeError, InvalidParameterError
from restora.io import ImageInfo, read_image_info, write_image

__all__ = [
    "OUTPUT_FORMATS",
    "DecodedUpload",
    "encode_image",
    "peek_upload",
    "read_upload",
    "safe_name",
    "sniff_format",
]

#: Output format name -> (file suffix, content type).
OUTPUT_FORMATS: dict[str, tuple[str, str]] = {
    "png": (".png", "image/png"),
    "jpeg": (".jpg", "image/jpeg"),
    "webp": (".webp", "image/webp"),
}
_SUFFIX = {"PNG": ".png", "JPEG": ".jpg", "TIFF": ".tif", "WEBP": ".webp", "BMP": ".bmp"}
_SUPPORTED = "PNG, JPEG, TIFF, WebP or BMP"
_NAME_CHARS = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class DecodedUpload:
    """An uploaded image: pixels (float32 ``H x W x C`` in [0, 1]), metadata and a safe name."""

    image: np.ndarray
    info: ImageInfo
    name: str  # sanitised stem of the client's filename (for the download's name only)
    path: Path | None = None  # where the bytes were decoded from (a private temp file)


def safe_name(filename: str | None, default: str = "image", *, keep_suffix: bool = False) -> str:
    """A harmless file stem (or, with ``keep_suffix``, name) from a client-supplied filename.

    Folders (``/`` and ``\\``) and the suffix are dropped, anything but letters, digits,
    ``.``, ``_`` and ``-`` becomes ``_``, leading dots are removed and the result is at most
    64 characters; an empty result gives ``default``. ``../../etc/passwd`` -> ``passwd``.
    """
    if not filename:
        return default
    base = re.split(r"[/\\]", str(filename))[-1]
    if not keep_suffix and "." in base.lstrip("."):
        base = base.rsplit(".", 1)[0]
    stem = _NAME_CHARS.sub("_", base).lstrip(".")[:64].strip("._-")
    return stem or default


def sniff_format(data: bytes) -> str | None:
    """The image format of ``data`` from its first bytes (``"PNG"``, ``"JPEG"``, ...), or None."""
    head = data[:16]
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return "TIFF"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    if head[:2] == b"BM":
        return "BMP"
    return None


def _require_format(data: bytes, name: str) -> str:
    if not data:
        raise ImageReadError(f"upload {name!r} is empty")
    fmt = sniff_format(data)
    if fmt is None:
        raise ImageReadError(f"upload {name!r} is not a {_SUPPORTED} image")
    return fmt


def peek_upload(data: bytes, *, max_pixels: int, name: str = "image") -> tuple[str, int, int]:
    """Check an upload cheaply (type and header size, no pixel decoding).

    Returns ``(format, width, height)``. Raises :class:`ImageReadError` for anything that is
    not a supported image and :class:`ImageTooLargeError` over ``max_pixels``.
    """
    fmt = _require_format(data, name)
    if Image.MAX_IMAGE_PIXELS is not None and Image.MAX_IMAGE_PIXELS < max_pixels:
        Image.MAX_IMAGE_PIXELS = max_pixels  # our own check below comes first; never lowered
    try:
        with Image.open(io.BytesIO(data), formats=[fmt]) as im:
            width, height = im.size
    except Image.DecompressionBombError:
        raise ImageTooLargeError(f"upload {name!r} is over the pixel limit of {max_pixels:,}") from None
    except Exception:
        if fmt == "TIFF":  # layouts Pillow cannot open are left to read_upload (tifffile)
            return fmt, 0, 0
        raise ImageReadError(f"upload {name!r} is not a readable {fmt} image (damaged header?)") from None
    _check_pixels(width, height, max_pixels, name)
    return fmt, width, height


def _check_pixels(width: int, height: int, max_pixels: int, name: str) -> None:
    if width * height > max_pixels:
        raise ImageTooLargeError(
            f"upload {name!r} is {width} x {height} = {width * height:,} pixels, "
            f"over this server's limit of {max_pixels:,}"
        )


def read_upload(
    data: bytes, *, max_pixels: int, filename: str | None = None, folder: str | Path | None = None
) -> DecodedUpload:
    """Decode uploaded bytes into an image with :func:`restora.io.read_image_info`.

    The bytes are written under a fixed name, whose suffix comes from the sniffed content,
    into ``folder`` (a private folder of the caller's, where the file stays) or else into a
    fresh temporary folder that is removed afterwards. Error messages name the upload by its
    sanitised name, never a server path.
    """
    label = safe_name(filename, keep_suffix=True)
    fmt = _require_format(data, label)
    if folder is None:
        with tempfile.TemporaryDirectory(prefix="restora-upload-") as tmp:
            return _decode_in(Path(tmp), data, fmt, filename, max_pixels)
    return _decode_in(Path(folder), data, fmt, filename, max_pixels)


def _decode_in(folder: Path, data: bytes, fmt: str, filename: str | None, max_pixels: int) -> DecodedUpload:
    label = safe_name(filename, keep_suffix=True)
    path = folder / f"upload{_SUFFIX[fmt]}"
    path.write_bytes(data)
    try:
        image, info = read_image_info(path, max_pixels=max_pixels)
    except ImageTooLargeError:
        raise ImageTooLargeError(f"upload {label!r} is over this server's pixel limit of {max_pixels:,}") from None
    except ImageReadError as exc:
        raise ImageReadError(str(exc).replace(str(path), f"upload {label!r}")) from None
    return DecodedUpload(image=image, info=info, name=safe_name(filename), path=path)


def encode_image(image: np.ndarray, fmt: str = "png", *, quality: int = 95, info: ImageInfo | None = None) -> bytes:
    """Encode an image to PNG, JPEG or WebP bytes with :func:`restora.io.write_image`.

    ``info`` (from the upload) carries its ICC profile and EXIF block, and 16-bit PNG
    uploads give 16-bit PNG results.
    """
    if fmt not in OUTPUT_FORMATS:
        raise InvalidParameterError(f"format must be one of {', '.join(OUTPUT_FORMATS)}; got {fmt!r}")
    suffix = OUTPUT_FORMATS[fmt][0]
    with tempfile.TemporaryDirectory(prefix="restora-result-") as tmp:
        path = Path(tmp) / f"result{suffix}"
        write_image(path, image, quality=quality, info=info)
        return path.read_bytes()
