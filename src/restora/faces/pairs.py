"""Training pairs for the portrait restorer (issue 18), written to folders that
``restora train`` reads as paired data (``data.train: DIR/hq``, ``data.lq: DIR/lq``,
``degradation: {type: none}``), until the trainer has a ``pattern`` degradation of its own.

Each of ``variants`` copies of every face is augmented (:func:`augment_face`: flip,
small affine, colour, crop), optionally pasted into a CBSD432 scene (``scene_share``;
:func:`paste_face`), resized to ``size`` and degraded by
:func:`restora.degrade.pattern.pattern_noise` (SSIM <= 0.5 by calibration). Pairs are
8-bit PNGs named ``<face stem>_v<k>``; ``pairs.jsonl`` records every draw (augmentation,
scene, degradation). Everything is seeded by ``(seed, face index, k)``.

``python -m restora.faces.pairs OUT_DIR [--faces train/Faces] [--variants 4] [--size 128]
[--scene-share 0] [--seed 0]``. Face images are research-only (see the data README):
models trained on them must say so on their card.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from restora.degrade.pattern import pattern_noise
from restora.degrade.record import jsonable
from restora.errors import InvalidParameterError
from restora.faces.scenes import augment_face, paste_face

__all__ = ["make_pair", "write_training_pairs"]


def make_pair(face: np.ndarray, rng: np.random.Generator, *, size: int = 128, background: np.ndarray | None = None,
              **pattern_options: Any) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """One ``(clean, degraded, record)`` pair from an aligned ``face``: augmented, pasted
    into ``background`` when given, resized to ``size`` x ``size``, pattern noise."""
    img, aug = augment_face(face, rng)
    record: dict[str, Any] = {"augment": aug}
    if background is not None:
        img, paste = paste_face(img, background, rng, size=max(size, 2 * size))
        record["scene"] = paste
    if img.shape[0] != size or img.shape[1] != size:
        f = size / img.shape[0]
        img = cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA if size < img.shape[0] else cv2.INTER_CUBIC)
        img = img[:, :, None] if img.ndim == 2 else img
        if "scene" in record:
            record["scene"]["face_region"] = [round(v * f, 2) for v in record["scene"]["face_region"]]
    clean = (np.floor(np.clip(img, 0, 1) * 255 + 0.5) / 255).astype(np.float32)
    deg = pattern_noise(clean, rng, **pattern_options)
    record["degradation"] = deg.record
    return clean, deg.image, jsonable(record)


def _write_png(path: Path, img: np.ndarray) -> None:
    u8 = (np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8)
    if u8.shape[2] == 3:
        u8 = cv2.cvtColor(u8, cv2.COLOR_RGB2BGR)
    if not cv2.imwrite(str(path), u8):
        raise OSError(f"cannot write {path}")


def write_training_pairs(out_dir: str | Path, *, faces: str = "train/Faces", backgrounds: str = "train/CBSD432", variants: int = 4,
                         size: int = 128, scene_share: float = 0.0, seed: int = 0, limit: int | None = None) -> dict[str, Any]:
    """Write ``out_dir/hq``, ``out_dir/lq`` and ``out_dir/pairs.jsonl`` (see the module
    docstring); ``faces``/``backgrounds`` are dataset names or folders. Returns a summary
    (count, input SSIM range). Existing files of the same names are replaced."""
    from restora.data import dataset_images, list_images
    from restora.io import read_image

    def images(spec: str) -> list[Path]:
        p = Path(spec)
        return list_images(p) if p.is_dir() else dataset_images(spec)

    if variants < 1 or size < 16 or not 0 <= scene_share <= 1:
        raise InvalidParameterError("variants must be >= 1, size >= 16 and scene_share in [0, 1]")
    face_files = images(faces)[:limit] if limit else images(faces)
    bg_files = images(backgrounds) if scene_share > 0 else []
    out = Path(out_dir)
    (out / "hq").mkdir(parents=True, exist_ok=True)
    (out / "lq").mkdir(parents=True, exist_ok=True)
    scores = []
    with open(out / "pairs.jsonl", "w") as log:
        for i, f in enumerate(face_files):
            face = np.asarray(read_image(f), np.float32)
            face = face[:, :, :3] if face.ndim == 3 else face[:, :, None]
            for k in range(variants):
                rng = np.random.default_rng([int(seed), i, k])
                bg = None
                if bg_files and rng.random() < scene_share:
                    bg = np.asarray(read_image(bg_files[int(rng.integers(0, len(bg_files)))]), np.float32)[:, :, : face.shape[2]]
                clean, deg, rec = make_pair(face, rng, size=size, background=bg)
                name = f"{f.stem}_v{k}"
                _write_png(out / "hq" / f"{name}.png", clean)
                _write_png(out / "lq" / f"{name}.png", deg)
                scores.append(rec["degradation"]["calibration"]["ssim"])
                log.write(json.dumps({"name": name, "source": f.name, **rec}) + "\n")
    return {"pairs": len(scores), "out": str(out), "input_ssim_min": float(min(scores)), "input_ssim_max": float(max(scores)),
            "input_ssim_mean": float(np.mean(scores))}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m restora.faces.pairs", description=__doc__.split("\n\n")[0])
    ap.add_argument("out_dir")
    ap.add_argument("--faces", default="train/Faces")
    ap.add_argument("--backgrounds", default="train/CBSD432")
    ap.add_argument("--variants", type=int, default=4)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--scene-share", type=float, default=0.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--limit", type=int, default=None)
    a = ap.parse_args(argv)
    summary = write_training_pairs(a.out_dir, faces=a.faces, backgrounds=a.backgrounds, variants=a.variants, size=a.size,
                                   scene_share=a.scene_share, seed=a.seed, limit=a.limit)
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
