"""The Free Spoken Digit Dataset (real speech, 6 speakers; CC BY-SA 4.0) as the corpus's
external test: never pretraining audio. Tasks `fsdd_digit` and `fsdd_speaker` use FSDD's own
split by take: queries of takes 0-4 (test) and 5-9 (select) against the gallery of takes
10-49. FSDD is read from a folder (`--fsdd`, else $FASSL_DATA_DIR); the build skips it, and
says so, when there is none.
"""

import os
import re

import numpy as np

from data_prep import waves
from data_prep.rows import Row
from fassl_jax.data.audio_io import fit_length

LICENCE = "FSDD: CC-BY-SA-4.0 (recorded speech)"
_NAME = re.compile(r"^(\d)_([A-Za-z]+)_(\d+)\.wav$")


def find(root: str) -> str | None:
    for candidate in (
        root,
        os.path.join(root, "recordings"),
        os.path.join(root, "fsdd", "recordings"),
    ):
        if root and os.path.isdir(candidate) and any(_NAME.match(f) for f in os.listdir(candidate)):
            return candidate
    return None


def role_of_take(take: int) -> str:
    return "test" if take < 5 else "select" if take < 10 else "gallery"


def plan(folder: str, max_takes: int = 50) -> list[Row]:
    rows = []
    for name in sorted(os.listdir(folder)):
        m = _NAME.match(name)
        if m is None or int(m.group(3)) >= max_takes:
            continue
        digit, speaker, take = m.group(1), m.group(2), int(m.group(3))
        role = role_of_take(take)
        rows.append(
            Row(
                source="fsdd",
                domain="speech_real",
                synthetic=False,
                client="",
                split="external",
                labels={"digit": digit, "speaker": speaker},
                tasks={"fsdd_digit": role, "fsdd_speaker": role},
                render={"file": name},  # the folder is not part of the corpus's identity
            )
        )
    return rows


def render(rows: list[Row], folder: str) -> list[np.ndarray | None]:
    """Resampled to 16 kHz and centred as the FSDD source of fassl_jax reads it (no trim:
    the recordings are already tight)."""
    import soundfile

    out = []
    for row in rows:
        wave, rate = soundfile.read(
            os.path.join(folder, row.render["file"]), dtype="float32", always_2d=True
        )
        out.append(fit_length(waves.to_16k(wave, rate), waves.CLIP_SAMPLES))
    return out
