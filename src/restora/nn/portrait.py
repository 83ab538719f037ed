"""The three-stage portrait restorer of issue 18 and its parts.

1. :class:`UNetSAM` (step 1, the whole image): a U-Net (residual conv blocks; context in the
   encoder, skip connections for localisation) whose full-resolution decoder features go
   through MPRNet's supervised attention module (:class:`~restora.nn.mprnet.SAM`): it gives
   the step-1 image and the attention-gated features handed to step 3.
2. The face (step 2), "Bringing Old Photos Back to Life" style: two VAEs, :class:`FaceVAE`
   for domain A (degraded faces) and domain B (clean faces), with spatial latents; a
   :class:`LatentBridge` maps A's latent to B's (trained on synthetic pairs).
   :class:`FaceVAEBridge` is the restoration path: A's encoder -> bridge -> B's decoder
   (:meth:`FaceVAEBridge.from_vaes` assembles it from two trained VAEs). In
   :class:`Portrait3Stage` each face box (from a detector, see :mod:`restora.faces`) is
   expanded to a square (``face_margin``), cropped from the step-1 image, resized to
   ``face_size``, restored, resized back and blended in through a feathered mask.
3. Refinement at full resolution: an ORSNet (``n_orb`` original-resolution blocks of
   ``orb_cabs`` channel-attention blocks; the paper: 3 x 8) on the step-2 image's shallow
   features fused with the step-1 SAM features, each ORB also fed the step-1 decoder
   features (MPRNet's cross-stage fusion); the output is a residual on the step-2 image.

Ablation switches of :class:`Portrait3Stage`: ``face_stage=False`` (no step 2),
``sam_features=False`` (step 3 sees only the step-2 image), ``orb_cabs=4`` vs 8.
``face_residual=True`` (not the paper's: its B decoder draws the whole face) adds the crop
to the face path's output, so step 2 starts near the identity; a choice for short CPU
budgets, where an untrained decoder pasting noise over the face slows the start.
Two further deviations for images larger than the training crops (session 30):
``face_full_res=True`` (with ``face_residual``) upsamples only the face path's *correction*
onto the full-resolution crop, so the detail of the step-1 image survives where a 150 px
face went through a 64 px path (without it, the whole region is replaced by an upsampled
64 px face: a low-pass of the face on 256 px portraits); ``face_gate=True`` scales that
correction by a learnt gain that starts at 0 (ReZero), so the system starts as the
system without step 2 and the face path enters only as far as it lowers the loss.

Without boxes (training on aligned face crops, ``describe``), the face box is
``default_box``, fractions of the image: the mean MTCNN box on the aligned 256 px test
faces (``test/Faces``: x 0.22-0.77, y 0.19-0.90), so training crops match what detection
gives on aligned faces. ``forward_stages`` returns every step's image (the trainer's
multi-stage loss): ``[step1, step2, step3]`` (``[step1, step3]`` without step 2).
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from restora.nn.blocks import conv3x3
from restora.nn.mprnet import CAB, ORB, ORSNet, SAM
from restora.nn.spec import ArchSpec

__all__ = [
    "ResBlock",
    "UNetSAM",
    "FaceVAE",
    "VAEEncoder",
    "VAEDecoder",
    "LatentBridge",
    "FaceVAEBridge",
    "Portrait3Stage",
    "kl_divergence",
    "DEFAULT_FACE_BOX",
    "SPECS",
]

#: Face box used when none is given: fractions (x1, y1, x2, y2) of the image (the mean
#: MTCNN box on the aligned faces of test/Faces).
DEFAULT_FACE_BOX = (0.22, 0.19, 0.77, 0.90)

BoxesLike = Sequence[Sequence[Sequence[float]]]  # per image, a list of (x1, y1, x2, y2) in pixels


class ResBlock(nn.Module):
    """conv-PReLU-conv with an identity skip."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.body = nn.Sequential(conv3x3(c, c), nn.PReLU(c), conv3x3(c, c))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


