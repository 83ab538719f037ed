"""The physical sensor noise model (issue 21: dark current, thermal noise, ADC gain and quantisation)."""

import numpy as np
import pytest

from restora.degrade import SensorModel, run_pipeline, sensor_noise, sensor_raw, sensor_variance
from restora.errors import ConfigError, InvalidParameterError

FLAT = SensorModel(prnu=0.0, dsnu=0.0)  # no fixed patterns: the noise is the temporal model alone


@pytest.mark.parametrize("gain,temperature,exposure", [(1, 25, 1 / 30), (8, 25, 1 / 30), (1, 55, 2.0)])
def test_measured_variance_matches_the_model(gain, temperature, exposure):
    raw = np.full((200, 200), 0.3, np.float32)
    out, _ = sensor_raw(raw, 1, gain=gain, temperature=temperature, exposure_time=exposure, sensor=FLAT)
    expected = sensor_variance(0.3, gain=gain, temperature=temperature, exposure_time=exposure, sensor=FLAT)
    assert out.var() == pytest.approx(expected, rel=0.05)


def test_dark_current_doubles_every_doubling_interval_and_biases_dark_frames():
    dark = np.zeros((128, 128), np.float32)
    _, cold = sensor_raw(dark, 0, temperature=25, exposure_time=1.0)
    _, warm = sensor_raw(dark, 0, temperature=25 + FLAT.dark_doubling, exposure_time=1.0)
    assert warm["dark_electrons"] == pytest.approx(2 * cold["dark_electrons"])
    frame, rec = sensor_raw(dark, 0, temperature=60, exposure_time=1.0, sensor=FLAT)
    assert frame.mean() == pytest.approx(rec["dark_bias"], rel=0.05)  # the bias is kept, as cameras do


def test_fixed_pattern_repeats_across_frames_of_one_sensor_only():
    dark = np.zeros((96, 96), np.float32)
    long_hot = dict(temperature=60, exposure_time=2.0, sensor=SensorModel(dsnu=1.0))
    a, _ = sensor_raw(dark, 1, pattern_seed=3, **long_hot)
    b, _ = sensor_raw(dark, 2, pattern_seed=3, **long_hot)
    c, _ = sensor_raw(dark, 2, pattern_seed=4, **long_hot)
    same = np.corrcoef(a.ravel(), b.ravel())[0, 1]
    other = np.corrcoef(a.ravel(), c.ravel())[0, 1]
    assert same > 0.5 and abs(other) < 0.1


def test_adc_quantises_to_its_bit_depth_and_clips_at_full_scale():
    raw = np.linspace(0, 1.5, 4096, dtype=np.float32).reshape(64, 64)
    out, rec = sensor_raw(raw, 0, sensor=SensorModel(bits=8, black_level=16))
    codes = out / rec["dn_step"]
    assert np.allclose(codes, np.rint(codes), atol=1e-3)
    assert out.max() == pytest.approx(1.0) and np.unique(out).size <= 256


def test_sensor_noise_on_an_srgb_image_and_its_record():
    img = np.full((48, 48, 3), 0.5, np.float32)
    low, rec_low = sensor_noise(img, 0, gain=1)
    high, rec_high = sensor_noise(img, 0, gain=16)
    assert high.std() > 2 * low.std()
    assert rec_high["shot"] == pytest.approx(16 / SensorModel().full_well)
    assert rec_low["op"] == "sensor_noise" and rec_low["sensor"]["bits"] == 12
    again, _ = sensor_noise(img, 0, gain=1)
    assert np.array_equal(again, low)


def test_pipeline_step_and_one_line_errors():
    img = np.full((32, 32, 3), 0.4, np.float32)
    out, record = run_pipeline(img, [{"noise": {"type": "sensor", "gain": 8, "temperature": 40, "bits": 10, "seed": 1}}])
    assert out.shape == img.shape and np.abs(out - img).mean() > 0.01
    assert "shot" in str(record)
    with pytest.raises(ConfigError, match="exposure_time"):
        run_pipeline(img, [{"noise": {"type": "sensor", "exposure_time": 0}}])
    with pytest.raises(InvalidParameterError, match="gain"):
        sensor_noise(img, 0, gain=0.5)
