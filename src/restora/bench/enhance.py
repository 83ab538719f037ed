"""The enhancement tasks ``dehaze-synthetic`` and ``exposure-synthetic`` (issue 21).

Both degradations are *synthetic*, seeded per image by the harness's
:func:`~restora.bench.tasks.image_rng` (seed and file name):

* ``dehaze-synthetic``: the atmospheric scattering model ``I = J t + A (1 - t)``,
  ``t = exp(-beta d)`` (:func:`restora.degrade.haze.haze`) with a *depth proxy*, not the
  scene's depth: :func:`restora.degrade.haze.synthetic_depth` (far at the top, near at the
  bottom, plus low-frequency noise). ``beta`` uniform in :data:`HAZE_BETA_RANGE`, a gray
  airlight uniform in :data:`HAZE_AIRLIGHT_RANGE`. Methods get no condition (blind).
* ``exposure-synthetic``: :func:`restora.degrade.exposure.random_exposure`: ``ev`` stops of
  gain in linear light (uniform in :data:`EXPOSURE_EV_RANGE`, sensor clipping on) then a
  power law ``gamma`` (log-uniform in :data:`EXPOSURE_GAMMA_RANGE`), so under- and
  over-exposure are about equally likely. Blind.

Scores: RGB PSNR/SSIM of the 8-bit output against the clean image, no border crop. Test
sets: Kodak24 (default) and CBSD68. Methods: ``input`` and the catalogue methods of the
task's kind (``dark-channel``; ``lime``, ``clahe``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from restora.bench.tasks import TASKS, BenchTask, Scoring

__all__ = [
    "HAZE_BETA_RANGE",
    "HAZE_AIRLIGHT_RANGE",
    "EXPOSURE_EV_RANGE",
    "EXPOSURE_GAMMA_RANGE",
    "ENHANCE_DATASETS",
    "enhance_tasks",
]

#: Scattering coefficient range of ``dehaze-synthetic`` (per unit of the [0, 1] depth proxy).
HAZE_BETA_RANGE = (0.5, 1.5)
#: Gray airlight range of ``dehaze-synthetic``.
HAZE_AIRLIGHT_RANGE = (0.75, 0.95)
#: ``random_exposure`` ranges of ``exposure-synthetic`` (its defaults).
EXPOSURE_EV_RANGE = (-2.0, 2.0)
EXPOSURE_GAMMA_RANGE = (0.7, 1.4)
ENHANCE_DATASETS = ("Kodak24", "CBSD68")


def _identity(image: np.ndarray) -> np.ndarray:
    return image


def _haze_degrade(ref: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, dict[str, Any], dict[str, Any]]:
    from restora.degrade.haze import haze

    beta = float(rng.uniform(*HAZE_BETA_RANGE))
    airlight = float(rng.uniform(*HAZE_AIRLIGHT_RANGE))
    out = haze(ref, beta, airlight=airlight, rng=rng)
    return out.image, {}, dict(out.record)


def _exposure_degrade(ref: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, dict[str, Any], dict[str, Any]]:
    from restora.degrade.exposure import random_exposure

    out = random_exposure(ref, rng, ev_range=EXPOSURE_EV_RANGE, gamma_range=EXPOSURE_GAMMA_RANGE)
    return out.image, {}, dict(out.record)


def enhance_tasks() -> list[BenchTask]:
    """The tasks of this module (added to :data:`restora.bench.tasks.TASKS` on import)."""
    scoring = Scoring(crop=0, y_channel=False, round_to_uint8=True)
    return [
        BenchTask(
            name="dehaze-synthetic",
            kind="dehaze",
            description=(
                "synthetic haze: atmospheric scattering model I = J t + A (1 - t), t = exp(-beta d) with a depth proxy "
                f"(vertical gradient + low-frequency noise, not the scene's depth), beta U{HAZE_BETA_RANGE}, gray airlight "
                f"U{HAZE_AIRLIGHT_RANGE}, seeded per image; blind; RGB PSNR/SSIM on 8-bit output"
            ),
            datasets=ENHANCE_DATASETS,
            default_datasets=("Kodak24",),
            channels="color",
            prepare=_identity,
            degrade=_haze_degrade,
            scoring=scoring,
            parameters={"beta_range": list(HAZE_BETA_RANGE), "airlight_range": list(HAZE_AIRLIGHT_RANGE),
                        "depth": "synthetic"},
        ),
        BenchTask(
            name="exposure-synthetic",
            kind="exposure",
            description=(
                f"synthetic exposure error (restora.degrade.exposure.random_exposure): ev U{EXPOSURE_EV_RANGE} stops in "
                f"linear light with sensor clipping, then gamma log-U{EXPOSURE_GAMMA_RANGE}, seeded per image (under- and "
                "over-exposure); blind; RGB PSNR/SSIM on 8-bit output"
            ),
            datasets=ENHANCE_DATASETS,
            default_datasets=("Kodak24",),
            channels="color",
            prepare=_identity,
            degrade=_exposure_degrade,
            scoring=scoring,
            parameters={"ev_range": list(EXPOSURE_EV_RANGE), "gamma_range": list(EXPOSURE_GAMMA_RANGE)},
        ),
    ]


TASKS.update({t.name: t for t in enhance_tasks()})
