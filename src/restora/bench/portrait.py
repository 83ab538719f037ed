"""The ``portrait-pattern-noise`` task (issue 18): portraits under strong repetitive-pattern
noise, the three-stage portrait restorer against the MPRNet-style baseline.

Inputs: every clean test face gets :func:`restora.degrade.pattern.pattern_noise` (seeded per
image by :func:`~restora.bench.tasks.image_rng`), calibrated so that the 8-bit input's SSIM
against the clean image is at most :data:`PORTRAIT_MAX_INPUT_SSIM` (0.5); the harness
checks it again on every image (:func:`check_input`) and refuses a weaker input. The record
holds ``input_ssim``. Scores: RGB PSNR/SSIM of the 8-bit output, no border crop.

Methods (:data:`PORTRAIT_METHODS`): ``input`` (the degraded image itself), ``multistage``
(the baseline: zoo model ``portrait-multistage``, recipe
``configs/cpu/portrait/multistage.yaml``), ``portrait-3stage`` (zoo model
``portrait-3stage``, run by :class:`restora.faces.PortraitRestorer`: MTCNN on the step-1
image, then steps 2-3) and the ablations ``portrait-3stage-noface`` (trained without step 2),
``portrait-3stage-nosam`` (step 3 without the SAM features), ``portrait-3stage-cab4`` (4
CABs per ORB instead of 8), each from the zoo model of the same name. ``+default-box``
after a 3-stage name uses the aligned-face default box instead of the detector. A model
not yet trained raises :class:`MissingResourceError` naming its recipe.

``comparison_figure`` draws the issue's figure (input / baseline / 3-stage / clean, the
detected face box on the 3-stage panel).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from restora.bench.methods import BenchMethod
from restora.bench.tasks import TASKS, BenchTask, Scoring
from restora.errors import MissingResourceError, RestoraError

__all__ = [
    "PORTRAIT_TASK",
    "PORTRAIT_MAX_INPUT_SSIM",
    "PORTRAIT_MODELS",
    "PORTRAIT_METHODS",
    "check_input",
    "load_portrait_model",
    "portrait_tasks",
    "comparison_figure",
]

PORTRAIT_TASK = "portrait-pattern-noise"
#: Every input must be at least this damaged (SSIM against the clean image, 8-bit, RGB).
PORTRAIT_MAX_INPUT_SSIM = 0.5
_RECIPES = "configs/cpu/portrait"
#: bench method -> (zoo model name, recipe that trains it, runs as the 3-stage system)
PORTRAIT_MODELS: dict[str, tuple[str, str, bool]] = {
    "multistage": ("portrait-multistage", f"{_RECIPES}/multistage.yaml", False),
    "portrait-3stage": ("portrait-3stage", f"{_RECIPES}/portrait-3stage-gated.yaml", True),  # the shipped one
    "portrait-3stage-noface": ("portrait-3stage-noface", f"{_RECIPES}/ablation-noface.yaml", True),
    "portrait-3stage-nosam": ("portrait-3stage-nosam", f"{_RECIPES}/ablation-nosam.yaml", True),
    "portrait-3stage-cab4": ("portrait-3stage-cab4", f"{_RECIPES}/ablation-cab4.yaml", True),
}
DEFAULT_BOX_SUFFIX = "+default-box"


def check_input(degraded: np.ndarray, reference: np.ndarray, limit: float = PORTRAIT_MAX_INPUT_SSIM) -> float:
    """SSIM of the 8-bit input against the reference (RGB, no crop, as the task scores);
    raises :class:`RestoraError` when it is above ``limit``."""
    from restora.metrics import ssim

    s = float(ssim(degraded, reference, round_to_uint8=True))
    if s > limit:
        raise RestoraError(f"{PORTRAIT_TASK}: input SSIM {s:.4f} is above {limit} (the task needs heavily damaged inputs)")
    return s


def _degrade(ref: np.ndarray, rng: np.random.Generator):
    from restora.degrade.pattern import pattern_noise

    out = pattern_noise(ref, rng, target_ssim=PORTRAIT_MAX_INPUT_SSIM)
    record = dict(out.record)
    record["input_ssim"] = check_input(out.image, ref)
    return out.image, {}, record


def _identity(image: np.ndarray) -> np.ndarray:
    return image


def load_portrait_model(method: str) -> Any:
    """The zoo model behind bench ``method`` (:data:`PORTRAIT_MODELS`); a clear
    :class:`MissingResourceError` naming the recipe when it is not trained/installed yet."""
    from restora import zoo

    name, recipe, _ = PORTRAIT_MODELS[method]
    try:
        return zoo.load(name)
    except MissingResourceError:
        raise MissingResourceError(
            f"method {method!r}: model {name!r} is not trained yet (or not installed): restora train {recipe} "
            f"-o runs/{name}, then restora models install runs/{name}/{name}.safetensors"
        ) from None


def _factory(method: str, detector: str = "mtcnn") -> Callable[[str | None], BenchMethod]:
    def build(device: str | None) -> BenchMethod:
        loaded = load_portrait_model(method)
        system = PORTRAIT_MODELS[method][2]
        if system:
            from restora.faces.restorer import PortraitRestorer

            restorer: Any = PortraitRestorer(loaded, device=device or "cpu", detector=detector)
        else:
            from restora.zoo.restorers import NeuralRestorer

            restorer = NeuralRestorer(loaded, device=device or "auto", dtype="float32", tile=None)
        name = method + (DEFAULT_BOX_SUFFIX if detector == "default" else "")
        return BenchMethod(name=name, restorer=restorer, kind="neural", source="weights", params=restorer.params,
                           flops_per_pixel=None,
                           description=loaded.card.description or loaded.card.arch)

    return build


#: The task's methods (``input`` is the harness's built-in).
PORTRAIT_METHODS: dict[str, Callable[[str | None], BenchMethod]] = {m: _factory(m) for m in PORTRAIT_MODELS}
PORTRAIT_METHODS.update({m + DEFAULT_BOX_SUFFIX: _factory(m, "default") for m, v in PORTRAIT_MODELS.items() if v[2]})


def portrait_tasks() -> list[BenchTask]:
    """The tasks of this module (added to :data:`restora.bench.tasks.TASKS` when this module
    is imported, which ``restora.bench.tasks`` does)."""
    return [
        BenchTask(
            name=PORTRAIT_TASK,
            kind="restore",
            description="portraits under strong repetitive-pattern noise (stripes/moire/halftone/screen door, low light, "
            "Poisson-Gaussian; restora.degrade.pattern), every input SSIM <= 0.5 (checked); methods input, multistage, "
            "portrait-3stage and its ablations; RGB PSNR/SSIM on 8-bit output",
            datasets=("Faces",),
            default_datasets=("Faces",),
            channels="color",
            prepare=_identity,
            degrade=_degrade,
            scoring=Scoring(crop=0, y_channel=False, round_to_uint8=True),
            parameters={"max_input_ssim": PORTRAIT_MAX_INPUT_SSIM, "degradation": "pattern_noise"},
            methods=PORTRAIT_METHODS,
        )
    ]


def comparison_figure(rows: Sequence[Sequence[tuple[str, np.ndarray]]], path: str | Path, *,
                      boxes: Sequence[Sequence[Sequence[float]]] = (), box_panels: Sequence[int] = (), dpi: int = 100) -> Path:
    """Save a grid of labelled images to ``path`` (PNG): one row per face, e.g. input /
    multistage / 3-stage / clean, drawing ``boxes[r]`` (``x1, y1, x2, y2``, the faces detected
    in row ``r``) on the panels whose column indices are in ``box_panels``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    n = max(len(r) for r in rows)
    fig, axes = plt.subplots(len(rows), n, figsize=(3 * n, 3.3 * len(rows)), squeeze=False)
    for r, panels in enumerate(rows):
        for i, (title, img) in enumerate(panels):
            ax = axes[r, i]
            im = np.clip(np.asarray(img, np.float32), 0, 1)
            ax.imshow(im[:, :, 0] if im.shape[2] == 1 else im, cmap="gray" if im.shape[2] == 1 else None, vmin=0, vmax=1)
            ax.set_title(title, fontsize=9)
            if i in box_panels and r < len(boxes):
                for x1, y1, x2, y2 in boxes[r]:
                    ax.add_patch(Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, edgecolor="lime", linewidth=1.5))
        for ax in axes[r]:
            ax.axis("off")
    fig.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=dpi)
    plt.close(fig)
    return out


TASKS.update({t.name: t for t in portrait_tasks()})
