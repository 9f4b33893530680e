"""Generated bad inputs (hypothesis): config overrides and audio files. Each gives a correct
result or one clear line (ConfigError / DataError), never another exception."""

import io
import math
import os
import tempfile

import numpy as np
import pytest
import soundfile
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from configs import base
from fassl_jax import config_check
from fassl_jax.data import audio_io
from fassl_jax.errors import ConfigError, DataError


def flat_items(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(flat_items(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


DEFAULTS = flat_items(base.get_config().to_dict())
KEYS = sorted(DEFAULTS)
JUNK_TEXT = st.one_of(st.text(max_size=12), st.sampled_from(["", "none", "auto", "batch", "x"]))


def values_like(default):
    """Values of the option's own type (what an override can set), mostly out of range."""
    if isinstance(default, bool):
        return st.booleans()
    if isinstance(default, int):
        return st.one_of(st.integers(-(10**12), 10**12), st.sampled_from([0, -1, 1, 2, 3, 10**9]))
    if isinstance(default, float):
        return st.one_of(
            st.floats(allow_nan=True, allow_infinity=True),
            st.sampled_from([0.0, -0.5, 1e-12, 1.0, 1e30]),
        )
    if isinstance(default, str):
        return JUNK_TEXT
    if isinstance(default, tuple | list):
        return st.lists(st.integers(-5, 10**6), max_size=4).map(tuple)
    return st.none()


@settings(max_examples=700, deadline=None)
@given(data=st.data())
def test_config_overrides_pass_or_fail_with_one_line(data):
    """Any one or two options set to values of their type, mostly out of range: validate()
    passes or raises ConfigError, one line naming the config key."""
    config = base.get_config()
    for key in data.draw(st.lists(st.sampled_from(KEYS), min_size=1, max_size=2)):
        value = data.draw(values_like(DEFAULTS[key]))
        with config.unlocked():
            config.update_from_flattened_dict({key: value})
    try:
        config_check.validate(config)
    except ConfigError as e:
        message = str(e)
        assert message.startswith("config.") and "\n" not in message


def wav_bytes(samples: np.ndarray, rate: int, subtype: str) -> bytes:
    buf = io.BytesIO()
    soundfile.write(buf, samples, rate, format="WAV", subtype=subtype)
    return buf.getvalue()


@st.composite
def audio_files(draw) -> bytes:
    kind = draw(st.sampled_from(["valid", "truncated", "garbage", "empty", "nan", "header"]))
    if kind == "garbage":
        return draw(st.binary(max_size=2048))
    if kind == "empty":
        return b""
    rate = draw(st.sampled_from([8000, 11025, 16000, 22050, 44100, 48000, 1, 3]))
    channels = draw(st.integers(1, 3))
    frames = draw(st.integers(0, 4000))
    subtype = draw(st.sampled_from(["PCM_16", "PCM_24", "PCM_32", "FLOAT", "PCM_U8"]))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    samples = rng.uniform(-1, 1, (frames, channels)).astype(np.float32)
    if kind == "nan":
        subtype = "FLOAT"
        if frames:
            samples[rng.integers(frames)] = draw(st.sampled_from([np.nan, np.inf, -np.inf]))
    data = wav_bytes(samples, rate, subtype)
    if kind == "truncated":
        return data[: draw(st.integers(0, len(data)))]
    if kind == "header":
        return data[:44]
    return data


@pytest.fixture(scope="module")
def scratch():
    with tempfile.TemporaryDirectory() as d:
        yield d


@settings(
    max_examples=500, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=audio_files())
def test_audio_files_read_correctly_or_fail_with_one_line(scratch, data):
    """Corrupt, truncated, empty, NaN/Inf, odd rates, channels and widths: read_clip returns a
    finite 16 kHz clip of the asked length, or raises DataError in one line naming the file."""
    path = os.path.join(scratch, "clip.wav")
    with open(path, "wb") as f:
        f.write(data)
    try:
        clip = audio_io.read_clip(path, 16000, 1600)
    except DataError as e:
        message = str(e)
        assert "\n" not in message and path in message
        return
    assert clip.shape == (1600,) and clip.dtype == np.float32
    assert np.all(np.isfinite(clip))
    assert math.isfinite(float(np.abs(clip).max()))
