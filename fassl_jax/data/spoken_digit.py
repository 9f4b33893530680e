"""The Free Spoken Digit Dataset: 3,000 clips, 10 digits, 6 speakers, 50 takes each.

Fixed split by take number, so results compare across runs:
  takes 0-4   "test"     (FSDD's own documented test split; reported results)
  takes 5-9   "select"   (model selection, e.g. FASSL's per-task best round)
  takes 10-49 "pretrain" (client audio; its labels are used only as the retrieval gallery)
Tasks: "digit" (semantic) and "speaker" (non-semantic, also the natural client).
"""

import os
import re

import numpy as np
import soxr

from fassl_jax.data import audio_io
from fassl_jax.data.audioset import AudioSet, encode_labels
from fassl_jax.errors import DataError

ENV_VAR = "FASSL_DATA_DIR"
_NAME = re.compile(r"^(\d)_([A-Za-z]+)_(\d+)\.wav$")


def split_of_take(take: int) -> str:
    if take < 5:
        return "test"
    if take < 10:
        return "select"
    return "pretrain"


def find_recordings(root: str) -> str:
    """The folder of FSDD wavs: root itself, or its recordings/ or fsdd/recordings/."""
    for candidate in (
        root,
        os.path.join(root, "recordings"),
        os.path.join(root, "fsdd", "recordings"),
    ):
        if os.path.isdir(candidate) and any(f.endswith(".wav") for f in os.listdir(candidate)):
            return candidate
    raise DataError(
        f"no .wav files in {root} (nor in its recordings/ or fsdd/recordings/); "
        f"point data.dir or {ENV_VAR} at the FSDD folder"
    )


def load(data_dir: str = "", sample_rate: int = 16_000, clip_seconds: float = 1.0) -> AudioSet:
    """FSDD from data_dir, else $FASSL_DATA_DIR, else TFDS (needs TensorFlow and internet)."""
    num_samples = int(round(sample_rate * clip_seconds))
    root = data_dir or os.environ.get(ENV_VAR, "")
    if root:
        folder = find_recordings(root)
        names = sorted(f for f in os.listdir(folder) if f.endswith(".wav"))
        paths = [os.path.join(folder, n) for n in names]
        waves = audio_io.read_clips(paths, sample_rate, num_samples)
    else:
        names, waves = _load_from_tfds(sample_rate, num_samples)
        paths = names
    return _assemble(names, paths, waves)


def _assemble(names: list[str], paths: list[str], waves: np.ndarray) -> AudioSet:
    parsed = []
    for name, path in zip(names, paths, strict=True):
        m = _NAME.match(name)
        if m is None:
            raise DataError(
                f"{path} is not named digit_speaker_take.wav as FSDD files are; "
                "move it out of the folder"
            )
        parsed.append((m.group(1), m.group(2), int(m.group(3))))
    digits, digit_classes = encode_labels([p[0] for p in parsed])
    speakers, speaker_classes = encode_labels([p[1] for p in parsed])
    split = np.array([split_of_take(p[2]) for p in parsed])
    return AudioSet(
        waves,
        {"digit": digits, "speaker": speakers},
        {"digit": digit_classes, "speaker": speaker_classes},
        split,
        client_label="speaker",
    )


def _load_from_tfds(sample_rate: int, num_samples: int) -> tuple[list[str], np.ndarray]:
    """TFDS's spoken_digit (an earlier 2,500-clip release); needs TensorFlow and internet."""
    hint = f"set --config.data.dir=PATH or {ENV_VAR} to a folder holding FSDD's recordings/*.wav"
    try:
        import tensorflow  # noqa: F401  (tfds.load needs it)
        import tensorflow_datasets as tfds
    except ImportError:
        raise DataError(
            f"no FSDD folder given and TensorFlow is not installed for TFDS: {hint}, "
            "or pip install 'fassl_jax[tf]' on a machine with internet"
        ) from None
    try:
        examples = list(tfds.as_numpy(tfds.load("spoken_digit", split="train")))
    except Exception as e:
        raise DataError(f"could not get spoken_digit through TFDS ({e}); {hint}") from None
    names, waves = [], []
    for ex in examples:
        audio = ex["audio"].astype(np.float32) / 32768.0  # int16 PCM stored as int64
        audio = soxr.resample(audio, 8000, sample_rate).astype(np.float32)
        names.append(ex["audio/filename"].decode())
        waves.append(audio_io.fit_length(audio, num_samples))
    return names, np.stack(waves)
