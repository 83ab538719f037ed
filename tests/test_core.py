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
