"""Is a photo hazy, under-exposed or over-exposed? No-reference detectors for ``restore``.

Each detector is a logistic model on a few global statistics of the image, measured on a
copy reduced to at most :data:`FEATURE_SIDE` pixels a side:

* ``luma_mean``, ``luma_p05``, ``luma_p95``: mean and 5th / 95th percentiles of the BT.601 luma;
* ``contrast``: the standard deviation of the luma;
* ``dark_p10``, ``dark_median``: 10th percentile and median of the dark channel (minimum
  over the colours, then a 15 x 15 minimum filter; He et al.): haze lifts it everywhere,
  while haze-free outdoor images keep most of it near 0;
* ``saturation``: the mean of max - min over the colours (haze washes colour out).

The weights were fitted by ``benchmarks/enhance_detect.py`` on the training sets CBSD432
and Urban100: the clean images against the same images degraded as the ``dehaze-synthetic``
and ``exposure-synthetic`` bench tasks do (exposure errors of at least one stop count as
positives; milder ones are left out of the fit). Each decision threshold sits above the
highest score of any clean training image (no false alarm there) plus a margin, because a
false alarm changes a good photo while a miss only leaves it as it was. The script also
reports detection and false-alarm rates on the test sets Kodak24 and CBSD68, which the fit
never saw (``docs/enhance.md``).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from restora.validation import as_image

__all__ = [
    "FEATURE_NAMES",
    "FEATURE_SIDE",
    "DETECTORS",
    "Detector",
    "enhance_features",
    "detect_enhancements",
]

#: Side the image is reduced to before the statistics are taken.
FEATURE_SIDE = 512
#: The statistics, in the order of the detectors' weights.
FEATURE_NAMES = ("luma_mean", "luma_p05", "luma_p95", "contrast", "dark_p10", "dark_median", "saturation")

_LUMA = np.array([0.299, 0.587, 0.114], np.float32)


@dataclass(frozen=True)
class Detector:
    """A logistic detector: ``score = bias + weights . features``; it fires when ``score > threshold``."""

    name: str
    weights: tuple[float, ...]
    bias: float
    threshold: float

    def score(self, features: dict[str, float]) -> float:
        """The detector's logit for ``features`` (a dict from :func:`enhance_features`)."""
        return float(self.bias + sum(w * features[n] for w, n in zip(self.weights, FEATURE_NAMES)))


# Fitted by benchmarks/enhance_detect.py (seed 0) on CBSD432 + Urban100; see the module notes.
DETECTORS: dict[str, Detector] = {
    "haze": Detector("haze", (2.325, -5.8348, 2.5614, -7.9244, 22.9309, 10.1575, -0.0391), -5.5787, 5.09),
    "under": Detector("under", (2.2792, -7.0082, -14.693, -11.1109, -10.4231, -0.8862, -14.9836), 13.817, 4.327),
    "over": Detector("over", (8.0919, 7.5278, 10.3056, 14.9621, 1.5062, -2.6088, 8.7698), -20.043, 2.871),
}


def enhance_features(image: np.ndarray) -> dict[str, float]:
    """The global statistics of :data:`FEATURE_NAMES` for ``image`` (H x W x C in [0, 1]).

    Gray images have no colour: their dark channel is the luma's minimum filter and their
    saturation 0.
    """
    img = np.clip(as_image(image, channels=(1, 3)), 0.0, 1.0)
    h, w = img.shape[:2]
    s = min(1.0, FEATURE_SIDE / max(h, w))
    if s < 1.0:
        img = cv2.resize(img, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)
        img = img.reshape(img.shape[0], img.shape[1], -1)
    luma = img[:, :, 0] if img.shape[2] == 1 else img @ _LUMA
    low = img.min(axis=2)
    dark = cv2.erode(low, cv2.getStructuringElement(cv2.MORPH_RECT, (15, 15)))
    p05, p95 = np.percentile(luma, [5, 95])
    return {
        "luma_mean": float(luma.mean()),
        "luma_p05": float(p05),
        "luma_p95": float(p95),
        "contrast": float(luma.std()),
        "dark_p10": float(np.percentile(dark, 10)),
        "dark_median": float(np.median(dark)),
        "saturation": float(np.mean(img.max(axis=2) - low)),
    }


def detect_enhancements(image: np.ndarray, features: dict[str, float] | None = None) -> dict[str, object]:
    """Run every detector on ``image``: ``{"features": ..., "scores": {name: logit},
    "haze": bool, "under": bool, "over": bool}`` (``under`` and ``over`` never both)."""
    f = features if features is not None else enhance_features(image)
    scores = {name: round(d.score(f), 3) for name, d in DETECTORS.items()}
    fired = {name: scores[name] > DETECTORS[name].threshold for name in DETECTORS}
    if f["saturation"] == 0.0:  # gray: no colour, no dark channel prior (a gray face read as haze)
        fired["haze"] = False
    if fired["under"] and fired["over"]:  # the stronger margin wins
        m_under = scores["under"] - DETECTORS["under"].threshold
        m_over = scores["over"] - DETECTORS["over"].threshold
        fired["under" if m_over > m_under else "over"] = False
    return {"features": {k: round(v, 4) for k, v in f.items()}, "scores": scores, **fired}
