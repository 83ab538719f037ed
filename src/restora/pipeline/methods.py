"""Choosing the best available method for each step.

A zoo model wins when one fits (its model card's task, scale, noise or quality range and
channels); otherwise the strongest classical method whose expected run time fits the time
budget. Each choice comes with a sentence saying why.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from restora.errors import InvalidParameterError

__all__ = [
    "CLASSICAL_COST",
    "CLASSICAL_PREFERENCE",
    "Choice",
    "classical_choice",
    "model_card",
    "neural_choice",
    "upscale_passes",
]

#: Classical methods per step, strongest first. ``jpeg`` falls back on denoisers run with the
#: noise sigma equivalent to the JPEG quality (see :func:`restora.pipeline.plan.jpeg_equivalent_sigma`).
CLASSICAL_PREFERENCE: dict[str, tuple[str, ...]] = {
    "denoise": ("collaborative-wiener", "nlm", "tv", "bilateral", "gaussian"),
    "jpeg": ("collaborative-wiener", "nlm", "tv", "bilateral", "gaussian"),
    "deblur": ("map-hyper-laplacian", "map-tv", "wiener"),
    "upscale": ("patch-sr", "bicubic"),
    "dehaze": ("dark-channel",),
    "exposure": ("lime", "clahe"),
}

#: Approximate CPU seconds per megapixel of input (colour), used to keep the classical choice
#: within the time budget. Measured on the project's shared 2-core machine under load
#: (``python benchmarks/bench_batch.py --costs``); rough (a factor of 2 either way), good
#: enough to rank methods and to predict whether a method fits the budget.
CLASSICAL_COST: dict[str, float] = {
    "collaborative-wiener": 450.0,
    "nlm": 5.5,
    "wavelet": 15.0,
    "tv": 1.6,
    "bilateral": 0.4,
    "gaussian": 0.05,
    "map-hyper-laplacian": 22.0,
    "map-tv": 22.0,
    "wiener": 1.5,
    "patch-sr": 10.0,  # per input megapixel and per unit of scale^2
    "bicubic": 1.3,  # per input megapixel and per unit of scale^2
    "dark-channel": 0.5,
    "lime": 0.5,
    "clahe": 0.1,
}

#: Integer factors the classical upscalers provide per pass (None: any factor in one pass).
CLASSICAL_SCALES: dict[str, tuple[int, ...] | None] = {
    "patch-sr": (2, 3, 4),
    "bicubic": None,
    "lanczos": None,
    "bilinear": None,
    "nearest": None,
}


@dataclass(frozen=True)
class Choice:
    """A chosen method, its family and why it was chosen."""

    method: str
    kind: str  # "neural" | "classical" | "forced"
    why: str
    scales: tuple[int, ...] | None = None  # upscalers: factors available per pass
    #: denoise / jpeg: the next zoo model that fits as well but scores lower; the run tries it
    #: when the never-worse check drops the first one's result
    runner_up: str | None = None


def model_card(name: str) -> Any | None:
    """The zoo :class:`~restora.zoo.ModelCard` called ``name``, or None."""
    from restora import zoo

    return next((c for c in zoo.list_models() if c.name == name), None)


#: The plug-and-play deblurring method and its denoiser prior. With a *known* kernel it beats
#: MAP; on a blindly estimated kernel it amplifies the estimate's errors (Levin: 26.98 dB vs
#: 28.19 for MAP at sigma >= 3 on the same kind of estimate), so ``restore``'s blind deblur
#: step keeps MAP; a forced ``pnp-drunet`` still gets the estimated kernel.
PNP_DEBLUR = "pnp-drunet"
PNP_PRIOR = "drunet-gray"


def _neural_cards(task: str) -> list[Any]:
    from restora.restorers import list_restorers

    infos = [i for i in list_restorers(task) if i.kind == "neural"]
    cards = [model_card(i.name) for i in infos]
    return [c for c in cards if c is not None]


def _channels_ok(card: Any, channels: int, step: str = "") -> int:
    """2: made for it; 1: usable (gray model per channel / colour model on gray). A gray
    model trained on opponent-colour channels is made for colour images, and so is a gray
    denoiser whose card holds a measured colour score (it ran on CBSD68's opponent channels
    and was scored there), so that the measured scores decide between them."""
    if getattr(card, "color_split", "none") == "opponent":
        return 2 if channels == 3 else 1
    if step == "denoise" and channels == 3 and int(card.channels) == 1 and _measured_quality(card, step, 3) > -math.inf:
        return 2
    return 2 if int(card.channels) == channels else 1


def _measured_quality(card: Any, step: str, channels: int) -> float:
    """The card's own blind PSNR on the step's standard benchmark at a middle level
    (``denoise-{gray,color}-s25+blind`` on BSD68 / CBSD68; ``jpeg-q20`` on LIVE1), the last
    tie-break between models that fit equally well; -inf when the card has no such score."""
    keys = {
        "denoise": ("denoise-color-s25+blind/CBSD68",) if channels == 3 else ("denoise-gray-s25+blind/BSD68",),
        "jpeg": ("jpeg-q20/LIVE1",),
    }.get(step, ())
    scores = getattr(card, "scores", None) or {}
    for key in keys:
        value = (scores.get(key) or {}).get("psnr")
        if value is not None:
            return float(value)
    return -math.inf


def _in_range(value: float | None, rng: list[float] | None, slack: float = 0.1) -> bool | None:
    if value is None or rng is None or len(rng) != 2:
        return None
    lo, hi = float(rng[0]), float(rng[1])
    return lo - slack * abs(lo) <= value <= hi + slack * abs(hi)


def neural_choice(
    step: str,
    *,
    channels: int,
    sigma: float | None = None,
    quality: float | None = None,
    factor: float | None = None,
    real_world: bool = False,
) -> Choice | None:
    """The best zoo model for ``step`` given the measured condition, or None.

    Denoise models must cover ``sigma`` with their card's ``noise_range`` (a card without a
    range is accepted as blind, ranked after covering ones); JPEG models must cover
    ``quality`` with ``quality_range``; upscalers are ranked by how close their scale is to
    ``factor`` (the smallest scale >= factor first). A model with the image's channel count
    is preferred to one run per channel; between models that fit equally, the one whose card
    scores best on the step's standard benchmark wins (name order last). ``real_world``: the image carries real-world damage
    (camera-like noise for ``denoise``; a camera's JPEG for ``jpeg``; noise, JPEG or blur for
    ``upscale``), so a model trained on real-world degradations (card ``degradation``
    camera/realesrgan/bsrgan) is preferred to one for clean synthetic input.
    """
    from restora.pipeline.plan import STEP_TASKS

    cards = _neural_cards(STEP_TASKS[step])
    ranked: list[tuple[tuple, Any, str]] = []
    for c in cards:
        ch = _channels_ok(c, channels, step)
        if step == "denoise":
            ok = _in_range(sigma, c.noise_range)
            if ok is False:
                continue
            cover = f"trained on sigma {c.noise_range[0]:g}-{c.noise_range[1]:g}" if c.noise_range else "blind"
            q = _measured_quality(c, step, channels)
            if real_world:  # camera-like noise measured: a real-camera model first
                ranked.append(((c.real_world, ok is not False, ch, q), c, cover + (", real-camera noise" if c.real_world else "")))
            else:  # Gaussian/Poisson noise measured: the Gaussian models first
                ranked.append(((ok is True, not c.real_world, ch, q), c, cover))
        elif step == "jpeg":
            ok = _in_range(quality, c.quality_range)
            if ok is False:
                continue
            cover = f"trained on quality {c.quality_range[0]}-{c.quality_range[1]}" if c.quality_range else "blind"
            if c.real_world:
                cover += ", camera noise under the JPEG"
            # a camera JPEG: a model trained on sensor noise under the JPEG first; a clean one:
            # the libjpeg-trained model first (among those covering the quality)
            ranked.append(((ok is True, c.real_world == real_world, ch, _measured_quality(c, step, channels)), c, cover))
        elif step == "upscale":
            s = int(c.scale)
            if s < 2:
                continue
            f = 1.0 if factor is None else factor
            fits = s >= f - 1e-9
            # prefer: covers the factor, then the smallest such scale (least final shrink), then a
            # model for clean (bicubic) input over a real-world one on a clean image (the
            # real-world one smooths what it takes for noise) and the other way round on a
            # damaged one (a clean-input model blows noise and JPEG up into blobs), then channels
            # (the lecture's pre-upsampling classics, SRCNN / VDSR, only when nothing else fits)
            key = (fits, -s if fits else s, c.real_world if real_world else not c.real_world, not c.input_upsampled, ch)
            ranked.append((key, c, f"x{s} {'real-world ' if c.real_world else ''}model"))
        else:
            ranked.append(((ch,), c, c.description or c.arch))
    if not ranked:
        return None
    ranked.sort(key=lambda r: r[1].name)
    ranked.sort(key=lambda r: r[0], reverse=True)  # stable: ties stay in name order
    key, card, cover = ranked[0]
    scales = (int(card.scale),) if step == "upscale" else None
    runner_up = None
    if step == "denoise":  # keys end with the measured score: same fit, lower score
        runner_up = next((c.name for k, c, _ in ranked[1:] if k[:-1] == key[:-1]), None)
    elif step == "jpeg":  # the next model covering the quality as well (camera-trained or not)
        runner_up = next((c.name for k, c, _ in ranked[1:] if k[0] == key[0] and k[2] == key[2]), None)
    return Choice(card.name, "neural", f"zoo model {card.name} ({cover})", scales, runner_up)


def classical_choice(step: str, *, pixels: int, budget: float | None, device: str = "cpu") -> Choice:
    """The strongest registered classical method for ``step`` whose expected time on
    ``pixels`` input pixels fits ``budget`` seconds (None: no limit); the fastest if none fits."""
    from restora.restorers import get_restorer_info

    available = []
    for name in CLASSICAL_PREFERENCE[step]:
        try:
            get_restorer_info(name)
        except InvalidParameterError:
            continue
        available.append(name)
    if not available:
        raise InvalidParameterError(f"no method is registered for step {step!r}")
    mp = pixels / 1e6
    best = available[0]
    for name in available:
        cost = CLASSICAL_COST.get(name, 0.0) * mp
        if device.startswith("cuda") and name == "collaborative-wiener":
            cost /= 30.0  # vectorised torch: runs on the GPU
        if budget is None or cost <= budget:
            if name == available[0]:
                return Choice(name, "classical", f"{name}: the strongest classical method", CLASSICAL_SCALES.get(name))
            return Choice(
                name,
                "classical",
                f"{name}: the strongest classical method expected within the {budget:.0f} s budget "
                f"({available[0]} would take ~{_eta(available[0], mp, device)})",
                CLASSICAL_SCALES.get(name),
            )
        best = name
    return Choice(best, "classical", f"{best}: the fastest classical method (even it may exceed the {budget:.0f} s budget)", CLASSICAL_SCALES.get(best))


def _eta(name: str, mp: float, device: str) -> str:
    cost = CLASSICAL_COST.get(name, 0.0) * mp
    if device.startswith("cuda") and name == "collaborative-wiener":
        cost /= 30.0
    return f"{cost / 60:.0f} min" if cost >= 120 else f"{cost:.0f} s"


def upscale_passes(factor: float, scales: tuple[int, ...] | None, *, max_passes: int = 3) -> list[int]:
    """Integer passes whose product is the smallest available >= ``factor`` (``[]`` when the
    method resizes to any size in one go, or ``factor <= 1``).

    With scales (2, 4) and factor 3 -> [4] (then a final shrink to the exact size); factor 8
    -> [4, 2]; factor 16 -> [4, 4].
    """
    if scales is None or factor <= 1 + 1e-9:
        return []
    scales = tuple(sorted(set(int(s) for s in scales if int(s) >= 2)))
    if not scales:
        return []
    passes: list[int] = []
    remaining = factor
    while remaining > 1 + 1e-9 and len(passes) < max_passes:
        fit = [s for s in scales if s >= remaining - 1e-9]
        s = fit[0] if fit else scales[-1]
        passes.append(s)
        remaining /= s
    if remaining > 1 + 1e-9:
        raise InvalidParameterError(
            f"scale {factor:g} needs more than {max_passes} passes of x{scales[-1]}; ask for a smaller scale"
        )
    return passes


def total_factor(h: int, w: int, target: tuple[int, int]) -> float:
    """The enlargement factor needed to reach ``target = (height, width)`` (the larger axis)."""
    th, tw = target
    return max(th / h, tw / w)


def check_positive_size(target: Any) -> tuple[int, int]:
    """``(width, height)`` validated as two positive integers."""
    try:
        w, h = (int(v) for v in target)
    except (TypeError, ValueError):
        raise InvalidParameterError(f"target_size must be (width, height) of positive integers; got {target!r}") from None
    if w < 1 or h < 1 or not math.isfinite(w * h):
        raise InvalidParameterError(f"target_size must be (width, height) of positive integers; got {target!r}")
    return w, h
