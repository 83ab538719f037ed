"""Face detection with MTCNN (Zhang et al. 2016), offline: the P/R/O-Net weights come from
the ``facenet-pytorch`` wheel (restora's ``faces`` extra), nothing is downloaded.

Only the three weight files (``facenet_pytorch/data/{pnet,rnet,onet}.pt``, plain state
dicts, read with ``torch.load(weights_only=True)``) are used: the package itself is never
imported (it imports torchvision, which does not work beside this torch), and the
networks and the cascade are restora's own:

1. **P-Net** runs fully convolutionally over an image pyramid (scales ``12 / min_size x
   factor^k``); every 12 x 12 window (stride 2) whose face probability passes
   ``thresholds[0]`` becomes a candidate; NMS per scale (IoU 0.5) and over all (0.7), box
   regression, boxes made square.
2. **R-Net** scores 24 x 24 crops of the candidates (``thresholds[1]``), NMS 0.7,
   regression, square.
3. **O-Net** scores 48 x 48 crops (``thresholds[2]``), regresses the box and the five
   landmarks (eyes, nose, mouth corners), and a final NMS (0.7 of the smaller box).

Crops reaching outside the image are zero-padded; images are normalised as the networks
were trained (``(255 x - 127.5) / 128``).
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from restora.errors import InvalidParameterError, MissingResourceError
from restora.validation import as_image

__all__ = ["FaceBox", "detect_faces", "mtcnn_weights_dir", "expand_box", "FACES_EXTRA_HINT"]

#: How to install the detector's weights (the ``faces`` extra).
FACES_EXTRA_HINT = (
    "install restora's 'faces' extra without its pins, which would replace torch: "
    "pip install --no-deps 'facenet-pytorch>=2.5'"
)


@dataclass(frozen=True)
class FaceBox:
    """A detected face: ``box`` ``(x1, y1, x2, y2)`` in pixels (x right, y down; float,
    ``x2``/``y2`` exclusive), ``score`` in [0, 1] and ``landmarks`` (5 x 2 array of
    ``(x, y)``: left eye, right eye, nose, left and right mouth corner, as seen in the
    image) or ``None``."""

    box: tuple[float, float, float, float]
    score: float
    landmarks: np.ndarray | None = field(default=None, compare=False)

    @property
    def width(self) -> float:
        return self.box[2] - self.box[0]

    @property
    def height(self) -> float:
        return self.box[3] - self.box[1]

    def to_dict(self) -> dict[str, object]:
        """JSON-ready form."""
        return {"box": [float(v) for v in self.box], "score": float(self.score),
                "landmarks": None if self.landmarks is None else np.asarray(self.landmarks, float).tolist()}


def expand_box(box: Sequence[float], margin: float, shape: tuple[int, int] | None = None) -> tuple[int, int, int, int]:
    """A square integer box around ``box``'s centre, side ``margin x max(w, h)`` (at least
    1 px); clamped into an image of ``shape`` (H, W) when given (it then may not be square)."""
    x1, y1, x2, y2 = (float(v) for v in box)
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    side = max(1.0, float(margin) * max(x2 - x1, y2 - y1))
    bx1, by1 = int(round(cx - side / 2)), int(round(cy - side / 2))
    bx2, by2 = bx1 + int(round(side)), by1 + int(round(side))
    if shape is not None:
        h, w = shape
        bx1, by1, bx2, by2 = max(0, bx1), max(0, by1), min(w, bx2), min(h, by2)
        if bx2 <= bx1 or by2 <= by1:
            raise InvalidParameterError(f"box {tuple(box)} lies outside the {w}x{h} image")
    return bx1, by1, bx2, by2


# ----------------------------------------------------------------------------- networks
class _PNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.prelu1 = nn.Conv2d(3, 10, 3), nn.PReLU(10)
        self.conv2, self.prelu2 = nn.Conv2d(10, 16, 3), nn.PReLU(16)
        self.conv3, self.prelu3 = nn.Conv2d(16, 32, 3), nn.PReLU(32)
        self.conv4_1, self.conv4_2 = nn.Conv2d(32, 2, 1), nn.Conv2d(32, 4, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = F.max_pool2d(self.prelu1(self.conv1(x)), 2, 2, ceil_mode=True)
        x = self.prelu3(self.conv3(self.prelu2(self.conv2(x))))
        return torch.softmax(self.conv4_1(x), dim=1)[:, 1], self.conv4_2(x)


class _RNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.prelu1 = nn.Conv2d(3, 28, 3), nn.PReLU(28)
        self.conv2, self.prelu2 = nn.Conv2d(28, 48, 3), nn.PReLU(48)
        self.conv3, self.prelu3 = nn.Conv2d(48, 64, 2), nn.PReLU(64)
        self.dense4, self.prelu4 = nn.Linear(576, 128), nn.PReLU(128)
        self.dense5_1, self.dense5_2 = nn.Linear(128, 2), nn.Linear(128, 4)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = F.max_pool2d(self.prelu1(self.conv1(x)), 3, 2, ceil_mode=True)
        x = F.max_pool2d(self.prelu2(self.conv2(x)), 3, 2, ceil_mode=True)
        x = self.prelu3(self.conv3(x))
        x = self.prelu4(self.dense4(x.permute(0, 3, 2, 1).reshape(x.shape[0], -1)))  # weights flatten W, H, C
        return torch.softmax(self.dense5_1(x), dim=1)[:, 1], self.dense5_2(x)


class _ONet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.prelu1 = nn.Conv2d(3, 32, 3), nn.PReLU(32)
        self.conv2, self.prelu2 = nn.Conv2d(32, 64, 3), nn.PReLU(64)
        self.conv3, self.prelu3 = nn.Conv2d(64, 64, 3), nn.PReLU(64)
        self.conv4, self.prelu4 = nn.Conv2d(64, 128, 2), nn.PReLU(128)
        self.dense5, self.prelu5 = nn.Linear(1152, 256), nn.PReLU(256)
        self.dense6_1, self.dense6_2, self.dense6_3 = nn.Linear(256, 2), nn.Linear(256, 4), nn.Linear(256, 10)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = F.max_pool2d(self.prelu1(self.conv1(x)), 3, 2, ceil_mode=True)
        x = F.max_pool2d(self.prelu2(self.conv2(x)), 3, 2, ceil_mode=True)
        x = F.max_pool2d(self.prelu3(self.conv3(x)), 2, 2, ceil_mode=True)
        x = self.prelu4(self.conv4(x))
        x = self.prelu5(self.dense5(x.permute(0, 3, 2, 1).reshape(x.shape[0], -1)))
        return torch.softmax(self.dense6_1(x), dim=1)[:, 1], self.dense6_2(x), self.dense6_3(x)


def mtcnn_weights_dir() -> Path:
    """Folder holding ``pnet.pt``, ``rnet.pt``, ``onet.pt``: ``$RESTORA_MTCNN_DIR`` if set,
    else the installed ``facenet-pytorch`` package's ``data`` folder (found without
    importing it). Raises :class:`MissingResourceError` naming the extra when absent."""
    env = os.environ.get("RESTORA_MTCNN_DIR")
    if env:
        d = Path(env).expanduser()
    else:
        spec = importlib.util.find_spec("facenet_pytorch")
        if spec is None or not spec.submodule_search_locations:
            raise MissingResourceError(f"face detection needs the MTCNN weights of the 'faces' extra; {FACES_EXTRA_HINT}")
        d = Path(list(spec.submodule_search_locations)[0]) / "data"
    missing = [n for n in ("pnet.pt", "rnet.pt", "onet.pt") if not (d / n).is_file()]
    if missing:
        raise MissingResourceError(f"MTCNN weights {', '.join(missing)} not found in {d}; {FACES_EXTRA_HINT}")
    return d


@lru_cache(maxsize=4)
def _nets(folder: str, device: str) -> tuple[_PNet, _RNet, _ONet]:
    nets = (_PNet(), _RNet(), _ONet())
    for net, name in zip(nets, ("pnet", "rnet", "onet")):
        state = torch.load(Path(folder) / f"{name}.pt", map_location="cpu", weights_only=True)
        net.load_state_dict(state, strict=True)
        net.to(device).eval()
    return nets  # type: ignore[return-value]


# ----------------------------------------------------------------------------- cascade helpers
def _nms(boxes: np.ndarray, scores: np.ndarray, threshold: float, mode: str = "union") -> np.ndarray:
    """Indices kept by greedy non-maximum suppression (IoU, or overlap of the smaller box)."""
    if len(boxes) == 0:
        return np.zeros(0, dtype=np.int64)
    x1, y1, x2, y2 = boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3]
    area = np.maximum(x2 - x1, 0) * np.maximum(y2 - y1, 0)
    order = np.argsort(-scores, kind="stable")
    keep = []
    while order.size:
        i = order[0]
        keep.append(i)
        rest = order[1:]
        iw = np.maximum(0.0, np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]))
        ih = np.maximum(0.0, np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]))
        inter = iw * ih
        denom = np.minimum(area[i], area[rest]) if mode == "min" else area[i] + area[rest] - inter
        ov = inter / np.maximum(denom, 1e-12)
        order = rest[ov <= threshold]
    return np.asarray(keep, dtype=np.int64)


def _square(boxes: np.ndarray) -> np.ndarray:
    out = boxes.copy()
    w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    side = np.maximum(w, h)
    out[:, 0] = boxes[:, 0] + w / 2 - side / 2
    out[:, 1] = boxes[:, 1] + h / 2 - side / 2
    out[:, 2] = out[:, 0] + side
    out[:, 3] = out[:, 1] + side
    return out


def _regress(boxes: np.ndarray, reg: np.ndarray) -> np.ndarray:
    w = (boxes[:, 2] - boxes[:, 0])[:, None]
    h = (boxes[:, 3] - boxes[:, 1])[:, None]
    return boxes[:, :4] + reg * np.concatenate([w, h, w, h], axis=1)


def _crops(img: np.ndarray, boxes: np.ndarray, size: int) -> np.ndarray:
    """``N x size x size x 3`` crops of ``boxes`` (zero outside the image), area-resampled."""
    h, w = img.shape[:2]
    out = np.zeros((len(boxes), size, size, 3), np.float32)
    for k, (x1, y1, x2, y2) in enumerate(np.round(boxes[:, :4]).astype(np.int64)):
        bw, bh = max(1, x2 - x1), max(1, y2 - y1)
        tile = np.zeros((bh, bw, 3), np.float32)
        sx1, sy1, sx2, sy2 = max(0, x1), max(0, y1), min(w, x1 + bw), min(h, y1 + bh)
        if sx2 > sx1 and sy2 > sy1:
            tile[sy1 - y1 : sy2 - y1, sx1 - x1 : sx2 - x1] = img[sy1:sy2, sx1:sx2]
        interp = cv2.INTER_AREA if bw > size else cv2.INTER_LINEAR
        out[k] = cv2.resize(tile, (size, size), interpolation=interp)
    return out


def _to_tensor(batch: np.ndarray, device: str) -> torch.Tensor:
    t = torch.from_numpy(np.ascontiguousarray(batch.transpose(0, 3, 1, 2)))
    return ((t * 255.0 - 127.5) * 0.0078125).to(device)


def _run_batched(net: nn.Module, crops: np.ndarray, device: str, chunk: int = 256) -> list[np.ndarray]:
    outs: list[list[np.ndarray]] = []
    for i in range(0, len(crops), chunk):
        res = net(_to_tensor(crops[i : i + chunk], device))
        outs.append([r.float().cpu().numpy() for r in res])
    return [np.concatenate(parts, axis=0) for parts in zip(*outs)]


@torch.inference_mode()
def detect_faces(
    image: np.ndarray,
    *,
    min_size: int = 20,
    thresholds: Sequence[float] = (0.6, 0.7, 0.7),
    factor: float = 0.709,
    min_score: float = 0.0,
    device: str = "cpu",
) -> list[FaceBox]:
    """Faces in ``image`` (float32 ``H x W x C`` in [0, 1]; gray is replicated to RGB), most
    confident first, as :class:`FaceBox` (box, score, five landmarks).

    ``min_size``: smallest face side in pixels searched for (the pyramid starts at
    ``12 / min_size``); ``thresholds``: P/R/O-Net face probabilities; ``factor``: pyramid
    step; ``min_score``: drop faces below it. Raises :class:`MissingResourceError` naming
    the ``faces`` extra when the MTCNN weights are not installed.
    """
    img = as_image(image, "image")
    if img.shape[2] == 1:
        img = np.repeat(img, 3, axis=2)
    img = np.ascontiguousarray(np.clip(img[:, :, :3], 0.0, 1.0), dtype=np.float32)
    if min_size < 12:
        raise InvalidParameterError(f"min_size must be at least 12 pixels, got {min_size}")
    if not 0 < factor < 1:
        raise InvalidParameterError(f"factor must be in (0, 1), got {factor}")
    if len(thresholds) != 3:
        raise InvalidParameterError(f"thresholds must be 3 probabilities (P, R, O-Net), got {thresholds!r}")
    pnet, rnet, onet = _nets(str(mtcnn_weights_dir()), device)
    h, w = img.shape[:2]

    # stage 1: P-Net over the pyramid
    m = 12.0 / min_size
    minl = min(h, w) * m
    scale, cands = m, []
    while minl >= 12:
        hs, ws = int(np.ceil(h * scale)), int(np.ceil(w * scale))
        im = cv2.resize(img, (ws, hs), interpolation=cv2.INTER_AREA)
        prob, reg = pnet(_to_tensor(im[None], device))
        prob, reg = prob[0].cpu().numpy(), reg[0].cpu().numpy()
        ys, xs = np.nonzero(prob >= thresholds[0])
        if len(ys):
            b = np.stack([2 * xs / scale, 2 * ys / scale, (2 * xs + 12) / scale, (2 * ys + 12) / scale], axis=1)
            s = prob[ys, xs]
            r = reg[:, ys, xs].T
            keep = _nms(b, s, 0.5)
            cands.append(np.concatenate([b[keep], s[keep, None], r[keep]], axis=1))
        scale *= factor
        minl *= factor
    if not cands:
        return []
    c = np.concatenate(cands, axis=0)
    c = c[_nms(c[:, :4], c[:, 4], 0.7)]
    boxes = _square(_regress(c[:, :4], c[:, 5:9]))
    scores = c[:, 4]

    # stage 2: R-Net
    prob, reg = _run_batched(rnet, _crops(img, boxes, 24), device)
    ok = prob > thresholds[1]
    boxes, scores, reg = boxes[ok], prob[ok], reg[ok]
    if not len(boxes):
        return []
    keep = _nms(boxes, scores, 0.7)
    boxes = _square(_regress(boxes[keep], reg[keep]))
    scores = scores[keep]

    # stage 3: O-Net
    prob, reg, pts = _run_batched(onet, _crops(img, boxes, 48), device)
    ok = prob > thresholds[2]
    boxes, scores, reg, pts = boxes[ok], prob[ok], reg[ok], pts[ok]
    if not len(boxes):
        return []
    bw, bh = (boxes[:, 2] - boxes[:, 0])[:, None], (boxes[:, 3] - boxes[:, 1])[:, None]
    lms = np.stack([boxes[:, :1] + bw * pts[:, :5], boxes[:, 1:2] + bh * pts[:, 5:]], axis=2)
    boxes = _regress(boxes, reg)
    keep = _nms(boxes, scores, 0.7, mode="min")
    out = [FaceBox(tuple(float(v) for v in boxes[i]), float(scores[i]), lms[i].astype(np.float32))
           for i in keep if scores[i] >= min_score]
    return sorted(out, key=lambda f: -f.score)
