"""Any folder of audio laid out as PATH/<label>/<file>, or PATH/{train,test}/<label>/...

Files: .wav, .flac, .ogg and .mp3 in any letter case (what soundfile reads). One task,
"label". With train/ and test/ subfolders the clips get those splits; without, every clip
is in split "all" (evaluation then uses leave-one-out retrieval).
"""

import os

import numpy as np

from fassl_jax.data import audio_io
from fassl_jax.data.audioset import AudioSet, encode_labels
from fassl_jax.errors import DataError

SPLIT_DIRS = ("train", "test")
AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3")


def _labelled_files(folder: str) -> list[tuple[str, str]]:
    """(label, path) for every audio file in folder/<label>/."""
    found = []
    for label in sorted(os.listdir(folder)):
        sub = os.path.join(folder, label)
        if os.path.isdir(sub):
            found += [
                (label, os.path.join(sub, f))
                for f in sorted(os.listdir(sub))
                if f.lower().endswith(AUDIO_EXTENSIONS)
            ]
    return found


def load(path: str, sample_rate: int = 16_000, clip_seconds: float = 1.0) -> AudioSet:
    if not os.path.isdir(path):
        raise DataError(
            f"audio folder {path} does not exist; give a folder laid out as PATH/<label>/<file>.wav"
        )
    present = [s for s in SPLIT_DIRS if os.path.isdir(os.path.join(path, s))]
    if len(present) == 1:
        missing = next(s for s in SPLIT_DIRS if s not in present)
        raise DataError(
            f"{path} has {present[0]}/ but no {missing}/; give both (PATH/train/<label>/... and "
            "PATH/test/<label>/...) or neither (PATH/<label>/..., leave-one-out)"
        )
    has_split = len(present) == 2
    if has_split:
        files, split = [], []
        for s in SPLIT_DIRS:
            part = _labelled_files(os.path.join(path, s))
            files += part
            split += [s] * len(part)
    else:
        files = _labelled_files(path)
        split = ["all"] * len(files)
    if not files:
        raise DataError(
            f"no audio files ({', '.join(AUDIO_EXTENSIONS)}) under {path}; lay it out as "
            "PATH/<label>/<file>.wav "
            "(optionally PATH/train/<label>/... and PATH/test/<label>/...)"
        )
    labels, classes = encode_labels([label for label, _ in files])
    if len(classes) < 2:
        raise DataError(f"{path} holds a single label ({classes[0]}); retrieval needs at least two")
    waves = audio_io.read_clips(
        [p for _, p in files], sample_rate, int(round(sample_rate * clip_seconds))
    )
    return AudioSet(
        waves, {"label": labels}, {"label": classes}, np.array(split), client_label=None
    )
