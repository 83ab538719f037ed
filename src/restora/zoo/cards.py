"""Model cards: the JSON that travels with every weights file."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from restora.errors import ConfigError


@dataclass
class ModelCard:
    """What a weights file is, how it was made and how well it does.

    ``scores`` maps a benchmark key (e.g. ``"denoise-gray-s25/BSD68"``) to metric values
    measured by ``restora bench``; ``training`` records data, recipe, steps, seed and hardware.
    """

    name: str
    arch: str
    args: dict[str, Any]
    task: str
    description: str = ""
    scale: int = 1
    channels: int = 3
    noise_range: list[float] | None = None  # sigma (8-bit levels) the model was trained on
    quality_range: list[int] | None = None  # JPEG qualities the model was trained on
    #: pre-upsampling SR (SRCNN, VDSR): the network runs at output resolution on the image
    #: upscaled by ``scale`` with MATLAB's bicubic first; ``scale`` is the factor it was trained for
    input_upsampled: bool = False
    training: dict[str, Any] = field(default_factory=dict)
    scores: dict[str, dict[str, float]] = field(default_factory=dict)
    sha256: str = ""
    license: str = "Apache-2.0"
    format_version: int = 1

    def _recipe_data(self) -> dict[str, Any]:
        """The ``data`` section of the recorded training recipe ({} when absent)."""
        recipe = (self.training or {}).get("recipe") or {}
        data = recipe.get("data") or {}
        return data if isinstance(data, dict) else {}

    @property
    def degradation(self) -> str | None:
        """The training degradation type from the recorded recipe (``"bicubic"``,
        ``"realesrgan"``, ``"gaussian"``...), or None when the card does not say."""
        deg = self._recipe_data().get("degradation") or {}
        return deg.get("type") if isinstance(deg, dict) else None

    @property
    def real_world(self) -> bool:
        """Trained on a synthetic real-world pipeline (Real-ESRGAN / BSRGAN / camera noise)."""
        return self.degradation in ("realesrgan", "bsrgan", "camera")

    @property
    def color_split(self) -> str:
        """``"opponent"`` for a 1-channel model trained on the opponent-colour channels of
        colour images (made for colour input), else ``"none"``; from the recorded recipe."""
        return str(self._recipe_data().get("color_split") or "none")

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=False) + "\n"

    @classmethod
    def from_json(cls, text: str, source: str = "model card") -> "ModelCard":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{source} is not valid JSON: {exc.msg} (line {exc.lineno})") from None
        missing = [k for k in ("name", "arch", "args", "task") if k not in data]
        if missing:
            raise ConfigError(f"{source} lacks required field(s): {', '.join(missing)}")
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> "ModelCard":
        p = Path(path)
        try:
            return cls.from_json(p.read_text(), source=str(p))
        except OSError as exc:
            raise ConfigError(f"cannot read model card {p}: {exc.strerror}") from None
