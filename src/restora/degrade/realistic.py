"""Seeded realistic damage chains: what a photo goes through before someone asks restora
to fix it, with a record exact enough to build the ideal ("oracle") restoration from.

A chain is 1-3 damages drawn from three families, applied in the physical order
**blur -> (downscale) -> noise -> JPEG**, at most one of each family, and the result is
written as an 8-bit image (clipped and rounded, as a file would be):

* blur: ``motion_blur`` (a real camera-shake kernel from ``kernels/motion32/*.npy`` under
  the data root, :func:`motion_kernel_bank`; when that folder is absent, a generated
  :func:`restora.degrade.kernels.motion_kernel`) or ``defocus_blur``
  (:func:`~restora.degrade.kernels.defocus_kernel`, radius 1-4 px); mirrored borders;
* noise: ``gaussian_noise`` (sigma 5-50, 8-bit levels), ``poisson_noise`` (peak 10-300
  photons, log-uniform, clipped) or ``camera_noise`` (the ISP of :mod:`restora.degrade.isp`
  at ISO 400-6400, see :data:`CAMERA_ISOS`);
* ``jpeg``: quality 20-90, 4:2:0 chroma subsampling (80 %) or 4:4:4;
* ``downscale`` (x2 or x4, MATLAB bicubic) only with ``downscale=True``.

A share ``clean_share`` (default 10 %) of draws applies nothing: a restorer must leave
those images (nearly) unchanged.

**Downscaling is out of the default chain.** A restorer given a low-resolution image has
no way to know the size it is scored at, so a PSNR task would either measure a guess or
have to hand every method the true ``scale``. The default chain therefore keeps the size;
``downscale=True`` adds the family (the record's ``scale`` then says by how much, the
target is the high-resolution image cropped to a multiple of it, and a benchmark must give
every method, the automatic one included, that same ``scale``).

The record (JSON-serialisable, see :func:`draw_damage`) lists every step with its concrete
parameters and the integer seed it ran with; :func:`apply_damage` replays a record bit for
bit, and after applying it also holds what the steps measured or drew on the image: the
kernel itself (``kernel``, a nested list), the RMS of the noise actually added
(``rms_sigma``, 8-bit levels) and, for camera noise, the camera (``camera``: colour matrix
and gains), from which :func:`damage_target` rebuilds the reference: the noise-free output
of the same camera pipeline (a camera never renders a scene without its ISP, so camera
noise is scored against the ISP's noise-free output, as in the ``denoise-camera`` task).

>>> from restora.degrade.realistic import random_damage
>>> out = random_damage(image, rng=7)          # doctest: +SKIP
>>> out.record["kinds"]                        # doctest: +SKIP
['motion_blur', 'jpeg']
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from restora.degrade.record import Degraded, jsonable
from restora.errors import InvalidParameterError, MissingResourceError
from restora.rng import RngLike, as_generator, child_seed
from restora.validation import as_image, check_range

__all__ = [
    "DAMAGE_KINDS",
    "DAMAGE_FAMILIES",
    "CHAIN_ORDER",
    "CAMERA_ISOS",
    "SHOT_PER_ISO",
    "motion_kernel_bank",
    "load_bank_kernel",
    "camera_shot_read",
    "draw_damage",
    "apply_damage",
    "random_damage",
    "damage_target",
    "damage_kinds",
    "damage_label",
]

#: Damage kind -> family. At most one kind per family is drawn.
DAMAGE_FAMILIES: dict[str, str] = {
    "motion_blur": "blur",
    "defocus_blur": "blur",
    "downscale": "downscale",
    "gaussian_noise": "noise",
    "poisson_noise": "noise",
    "camera_noise": "noise",
    "jpeg": "jpeg",
}
#: All damage kinds.
DAMAGE_KINDS: tuple[str, ...] = tuple(DAMAGE_FAMILIES)
#: The order families are applied in (the physical order: optics, sampling, sensor, file).
CHAIN_ORDER: tuple[str, ...] = ("blur", "downscale", "noise", "jpeg")
#: ISO settings of the camera-noise damage.
CAMERA_ISOS: tuple[int, ...] = (400, 800, 1600, 3200, 6400)
#: Shot-noise level (value of one photo-electron, raw [0, 1] units) per ISO step: ISO 6400
#: gives 9.6e-3, near the top of :func:`restora.degrade.isp.random_noise_levels`' range.
SHOT_PER_ISO = 1.5e-6

_KIND_WEIGHTS = {
    "blur": (("motion_blur", 0.6), ("defocus_blur", 0.4)),
    "noise": (("gaussian_noise", 0.4), ("poisson_noise", 0.3), ("camera_noise", 0.3)),
    "jpeg": (("jpeg", 1.0),),
    "downscale": (("downscale", 1.0),),
}
_N_STEPS_P = (0.45, 0.35, 0.2)  # 1, 2, 3 damages
_FALLBACK_MOTION_SIZES = (13, 27)  # generated kernels when the bank is absent: odd sizes in this range


def motion_kernel_bank() -> list[Path]:
    """The real camera-shake kernels (``kernels/motion32/*.npy`` under
    :func:`restora.data.data_root`), sorted by name; empty when the folder is absent."""
    from restora.data import data_root

    folder = data_root() / "kernels" / "motion32"
    if not folder.is_dir():
        return []
    return sorted(folder.glob("*.npy"))


def load_bank_kernel(name: str) -> np.ndarray:
    """The bank kernel called ``name`` (e.g. ``"m_07.npy"``), float64, normalised to sum 1."""
    for path in motion_kernel_bank():
        if path.name == name:
            k = np.asarray(np.load(path, allow_pickle=False), dtype=np.float64)
            return k / k.sum()
    raise MissingResourceError(f"motion kernel {name!r} not found in the kernel bank (kernels/motion32 under the data root)")


def camera_shot_read(iso: int, seed: int) -> tuple[float, float]:
    """``(shot, read)`` sensor noise levels at ``iso``: shot = ``SHOT_PER_ISO * iso``, read
    from the log-linear relation of real sensors (:func:`restora.degrade.isp.read_noise_for_shot`)."""
    from restora.degrade.isp import read_noise_for_shot

    shot = SHOT_PER_ISO * float(iso)
    return shot, float(read_noise_for_shot(np.random.default_rng(seed), shot))


def _draw_step(kind: str, gen: np.random.Generator, bank: list[Path], scales: tuple[int, ...]) -> dict[str, Any]:
    step: dict[str, Any] = {"kind": kind}
    if kind == "motion_blur":
        if bank:
            step["kernel_name"] = bank[int(gen.integers(len(bank)))].name
            step["source"] = "kernels/motion32"
        else:
            lo, hi = _FALLBACK_MOTION_SIZES
            step["kernel_name"] = None
            step["source"] = "generated"
            step["size"] = int(gen.choice(np.arange(lo, hi + 1, 2)))
    elif kind == "defocus_blur":
        step["radius"] = round(float(gen.uniform(1.0, 4.0)), 3)
    elif kind == "downscale":
        step["scale"] = int(gen.choice(scales))
        step["method"] = "bicubic"
    elif kind == "gaussian_noise":
        step["sigma"] = round(float(gen.uniform(5.0, 50.0)), 3)
    elif kind == "poisson_noise":
        step["peak"] = round(math.exp(float(gen.uniform(math.log(10.0), math.log(300.0)))), 3)
        step["clip"] = True
    elif kind == "camera_noise":
        step["iso"] = int(gen.choice(CAMERA_ISOS))
    elif kind == "jpeg":
        step["quality"] = int(gen.integers(20, 91))
        step["chroma_subsampling"] = "4:2:0" if gen.random() < 0.8 else "4:4:4"
    else:  # pragma: no cover - kinds come from the tables above
        raise InvalidParameterError(f"unknown damage kind {kind!r}; valid: {', '.join(DAMAGE_KINDS)}")
    step["seed"] = child_seed(gen)
    return step


def draw_damage(
    rng: RngLike = None,
    *,
    clean_share: float = 0.1,
    downscale: bool = False,
    scales: tuple[int, ...] = (2, 4),
    kinds: tuple[str, ...] | None = None,
) -> dict[str, Any]:
    """Draw a damage chain (no image needed): the record that :func:`apply_damage` applies.

    With probability ``clean_share`` nothing; otherwise 1, 2 or 3 damages (probabilities
    0.45 / 0.35 / 0.2) from distinct families (blur, noise, JPEG, and downscale when
    ``downscale``), each kind drawn within its family (blur: motion 0.6, defocus 0.4; noise:
    Gaussian 0.4, Poisson 0.3, camera 0.3), ordered blur -> downscale -> noise -> JPEG.
    ``kinds`` restricts the draw to those kinds (families without an allowed kind are left
    out). Returns ``{"version": 1, "clean": bool, "kinds": [...], "steps": [{"kind": ...,
    params..., "seed": int}, ...], "quantize": 8, "scale": int}`` (``scale`` 1 unless
    downscaled).
    """
    gen = as_generator(rng)
    share = check_range("clean_share", clean_share, 0, 1)
    allowed = set(DAMAGE_KINDS if kinds is None else kinds)
    bad = allowed - set(DAMAGE_KINDS)
    if bad:
        raise InvalidParameterError(f"unknown damage kinds {sorted(bad)}; valid: {', '.join(DAMAGE_KINDS)}")
    if not downscale:
        allowed.discard("downscale")
    for s in scales:
        if s not in (2, 3, 4):
            raise InvalidParameterError(f"scales must be among 2, 3, 4; got {scales!r}")
    families = [f for f in CHAIN_ORDER if any(k in allowed for k, _ in _KIND_WEIGHTS[f])]
    clean = bool(gen.random() < share) or not families
    steps: list[dict[str, Any]] = []
    if not clean:
        n_max = min(3, len(families))
        p = np.asarray(_N_STEPS_P[:n_max], dtype=np.float64)
        n = int(gen.choice(np.arange(1, n_max + 1), p=p / p.sum()))
        chosen = set(gen.choice(np.asarray(families), size=n, replace=False).tolist())
        bank = motion_kernel_bank()
        for fam in CHAIN_ORDER:
            if fam not in chosen:
                continue
            options = [(k, w) for k, w in _KIND_WEIGHTS[fam] if k in allowed]
            w = np.asarray([w for _, w in options], dtype=np.float64)
            kind = options[int(gen.choice(len(options), p=w / w.sum()))][0]
            steps.append(_draw_step(kind, gen, bank, tuple(scales)))
    scale = next((int(s["scale"]) for s in steps if s["kind"] == "downscale"), 1)
    return jsonable(
        {"version": 1, "clean": clean, "kinds": [s["kind"] for s in steps], "steps": steps, "quantize": 8, "scale": scale}
    )


def _step_kernel(step: dict[str, Any]) -> np.ndarray:
    """The blur kernel of a blur step (from the record when it holds one)."""
    if step.get("kernel") is not None:
        return np.asarray(step["kernel"], dtype=np.float64)
    if step["kind"] == "defocus_blur":
        from restora.degrade.kernels import defocus_kernel

        return np.asarray(defocus_kernel(float(step["radius"])), dtype=np.float64)
    if step.get("kernel_name"):
        return load_bank_kernel(str(step["kernel_name"]))
    from restora.degrade.kernels import motion_kernel

    k, _ = motion_kernel(int(step["size"]), np.random.default_rng(int(step["seed"])))
    return np.asarray(k, dtype=np.float64)


def _quantize8(x: np.ndarray) -> np.ndarray:
    return (np.floor(np.clip(x, 0.0, 1.0) * 255.0 + 0.5) / 255.0).astype(np.float32)


def apply_damage(image: np.ndarray, record: dict[str, Any]) -> Degraded:
    """Apply the chain ``record`` (from :func:`draw_damage` or an earlier call) to ``image``.

    Deterministic: every random step runs with its recorded ``seed``. Returns the damaged
    8-bit image (float32, in [0, 1]) and the record completed with what the steps measured
    (``kernel``, ``kernel_size``, ``rms_sigma``, ``camera``, ``shot``/``read``, ``input_shape``).
    """
    from restora.degrade.convolve import convolve
    from restora.degrade.jpeg import jpeg
    from restora.degrade.noise import gaussian_noise, poisson_noise
    from restora.degrade.resize import imresize

    img = as_image(image)
    rec = {**record, "steps": [dict(s) for s in record.get("steps", [])]}
    scale = int(rec.get("scale", 1) or 1)
    x = img
    if scale > 1:
        x = x[: x.shape[0] - x.shape[0] % scale, : x.shape[1] - x.shape[1] % scale]
    rec["input_shape"] = [int(x.shape[0]), int(x.shape[1]), int(x.shape[2])]
    for step in rec["steps"]:
        kind = step["kind"]
        gen = np.random.default_rng(int(step["seed"]))
        if kind in ("motion_blur", "defocus_blur"):
            k = _step_kernel(step)
            step["kernel"] = k
            step["kernel_size"] = [int(k.shape[0]), int(k.shape[1])]
            x = np.asarray(convolve(x, k.astype(np.float32), boundary="reflect"), dtype=np.float32)
            step["boundary"] = "reflect"
        elif kind == "downscale":
            s = int(step["scale"])
            x = np.asarray(imresize(x, 1.0 / s, method="bicubic"), dtype=np.float32)
            if x.ndim == 2:
                x = x[:, :, None]
        elif kind == "gaussian_noise":
            out = gaussian_noise(x, float(step["sigma"]), gen, clip=False)
            step["rms_sigma"] = float(step["sigma"])
            x = out.image
        elif kind == "poisson_noise":
            out = poisson_noise(x, float(step["peak"]), gen, clip=bool(step.get("clip", True)))
            step["rms_sigma"] = float(255.0 * np.std(out.image - x, dtype=np.float64))
            x = out.image
        elif kind == "camera_noise":
            from restora.degrade import isp

            raw, meta = isp.unprocess(x, gen)
            shot, read = camera_shot_read(int(step["iso"]), int(step["seed"]))
            clean_isp = isp.process(raw, meta)
            noisy = isp.process(isp.add_raw_noise(raw, shot, read, gen), meta)
            step.update(shot=shot, read=read, demosaic="bilinear")
            step["camera"] = {k: meta[k] for k in ("rgb2cam", "rgb_gain", "red_gain", "blue_gain")}
            step["rms_sigma"] = float(255.0 * np.std(noisy - clean_isp, dtype=np.float64))
            x = noisy
        elif kind == "jpeg":
            out = jpeg(np.clip(x, 0.0, 1.0), int(step["quality"]), chroma_subsampling=str(step.get("chroma_subsampling", "4:2:0")))
            x = np.asarray(out.image, dtype=np.float32)
            if x.ndim == 2:
                x = x[:, :, None]
        else:
            raise InvalidParameterError(f"record step kind {kind!r} is unknown; valid: {', '.join(DAMAGE_KINDS)}")
    x = _quantize8(x)
    return Degraded(np.ascontiguousarray(x), jsonable(rec))


def random_damage(image: np.ndarray, rng: RngLike = None, **options: Any) -> Degraded:
    """Draw a chain (:func:`draw_damage` with ``options``) and apply it to ``image``
    (:func:`apply_damage`); the same seed gives the same image and record."""
    return apply_damage(image, draw_damage(rng, **options))


def damage_target(image: np.ndarray, record: dict[str, Any]) -> np.ndarray:
    """The reference a restoration of ``apply_damage(image, record)`` is scored against:
    ``image`` itself (cropped to a multiple of the record's ``scale``), or, when camera noise
    was applied, the noise-free output of the same camera pipeline (the recorded camera)."""
    from restora.degrade import isp

    img = as_image(image)
    scale = int(record.get("scale", 1) or 1)
    if scale > 1:
        img = img[: img.shape[0] - img.shape[0] % scale, : img.shape[1] - img.shape[1] % scale]
    for step in record.get("steps", []):
        if step["kind"] == "camera_noise":
            cam = step.get("camera")
            if cam is None:
                raise InvalidParameterError("record: a camera_noise step needs its 'camera' (apply the record first)")
            raw, meta = isp.unprocess(img, metadata=cam)
            return _quantize8(isp.process(raw, meta))
    return np.ascontiguousarray(img, dtype=np.float32)


def damage_kinds(record: dict[str, Any]) -> list[str]:
    """The kinds applied, in order (``[]`` for a clean draw)."""
    return [str(s["kind"]) for s in record.get("steps", [])]


def damage_label(record: dict[str, Any]) -> str:
    """A short human label, e.g. ``"motion_blur(m_07)+gaussian_noise(s=23.4)+jpeg(q=41,4:2:0)"``, or ``"clean"``."""
    parts = []
    for s in record.get("steps", []):
        k = s["kind"]
        if k == "motion_blur":
            name = s.get("kernel_name") or f"gen{s.get('size')}"
            parts.append(f"motion({str(name).removesuffix('.npy')})")
        elif k == "defocus_blur":
            parts.append(f"defocus(r={s['radius']:.1f})")
        elif k == "downscale":
            parts.append(f"down(x{s['scale']})")
        elif k == "gaussian_noise":
            parts.append(f"gauss(s={s['sigma']:.1f})")
        elif k == "poisson_noise":
            parts.append(f"poisson(peak={s['peak']:.0f})")
        elif k == "camera_noise":
            parts.append(f"camera(iso={s['iso']})")
        elif k == "jpeg":
            parts.append(f"jpeg(q={s['quality']},{s.get('chroma_subsampling', '4:2:0')})")
    return "+".join(parts) or "clean"
