"""Faces: offline detection (MTCNN weights from the ``faces`` extra) and face-in-scene
composites for training and testing portrait restorers."""

from restora.faces.detect import *  # noqa: F401,F403
from restora.faces.scenes import *  # noqa: F401,F403
from restora.faces.restorer import *  # noqa: F401,F403
from restora.faces.align import *  # noqa: F401,F403
