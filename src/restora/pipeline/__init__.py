"""The restore pipeline: analyse what hurts an image, plan the steps, run them.

>>> from restora.pipeline import RestorePipeline, restore_file
>>> pipe = RestorePipeline()                                   # doctest: +SKIP
>>> plan = pipe.plan(image, scale=2); print(plan.describe())   # doctest: +SKIP
>>> result = pipe.run(image, plan)                             # doctest: +SKIP
>>> restore_file("in.jpg", "out.png", pipeline=pipe)           # doctest: +SKIP

Steps run in the order jpeg -> denoise -> deblur -> upscale; each uses the best available
method (a fitting zoo model, else the strongest classical method within the time budget)
and says why. The rules are documented in ``docs/restore.md``.
"""

from restora.pipeline.core import ANALYSIS_MAX_SIDE, Progress, RestorePipeline, RestoreResult
from restora.pipeline.files import compare_image, output_path, restore_file, write_compare
from restora.pipeline.plan import (
    BLUR_STRONG_THRESHOLD,
    JPEG_QUALITY_THRESHOLD,
    NOISE_SIGMA_THRESHOLD,
    PIXEL_JPEG_QUALITY_THRESHOLD,
    STEP_ORDER,
    Plan,
    Step,
    jpeg_equivalent_sigma,
)

__all__ = [
    "ANALYSIS_MAX_SIDE",
    "BLUR_STRONG_THRESHOLD",
    "JPEG_QUALITY_THRESHOLD",
    "NOISE_SIGMA_THRESHOLD",
    "PIXEL_JPEG_QUALITY_THRESHOLD",
    "STEP_ORDER",
    "Plan",
    "Progress",
    "RestorePipeline",
    "RestoreResult",
    "Step",
    "compare_image",
    "jpeg_equivalent_sigma",
    "output_path",
    "restore_file",
    "write_compare",
]
