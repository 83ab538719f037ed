"""Never worse: a no-reference check that a planned step improved the image.

``restore`` plans its steps from estimates, and an estimate can be wrong (texture read as
noise, a blur kernel that converged to the wrong shape). After each step the planner chose
by itself, :func:`judge_step` compares the step's input and output without a reference and
the pipeline keeps the input when the output is judged worse, saying so in the plan. Steps
the user asked for (``steps=``, ``--steps``) are never second-guessed.

The judgement, on the luma of a centre crop of at most :data:`CHECK_SIDE` pixels:

* **naturalness**: NIQE (:func:`restora.metrics.niqe`, lower is more natural) must not rise
  by more than :data:`NIQE_MARGIN` (NIQE scatters by a few tenths between near-identical
  images); for a ``deblur`` step by at most :data:`DEBLUR_NIQE_MARGIN`, since restored edges
  and texture raise NIQE as ringing does: with 0.3, two CBSD68 motion blurs (NIQE +0.42 and
  +1.85) lost deblurs worth +3.7 and +2.8 dB; of 31 synthetic deblurs (CBSD68, Kodak24) all
  gained but one (-0.98 dB), and its NIQE fell, so a tight NIQE margin guards nothing here. A deblur after a tables-trusted JPEG step still answers
  to the original input's NIQE within :data:`DEBLUR_INPUT_NIQE_MARGIN` (below): that rule dropped 10 PolyU
  deblurs that would have lost 1 to 18.6 dB;
* **kernel agreement** (``deblur`` with a blind kernel only): the estimated kernel must span
  at least :data:`KERNEL_CONFIRM` of the blur size the analysis measured. Two independent
  estimates that disagree this much (a 28 px "motion" read from a photo whose blind kernel is
  a 4 px dot) mean there is no such blur: soft camera JPEGs of PolyU (3 photos, -1.3 to
  -4.6 dB when deblurred against their references), while on 21 synthetic blind deblurs of
  CBSD68/Kodak24 the ratio was at least 0.52 but once (0.16, a deblur worth +0.03 dB)
  (``benchmarks/results/deblur-check-s29``);
* **noise amplification** (``deblur`` only): the fine-scale noise of the output
  (:func:`restora.classical.noise_level.estimate_noise_level_function`, ``sigma_highpass``)
  must not exceed the input's by more than :data:`DEBLUR_NOISE_GAIN` times plus 2 levels,
  the signature of ringing or a wrong kernel;
* **removal budget** (``denoise``/``jpeg``): the removed residual's standard deviation must
  stay under :data:`REMOVAL_FACTOR` times the noise the plan set out to remove plus 2
  levels: removing much more than the noise is removing the picture.

A ``jpeg`` step whose evidence is the file's own quantisation tables (``trusted``) is judged
by the removal budget alone (its planned level: the sigma equivalent to the quality): the
tables prove the compression, while NIQE reads the grain of a camera JPEG as natural detail
and rose when it went. Judged by NIQE, the step was dropped on 10 of 10 PolyU camera JPEGs
(q75 tables) where keeping it gains +1.38 dB on average (every image better), and on
Kodak24 images at q63 and q67 (+0.7 and +1.0 dB for the oracle).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["CHECK_SIDE", "DEBLUR_INPUT_NIQE_MARGIN", "DEBLUR_NIQE_MARGIN", "DEBLUR_NOISE_GAIN", "KERNEL_CONFIRM", "LONG_BLUR_PX", "NIQE_MARGIN", "REMOVAL_FACTOR", "Verdict", "judge_step"]

#: Side of the centre crop the check measures (NIQE costs ~0.2 s on 512^2).
CHECK_SIDE = 512
#: NIQE may rise by at most this much.
NIQE_MARGIN = 0.3
#: ... and by at most this much across a deblur step (sharper edges raise it too).
DEBLUR_NIQE_MARGIN = 2.0
#: How far above the original input's NIQE a deblur may end after a tables-trusted JPEG step.
#: Session 34 tried 2.0 (= DEBLUR_NIQE_MARGIN): CBSD68 304074 (motion + JPEG 59) kept a deblur
#: worth +4.5 dB, but the PolyU camera JPEG desk_4 kept one that lost 7.1 dB and toy_13 0.6 dB.
#: Session 37 exempted long blurs (measured and kernel >= 20 px; 304074: 36 and 22 px, +1.6 dB):
#: PolyU stair_6 and stair_10 (camera JPEGs read as 29-30 px motion, 40-44 px kernels) then kept
#: deblurs that lost 12.4 and 12.5 dB. Withdrawn.
DEBLUR_INPUT_NIQE_MARGIN = NIQE_MARGIN
#: Session 38: the long-blur exemption again, but only for a deblur that reads *more* natural
#: than its own (deblocked) input: NIQE falls across the step. On the stair photos it rose
#: (8.68 -> 10.20, 9.36 -> 9.73: ringing of a kernel fitted to the stairs' own edges); on
#: 304074 it fell (10.18 -> 9.17). The PolyU JPEGs whose deblurs lower NIQE read kernels of
#: 7-12 px, under the exemption's length.
LONG_BLUR_PX = 20.0
#: A deblurred image may carry at most this many times the input's fine-scale noise (+2 levels).
DEBLUR_NOISE_GAIN = 2.0
#: A blind deblur kernel must span at least this fraction of the blur size the analysis measured.
KERNEL_CONFIRM = 0.35
#: A denoiser may remove at most this many times the planned sigma (+2 levels) of signal.
REMOVAL_FACTOR = 2.0


def _long_blur(params: dict[str, Any]) -> bool:
    """Both the measured blur and the blind kernel span at least :data:`LONG_BLUR_PX`."""
    return min(float(params.get("_blur_px") or 0.0), float(params.get("_kernel_px") or 0.0)) >= LONG_BLUR_PX


@dataclass(frozen=True)
class Verdict:
    """``keep``: the step's output is used; ``reason``: one line; ``scores``: what was measured."""

    keep: bool
    reason: str
    scores: dict[str, float] = field(default_factory=dict)


