"""A physical image-sensor noise model: photon shot noise, dark current, thermal (read) noise,
fixed-pattern non-uniformity, analog gain and ADC quantisation, in electrons and digital numbers.

:func:`restora.degrade.isp.camera_sensor_noise` draws Brooks et al.'s two-parameter
heteroscedastic model (variance ``shot * x + read²``), which is what learned denoisers are
trained on. This module spells out where those two numbers come from, as the lectures list
the sources, so that a user can ask for "a 1/15 s exposure at 45 °C and ISO 3200" instead:

* **photon shot noise**: the signal is a Poisson count of photo-electrons; a pixel saturates
  at ``full_well`` electrons, and analog gain (ISO) means fewer electrons for the same output;
* **photo-response non-uniformity** (PRNU): each pixel's sensitivity differs by a fixed
  relative amount (a fixed pattern, the same in every frame of one sensor);
* **dark current**: thermally generated electrons, Poisson, ``dark_current`` e⁻/s at 25 °C,
  doubling every ``dark_doubling`` °C and growing with exposure time; its per-pixel rate
  varies (dark-signal non-uniformity, DSNU, another fixed pattern: hot pixels in long
  exposures). Its mean is a bias the camera does not remove (only the black level is);
* **thermal (Johnson–Nyquist) read noise** of the readout amplifier: Gaussian, standard
  deviation ``read_noise`` electrons at 27 °C, scaling as the square root of the absolute
  temperature;
* **analog gain and the ADC**: electrons times the gain become digital numbers (DN) over
  ``bits`` bits above a ``black_level``, rounded (quantisation noise) and clipped at the
  ADC's range.

The fixed patterns are drawn from ``pattern_seed``, not from ``rng``: two frames of one sensor
share them, as they do in a real camera. :func:`sensor_raw` works on a linear raw image;
:func:`sensor_noise` wraps it in the camera pipeline (unprocess an sRGB image, apply the
sensor, process back) like :func:`~restora.degrade.isp.camera_sensor_noise`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np

from restora.degrade import isp as _isp
from restora.degrade.record import Degraded, jsonable
from restora.errors import InvalidParameterError
from restora.rng import RngLike, as_generator
from restora.validation import check_choice, check_range

__all__ = ["SensorModel", "sensor_raw", "sensor_noise", "sensor_variance"]

_KELVIN = 273.15
_DARK_REFERENCE_C = 25.0
_READ_REFERENCE_C = 27.0


@dataclass(frozen=True)
class SensorModel:
    """A sensor's physical constants (defaults: a small-pixel phone/compact sensor).

    ``full_well`` electrons at saturation; ``read_noise`` electrons rms at 27 °C;
    ``dark_current`` e⁻/s per pixel at 25 °C, doubling every ``dark_doubling`` °C; ``dsnu``
    and ``prnu`` the relative standard deviations of the per-pixel dark rate and gain;
    ``bits`` of the ADC and its ``black_level`` in DN.
    """

    full_well: float = 6000.0
    read_noise: float = 2.5
    dark_current: float = 5.0
    dark_doubling: float = 6.3
    dsnu: float = 0.4
    prnu: float = 0.01
    bits: int = 12
    black_level: int = 64

    def validated(self) -> "SensorModel":
        """This model, or an :class:`InvalidParameterError` naming the first bad constant."""
        check_range("full_well", self.full_well, 0, None, lo_open=True)
        check_range("read_noise", self.read_noise, 0, None)
        check_range("dark_current", self.dark_current, 0, None)
        check_range("dark_doubling", self.dark_doubling, 0, None, lo_open=True)
        check_range("dsnu", self.dsnu, 0, 10)
        check_range("prnu", self.prnu, 0, 1)
        check_range("bits", self.bits, 1, 24)
        if int(self.bits) != self.bits:
            raise InvalidParameterError(f"bits must be a whole number; got {self.bits}")
        check_range("black_level", self.black_level, 0, 2 ** int(self.bits) - 2)
        return self


def _dark_rate(sensor: SensorModel, temperature: float) -> float:
    """Mean dark current in e⁻/s at ``temperature`` °C."""
    return sensor.dark_current * 2.0 ** ((temperature - _DARK_REFERENCE_C) / sensor.dark_doubling)


def _thermal_read(sensor: SensorModel, temperature: float) -> float:
    """Read-noise standard deviation in electrons at ``temperature`` °C (∝ √T, Johnson–Nyquist)."""
    return sensor.read_noise * math.sqrt((temperature + _KELVIN) / (_READ_REFERENCE_C + _KELVIN))


def _check_conditions(exposure_time: float, temperature: float, gain: float) -> None:
    check_range("exposure_time", exposure_time, 0, 3600, lo_open=True)
    check_range("temperature", temperature, -60, 120)
    check_range("gain", gain, 1, 1024)


def sensor_variance(
    x: np.ndarray | float,
    *,
    exposure_time: float = 1 / 30,
    temperature: float = 25.0,
    gain: float = 1.0,
    sensor: SensorModel = SensorModel(),
) -> np.ndarray | float:
    """The model's noise variance at normalised raw level ``x`` (ignoring fixed patterns and
    clipping), in normalised units: the ``shot * x + read²`` form of Brooks et al. with
    ``shot = gain / full_well`` and ``read²`` from dark current, thermal noise and the ADC step."""
    sensor.validated()
    _check_conditions(exposure_time, temperature, gain)
    scale = gain / sensor.full_well  # normalised units per electron
    dn = 1.0 / (2 ** sensor.bits - 1 - sensor.black_level)  # normalised units per DN
    dark_e = _dark_rate(sensor, temperature) * exposure_time
    read_e = _thermal_read(sensor, temperature)
    return scale * np.asarray(x) + scale**2 * (dark_e + read_e**2) + dn**2 / 12.0


def sensor_raw(
    raw: np.ndarray,
    rng: RngLike = None,
    *,
    exposure_time: float = 1 / 30,
    temperature: float = 25.0,
    gain: float = 1.0,
    sensor: SensorModel = SensorModel(),
    pattern_seed: int = 0,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Expose a linear raw image ``raw`` (H x W [x C], 1.0 = full scale of the ADC) on
    ``sensor`` and read it out: returns the noisy normalised raw (black level removed, dark
    bias kept, clipped to the ADC range) and a record of the electron budget."""
    sensor = sensor.validated()
    _check_conditions(exposure_time, temperature, gain)
    gen = as_generator(rng)
    pattern = np.random.default_rng(pattern_seed)
    raw = np.asarray(raw, dtype=np.float32)
    # electrons collected for an output of x at this gain: full scale is full_well / gain
    signal_e = np.clip(raw, 0.0, None) * np.float32(sensor.full_well / gain)
    if sensor.prnu > 0:
        signal_e = signal_e * (1.0 + np.float32(sensor.prnu) * pattern.standard_normal(raw.shape, dtype=np.float32))
    electrons = gen.poisson(np.clip(signal_e, 0.0, None)).astype(np.float32)
    dark_mean = _dark_rate(sensor, temperature) * exposure_time
    if dark_mean > 0:
        # per-pixel dark rate: log-normal around the mean (skewed: a few hot pixels)
        s = math.sqrt(math.log1p(sensor.dsnu**2))
        rate = dark_mean * np.exp(s * pattern.standard_normal(raw.shape, dtype=np.float32) - s * s / 2)
        electrons += gen.poisson(rate).astype(np.float32)
    read_e = _thermal_read(sensor, temperature)
    electrons += gen.standard_normal(raw.shape, dtype=np.float32) * np.float32(read_e)
    levels = 2 ** sensor.bits - 1
    span = levels - sensor.black_level
    dn = np.rint(electrons * np.float32(gain * span / sensor.full_well) + sensor.black_level)
    np.clip(dn, 0, levels, out=dn)
    out = ((dn - sensor.black_level) / np.float32(span)).astype(np.float32)
    record = {
        "full_scale_electrons": sensor.full_well / gain,
        "dark_electrons": dark_mean,
        "dark_bias": dark_mean * gain / sensor.full_well,
        "read_electrons": read_e,
        "dn_step": 1.0 / span,
    }
    return out, record


