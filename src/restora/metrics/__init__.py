"""restora.metrics: full-reference (PSNR, SSIM, MS-SSIM, LPIPS), no-reference (NIQE) and
set (FID) image-quality metrics with explicit, documented benchmark conventions
(docs/metrics.md).

Images are float32 ``H x W x C`` arrays in [0, 1] (C = 1 or 3). Full-reference metrics share
the options ``crop`` (border pixels removed), ``y_channel`` (BT.601 Y as MATLAB
``rgb2ycbcr``), ``data_range`` and ``round_to_uint8`` (measure as MATLAB does on 8-bit
images). Batched torch versions live in :mod:`restora.metrics.torch_metrics`.

Every function is imported here eagerly (so ``restora.metrics.psnr`` is always the
function, never the submodule of the same name).
"""

from restora.metrics.color import rgb_to_y
from restora.metrics.compute import METRICS, compute_metrics, pair_files, parse_metric_names
from restora.metrics.fid import (
    FID_WEIGHTS_FILE,
    InceptionV3FID,
    feature_statistics,
    fid,
    fid_from_folders,
    frechet_distance,
    image_features,
    load_fid_inception,
)
from restora.metrics.identity import id_dist, id_sim  # bench metrics id_sim/id_dist (dlib, imported lazily)
from restora.metrics.niqe_x2 import niqe_x2  # bench metric niqe_x2: NIQE of the 2x upsample (64 px faces)
from restora.metrics.lpips import LPIPS, LPIPS_FILES, load_lpips, lpips
from restora.metrics.ms_ssim import MS_SSIM_WEIGHTS, ms_ssim
from restora.metrics.niqe import NiqeModel, fit_niqe_model, load_niqe_model, niqe, niqe_features
from restora.metrics.psnr import mse, psnr
from restora.metrics.ssim import ssim, ssim_map
from restora.metrics.torch_metrics import ms_ssim_torch, psnr_torch, rgb_to_y_torch, ssim_torch
from restora.metrics.weights import find_weights, weights_search_dirs

__all__ = [
    "rgb_to_y",
    "psnr",
    "mse",
    "ssim",
    "ssim_map",
    "ms_ssim",
    "MS_SSIM_WEIGHTS",
    "lpips",
    "load_lpips",
    "LPIPS",
    "LPIPS_FILES",
    "fid",
    "frechet_distance",
    "feature_statistics",
    "fid_from_folders",
    "image_features",
    "load_fid_inception",
    "InceptionV3FID",
    "FID_WEIGHTS_FILE",
    "niqe",
    "niqe_features",
    "fit_niqe_model",
    "load_niqe_model",
    "NiqeModel",
    "psnr_torch",
    "ssim_torch",
    "ms_ssim_torch",
    "rgb_to_y_torch",
    "weights_search_dirs",
    "find_weights",
    "compute_metrics",
    "pair_files",
    "parse_metric_names",
    "METRICS",
    "id_sim",
    "id_dist",
    "niqe_x2",
]
