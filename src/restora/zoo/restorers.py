"""Expose every zoo model as a restorer in :mod:`restora.restorers` (kind ``"neural"``)."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from restora.errors import InvalidParameterError
from restora.opponent import OPPONENT, OPPONENT_GAINS, OPPONENT_OFFSET, from_opponent, to_opponent
from restora.restorers import TASKS, RestorerInfo, register
from restora.zoo.cards import ModelCard
from restora.zoo.store import LoadedModel, list_models, load

__all__ = ["NeuralRestorer", "OPPONENT", "OPPONENT_OFFSET"]


class NeuralRestorer:
    """A loaded model behind a :class:`~restora.engine.TiledEngine`, as a restorer callable.

    Gray models run per channel on colour images (noise-map models on opponent-colour
    channels, see ``_denoise_opponent``; JPEG models on the JFIF YCbCr planes); colour models see gray images replicated
    to RGB and return their mean. Noise-map models (FFDNet) given no ``sigma`` get the level
    :func:`restora.classical.estimate_noise_sigma` measures on the image, so they run blind;
    camera-noise models (trained on real-sensor noise, ``card.degradation == "camera"``) always
    get a zero map, as in training, and a given ``sigma`` is ignored.
    ``params`` and ``flops_per_pixel`` are exposed for tables.
    """

    def __init__(self, loaded: LoadedModel, *, device: str = "auto", dtype: str = "auto", tile: int | str | None = "auto", overlap: int = 32, batch_size: int = 4, compile: bool = False) -> None:
        from restora.engine import TiledEngine
        from restora.nn.registry import describe

        self.card = loaded.card
        self._model = loaded.model
        self.descriptor = describe(loaded.model, measure_flops=False)
        self.params = self.descriptor.params
        self._flops: float | None = None
        self.estimated_sigma: float | None = None  # the last sigma a noise-map model estimated
        self._progress: Any = None
        self.engine = TiledEngine(loaded.model, self.descriptor, device=device, dtype=dtype, tile=tile, overlap=overlap, batch_size=batch_size, compile=compile)

    @property
    def flops_per_pixel(self) -> float:
        """FLOPs per input pixel, measured on first use (FlopCounterMode is slow to import)."""
        if self._flops is None:
            from restora.nn.registry import describe

            self._flops = describe(self._model).flops_per_pixel
        return self._flops

    #: ``progress=callback(done, total)`` is accepted (tiles over every plane the call runs)
    accepts_progress = True

    def _engine(self, plane: np.ndarray, index: int = 0, count: int = 1, **kw: Any) -> np.ndarray:
        """The engine on one plane, reporting progress as part ``index`` of ``count``."""
        cb = self._progress
        if cb is None:
            return self.engine(plane, **kw)
        return self.engine(plane, progress=lambda d, t: cb(index * t + d, count * t), **kw)

    def __call__(self, image: np.ndarray, **condition: Any) -> np.ndarray:
        self._progress = condition.pop("progress", None)
        try:
            return self._call(image, **condition)
        finally:
            self._progress = None

    def _call(self, image: np.ndarray, **condition: Any) -> np.ndarray:
        scale = condition.get("scale")
        factor = int(self.card.scale) if self.card.input_upsampled else self.descriptor.scale
        if scale is not None and factor != 1 and int(scale) != factor:
            raise InvalidParameterError(f"model {self.card.name} upscales x{factor}, but scale={scale} was asked")
        sigma = condition.get("sigma")
        img = np.asarray(image, np.float32)
        if img.ndim == 2:
            img = img[:, :, None]
        if self.card.input_upsampled:
            return self._pre_upsampled(img, factor)
        if self.card.degradation == "camera":
            sigma = 0.0  # camera-noise models are blind: trained with a zero noise map
        if sigma is None and self.descriptor.condition == "noise_map":
            from restora.classical.estimate import estimate_noise_sigma

            sigma = estimate_noise_sigma(img)
            self.estimated_sigma = sigma
        c = img.shape[2]
        want = self.descriptor.in_channels
        if c == want:
            return self._engine(img, sigma=sigma)
        if want == 1 and c == 3 and sigma is not None and self.descriptor.condition == "noise_map":
            return self._denoise_opponent(img, float(sigma), str(condition.get("chroma") or "auto"))
        if want == 1 and c == 3 and self.card.task == "jpeg":
            return self._deblock_ycbcr(img, str(condition.get("subsampling") or "4:2:0"))
        if want == 1:
            return np.concatenate([self._engine(img[:, :, i : i + 1], i, c, sigma=sigma) for i in range(c)], axis=2)
        if want == 3 and c == 1:
            return self._engine(np.repeat(img, 3, axis=2), sigma=sigma).mean(axis=2, keepdims=True)
        raise InvalidParameterError(f"model {self.card.name} takes {want}-channel images, got {c} channels")

    def _pre_upsampled(self, img: np.ndarray, factor: int) -> np.ndarray:
        """A pre-upsampling SR model (SRCNN, VDSR): MATLAB-bicubic upscale by ``factor``, then
        the network at output resolution. A 1-channel model on a colour image runs on the
        luma (BT.601, as it was trained) and the chroma stays bicubic, as in both papers."""
        from restora.degrade.resize import imresize

        up = imresize(img, float(factor))
        want = self.descriptor.in_channels
        if up.shape[2] == want:
            return self._engine(up)
        if want == 1 and up.shape[2] == 3:
            import torch

            from restora.degrade.torch_jpeg import rgb_to_ycbcr_jpeg, ycbcr_jpeg_to_rgb

            ycc = rgb_to_ycbcr_jpeg(torch.from_numpy(np.ascontiguousarray(up.transpose(2, 0, 1)))[None] * 255.0)[0] / 255.0
            planes = ycc.numpy().copy()
            planes[0] = self._engine(np.ascontiguousarray(planes[0][:, :, None]))[:, :, 0]
            rgb = ycbcr_jpeg_to_rgb(torch.from_numpy(planes)[None] * 255.0)[0].numpy().transpose(1, 2, 0) / 255.0
            return np.ascontiguousarray(rgb, dtype=np.float32)
        if want == 3 and up.shape[2] == 1:
            return self._engine(np.repeat(up, 3, axis=2)).mean(axis=2, keepdims=True)
        raise InvalidParameterError(f"model {self.card.name} takes {want}-channel images, got {up.shape[2]} channels")

    def _deblock_ycbcr(self, rgb: np.ndarray, subsampling: str = "4:2:0") -> np.ndarray:
        """A gray JPEG model on a colour image, on the JFIF Y, Cb and Cr planes the codec
        compressed (gray JPEGs are Y alone).

        Chroma is deblocked at the resolution the codec stored it (``subsampling``: 4:2:0,
        the libjpeg/Pillow default, halves both axes; 4:2:2 the width; 4:4:4 none): there its
        blocks are 8 x 8 again, as the model was trained, instead of the 16 x 16 chroma blocks
        a full-resolution pass leaves on skin and sky. The plane is area-averaged down, deblocked
        and brought back up with a triangle (bilinear) filter, as decoders do. On 8 LIVE1 images
        at q10 (RGB PSNR): JPEG 24.74, full-resolution chroma 25.27, stored-resolution chroma
        25.35 dB, in 45 % of the time (1 thread)."""
        import torch

        from restora.degrade.torch_jpeg import rgb_to_ycbcr_jpeg, ycbcr_jpeg_to_rgb

        fy, fx = CHROMA_FACTORS.get(subsampling, (2, 2))
        ycc = rgb_to_ycbcr_jpeg(torch.from_numpy(np.ascontiguousarray(rgb.transpose(2, 0, 1)))[None] * 255.0)[0] / 255.0
        planes = ycc.numpy()
        out = np.empty_like(planes)
        out[0] = self._engine(np.ascontiguousarray(planes[0][:, :, None]), 0, 3)[:, :, 0]
        for i in (1, 2):
            out[i] = at_lower_resolution(planes[i], fy, fx, lambda q, i=i: self._engine(q, i, 3))
        rgb_out = ycbcr_jpeg_to_rgb(torch.from_numpy(out)[None] * 255.0)[0].numpy().transpose(1, 2, 0) / 255.0
        return np.ascontiguousarray(rgb_out, dtype=np.float32)

    def _denoise_opponent(self, rgb: np.ndarray, sigma: float, chroma: str = "auto") -> np.ndarray:
        """A gray noise-map model on an RGB image, one opponent channel at a time.

        The rows of :data:`OPPONENT` are orthogonal, so white RGB noise of ``sigma`` stays
        white and independent in each opponent channel, with ``sigma`` times the row's norm:
        the noise-level map takes exactly that. Luma and the two smooth chroma channels are
        far easier to denoise than R, G and B (the idea of CBM3D's colour mode).

        ``chroma``: ``"full"`` denoises the chroma channels at full resolution; ``"half"``
        at half resolution (2x2 means: the noise there is white with half the sigma; the
        result comes back up bilinearly), 1.8x faster over the whole image; ``"auto"``
        takes ``"half"`` for sigma >= :data:`HALF_CHROMA_SIGMA` or images of at least
        :data:`HALF_CHROMA_PIXELS` pixels, never for camera-noise models (their noise is
        correlated). Measured with ``ffdnet-color`` on 6 CBSD68 images: sigma 15 / 25 / 50,
        full 33.50 / 30.86 / 27.62 dB, half 33.43 / 30.93 / 27.75 dB.
        """
        h, w = rgb.shape[:2]
        if chroma == "auto":
            big = h * w >= HALF_CHROMA_PIXELS
            chroma = "half" if (sigma >= HALF_CHROMA_SIGMA or big) and self.card.degradation != "camera" else "full"
        opp = to_opponent(rgb)
        out = np.empty_like(opp)
        for i, gain in enumerate(OPPONENT_GAINS):
            f = 2 if i > 0 and chroma == "half" and min(h, w) >= 32 else 1
            level = sigma * float(gain) / f  # the mean of f x f white-noise pixels has 1/f the sigma
            out[:, :, i] = at_lower_resolution(opp[:, :, i], f, f, lambda q, i=i, s=level: self._engine(q, i, 3, sigma=s))
        return from_opponent(out)


def at_lower_resolution(plane: np.ndarray, fy: int, fx: int, fn: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """``fn`` (H x W x 1 -> H x W x 1) applied to the 2-D ``plane`` at ``1/fy x 1/fx`` of its
    resolution: area means of ``fy x fx`` blocks (edges replicated to a multiple), ``fn``,
    then back up with a triangle (bilinear) filter, as JPEG decoders upsample chroma.
    ``fy == fx == 1`` is ``fn`` on the plane itself."""
    h, w = plane.shape
    if fy == fx == 1:
        return fn(np.ascontiguousarray(plane[:, :, None], dtype=np.float32))[:, :, 0]
    import cv2

    pp = np.pad(plane, ((0, (-h) % fy), (0, (-w) % fx)), mode="edge")
    small = pp.reshape(pp.shape[0] // fy, fy, pp.shape[1] // fx, fx).mean(axis=(1, 3))
    fixed = fn(np.ascontiguousarray(small[:, :, None], dtype=np.float32))[:, :, 0]
    return cv2.resize(fixed, (pp.shape[1], pp.shape[0]), interpolation=cv2.INTER_LINEAR)[:h, :w]


#: ``_denoise_opponent(chroma="auto")`` denoises chroma at half resolution from this sigma ...
HALF_CHROMA_SIGMA = 20.0
#: ... or from this many pixels (speed: a 12 MP photo in about half the time).
HALF_CHROMA_PIXELS = 4_000_000


#: JPEG chroma subsampling -> (vertical, horizontal) factor of the stored Cb/Cr planes.
CHROMA_FACTORS: dict[str, tuple[int, int]] = {"4:4:4": (1, 1), "4:2:2": (1, 2), "4:2:0": (2, 2), "4:4:0": (2, 1), "4:1:1": (1, 4)}


def _factory(card: ModelCard) -> Callable[..., NeuralRestorer]:
    def build(**options: Any) -> NeuralRestorer:
        return NeuralRestorer(load(card.name), **options)

    return build


def _task_of(card: ModelCard) -> str | None:
    if card.task in TASKS:
        return card.task
    return None


for _card in list_models():
    _task = _task_of(_card)
    if _task is not None:
        register(RestorerInfo(name=_card.name, task=_task, kind="neural", description=_card.description or _card.arch, factory=_factory(_card), blind=_card.task != "sr" and _card.noise_range is not None))