def sensor_noise(
    image: np.ndarray,
    rng: RngLike = None,
    *,
    exposure_time: float = 1 / 30,
    temperature: float = 25.0,
    gain: float = 1.0,
    sensor: SensorModel = SensorModel(),
    pattern_seed: int = 0,
    demosaic_method: str = "bilinear",
) -> Degraded:
    """Photograph an sRGB ``image`` with a physical sensor: :func:`~restora.degrade.isp.unprocess`
    it to raw, expose and read it out with :func:`sensor_raw`, and
    :func:`~restora.degrade.isp.process` it back (demosaic, colour, gamma, tone).

    The record holds ``op``, the conditions, the sensor constants, the electron budget of
    :func:`sensor_raw`, the camera-pipeline gains and the equivalent Brooks et al. ``shot``
    and ``read`` (so that the result can be compared with ``camera_sensor_noise``).
    """
    check_choice("demosaic_method", demosaic_method, _isp.DEMOSAIC_METHODS)
    gen = as_generator(rng)
    raw, meta = _isp.unprocess(image, gen)
    noisy, budget = sensor_raw(raw, gen, exposure_time=exposure_time, temperature=temperature,
                               gain=gain, sensor=sensor, pattern_seed=pattern_seed)
    out = _isp.process(noisy, meta, demosaic_method=demosaic_method)
    shot = gain / sensor.full_well
    read_var = float(sensor_variance(0.0, exposure_time=exposure_time, temperature=temperature, gain=gain, sensor=sensor))
    record = {
        "op": "sensor_noise",
        "exposure_time": exposure_time,
        "temperature": temperature,
        "gain": gain,
        "sensor": asdict(sensor),
        "pattern_seed": pattern_seed,
        **budget,
        "shot": shot,
        "read": math.sqrt(read_var),
        "rgb_gain": meta["rgb_gain"],
        "red_gain": meta["red_gain"],
        "blue_gain": meta["blue_gain"],
        "demosaic": demosaic_method,
    }
    return Degraded(out, jsonable(record))


def with_overrides(sensor: SensorModel, **overrides: Any) -> SensorModel:
    """``sensor`` with some constants replaced (unknown names are an error)."""
    known = set(asdict(sensor))
    bad = sorted(set(overrides) - known)
    if bad:
        raise InvalidParameterError(f"unknown sensor constant {bad[0]!r}; known: {', '.join(sorted(known))}")
    return replace(sensor, **overrides).validated()
