"""restora.io: formats, bit depths, alpha, metadata, safety (bombs, corrupt files, atomic writes)."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageCms, ImageFile, ImageOps

import restora.io as rio
from restora.errors import (
    ConfigError,
    ImageReadError,
    ImageTooLargeError,
    ImageWriteError,
    InvalidParameterError,
    OutputExistsError,
)
from restora.io import (
    ImageWarning,
    merge_alpha,
    read_image,
    read_image_info,
    split_alpha,
    to_numpy,
    to_tensor,
    write_image,
)

def levels(shape: tuple[int, ...], depth: int, seed: int = 0) -> np.ndarray:
    """Random float32 image whose values lie exactly on the ``depth``-bit grid."""
    top = 2**depth - 1
    q = np.random.default_rng(seed).integers(0, top + 1, shape)
    return (q / top).astype(np.float32)


def as_ints(img: np.ndarray, depth: int) -> np.ndarray:
    return np.round(img.astype(np.float64) * (2**depth - 1)).astype(np.int64)


def srgb_icc() -> bytes:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def exif_block(orientation: int = 1, make: str = "TestCam") -> bytes:
    ex = Image.Exif()
    ex[0x0112] = orientation
    ex[0x010F] = make
    ex.get_ifd(0x8769)[0x9003] = "2021:02:03 04:05:06"  # DateTimeOriginal, in the Exif sub-IFD
    return ex.tobytes()


def parse_exif(raw: bytes | None) -> Image.Exif:
    ex = Image.Exif()
    assert raw is not None
    ex.load(raw)
    return ex


def assert_one_line_naming(err: pytest.ExceptionInfo, path: Path) -> None:
    msg = str(err.value)
    assert path.name in msg
    assert "\n" not in msg
    # no library traceback chained underneath
    assert err.value.__cause__ is None
    assert err.value.__context__ is None or err.value.__suppress_context__


def no_temp_files(folder: Path) -> bool:
    return not [f for f in os.listdir(folder) if f.endswith(".tmp")]


# --------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("suffix", [".png", ".tif"])
@pytest.mark.parametrize("depth", [8, 16])
@pytest.mark.parametrize("channels", [1, 2, 3, 4])
def test_lossless_round_trip_is_exact(tmp_path, suffix, depth, channels):
    img = levels((13, 17, channels), depth, seed=channels)
    path = write_image(tmp_path / f"x{suffix}", img, bit_depth=depth)
    back, info = read_image_info(path)
    assert back.dtype == np.float32 and back.shape == img.shape
    np.testing.assert_array_equal(as_ints(back, depth), as_ints(img, depth))
    assert info.bit_depth == depth
    assert info.channels == channels and info.has_alpha == (channels in (2, 4))
    assert (info.width, info.height) == (17, 13)
    assert info.format == ("PNG" if suffix == ".png" else "TIFF")


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_every_16_bit_level_survives(tmp_path, suffix):
    img = (np.arange(65536, dtype=np.float64).reshape(256, 256, 1) / 65535).astype(np.float32)
    back = read_image(write_image(tmp_path / f"all{suffix}", img, bit_depth=16))
    np.testing.assert_array_equal(as_ints(back, 16), np.arange(65536).reshape(256, 256, 1))


def test_16_bit_is_really_16_bit_on_disk(tmp_path):
    img = levels((8, 9, 3), 16)
    path = write_image(tmp_path / "x.png", img, bit_depth=16)
    import cv2

    raw = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert raw.dtype == np.uint16
    np.testing.assert_array_equal(raw[:, :, ::-1], as_ints(img, 16))


def test_quantisation_rounds_and_clips(tmp_path):
    vals = np.array([-0.5, 0.3 / 255, 0.7 / 255, 254.6 / 255, 1.5], np.float32).reshape(1, 5, 1)
    back = read_image(write_image(tmp_path / "q.png", vals))
    assert as_ints(back, 8).ravel().tolist() == [0, 0, 1, 255, 255]


def test_integer_arrays_are_accepted(tmp_path):
    u8 = np.random.default_rng(1).integers(0, 256, (5, 6, 3), dtype=np.uint8)
    back = read_image(write_image(tmp_path / "u8.png", u8))
    np.testing.assert_array_equal(as_ints(back, 8), u8)
    u16 = np.random.default_rng(2).integers(0, 65536, (5, 6), dtype=np.uint16)
    back = read_image(write_image(tmp_path / "u16.tif", u16, bit_depth=16))
    np.testing.assert_array_equal(as_ints(back, 16)[:, :, 0], u16)


@pytest.mark.parametrize("suffix,depth", [(".png", 8), (".png", 16), (".tif", 8), (".tif", 16), (".webp", 8)])
def test_alpha_and_colour_under_transparency_untouched(tmp_path, suffix, depth):
    img = levels((10, 12, 4), depth, seed=5)
    img[:5, :, 3] = 0.0  # fully transparent rows keep their (random) colour
    img[5:, :6, 3] = 1.0
    quality = 100  # WebP at quality 100 is lossless
    back = read_image(write_image(tmp_path / f"a{suffix}", img, bit_depth=depth, quality=quality))
    np.testing.assert_array_equal(as_ints(back, depth), as_ints(img, depth))


def test_jpeg_webp_bmp_read_and_write(tmp_path, rgb, gray):
    for name in ("x.jpg", "x.jpeg", "x.webp"):
        back, info = read_image_info(write_image(tmp_path / name, rgb, quality=95))
        assert back.shape == rgb.shape and back.dtype == np.float32
        assert np.abs(back - rgb).mean() < 0.02, name
        assert info.bit_depth == 8
    assert info.format == "WEBP"
    exact = read_image(write_image(tmp_path / "lossless.webp", rgb, quality=100))
    np.testing.assert_array_equal(as_ints(exact, 8), as_ints(rgb, 8))
    g = read_image(write_image(tmp_path / "g.jpg", gray))
    assert g.shape == gray.shape  # gray JPEG stays one channel
    for img in (rgb, gray, levels((6, 7, 4), 8)):
        back = read_image(write_image(tmp_path / f"b{img.shape[2]}.bmp", img))
        assert back.shape == img.shape
        np.testing.assert_array_equal(as_ints(back, 8), as_ints(img, 8))


def test_jpeg_quality_matters(tmp_path, rgb):
    small = write_image(tmp_path / "q10.jpg", rgb, quality=10).stat().st_size
    big = write_image(tmp_path / "q95.jpg", rgb, quality=95).stat().st_size
    assert small < big
    with pytest.raises(InvalidParameterError, match="quality"):
        write_image(tmp_path / "bad.jpg", rgb, quality=0)


def test_jpeg_drops_alpha_with_warning(tmp_path):
    img = levels((8, 8, 4), 8)
    with pytest.warns(ImageWarning, match="alpha"):
        path = write_image(tmp_path / "a.jpg", img)
    assert read_image(path).shape == (8, 8, 3)


def test_16_bit_to_8_bit_only_formats(tmp_path):
    img = levels((6, 6, 3), 16)
    with pytest.raises(ImageWriteError, match="x.jpg"):
        write_image(tmp_path / "x.jpg", img, bit_depth=16)
    _, info = read_image_info(write_image(tmp_path / "src.png", img, bit_depth=16))
    assert info.bit_depth == 16
    # the info's depth is the default: kept for TIFF, reduced for JPEG with a warning
    assert read_image_info(write_image(tmp_path / "d.tif", img, info=info))[1].bit_depth == 16
    with pytest.warns(ImageWarning, match="8-bit"):
        path = write_image(tmp_path / "d.jpg", img, info=info)
    assert read_image_info(path)[1].bit_depth == 8
    with pytest.raises(InvalidParameterError, match="bit_depth"):
        write_image(tmp_path / "x.png", img, bit_depth=12)


def test_write_rejects_nan(tmp_path):
    img = np.full((4, 4, 3), np.nan, np.float32)
    with pytest.raises(InvalidParameterError, match="NaN"):
        write_image(tmp_path / "n.png", img)
    assert no_temp_files(tmp_path) and not (tmp_path / "n.png").exists()


# --------------------------------------------------------------------------- orientation


def test_jpeg_exif_orientation_6_is_applied(tmp_path):
    stored = np.zeros((20, 40, 3), np.uint8)
    stored[:, :20] = (250, 10, 10)  # left half red, right half blue
    stored[:, 20:] = (10, 10, 250)
    path = tmp_path / "o6.jpg"
    Image.fromarray(stored).save(path, exif=exif_block(6), quality=95)

    img, info = read_image_info(path)
    assert img.shape == (40, 20, 3)  # rotated 90 degrees clockwise: the stored left is now on top
    assert img[:15, :, 0].mean() > 0.9 and img[-15:, :, 2].mean() > 0.9
    expected = np.asarray(ImageOps.exif_transpose(Image.open(path))).astype(np.float32) / 255
    np.testing.assert_array_equal(img, expected)
    assert info.orientation == 6 and (info.width, info.height) == (20, 40)
    ex = parse_exif(info.exif)
    assert ex[0x0112] == 1 and ex[0x010F] == "TestCam"
    assert ex.get_ifd(0x8769)[0x9003] == "2021:02:03 04:05:06"

    raw, raw_info = read_image_info(path, apply_orientation=False)
    assert raw.shape == (20, 40, 3)
    assert parse_exif(raw_info.exif)[0x0112] == 6


@pytest.mark.parametrize("orientation", range(1, 9))
def test_all_orientations_match_pillow(tmp_path, orientation):
    stored = np.random.default_rng(orientation).integers(0, 256, (5, 8, 3), dtype=np.uint8)
    path = tmp_path / "o.png"
    Image.fromarray(stored).save(path, exif=exif_block(orientation))
    expected = np.asarray(ImageOps.exif_transpose(Image.open(path))).astype(np.float32) / 255
    np.testing.assert_array_equal(read_image(path), expected)


def test_orientation_applied_to_16_bit_colour(tmp_path):
    stored = levels((5, 8, 3), 16)
    path = write_image(tmp_path / "o.png", stored, bit_depth=16, exif=exif_block(8))
    back, info = read_image_info(path)
    np.testing.assert_array_equal(back, np.rot90(stored, k=1))
    assert info.orientation == 8 and parse_exif(info.exif)[0x0112] == 1


@pytest.mark.parametrize("channels,depth", [(3, 8), (2, 16), (3, 16)])
def test_tiff_orientation_tag_applied(tmp_path, channels, depth):
    import tifffile

    stored = levels((5, 8, channels), depth, seed=channels)
    path = tmp_path / "o.tif"
    data = np.round(stored * (2**depth - 1)).astype(np.uint8 if depth == 8 else np.uint16)
    tifffile.imwrite(
        path,
        data,
        photometric="rgb" if channels == 3 else "minisblack",
        extrasamples=["unassalpha"] if channels == 2 else None,
        extratags=[(274, "H", 1, 6, True)],
        metadata=None,
    )
    back, info = read_image_info(path)
    np.testing.assert_array_equal(back, np.rot90(stored, k=-1))
    assert info.orientation == 6 and info.bit_depth == depth and info.channels == channels
    np.testing.assert_array_equal(read_image(path, apply_orientation=False), stored)


@pytest.mark.parametrize("orientation", [3, 6])
def test_16_bit_tiff_opencv_fallback_keeps_orientation_ours(tmp_path, orientation, monkeypatch):
    """Without imagecodecs tifffile cannot decode LZW; OpenCV then decodes, and must not turn
    the pixels itself (it would, for TIFFs), so the orientation is applied exactly once."""
    import tifffile

    stored = levels((5, 8, 3), 16)
    path = tmp_path / "o.tif"
    data = np.round(stored * 65535).astype(np.uint16)
    tags = [(274, "H", 1, orientation, True)]
    tifffile.imwrite(path, data, photometric="rgb", extratags=tags, metadata=None)

    def needs_codec(self, *args, **kwargs):
        raise ValueError("<COMPRESSION.LZW: 5> requires the 'imagecodecs' package")

    monkeypatch.setattr(tifffile.TiffPage, "asarray", needs_codec)
    expected = np.rot90(stored, k=-1) if orientation == 6 else stored[::-1, ::-1]
    np.testing.assert_array_equal(read_image(path), expected)
    np.testing.assert_array_equal(read_image(path, apply_orientation=False), stored)


def test_lzw_16_bit_tiff_reads(tmp_path):
    import cv2

    stored = levels((6, 7, 3), 16)
    data = np.round(stored * 65535).astype(np.uint16)[:, :, ::-1]
    ok, buf = cv2.imencode(".tif", data, [cv2.IMWRITE_TIFF_COMPRESSION, cv2.IMWRITE_TIFF_COMPRESSION_LZW])
    (tmp_path / "lzw.tif").write_bytes(buf.tobytes())
    np.testing.assert_array_equal(read_image(tmp_path / "lzw.tif"), stored)


# --------------------------------------------------------------------------- metadata


@pytest.mark.parametrize(
    "suffix,depth,channels",
    [(".png", 8, 3), (".jpg", 8, 3), (".webp", 8, 3), (".tif", 8, 3), (".png", 16, 3), (".png", 16, 2),
     (".png", 16, 1), (".tif", 16, 4), (".tif", 16, 1)],
)
def test_icc_and_exif_copied_via_info(tmp_path, suffix, depth, channels):
    icc = srgb_icc()
    img = levels((9, 10, channels), depth)
    src = tmp_path / f"src{suffix}"
    write_image(src, img, bit_depth=depth, icc_profile=icc, exif=exif_block(1, "Maker1"))
    back, info = read_image_info(src)
    assert info.icc_profile == icc
    assert parse_exif(info.exif)[0x010F] == "Maker1"

    out = write_image(tmp_path / f"out{suffix}", back, info=info)
    _, info2 = read_image_info(out)
    assert info2.icc_profile == icc
    assert parse_exif(info2.exif)[0x010F] == "Maker1"
    assert info2.bit_depth == depth


def test_icc_from_png_to_jpeg_and_override(tmp_path, rgb):
    icc = srgb_icc()
    _, info = read_image_info(write_image(tmp_path / "a.png", rgb, icc_profile=icc))
    _, info_j = read_image_info(write_image(tmp_path / "a.jpg", rgb, info=info))
    assert info_j.icc_profile == icc
    other = ImageCms.ImageCmsProfile(ImageCms.createProfile("LAB")).tobytes()
    _, info_o = read_image_info(write_image(tmp_path / "b.jpg", rgb, info=info, icc_profile=other))
    assert info_o.icc_profile == other


def test_dpi_carried(tmp_path, rgb):
    path = tmp_path / "d.png"
    Image.fromarray(as_ints(rgb, 8).astype(np.uint8)).save(path, dpi=(300, 300))
    img, info = read_image_info(path)
    assert info.dpi is not None and abs(info.dpi[0] - 300) < 0.1
    _, info2 = read_image_info(write_image(tmp_path / "d2.tif", img, info=info))
    assert info2.dpi is not None and abs(info2.dpi[0] - 300) < 0.1


# --------------------------------------------------------------------------- conversions


def test_palette_converted_with_warning(tmp_path, rgb):
    pal = Image.fromarray(as_ints(rgb, 8).astype(np.uint8)).quantize(16)
    path = tmp_path / "p.png"
    pal.save(path)
    with pytest.warns(ImageWarning, match="palette"):
        img, info = read_image_info(path)
    assert img.shape == rgb.shape and info.mode == "P"
    np.testing.assert_array_equal(as_ints(img, 8), np.asarray(pal.convert("RGB")))

    pal.save(tmp_path / "pt.png", transparency=0)
    with pytest.warns(ImageWarning, match="RGBA"):
        img = read_image(tmp_path / "pt.png")
    assert img.shape == (*rgb.shape[:2], 4)
    assert set(np.unique(img[:, :, 3])) <= {0.0, 1.0} and img[:, :, 3].min() == 0.0


def test_cmyk_converted_with_warning(tmp_path):
    cmyk = Image.fromarray(np.random.default_rng(3).integers(0, 256, (6, 7, 4), dtype=np.uint8), "CMYK")
    path = tmp_path / "c.tif"
    cmyk.save(path)
    with pytest.warns(ImageWarning, match="CMYK"):
        img, info = read_image_info(path)
    assert img.shape == (6, 7, 3) and info.mode == "CMYK" and info.channels == 3
    np.testing.assert_array_equal(as_ints(img, 8), np.asarray(cmyk.convert("RGB")))
    cmyk.save(tmp_path / "c.jpg")
    with pytest.warns(ImageWarning, match="CMYK"):
        assert read_image(tmp_path / "c.jpg").shape == (6, 7, 3)


def test_transparent_colour_key_becomes_alpha(tmp_path):
    im = Image.new("RGB", (4, 3), (9, 9, 9))
    im.putpixel((0, 0), (1, 2, 3))
    im.save(tmp_path / "t.png", transparency=(9, 9, 9))
    img = read_image(tmp_path / "t.png")
    assert img.shape == (3, 4, 4)
    assert img[0, 0, 3] == 1.0 and img[1, 1, 3] == 0.0


def test_multipage_tiff_reads_first_page_with_warning(tmp_path):
    a = Image.new("L", (4, 4), 10)
    a.save(tmp_path / "m.tif", save_all=True, append_images=[Image.new("L", (4, 4), 200)])
    with pytest.warns(ImageWarning, match="2 frames"):
        img, info = read_image_info(tmp_path / "m.tif")
    assert info.n_frames == 2 and np.all(as_ints(img, 8) == 10)


# --------------------------------------------------------------------------- atomic writes


def test_no_overwrite_keeps_existing_file(tmp_path, rgb):
    path = tmp_path / "out.png"
    path.write_bytes(b"precious")
    with pytest.raises(OutputExistsError) as err:
        write_image(path, rgb)
    assert "out.png" in str(err.value) and "overwrite" in str(err.value)
    assert path.read_bytes() == b"precious"
    assert no_temp_files(tmp_path)

    write_image(path, rgb, overwrite=True)
    np.testing.assert_array_equal(as_ints(read_image(path), 8), as_ints(rgb, 8))
    assert sorted(os.listdir(tmp_path)) == ["out.png"]


def test_target_appearing_during_write_is_not_replaced(tmp_path, rgb, monkeypatch):
    path = tmp_path / "race.png"
    real_encode = rio._encode

    def encode_while_someone_else_writes(*args, **kwargs):
        path.write_bytes(b"other process")  # appears after the existence check
        return real_encode(*args, **kwargs)

    monkeypatch.setattr(rio, "_encode", encode_while_someone_else_writes)
    with pytest.raises(OutputExistsError):
        write_image(path, rgb)
    assert path.read_bytes() == b"other process"
    assert sorted(os.listdir(tmp_path)) == ["race.png"]


def test_failed_write_leaves_no_temp_file(tmp_path, rgb, monkeypatch):
    def broken_fsync(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(rio.os, "fsync", broken_fsync)
    with pytest.raises(ImageWriteError, match="no.png.*No space"):
        write_image(tmp_path / "no.png", rgb)
    assert os.listdir(tmp_path) == []


def test_overwrite_keeps_permissions(tmp_path, rgb):
    path = write_image(tmp_path / "perm.png", rgb)
    os.chmod(path, 0o640)
    write_image(path, rgb * 0.5, overwrite=True)
    assert (path.stat().st_mode & 0o777) == 0o640


def test_write_errors_name_the_file(tmp_path, rgb):
    with pytest.raises(ImageWriteError, match=r"x\.gif.*unsupported"):
        write_image(tmp_path / "x.gif", rgb)
    with pytest.raises(ImageWriteError, match="does not exist"):
        write_image(tmp_path / "missing" / "x.png", rgb)
    assert no_temp_files(tmp_path)


# --------------------------------------------------------------------------- bad inputs


def _truncated(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data[: len(data) // 2])
    return path


def test_bad_files_give_one_line_read_errors(tmp_path, rgb):
    good_png = write_image(tmp_path / "good.png", rgb).read_bytes()
    good_jpg = write_image(tmp_path / "good.jpg", rgb).read_bytes()
    good_16 = write_image(tmp_path / "good16.png", rgb, bit_depth=16).read_bytes()
    good_tif = write_image(tmp_path / "good.tif", rgb).read_bytes()
    text = tmp_path / "notes.png"
    text.write_text("this is not an image\n")
    garbage = tmp_path / "garbage.jpg"
    garbage.write_bytes(good_jpg[:200] + bytes(range(256)) * 20)
    (tmp_path / "folder.png").mkdir()
    bad = [
        _truncated(tmp_path, "trunc.png", good_png),
        _truncated(tmp_path, "trunc.jpg", good_jpg),
        _truncated(tmp_path, "trunc16.png", good_16),
        _truncated(tmp_path, "trunc.tif", good_tif),
        text,
        garbage,
        tmp_path / "missing.png",
        tmp_path / "folder.png",
        tmp_path / "image.gif",
        tmp_path / "noext",
    ]
    for path in bad:
        with pytest.raises(ImageReadError) as err:
            read_image(path)
        assert_one_line_naming(err, path)


def test_bad_path_type():
    with pytest.raises(InvalidParameterError, match="path"):
        read_image(123)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def bomb(tmp_path_factory) -> Path:
    """A ~12 kB PNG declaring 10000 x 10000 = 100 megapixels (all zeros)."""
    path = tmp_path_factory.mktemp("bomb") / "bomb.png"
    Image.new("1", (10_000, 10_000)).save(path)
    assert path.stat().st_size < 100_000
    return path


def test_decompression_bomb_refused_before_decoding(bomb, monkeypatch):
    def no_decoding(*args, **kwargs):
        raise AssertionError("pixels were decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)
    monkeypatch.delenv("RESTORA_MAX_PIXELS", raising=False)
    with pytest.raises(ImageTooLargeError) as err:
        read_image(bomb)
    msg = str(err.value)
    assert_one_line_naming(err, bomb)
    assert "10000 x 10000" in msg and "80,000,000" in msg and "RESTORA_MAX_PIXELS" in msg


def test_pixel_limit_sources(tmp_path, monkeypatch):
    path = write_image(tmp_path / "s.png", levels((10, 10, 1), 8))  # 100 pixels
    monkeypatch.setattr(rio, "MAX_PIXELS", None)
    monkeypatch.setenv("RESTORA_MAX_PIXELS", "99")
    with pytest.raises(ImageTooLargeError, match="limit of 99"):
        read_image(path)
    assert read_image(path, max_pixels=100).shape == (10, 10, 1)
    monkeypatch.setenv("RESTORA_MAX_PIXELS", "100")
    assert read_image(path).shape == (10, 10, 1)
    rio.set_max_pixels(50)
    assert rio.get_max_pixels() == 50
    with pytest.raises(ImageTooLargeError):
        read_image(path)
    rio.set_max_pixels(None)
    monkeypatch.setenv("RESTORA_MAX_PIXELS", "lots")
    with pytest.raises(ConfigError, match="RESTORA_MAX_PIXELS"):
        read_image(path)
    with pytest.raises(InvalidParameterError, match="max_pixels"):
        read_image(path, max_pixels=0)


def test_limit_above_pillows_own(tmp_path, monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 50)  # Pillow alone would refuse 400 pixels
    path = write_image(tmp_path / "p.png", levels((20, 20, 3), 8))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert read_image(path, max_pixels=1000).shape == (20, 20, 3)


# --------------------------------------------------------------------------- helpers


def test_split_and_merge_alpha():
    rgba = levels((4, 5, 4), 8)
    color, alpha = split_alpha(rgba)
    assert color.shape == (4, 5, 3) and alpha is not None and alpha.shape == (4, 5, 1)
    np.testing.assert_array_equal(merge_alpha(color, alpha), rgba)
    np.testing.assert_array_equal(merge_alpha(color, alpha[:, :, 0]), rgba)
    gray_a = levels((4, 5, 2), 8)
    g, a = split_alpha(gray_a)
    assert g.shape == (4, 5, 1) and a is not None
    np.testing.assert_array_equal(merge_alpha(g, a), gray_a)
    c, none = split_alpha(color)
    assert none is None and c is color or np.array_equal(c, color)
    assert merge_alpha(color, None).shape == (4, 5, 3)
    with pytest.raises(InvalidParameterError, match="alpha"):
        merge_alpha(color, np.ones((3, 5)))


def test_tensor_round_trip(rgb):
    t = to_tensor(rgb)
    assert t.shape == (1, 3, 64, 80) and t.dtype == torch.float32 and t.is_contiguous()
    assert torch.equal(t[0, 1], torch.from_numpy(rgb[:, :, 1]))
    np.testing.assert_array_equal(to_numpy(t), rgb)
    np.testing.assert_array_equal(to_numpy(t[0]), rgb)
    np.testing.assert_array_equal(to_numpy(t.double().requires_grad_()), rgb)
    assert to_tensor(rgb[:, :, 0]).shape == (1, 1, 64, 80)
    with pytest.raises(InvalidParameterError, match="one image"):
        to_numpy(torch.zeros(2, 3, 4, 4))
    with pytest.raises(InvalidParameterError):
        to_numpy(torch.zeros(4, 4))
