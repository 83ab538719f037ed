import numpy as np
import pytest

from restora.errors import InvalidParameterError, RestoraError
from restora.rng import as_generator
from restora.validation import as_image, check_choice, check_range


def test_as_generator_reproducible():
    assert as_generator(5).random() == as_generator(5).random()
    g = np.random.default_rng(1)
    assert as_generator(g) is g
    with pytest.raises(InvalidParameterError, match="seed"):
        as_generator(-1)


def test_check_range_message_names_parameter():
    assert check_range("sigma", 3, 0, 10) == 3.0
    with pytest.raises(InvalidParameterError, match=r"sigma must be in \(0, 10\]"):
        check_range("sigma", 0, 0, 10, lo_open=True)
    with pytest.raises(RestoraError, match="quality"):
        check_range("quality", "x")
    with pytest.raises(InvalidParameterError, match="mode must be one of"):
        check_choice("mode", "z", ["a", "b"])


def test_as_image_shapes_and_dtypes():
    assert as_image(np.zeros((4, 5))).shape == (4, 5, 1)
    u8 = np.full((2, 2, 3), 255, np.uint8)
    assert as_image(u8).dtype == np.float32 and as_image(u8).max() == 1.0
    with pytest.raises(InvalidParameterError, match="image must be"):
        as_image(np.zeros((4, 5, 2)))


def test_atomic_write_gives_normal_permissions_and_keeps_a_replaced_files(tmp_path):
    import os
    import stat

    from restora.atomic import _UMASK, atomic_write

    new = atomic_write(tmp_path / "a.txt", lambda tmp: open(tmp, "w").write("x"))
    assert stat.S_IMODE(os.stat(new).st_mode) == 0o666 & ~_UMASK  # not mkstemp's 0o600
    os.chmod(new, 0o640)
    atomic_write(new, lambda tmp: open(tmp, "w").write("y"))
    assert stat.S_IMODE(os.stat(new).st_mode) == 0o640 and new.read_text() == "y"
    try:
        atomic_write(new, lambda tmp: 1 / 0)
    except ZeroDivisionError:
        pass
    assert new.read_text() == "y" and sorted(p.name for p in tmp_path.iterdir()) == ["a.txt"]
