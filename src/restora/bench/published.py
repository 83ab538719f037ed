"""Published reference results: numbers copied from papers, each with its citation.

They are shown in benchmark tables marked as published (never measured here), so a
measured row can be read against the paper it is meant to reproduce. Only numbers taken
from the cited paper's own table are listed; each paper's protocol is the one the
matching task follows (see :mod:`restora.bench.tasks`), but the noise realisations differ,
so measured and published figures of the same method agree to about 0.02 dB, not exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["PublishedResult", "PUBLISHED", "CITATIONS", "published_results"]

DNCNN = (
    "K. Zhang, W. Zuo, Y. Chen, D. Meng, L. Zhang, \"Beyond a Gaussian Denoiser: Residual Learning "
    "of Deep CNN for Image Denoising\", IEEE Trans. Image Processing 26(7), 2017"
)
FFDNET = (
    "K. Zhang, W. Zuo, L. Zhang, \"FFDNet: Toward a Fast and Flexible Solution for CNN-Based "
    "Image Denoising\", IEEE Trans. Image Processing 27(9), 2018"
)
VDSR = (
    "J. Kim, J. K. Lee, K. M. Lee, \"Accurate Image Super-Resolution Using Very Deep "
    "Convolutional Networks\", CVPR 2016"
)
ARCNN = (
    "C. Dong, Y. Deng, C. C. Loy, X. Tang, \"Compression Artifacts Reduction by a Deep "
    "Convolutional Network\", ICCV 2015"
)

#: Short key -> full citation.
CITATIONS: dict[str, str] = {"DnCNN": DNCNN, "FFDNet": FFDNET, "VDSR": VDSR, "ARCNN": ARCNN}


@dataclass(frozen=True)
class PublishedResult:
    """One published mean score of ``method`` on ``dataset`` for ``task``."""

    method: str
    task: str
    dataset: str
    psnr: float
    ssim: float | None
    source: str  # key of CITATIONS
    note: str = ""

    @property
    def citation(self) -> str:
        return CITATIONS[self.source]


def _rows(method: str, tasks: tuple[str, ...], dataset: str, psnrs: tuple[float, ...], source: str,
          ssims: tuple[float | None, ...] | None = None, note: str = "") -> list[PublishedResult]:
    ssims = ssims or (None,) * len(psnrs)
    return [
        PublishedResult(method, t, dataset, p, s, source, note)
        for t, p, s in zip(tasks, psnrs, ssims, strict=True)
    ]


_GRAY = ("denoise-gray-s15", "denoise-gray-s25", "denoise-gray-s50")
_COLOR = ("denoise-color-s15", "denoise-color-s25", "denoise-color-s50")
_SR = ("sr-bicubic-x2", "sr-bicubic-x3", "sr-bicubic-x4")
_JPEG = ("jpeg-q10", "jpeg-q20", "jpeg-q30", "jpeg-q40")
_VDSR_NOTE = "as tabulated in the VDSR paper's benchmark table"

#: Every published row restora knows.
PUBLISHED: tuple[PublishedResult, ...] = tuple(
    # Gray denoising, BSD68: DnCNN paper, table of average PSNR on BSD68.
    _rows("BM3D", _GRAY, "BSD68", (31.07, 28.57, 25.62), "DnCNN")
    + _rows("WNNM", _GRAY, "BSD68", (31.37, 28.83, 25.87), "DnCNN")
    + _rows("TNRD", _GRAY, "BSD68", (31.42, 28.92, 25.97), "DnCNN")
    + _rows("DnCNN-S", _GRAY, "BSD68", (31.73, 29.23, 26.23), "DnCNN")
    + _rows("DnCNN-B", _GRAY, "BSD68", (31.61, 29.16, 26.23), "DnCNN")
    # Gray denoising, Set12 (average row of the DnCNN paper's Set12 table).
    + _rows("BM3D", _GRAY, "Set12", (32.37, 29.97, 26.72), "DnCNN")
    + _rows("DnCNN-S", _GRAY, "Set12", (32.86, 30.44, 27.18), "DnCNN")
    # Colour denoising, CBSD68 (RGB PSNR).
    + _rows("CBM3D", _COLOR, "CBSD68", (33.52, 30.71, 27.38), "DnCNN")
    + _rows("CDnCNN-B", _COLOR, "CBSD68", (33.89, 31.23, 27.92), "DnCNN")
    + _rows("FFDNet", _COLOR, "CBSD68", (33.87, 31.21, 27.96), "FFDNet")
    # Colour denoising, Kodak24 (the FFDNet test set's 500x500 crops): FFDNet paper, colour table.
    + _rows("CBM3D", _COLOR, "Kodak24", (34.28, 31.68, 28.46), "FFDNet")
    + _rows("CDnCNN-B", _COLOR, "Kodak24", (34.48, 32.03, 28.85), "FFDNet")
    + _rows("FFDNet", _COLOR, "Kodak24", (34.63, 32.13, 28.98), "FFDNet")
    # Super-resolution, Y channel, crop = scale.
    + _rows("Bicubic", _SR, "Set5", (33.66, 30.39, 28.42), "VDSR", (0.9299, 0.8682, 0.8104), _VDSR_NOTE)
    + _rows("Bicubic", _SR, "Set14", (30.24, 27.55, 26.00), "VDSR", (0.8688, 0.7742, 0.7027), _VDSR_NOTE)
    + _rows("SRCNN", _SR, "Set5", (36.66, 32.75, 30.48), "VDSR", (0.9542, 0.9090, 0.8628), _VDSR_NOTE)
    + _rows("SRCNN", _SR, "Set14", (32.42, 29.28, 27.49), "VDSR", (0.9063, 0.8209, 0.7503), _VDSR_NOTE)
    + _rows("VDSR", _SR, "Set5", (37.53, 33.66, 31.35), "VDSR", (0.9587, 0.9213, 0.8838))
    + _rows("VDSR", _SR, "Set14", (33.03, 29.77, 28.01), "VDSR", (0.9124, 0.8314, 0.7674))
    # JPEG artefact removal, gray/Y. "JPEG" is the decoded input itself (restora's "input").
    + _rows("JPEG", _JPEG, "LIVE1", (27.77, 30.07, 31.41, 32.35), "DnCNN")
    + _rows("JPEG", _JPEG, "classic5", (27.82, 30.12, 31.48, 32.43), "DnCNN")
    + _rows("DnCNN-3", _JPEG, "LIVE1", (29.19, 31.59, 32.98, 33.96), "DnCNN")
    + _rows("DnCNN-3", _JPEG, "classic5", (29.40, 31.63, 32.91, 33.77), "DnCNN")
    + _rows("ARCNN", _JPEG, "LIVE1", (28.98, 31.29, 32.69, 33.63), "ARCNN")
)


def published_results(task: str, datasets: list[str] | tuple[str, ...] | None = None) -> list[PublishedResult]:
    """Published rows for ``task`` (and, if given, only for ``datasets``), in catalogue order."""
    return [r for r in PUBLISHED if r.task == task and (datasets is None or r.dataset in datasets)]
