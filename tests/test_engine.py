"""Tiled inference: seamless, bounded, padded, precision fallback; ONNX export."""

import numpy as np
import pytest
import torch
from torch import nn

from restora.engine import TiledEngine, layout
from restora.engine.tiling import balanced_tile, blend_window, tile_starts
from restora.errors import InvalidParameterError
from restora.nn import create_model


def _psnr(a, b):
    return 10 * np.log10(1.0 / np.mean((a - b) ** 2))


class _SizeRecorder(nn.Module):
    def __init__(self, inner):
        super().__init__()
        self.inner = inner
        self.max_pixels = 0

    def forward(self, x, *extra):
        self.max_pixels = max(self.max_pixels, x.shape[0] * x.shape[2] * x.shape[3])
        return self.inner(x, *extra)


def test_layout_covers_image_with_equal_tiles():
    tiles = layout(100, 130, 48, 16)
    cover = np.zeros((100, 130), int)
    for t in tiles:
        assert (t.y1 - t.y0, t.x1 - t.x0) == (44, 45)  # balanced: 3 x 4 tiles, as 48-pixel ones would need
        cover[t.y0 : t.y1, t.x0 : t.x1] += 1
    assert cover.min() >= 1 and len(tiles) == 12
    w = blend_window(tiles[0], 100, 130, 16)
    assert w[0, 0] == 1.0 and w[-1, -1] < 0.01  # image-border side untapered, inner side tapered


def test_balanced_tiles_compute_fewer_pixels_for_the_same_tile_count():
    for length, tile, overlap, multiple in [(768, 672, 32, 8), (1200, 1024, 32, 16), (4000, 1024, 32, 16), (97, 48, 16, 1), (1000, 1000, 32, 8)]:
        side = balanced_tile(length, tile, overlap, multiple)
        old = tile_starts(length, min(tile, length), overlap)
        new = tile_starts(length, side, overlap)
        assert side <= tile and side % multiple == 0 or side == length
        assert len(new) == len(old)  # never more tiles (forward passes) than before
        assert all(b - a <= side - overlap for a, b in zip(new, new[1:]))  # every seam keeps its overlap
        assert new[-1] + side == length
    assert balanced_tile(768, 672, 32, 8) == 400  # 2 x 400 per axis instead of 2 x 672
    tiles = layout(768, 768, 672, 32, 8)
    assert len(tiles) == 4 and sum((t.y1 - t.y0) * (t.x1 - t.x0) for t in tiles) == 4 * 400 * 400


def test_tiled_equals_whole_on_2000x1500_within_0_05_db():
    torch.manual_seed(0)
    model = create_model("dncnn", in_channels=3, depth=6, features=8)
    img = np.random.default_rng(0).random((1500, 2000, 3), dtype=np.float32)
    whole = TiledEngine(model, tile=None)(img)
    rec = _SizeRecorder(model)
    engine = TiledEngine(rec, descriptor=TiledEngine(model, tile=None).descriptor, tile=256, overlap=32, batch_size=2)
    tiled = engine(img)
    assert engine.stats.tiles > 30
    assert _psnr(tiled, whole) > 60  # far tighter than 0.05 dB of PSNR difference
    ref = np.clip(img + 0.01, 0, 1)
    assert abs(_psnr(tiled, ref) - _psnr(whole, ref)) < 0.05
    assert rec.max_pixels <= 2 * 256 * 256  # bounded: the device only ever sees batch x tile


def test_scale_and_size_multiple_padding():
    torch.manual_seed(0)
    unet = create_model("unet", features=4, levels=3)  # size multiple 4
    img = np.random.default_rng(1).random((37, 45, 3), dtype=np.float32)
    out = TiledEngine(unet, tile=24, overlap=8)(img)
    assert out.shape == img.shape
    sr = create_model("rrdb", blocks=1, features=8, growth=4, scale=2)
    img = np.random.default_rng(1).random((96, 120, 3), dtype=np.float32)
    whole = TiledEngine(sr, tile=None)(img)
    tiled = TiledEngine(sr, tile=48, overlap=24)(img)
    assert tiled.shape == (192, 240, 3)
    assert np.sqrt(np.mean((tiled - whole) ** 2)) < 1e-3 * whole.std()


