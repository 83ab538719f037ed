"""Opponent colour channels: luma and two chroma differences with orthogonal rows.

White RGB noise of level sigma stays white and independent in every opponent channel, with
level ``sigma * OPPONENT_GAINS[i]``, so a gray noise-map denoiser can run on colour images
one channel at a time (CBM3D's colour mode), and be trained that way
(``data.color_split: opponent``). With the offset every channel of an image in [0, 1] lies
in [0, 1].
"""

from __future__ import annotations

import numpy as np

__all__ = ["OPPONENT", "OPPONENT_OFFSET", "OPPONENT_GAINS", "to_opponent", "from_opponent"]

#: Luma + two chroma differences, orthogonal rows, each channel within [0, 1] after the offset.
OPPONENT = np.array([[1 / 3, 1 / 3, 1 / 3], [1 / 2, 0.0, -1 / 2], [1 / 4, -1 / 2, 1 / 4]], np.float32)
OPPONENT_OFFSET = np.array([0.0, 0.5, 0.5], np.float32)
#: Noise-level factor of each channel (the row norms): 0.577, 0.707, 0.612.
OPPONENT_GAINS = np.linalg.norm(OPPONENT.astype(np.float64), axis=1)
_INVERSE = np.linalg.inv(OPPONENT.astype(np.float64)).T.astype(np.float32)


def to_opponent(rgb: np.ndarray, channel: int | None = None) -> np.ndarray:
    """``H x W x 3`` RGB -> ``H x W x 3`` opponent channels (or only ``channel``, ``H x W x 1``)."""
    if channel is None:
        return (rgb @ OPPONENT.T + OPPONENT_OFFSET).astype(np.float32)
    return (rgb @ OPPONENT[channel][:, None] + OPPONENT_OFFSET[channel]).astype(np.float32)


def from_opponent(opp: np.ndarray) -> np.ndarray:
    """Inverse of :func:`to_opponent` for all three channels."""
    return ((opp - OPPONENT_OFFSET) @ _INVERSE).astype(np.float32)