# ----------------------------------------------------------------------------- step 1
class UNetSAM(nn.Module):
    """U-Net (``levels`` scales, widths ``features + i x growth``, ``blocks`` residual blocks
    per scale) + SAM. ``forward(x)`` (size a multiple of ``2 ** (levels - 1)``) returns
    ``(gated_features, image, decoder_features)`` with the decoder features fine first.
    ``sam=False``: a plain conv gives the image and ``gated_features`` is ``None`` (nothing
    downstream uses them: the "without SAM features" ablation has no unused weights)."""

    def __init__(self, in_channels: int = 3, features: int = 32, growth: int = 16, levels: int = 3, blocks: int = 1,
                 sam: bool = True) -> None:
        super().__init__()
        if levels < 1:
            raise ValueError(f"levels must be >= 1, got {levels}")
        widths = [features + i * growth for i in range(levels)]
        self.levels = levels
        self.head = nn.Sequential(conv3x3(in_channels, features), nn.PReLU(features))
        self.enc = nn.ModuleList(nn.Sequential(*[ResBlock(w) for _ in range(blocks)]) for w in widths)
        self.down = nn.ModuleList(nn.Sequential(nn.AvgPool2d(2), nn.Conv2d(widths[i], widths[i + 1], 1)) for i in range(levels - 1))
        self.up = nn.ModuleList(nn.Sequential(nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
                                              nn.Conv2d(widths[i + 1], widths[i], 1)) for i in range(levels - 1))
        self.merge = nn.ModuleList(nn.Conv2d(2 * widths[i], widths[i], 1) for i in range(levels - 1))
        self.dec = nn.ModuleList(nn.Sequential(*[ResBlock(widths[i]) for _ in range(blocks)]) for i in range(levels - 1))
        self.sam = SAM(features, in_channels) if sam else None
        self.to_image = None if sam else conv3x3(features, in_channels)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor, list[torch.Tensor]]:
        skips = []
        f = self.head(x)
        for i in range(self.levels):
            f = self.enc[i](f)
            skips.append(f)
            if i < self.levels - 1:
                f = self.down[i](f)
        dec = [f]
        for i in reversed(range(self.levels - 1)):
            f = self.dec[i](self.merge[i](torch.cat([self.up[i](f), skips[i]], 1)))
            dec.insert(0, f)
        if self.sam is None:
            return None, self.to_image(f) + x, dec
        gated, image = self.sam(f, x)
        return gated, image, dec


# ----------------------------------------------------------------------------- step 2
class VAEEncoder(nn.Module):
    """Image -> ``(mu, logvar)``, spatial latents of ``latent_channels`` at 1 / 2^downs."""

    def __init__(self, in_channels: int = 3, features: int = 32, latent_channels: int = 16, downs: int = 2, blocks: int = 1) -> None:
        super().__init__()
        layers: list[nn.Module] = [conv3x3(in_channels, features), nn.PReLU(features)]
        c = features
        for _ in range(downs):
            layers += [*[ResBlock(c) for _ in range(blocks)], nn.Conv2d(c, 2 * c, 4, stride=2, padding=1), nn.PReLU(2 * c)]
            c *= 2
        layers += [ResBlock(c) for _ in range(blocks)]
        self.body = nn.Sequential(*layers)
        self.mu = conv3x3(c, latent_channels)
        self.logvar = conv3x3(c, latent_channels)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.body(x)
        return self.mu(h), self.logvar(h).clamp(-30.0, 20.0)


