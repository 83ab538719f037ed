"""Training restoration networks from short YAML recipes.

``restora train recipe.yaml --set train.steps=1000`` or, in Python::

    from restora.train import load_config, train
    result = train(load_config("configs/dncnn-gray-blind.yaml", ["train.steps=1000"]))

Pieces: :mod:`~restora.train.config` (dataclass schema, ``base:`` inheritance, overrides),
:mod:`~restora.train.data` (patches, augmentation, on-the-fly degradations, validation
pairs), :mod:`~restora.train.losses` and :mod:`~restora.train.features` (pixel, SSIM, FFT,
perceptual, GAN), :mod:`~restora.train.optim` (optimisers, schedules, EMA),
:mod:`~restora.train.checkpoint` (safetensors + JSON, exact resume),
:mod:`~restora.train.distributed` (DDP under torchrun), :mod:`~restora.train.trainer`.
See ``docs/training.md``.
"""

from restora.train.config import (
    Config,
    DataConfig,
    DegradationConfig,
    DiscriminatorConfig,
    ExportConfig,
    ModelConfig,
    OptimConfig,
    TrainConfig,
    ValConfig,
    config_from_dict,
    config_to_dict,
    load_config,
)
from restora.train.features import FeatureNetwork, ModelFeatures, RandomFeatures, VGG19Features
from restora.train.losses import (
    CharbonnierLoss,
    FFTLoss,
    GANLoss,
    L1Loss,
    L2Loss,
    PerceptualLoss,
    SSIMLoss,
    build_losses,
    gradient_penalty,
)
from restora.train.optim import EMA
from restora.train.trainer import Trainer, TrainResult, train

__all__ = [
    "Config",
    "DataConfig",
    "DegradationConfig",
    "DiscriminatorConfig",
    "ExportConfig",
    "ModelConfig",
    "OptimConfig",
    "TrainConfig",
    "ValConfig",
    "config_from_dict",
    "config_to_dict",
    "load_config",
    "FeatureNetwork",
    "ModelFeatures",
    "RandomFeatures",
    "VGG19Features",
    "CharbonnierLoss",
    "FFTLoss",
    "GANLoss",
    "L1Loss",
    "L2Loss",
    "PerceptualLoss",
    "SSIMLoss",
    "build_losses",
    "gradient_penalty",
    "EMA",
    "Trainer",
    "TrainResult",
    "train",
]
