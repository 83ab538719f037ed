"""File in, file out: :func:`restore_file` and before/after comparison images."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from restora.errors import ImageWriteError, InvalidParameterError, OutputExistsError

__all__ = ["compare_image", "output_path", "restore_file", "write_compare"]

PathLike = str | os.PathLike[str]


def output_path(dst: PathLike, format: str | None = None) -> Path:
    """``dst`` with its suffix replaced by ``format`` (``"png"``, ``"jpg"``, ...) if given."""
    from restora.io import FORMATS

    p = Path(dst)
    if format is None:
        return p
    suffix = "." + str(format).lower().lstrip(".")
    if suffix not in FORMATS:
        raise InvalidParameterError(f"format must be one of {', '.join(s.lstrip('.') for s in FORMATS)}; got {format!r}")
    return p.with_suffix(suffix)


def restore_file(
    src: PathLike,
    dst: PathLike,
    *,
    pipeline: Any | None = None,
    overwrite: bool = False,
    format: str | None = None,
    quality: int = 95,
    **plan_options: Any,
) -> Any:
    """Restore the image file ``src`` into ``dst``; returns the :class:`RestoreResult`.

    The colour is restored and an alpha channel is carried over (resized with the image if
    it was upscaled); 16-bit files stay 16-bit where the output format allows it (PNG, TIFF);
    the ICC profile and EXIF block are kept (the EXIF orientation is applied on read and
    reset). ``format`` replaces ``dst``'s suffix; ``quality`` applies to JPEG/WebP output.
    The write is atomic and an existing ``dst`` is never replaced unless ``overwrite``
    (checked before any work is done). ``plan_options`` go to
    :meth:`RestorePipeline.plan` (``scale``, ``target_size``, ``steps``) and ``progress`` to
    :meth:`RestorePipeline.run`.
    """
    from restora.atomic import same_file
    from restora.io import read_image_info, write_image
    from restora.pipeline.core import RestorePipeline

    out = output_path(dst, format)
    if same_file(src, out):
        raise InvalidParameterError(f"the output {out} is the input {src}; restora never writes over its input")
    if not overwrite and os.path.lexists(out):
        raise OutputExistsError(f"{out} already exists; pass overwrite=True (--overwrite) to replace it")
    if not out.parent.is_dir():
        raise ImageWriteError(f"cannot write {out}: folder {out.parent} does not exist")
    pipe = pipeline if pipeline is not None else RestorePipeline()
    t0 = time.perf_counter()
    image, info = read_image_info(src)
    t_read = time.perf_counter() - t0
    result = pipe.restore(image, path=src, **plan_options)
    del image  # the input is no longer needed: lowers the peak memory of the write
    t1 = time.perf_counter()
    write_image(out, result.image, info=info, quality=quality, overwrite=overwrite)
    t_write = time.perf_counter() - t1
    result.timings = {"read": t_read, **result.timings, "write": t_write}
    result.timings["total"] = result.timings.get("total", 0.0) + t_read + t_write
    return result


def compare_image(before: np.ndarray, after: np.ndarray, *, max_side: int = 2048, labels: bool = True) -> np.ndarray:
    """A side-by-side RGB picture: ``before`` (enlarged with nearest neighbour to ``after``'s
    size, so upscaling shows) | ``after``, with a white gap and "before"/"after" labels.

    Alpha is dropped, values are clipped to [0, 1], and the result is shrunk so its larger
    side is at most ``max_side`` pixels.
    """
    import cv2

    from restora.io import split_alpha

    a, _ = split_alpha(before)
    b, _ = split_alpha(after)
    a, b = _rgb(np.clip(a, 0, 1)), _rgb(np.clip(b, 0, 1))
    h, w = b.shape[:2]
    if a.shape[:2] != (h, w):
        a = cv2.resize(a, (w, h), interpolation=cv2.INTER_NEAREST)
    gap = max(4, w // 64)
    canvas = np.ones((h, 2 * w + gap, 3), np.float32)
    canvas[:, :w] = a
    canvas[:, w + gap :] = b
    side = max(canvas.shape[:2])
    if side > max_side:
        f = max_side / side
        canvas = cv2.resize(canvas, (max(1, round(canvas.shape[1] * f)), max(1, round(canvas.shape[0] * f))), interpolation=cv2.INTER_AREA)
        w = round(w * f)
        gap = round(gap * f)
    out = np.round(np.clip(canvas, 0, 1) * 255).astype(np.uint8)
    if labels:
        scale = max(0.4, out.shape[0] / 600)
        thick = max(1, int(round(scale * 2)))
        for text, x0 in (("before", 6), ("after", w + gap + 6)):
            org = (int(x0), int(8 + 22 * scale))
            cv2.putText(out, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), thick + 2, cv2.LINE_AA)
            cv2.putText(out, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), thick, cv2.LINE_AA)
    return out.astype(np.float32) / 255.0


def write_compare(path: PathLike, before: np.ndarray, after: np.ndarray, *, overwrite: bool = False) -> Path:
    """Write :func:`compare_image` as an 8-bit PNG (atomic; ``overwrite`` as in write_image)."""
    from restora.io import write_image

    p = Path(path)
    if p.suffix.lower() != ".png":
        raise InvalidParameterError(f"the comparison image must be a .png file; got {p.name}")
    return write_image(p, compare_image(before, after), bit_depth=8, overwrite=overwrite)


def _rgb(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, np.float32)
    return np.repeat(x, 3, axis=2) if x.shape[2] == 1 else np.ascontiguousarray(x)
