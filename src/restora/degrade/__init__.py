"""Degradation synthesis: blur kernels, noise, camera ISP, resize, JPEG, haze, exposure
and whole pipelines (classical, BSRGAN, Real-ESRGAN, YAML). Every random operation takes
``rng`` (seed or Generator) and returns :class:`Degraded` ``(image, record)``.

Batched torch versions for training-time synthesis live in :mod:`restora.degrade.torch_ops`.
"""

from restora.degrade.record import Degraded, jsonable, to_json
from restora.degrade.kernels import *  # noqa: F401,F403
from restora.degrade.convolve import *  # noqa: F401,F403
from restora.degrade.noise import *  # noqa: F401,F403
from restora.degrade.isp import *  # noqa: F401,F403
from restora.degrade.sensor import *  # noqa: F401,F403
from restora.degrade.resize import *  # noqa: F401,F403
from restora.degrade.jpeg import *  # noqa: F401,F403
from restora.degrade.haze import *  # noqa: F401,F403
from restora.degrade.exposure import *  # noqa: F401,F403
from restora.degrade.pattern import *  # noqa: F401,F403
from restora.degrade.pipelines import *  # noqa: F401,F403