class VAEDecoder(nn.Module):
    """Latent -> image (``2 ** downs`` times larger)."""

    def __init__(self, out_channels: int = 3, features: int = 32, latent_channels: int = 16, downs: int = 2, blocks: int = 1) -> None:
        super().__init__()
        c = features * 2**downs
        layers: list[nn.Module] = [conv3x3(latent_channels, c), nn.PReLU(c), *[ResBlock(c) for _ in range(blocks)]]
        for _ in range(downs):
            layers += [nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False), conv3x3(c, c // 2), nn.PReLU(c // 2),
                       *[ResBlock(c // 2) for _ in range(blocks)]]
            c //= 2
        layers.append(conv3x3(c, out_channels))
        self.body = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.body(z)


def _sample(mu: torch.Tensor, logvar: torch.Tensor, training: bool) -> torch.Tensor:
    """Reparameterised sample in training, the mean otherwise."""
    if not training:
        return mu
    return mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)


def kl_divergence(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, exp(logvar)) || N(0, 1)), mean over every latent element."""
    return 0.5 * torch.mean(mu * mu + logvar.exp() - 1.0 - logvar)


class FaceVAE(nn.Module):
    """A face VAE of one domain (A: degraded, B: clean). ``forward(x)`` reconstructs
    (sampling in training, the mean in eval); ``forward_vae(x)`` gives
    ``(reconstruction, mu, logvar)`` for a loss with :func:`kl_divergence`. Input side a
    multiple of ``2 ** downs``."""

    def __init__(self, in_channels: int = 3, features: int = 32, latent_channels: int = 16, downs: int = 2, blocks: int = 1) -> None:
        super().__init__()
        self.downs = downs
        self.encoder = VAEEncoder(in_channels, features, latent_channels, downs, blocks)
        self.decoder = VAEDecoder(in_channels, features, latent_channels, downs, blocks)

    def forward_vae(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        mu, logvar = self.encoder(x)
        return self.decoder(_sample(mu, logvar, self.training)), mu, logvar

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        m = 2**self.downs
        ph, pw = (-h) % m, (-w) % m
        xp = F.pad(x, (0, pw, 0, ph), mode="replicate") if (ph or pw) else x
        return self.forward_vae(xp)[0][..., :h, :w]


class LatentBridge(nn.Module):
    """Maps a domain-A latent to the domain-B latent: ``z + f(z)``, ``f`` a conv head,
    ``blocks`` residual blocks of ``features`` channels and a conv tail."""

    def __init__(self, latent_channels: int = 16, features: int = 64, blocks: int = 2) -> None:
        super().__init__()
        self.body = nn.Sequential(conv3x3(latent_channels, features), nn.PReLU(features),
                                  *[ResBlock(features) for _ in range(blocks)], conv3x3(features, latent_channels))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return z + self.body(z)


class FaceVAEBridge(nn.Module):
    """The face restoration path: domain-A encoder -> :class:`LatentBridge` -> domain-B
    decoder (image in, image out, same size; side a multiple of ``2 ** downs``, else padded)."""

    def __init__(self, in_channels: int = 3, features: int = 32, latent_channels: int = 16, downs: int = 2, blocks: int = 1,
                 bridge_features: int = 64, bridge_blocks: int = 2) -> None:
        super().__init__()
        self.downs = downs
        self.encoder_a = VAEEncoder(in_channels, features, latent_channels, downs, blocks)
        self.bridge = LatentBridge(latent_channels, bridge_features, bridge_blocks)
        self.decoder_b = VAEDecoder(in_channels, features, latent_channels, downs, blocks)

    @classmethod
    def from_vaes(cls, vae_a: FaceVAE, vae_b: FaceVAE, bridge: LatentBridge | None = None, **kwargs: int) -> "FaceVAEBridge":
        """Assemble from trained VAEs (A's encoder, B's decoder; their args in ``kwargs``) and
        an optional trained bridge; the weights are copied."""
        net = cls(**kwargs)
        net.encoder_a.load_state_dict(vae_a.encoder.state_dict())
        net.decoder_b.load_state_dict(vae_b.decoder.state_dict())
        if bridge is not None:
            net.bridge.load_state_dict(bridge.state_dict())
        return net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        m = 2**self.downs
        ph, pw = (-h) % m, (-w) % m
        xp = F.pad(x, (0, pw, 0, ph), mode="replicate") if (ph or pw) else x
        mu, logvar = self.encoder_a(xp)
        return self.decoder_b(self.bridge(_sample(mu, logvar, self.training)))[..., :h, :w]


# ----------------------------------------------------------------------------- the system
def _feather_mask(h: int, w: int, feather: float, like: torch.Tensor) -> torch.Tensor:
    """1 inside, ramping to 0 over ``feather`` of each side at the borders (1 x 1 x h x w)."""
    y = torch.arange(h, dtype=like.dtype, device=like.device) + 0.5
    x = torch.arange(w, dtype=like.dtype, device=like.device) + 0.5
    ry = torch.clamp(torch.minimum(y, h - y) / max(feather * h, 1.0), 0, 1)
    rx = torch.clamp(torch.minimum(x, w - x) / max(feather * w, 1.0), 0, 1)
    return (ry[:, None] * rx[None, :])[None, None]


def _square_box(box: Sequence[float], margin: float, h: int, w: int) -> tuple[int, int, int, int]:
    x1, y1, x2, y2 = (float(v) for v in box)
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    side = max(4.0, margin * max(x2 - x1, y2 - y1))
    bx1, by1 = int(round(cx - side / 2)), int(round(cy - side / 2))
    bx2, by2 = bx1 + int(round(side)), by1 + int(round(side))
    return max(0, bx1), max(0, by1), min(w, bx2), min(h, by2)


class Portrait3Stage(nn.Module):
    """Step 1 (:class:`UNetSAM`) -> step 2 (faces through :class:`FaceVAEBridge`, composited)
    -> step 3 (ORSNet, fed the SAM features), see the module docstring.

    ``forward(x, boxes=None)`` / ``forward_stages(x, boxes=None, detector=None)``: ``boxes``
    is, per image of the batch, a list of face boxes ``(x1, y1, x2, y2)`` in pixels (an
    empty list: no face, step 2 leaves the image); ``None`` uses ``default_box``.
    ``detector(step1_images) -> boxes`` instead detects on the step-1 output.
    """

    def __init__(
        self,
        in_channels: int = 3,
        features: int = 32,
        growth: int = 16,
        levels: int = 3,
        blocks: int = 1,
        face_stage: bool = True,
        face_size: int = 64,
        face_features: int = 32,
        latent_channels: int = 16,
        face_downs: int = 2,
        bridge_features: int = 64,
        bridge_blocks: int = 2,
        face_margin: float = 1.2,
        feather: float = 0.12,
        face_residual: bool = False,
        face_full_res: bool = False,
        face_gate: bool = False,
        default_box: Sequence[float] = DEFAULT_FACE_BOX,
        sam_features: bool = True,
        n_orb: int = 3,
        orb_cabs: int = 8,
    ) -> None:
        super().__init__()
        if levels < 1 or n_orb < 1 or orb_cabs < 1:
            raise ValueError("levels, n_orb and orb_cabs must be >= 1")
        if sam_features and n_orb > levels:
            raise ValueError(f"with sam_features each ORB is fed one step-1 scale: n_orb ({n_orb}) must be <= levels ({levels})")
        if face_size % (2**face_downs):
            raise ValueError(f"face_size ({face_size}) must be a multiple of 2 ** face_downs ({2 ** face_downs})")
        if len(default_box) != 4:
            raise ValueError(f"default_box must be 4 fractions (x1, y1, x2, y2), got {default_box!r}")
        if face_full_res and not face_residual:
            raise ValueError("face_full_res adds the face path's correction to the full-resolution crop: it needs face_residual=True")
        c = features
        self.levels = levels
        self.face_size = int(face_size)
        self.face_margin = float(face_margin)
        self.feather = float(feather)
        self.face_residual = bool(face_residual)
        self.face_full_res = bool(face_full_res)
        self.face_gain = nn.Parameter(torch.zeros(1)) if face_gate and face_stage else None
        self.default_box = tuple(float(v) for v in default_box)
        self.sam_features = bool(sam_features)
        self.stage1 = UNetSAM(in_channels, c, growth, levels, blocks, sam=self.sam_features)
        self.face = FaceVAEBridge(in_channels, face_features, latent_channels, face_downs, blocks, bridge_features, bridge_blocks) if face_stage else None
        self.shallow3 = nn.Sequential(conv3x3(in_channels, c), CAB(c))
        if self.sam_features:
            self.concat3 = conv3x3(2 * c, c)
            self.stage3: nn.Module = ORSNet(c, growth, n_orb=n_orb, n_cab=orb_cabs)
        else:
            self.stage3 = nn.Sequential(*[ORB(c, orb_cabs) for _ in range(n_orb)])
        self.tail = conv3x3(c, in_channels)

    # -- step 2
    def _default_boxes(self, n: int, h: int, w: int) -> list[list[tuple[float, float, float, float]]]:
        x1, y1, x2, y2 = self.default_box
        return [[(x1 * w, y1 * h, x2 * w, y2 * h)] for _ in range(n)]

    def restore_faces(self, image: torch.Tensor, boxes: BoxesLike | None, size: tuple[int, int] | None = None) -> torch.Tensor:
        """Step 2 on a batch of (step-1) images: each box's square crop restored and blended
        back. ``size``: the (H, W) the boxes refer to (default: the image's)."""
        if self.face is None:
            return image
        n, _, hp, wp = image.shape
        h, w = size if size is not None else (hp, wp)
        if boxes is None:
            boxes = self._default_boxes(n, h, w)
        if len(boxes) != n:
            raise ValueError(f"boxes: need one list per image ({n}), got {len(boxes)}")
        regions = [(b, _square_box(box, self.face_margin, h, w)) for b in range(n) for box in boxes[b]]
        regions = [(b, r) for b, r in regions if r[2] - r[0] >= 2 and r[3] - r[1] >= 2]
        if not regions:
            return image
        s = self.face_size
        # resampling in float32 (antialiased bilinear has no bfloat16 kernel on the CPU)
        crops = [F.interpolate(image[b : b + 1, :, y1:y2, x1:x2].float(), size=(s, s), mode="bilinear", align_corners=False,
                               antialias=(y2 - y1) > s).to(image.dtype) for b, (x1, y1, x2, y2) in regions]
        batch = torch.cat(crops, 0)
        corrections = self.face(batch)
        faces = corrections + batch if self.face_residual and not self.face_full_res else corrections
        out = image.clone()
        for k, (b, (x1, y1, x2, y2)) in enumerate(regions):
            back = F.interpolate(faces[k : k + 1].float(), size=(y2 - y1, x2 - x1), mode="bilinear", align_corners=False,
                                 antialias=(y2 - y1) < s).to(image.dtype)
            region = out[b : b + 1, :, y1:y2, x1:x2].clone()  # kept for backward: out is written in place
            if self.face_full_res:
                back = region + back
            m = _feather_mask(y2 - y1, x2 - x1, self.feather, back)
            if self.face_gain is not None:
                m = m * self.face_gain
            out[b : b + 1, :, y1:y2, x1:x2] = region * (1 - m) + back * m
        return out

    # -- the whole system
    def forward_stages(self, x: torch.Tensor, boxes: BoxesLike | None = None,
                       detector: Callable[[torch.Tensor], BoxesLike] | None = None) -> list[torch.Tensor]:
        h, w = x.shape[-2:]
        m = 2 ** (self.levels - 1)
        ph, pw = (-h) % m, (-w) % m
        xp = F.pad(x, (0, pw, 0, ph), mode="reflect" if min(h, w) > max(ph, pw) else "replicate") if (ph or pw) else x
        gated, img1, dec = self.stage1(xp)
        outs = [img1]
        img2 = img1
        if self.face is not None:
            if detector is not None:
                boxes = detector(img1[..., :h, :w].detach())
            img2 = self.restore_faces(img1, boxes, (h, w))
            outs.append(img2)
        f = self.shallow3(img2)
        if self.sam_features:
            f3 = self.stage3(self.concat3(torch.cat([f, gated], 1)), dec)
        else:
            f3 = self.stage3(f)
        outs.append(self.tail(f3) + img2)
        return [o[..., :h, :w] for o in outs]

    def forward(self, x: torch.Tensor, boxes: BoxesLike | None = None) -> torch.Tensor:
        return self.forward_stages(x, boxes)[-1]


SPECS = [
    ArchSpec(
        name="portrait-3stage",
        task="restore",
        build=Portrait3Stage,
        description="issue-18 portrait restorer: U-Net + SAM, face VAEs with a latent bridge (boxes or default box), "
        "ORSNet with SAM features; forward_stages for stage losses; switches face_stage, sam_features, orb_cabs, "
        "face_residual, face_full_res, face_gate",
        defaults={"in_channels": 3, "features": 32, "growth": 16, "levels": 3, "face_stage": True, "face_size": 64,
                  "face_features": 32, "latent_channels": 16, "sam_features": True, "n_orb": 3, "orb_cabs": 8},
    ),
    ArchSpec(
        name="face-vae",
        task="restore",
        build=FaceVAE,
        description="one domain's face VAE (spatial latent); forward reconstructs, forward_vae gives (recon, mu, logvar)",
        defaults={"in_channels": 3, "features": 32, "latent_channels": 16, "downs": 2},
    ),
    ArchSpec(
        name="face-vae-bridge",
        task="restore",
        build=FaceVAEBridge,
        description="face restoration path: domain-A VAE encoder -> latent bridge -> domain-B VAE decoder",
        defaults={"in_channels": 3, "features": 32, "latent_channels": 16, "downs": 2, "bridge_features": 64, "bridge_blocks": 2},
    ),
]