def _luma_crop(img: np.ndarray, side: int) -> np.ndarray:
    x = np.asarray(img, np.float32)
    if x.ndim == 2:
        x = x[:, :, None]
    x = x[:, :, :3] if x.shape[2] >= 3 else x[:, :, :1]
    h, w = x.shape[:2]
    ch, cw = min(h, side), min(w, side)
    y0, x0 = (h - ch) // 2, (w - cw) // 2
    x = x[y0 : y0 + ch, x0 : x0 + cw]
    if x.shape[2] == 3:
        x = x @ np.array([0.299, 0.587, 0.114], np.float32)
        x = x[:, :, None]
    return np.clip(x, 0.0, 1.0)


def judge_step(name: str, before: np.ndarray, after: np.ndarray, params: dict[str, Any] | None = None, *, deblur_next: bool = False, trusted: bool = False, input_niqe: float | None = None) -> Verdict:
    """Is ``after`` (the output of step ``name``) better than ``before`` (its input)?

    Images are float ``H x W x C``; an upscaling step (other size) is always kept. Images
    smaller than 96 x 96 (NIQE's patch) are kept unjudged. ``deblur_next``: a deblur step
    follows, so the image is still blurred; a denoiser's output is then judged by the
    removal budget alone, since NIQE reads the noise on a blurred image as detail and
    rises when it goes (dropping the denoiser there left the deconvolution to amplify the
    noise: -3.4 dB on CBSD68 106024). ``trusted``: a ``jpeg`` step planned from the file's
    quantisation tables, judged by the removal budget alone (see the module notes).
    ``input_niqe``: the NIQE of the plan's input when a tables-trusted ``jpeg`` step (not
    judged by NIQE) ran first; a ``deblur`` step must then also stay within the margin of
    it (the deblocking may have raised NIQE, and a
    wrong kernel's ringing can still look "better" than that smoothed image: a PolyU photo
    of a tiled wall went from 34.3 to 17.0 dB that way), unless the blur is long
    (:data:`LONG_BLUR_PX`) and the deblur lowers NIQE against its own input.
    """
    params = params or {}
    if before.shape[:2] != after.shape[:2] or name == "upscale":
        return Verdict(True, "not judged (size changes)")
    if name == "deblur" and params.get("_kernel_px") is not None and params.get("_blur_px"):
        kp, bp = float(params["_kernel_px"]), float(params["_blur_px"])
        if kp < KERNEL_CONFIRM * bp:
            return Verdict(False, f"the blind kernel spans {kp:.0f} px of the {bp:.0f} px blur measured: it does not confirm the blur",
                           {"kernel_px": kp, "blur_px": bp})
    b, a = _luma_crop(before, CHECK_SIDE), _luma_crop(after, CHECK_SIDE)
    if min(b.shape[:2]) < 96:
        return Verdict(True, "not judged (image under 96 x 96)")
    from restora.metrics import niqe

    nb, na = float(niqe(b)), float(niqe(a))
    scores = {"niqe_before": round(nb, 3), "niqe_after": round(na, 3)}
    if name == "deblur":
        from restora.classical.noise_level import estimate_noise_level_function

        sb = float(estimate_noise_level_function(b).sigma_highpass)
        sa = float(estimate_noise_level_function(a).sigma_highpass)
        scores.update(noise_before=round(sb, 2), noise_after=round(sa, 2))
        if sa > DEBLUR_NOISE_GAIN * sb + 2.0:
            return Verdict(False, f"fine-scale noise rose from {sb:.1f} to {sa:.1f} levels (ringing or a wrong kernel)", scores)
    if name in ("denoise", "jpeg"):
        removed = float(np.std((b - a)[:, :, 0]) * 255.0)
        planned = float(params.get("sigma") or 0.0)
        if name == "jpeg" and planned <= 0 and params.get("quality") is not None:
            from restora.pipeline.plan import jpeg_equivalent_sigma

            planned = jpeg_equivalent_sigma(float(params["quality"]))
        scores["removed_std"] = round(removed, 2)
        if planned > 0 and removed > REMOVAL_FACTOR * planned + 2.0:
            return Verdict(False, f"removed {removed:.1f} levels of signal for a planned sigma of {planned:.1f} (texture taken for noise)", scores)
        if deblur_next:
            return Verdict(True, f"removed {removed:.1f} levels before deblurring (NIQE {nb:.2f} -> {na:.2f} not judged on a blurred image)", scores)
        if trusted and name == "jpeg":
            return Verdict(True, f"removed {removed:.1f} levels of JPEG artefacts the quantisation tables prove (NIQE {nb:.2f} -> {na:.2f} not judged)", scores)
    if name == "deblur" and input_niqe is not None and input_niqe < nb and na > input_niqe + DEBLUR_INPUT_NIQE_MARGIN \
            and not (_long_blur(params) and na < nb):
        return Verdict(False, f"NIQE {na:.2f} is above the original input's {input_niqe:.2f} (less natural)", scores)
    if na > nb + (DEBLUR_NIQE_MARGIN if name == "deblur" else NIQE_MARGIN):
        return Verdict(False, f"NIQE rose from {nb:.2f} to {na:.2f} (less natural)", scores)
    return Verdict(True, f"NIQE {nb:.2f} -> {na:.2f}", scores)
