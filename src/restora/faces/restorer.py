"""Running face models on whole images.

* :class:`PortraitRestorer`: the three-stage portrait restorer
  (:class:`restora.nn.portrait.Portrait3Stage`): step 1 on the whole image, faces detected
  (MTCNN, :func:`detect_faces`) on the step-1 output, steps 2 and 3 with those boxes. The
  whole image goes through the network at once (no tiles: a tile boundary would cut faces);
  sides are padded inside.
* :class:`AlignedFaceRestorer`: a fixed-size model of aligned faces (``face-fusion``): every
  face found is aligned, restored and blended back (:func:`restora.faces.align.restore_faces`).

Both say ``whole_image = True``: the restore pipeline hands them the whole image, never tiles.
:func:`face_restorer` wraps a loaded zoo model in the right one.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from restora.errors import InvalidParameterError
from restora.faces.detect import FaceBox, detect_faces

__all__ = ["PortraitRestorer", "AlignedFaceRestorer", "DETECTORS", "FACE_ARCHS", "FACE_SYSTEMS", "face_restorer", "face_system_model"]

#: The two face systems (``restore --face`` / ``--portrait``, the web page's ``face`` /
#: ``portrait`` tasks): system -> (the zoo model that runs it, where its training recipe is).
FACE_SYSTEMS: dict[str, tuple[str, str]] = {
    "face": ("face-fusion", "docs/face_prior.md"),
    "portrait": ("portrait-3stage", "configs/cpu/portrait/README.md"),
}

#: ``detector`` choices: MTCNN on the step-1 image, the model's default (aligned-face) box,
#: or no face (step 2 skipped).
DETECTORS = ("mtcnn", "default", "none")


def _take_model(restorer: Any, model: Any, device: str | None) -> None:
    """Set ``net`` (on ``device``, eval mode), ``card``, ``descriptor`` and ``device`` of a
    face restorer from a :class:`~restora.zoo.LoadedModel` or a module (``"auto"``: CUDA if any)."""
    restorer.card = getattr(model, "card", None)
    restorer.descriptor = getattr(model, "descriptor", None)
    if device in (None, "auto"):
        device = "cuda" if torch.cuda.is_available() else "cpu"
    restorer.device = str(device)
    restorer.net = getattr(model, "model", model).to(restorer.device).eval()


class PortraitRestorer:
    """A restorer callable ``f(image, **condition) -> image`` around a portrait model.

    ``model``: a :class:`~restora.zoo.LoadedModel` or a built ``Portrait3Stage``;
    ``detector``: one of :data:`DETECTORS`; ``min_face``: smallest face side searched (px);
    ``min_score``: MTCNN confidence kept. After a call, ``last_faces`` holds the boxes used
    (:class:`FaceBox`, in the image's pixels). ``params`` is exposed for tables.
    """

    kind = "neural"
    whole_image = True

    def __init__(self, model: Any, *, device: str = "cpu", detector: str = "mtcnn", min_face: int = 24,
                 min_score: float = 0.9) -> None:
        if detector not in DETECTORS:
            raise InvalidParameterError(f"detector must be one of {', '.join(DETECTORS)}, got {detector!r}")
        net = getattr(model, "model", model)
        if not hasattr(net, "forward_stages") or not hasattr(net, "restore_faces"):
            raise InvalidParameterError("PortraitRestorer needs a portrait-3stage model")
        _take_model(self, model, device)
        self.detector = detector
        self.min_face = int(min_face)
        self.min_score = float(min_score)
        self.params = sum(p.numel() for p in self.net.parameters())
        self.last_faces: list[FaceBox] = []

    def _detect(self, step1: torch.Tensor) -> list[list[tuple[float, float, float, float]]]:
        boxes: list[list[tuple[float, float, float, float]]] = []
        found: list[FaceBox] = []
        for b in range(step1.shape[0]):
            img = step1[b].float().clamp(0, 1).permute(1, 2, 0).cpu().numpy()
            faces = [f for f in detect_faces(img, min_size=self.min_face) if f.score >= self.min_score]
            found.extend(faces)
            boxes.append([f.box for f in faces])
        self.last_faces = found
        return boxes

    @torch.inference_mode()
    def __call__(self, image: np.ndarray, **condition: Any) -> np.ndarray:
        img = np.asarray(image, np.float32)
        if img.ndim == 2:
            img = img[:, :, None]
        gray = img.shape[2] == 1
        want = int(self.net.tail.out_channels)
        if gray and want == 3:
            img = np.repeat(img, 3, axis=2)
        if img.shape[2] != want:
            raise InvalidParameterError(f"the portrait model takes {want}-channel images, got {img.shape[2]} channels")
        x = torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))[None].to(self.device)
        h, w = img.shape[:2]
        if self.detector == "mtcnn":
            out = self.net.forward_stages(x, detector=self._detect)[-1]
        elif self.detector == "default":
            boxes = self.net._default_boxes(1, h, w)
            self.last_faces = [FaceBox(tuple(boxes[0][0]), 1.0)]
            out = self.net.forward_stages(x, boxes)[-1]
        else:
            self.last_faces = []
            out = self.net.forward_stages(x, [[]])[-1]
        res = out[0].float().permute(1, 2, 0).cpu().numpy()
        return res.mean(axis=2, keepdims=True) if gray and want == 3 else res


class AlignedFaceRestorer:
    """A restorer callable ``f(image, **ignored) -> image`` around a fixed-size face model.

    ``model``: a :class:`~restora.zoo.LoadedModel` (or module) taking ``B x C x R x R`` aligned
    faces in [0, 1] and returning the same (``face-fusion`` with ``output="fused"``); ``mode``:
    ``"detect"`` (MTCNN finds and aligns every face; the rest of the image is kept) or
    ``"aligned"`` (the image is one aligned face crop). After a call, ``last_faces`` holds the
    faces used.
    """

    kind = "neural"
    whole_image = True

    def __init__(self, model: Any, *, device: str = "cpu", mode: str = "detect", min_face: int = 24,
                 min_score: float = 0.9) -> None:
        from restora.faces.align import FACE_MODES

        if mode not in FACE_MODES:
            raise InvalidParameterError(f"mode must be one of {', '.join(FACE_MODES)}, got {mode!r}")
        _take_model(self, model, device)
        args = dict(getattr(self.net, "arch_args", {}) or {})
        self.size = int(args.get("resolution", getattr(self.descriptor, "size_multiple", 64) or 64))
        self.mode, self.min_face, self.min_score = mode, int(min_face), float(min_score)
        self.params = sum(p.numel() for p in self.net.parameters())
        self.last_faces: list[FaceBox] = []

    @torch.inference_mode()
    def _face(self, face: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(np.ascontiguousarray(face.transpose(2, 0, 1)))[None].to(self.device)
        y = self.net(x)
        return y[0].float().clamp(0, 1).permute(1, 2, 0).cpu().numpy()

    def __call__(self, image: np.ndarray, **condition: Any) -> np.ndarray:
        from restora.faces.align import restore_faces

        img = np.asarray(image, np.float32)
        if img.ndim == 2:
            img = img[:, :, None]
        gray = img.shape[2] == 1
        rgb = np.repeat(img, 3, axis=2) if gray else img
        result = restore_faces(rgb, self._face, size=self.size, mode=self.mode, min_score=self.min_score, min_face=self.min_face)
        self.last_faces = result.faces
        return result.image.mean(axis=2, keepdims=True) if gray else result.image


#: Zoo architectures that :func:`face_restorer` wraps (and the restore pipeline runs whole).
FACE_ARCHS = ("portrait-3stage", "face-fusion")


def face_restorer(loaded: Any, *, device: str = "cpu", aligned: bool = False) -> PortraitRestorer | AlignedFaceRestorer:
    """The whole-image restorer for a loaded face model (arch in :data:`FACE_ARCHS`);
    ``aligned``: the input is an aligned face crop (no detection)."""
    arch = getattr(getattr(loaded, "card", None), "arch", None) or getattr(getattr(loaded, "model", loaded), "arch_name", None)
    if arch == "portrait-3stage":
        return PortraitRestorer(loaded, device=device, detector="default" if aligned else "mtcnn")
    if arch == "face-fusion":
        return AlignedFaceRestorer(loaded, device=device, mode="aligned" if aligned else "detect")
    raise InvalidParameterError(f"model architecture {arch!r} is not a face model ({', '.join(FACE_ARCHS)})")


def face_system_model(system: str, *, asked_by: str | None = None) -> str:
    """The installed zoo model that runs face ``system`` (a key of :data:`FACE_SYSTEMS`);
    a one-line :class:`~restora.errors.MissingResourceError` naming ``asked_by`` (the option
    or field that asked, default ``system``) when the zoo lacks it."""
    if system not in FACE_SYSTEMS:
        raise InvalidParameterError(f"unknown face system {system!r}; valid: {', '.join(FACE_SYSTEMS)}")
    name, recipe = FACE_SYSTEMS[system]
    from restora.pipeline.methods import model_card

    if model_card(name) is None:
        from restora.errors import MissingResourceError

        raise MissingResourceError(
            f"{asked_by or system} needs the {name} model, which is not installed: train it ({recipe}) and "
            "`restora models install` it"
        )
    return name