def test_noise_map_condition_reaches_model():
    torch.manual_seed(0)
    ff = create_model("ffdnet", depth=3, features=8)
    img = np.random.default_rng(2).random((20, 22, 1), dtype=np.float32)
    eng = TiledEngine(ff, tile=None)
    assert not np.allclose(eng(img, sigma=5), eng(img, sigma=50))


def test_cpu_engine_runs_channels_last_by_default_with_the_same_output():
    torch.manual_seed(0)
    img = np.random.default_rng(3).random((40, 52, 3), dtype=np.float32)
    plain = TiledEngine(create_model("dncnn", in_channels=3, depth=4, features=8), device="cpu", tile=None, channels_last=False)
    torch.manual_seed(0)
    default = TiledEngine(create_model("dncnn", in_channels=3, depth=4, features=8), device="cpu", tile=None)
    assert default.channels_last and not plain.channels_last
    conv = next(m for m in default.model.modules() if isinstance(m, nn.Conv2d) and m.in_channels > 1)
    assert conv.weight.is_contiguous(memory_format=torch.channels_last) and not conv.weight.is_contiguous()
    assert np.abs(default(img) - plain(img)).max() < 1e-5


class _NoBF16(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 3, padding=1)

    def forward(self, x):
        if x.dtype != torch.float32:
            raise RuntimeError("kernel not implemented for 'BFloat16'")
        return self.conv(x)


def test_low_precision_failure_falls_back_to_fp32():
    from restora.nn.spec import ModelDescriptor

    d = ModelDescriptor("custom", {}, "restore", 1, 3, 3, 1, ("float32", "bfloat16"), 84, 0.0)
    eng = TiledEngine(_NoBF16(), d, dtype="bfloat16", tile=None)
    with pytest.warns(RuntimeWarning, match="falling back to float32"):
        out = eng(np.zeros((8, 8, 3), np.float32))
    assert out.shape == (8, 8, 3) and eng.stats.fell_back_to_fp32


def test_bad_options_are_clear():
    model = create_model("dncnn", depth=3, features=4)
    with pytest.raises(InvalidParameterError, match="overlap"):
        TiledEngine(model, overlap=-1)
    with pytest.raises(InvalidParameterError, match="tile"):
        TiledEngine(model, tile=4)
    with pytest.raises(InvalidParameterError, match="image must be"):
        TiledEngine(model, tile=None)(np.zeros((8, 8, 3), np.float32))  # gray model, RGB image


def test_onnx_export_dynamic_size_matches_pytorch(tmp_path):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    from restora.engine.onnx_export import export_onnx, verify_onnx
    from restora.nn import describe

    model = create_model("dncnn", in_channels=3, depth=3, features=4)
    path = export_onnx(model, tmp_path / "m.onnx")
    assert path.exists()
    # a third size, not used during export
    assert verify_onnx(model, path, describe(model, measure_flops=False), probe_size=(29, 71)) < 1e-4


def test_fold_batchnorm_is_exact_and_leaves_the_model_alone():
    import torch

    from restora.engine.fuse import fold_batchnorm
    from restora.nn.registry import create_model

    torch.manual_seed(0)
    m = create_model("ffdnet", in_channels=1, features=8, depth=5).eval()
    for mod in m.modules():  # non-trivial running statistics
        if isinstance(mod, torch.nn.BatchNorm2d):
            mod.running_mean.uniform_(-0.5, 0.5)
            mod.running_var.uniform_(0.5, 2.0)
            mod.weight.data.uniform_(0.5, 1.5)
            mod.bias.data.uniform_(-0.2, 0.2)
    f = fold_batchnorm(m)
    assert f is not m and not any(isinstance(x, torch.nn.BatchNorm2d) for x in f.modules())
    assert any(isinstance(x, torch.nn.BatchNorm2d) for x in m.modules())  # original untouched
    x, n = torch.rand(2, 1, 20, 24), torch.full((2, 1, 20, 24), 0.1)
    with torch.no_grad():
        torch.testing.assert_close(f(x, n), m(x, n), atol=1e-5, rtol=1e-5)
    plain = create_model("drunet", features=4, levels=2, blocks=1)  # no BatchNorm: returned as is
    assert fold_batchnorm(plain) is plain
