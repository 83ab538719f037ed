"""The no-reference deblurring view ``deblur-real`` (issue 17).

Real low-quality photos have no sharp original, so a deblurring method can only be judged
by what its output looks like. ``deblur-real`` hands each method the image itself (blind:
no kernel, no noise level) and scores the output with no-reference metrics only (NIQE by
default; ``--metrics niqe,niqe_x2``); full-reference metrics are refused.

Test sets: ``FacesLQ`` (real low-quality face photos: old, blurred, compressed; default)
and ``RealSRSet`` (real low-resolution photos). Each image is centre-cropped to at most
:data:`CROP` pixels a side so the slow blind methods take seconds, not minutes; the crop is
fixed (no randomness). Methods: ``input`` (the photo itself), ``deblur-command`` (exactly
``restora deblur IN OUT``), the catalogue's deblurring methods that need no kernel
(``blind-deconv``, ``blind-vb``, ``pnp-drunet-blind``) and trained ``.safetensors`` files.
NIQE says how *natural* the output looks, not whether it is *right*: ringing from a wrong
kernel can score better than a soft input. Read it beside the pictures.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from restora.bench.restore_auto import deblur_command_method
from restora.bench.tasks import TASKS, BenchTask, Scoring

__all__ = ["CROP", "DEBLUR_REAL_DATASETS", "centre_crop", "deblur_real_task"]

#: Largest side of the centre crop each photo is scored on.
CROP = 256
DEBLUR_REAL_DATASETS = ("FacesLQ", "RealSRSet")


def centre_crop(image: np.ndarray, size: int = CROP) -> np.ndarray:
    """The centre ``size`` x ``size`` crop of ``image`` (a side shorter than ``size`` is kept whole)."""
    h, w = image.shape[:2]
    top, left = max(0, (h - size) // 2), max(0, (w - size) // 2)
    return image[top : top + min(h, size), left : left + min(w, size)]


def _as_is(ref: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, dict[str, Any], dict[str, Any]]:
    return ref, {}, {"degradation": "real (none added)", "crop": CROP}


def deblur_real_task() -> BenchTask:
    """The ``deblur-real`` task: real photos, blind, no-reference scores."""
    return BenchTask(
        name="deblur-real",
        kind="deblur",
        description=f"real low-quality photos (FacesLQ, RealSRSet), centre {CROP} px crop, blind; "
        "no clean original: no-reference metrics only (NIQE)",
        datasets=DEBLUR_REAL_DATASETS,
        default_datasets=("FacesLQ",),
        channels="color",
        prepare=centre_crop,
        degrade=_as_is,
        scoring=Scoring(crop=0, y_channel=False, round_to_uint8=True),
        parameters={"crop": CROP},
        reference_free=True,
        default_metrics=("niqe",),
        methods={"deblur-command": deblur_command_method},
    )


TASKS["deblur-real"] = deblur_real_task()
