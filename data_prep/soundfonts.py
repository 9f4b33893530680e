"""Instrument notes rendered with FluidSynth from two recorded-sample General MIDI soundfonts.

Pretraining renders one soundfont (FluidR3_GM): every GM program over a grid of pitches and
velocities (one client per program) and every drum kit (one client per kit). The other
soundfont (MuseScore General) is never heard in pretraining: its notes are the queries of the
`family` (instrument family, program // 8: semantic) and `pitch` (MIDI note: non-semantic)
tasks, whose gallery is the pretraining soundfont's notes. Select and test queries come from
disjoint programs (the first and last four of each family). Reverb and chorus are off; notes
whose peak stays under 100/32768 (out of the instrument's range) are dropped.
Labels: program, family, pitch, velocity, soundfont (and kit for drums).
"""

import dataclasses
import os

import numpy as np

from data_prep import waves
from data_prep.rows import Row, missing

LICENCE = "FluidR3_GM: MIT; MuseScore_General: MIT (rendered notes)"
SOUNDFONTS = {
    "fluidr3": "/usr/share/sounds/sf2/FluidR3_GM.sf2",  # Debian fluid-soundfont-gm
    "musescore": "/usr/share/sounds/sf3/MuseScore_General_Lite.sf3",  # ...-soundfont-small
}
DEBIAN_PACKAGES = {
    "fluidr3": "fluid-soundfont-gm",
    "musescore": "musescore-general-soundfont-small",
}
DRUM_BANK, DRUM_CHANNEL = 128, 9
NOTE_SECONDS = 0.8  # key held, then released for the rest of the clip


@dataclasses.dataclass(frozen=True)
class Settings:
    pretrain_soundfont: str = "fluidr3"
    heldout_soundfont: str = "musescore"
    programs: tuple[int, ...] = tuple(range(128))
    pitches: tuple[int, ...] = tuple(range(21, 109, 3))  # A0 .. C8 in minor thirds
    velocities: tuple[int, ...] = (40, 80, 120)
    heldout_pitches: tuple[int, ...] = tuple(range(24, 109, 6))  # on the pretraining grid
    heldout_velocity: int = 80
    drum_kits: tuple[int, ...] | None = None  # bank-128 presets; None: every kit the font has
    drum_notes: tuple[int, ...] = tuple(range(35, 82))
    drum_velocities: tuple[int, ...] = (60, 120)


def check() -> None:
    try:
        import fluidsynth  # noqa: F401
    except (ImportError, OSError):
        raise missing(
            "pyfluidsynth (with libfluidsynth3)",
            "apt-get install libfluidsynth3 && pip install --no-deps pyfluidsynth",
        ) from None
    for name, path in SOUNDFONTS.items():
        if not os.path.exists(path):
            raise missing(f"soundfont {path}", f"apt-get install {DEBIAN_PACKAGES[name]}")


def _synth(soundfont: str):
    import fluidsynth

    # Effects off before the synthesiser exists: set afterwards, they stay on.
    off = {"synth.reverb.active": 0, "synth.chorus.active": 0}
    synth = fluidsynth.Synth(samplerate=float(waves.SAMPLE_RATE), **off)
    return synth, synth.sfload(SOUNDFONTS[soundfont])


_WRITE_FLOAT = None


def _write_float(synth, n: int) -> np.ndarray:
    """n stereo frames as float32 [n, 2]. pyfluidsynth's get_samples writes int16 through
    FluidSynth's dither, whose running state would make a note depend on the notes before."""
    global _WRITE_FLOAT
    if _WRITE_FLOAT is None:
        import ctypes
        import ctypes.util

        import fluidsynth

        lib = getattr(fluidsynth, "_fl", None) or ctypes.CDLL(
            ctypes.util.find_library("fluidsynth")
        )
        _WRITE_FLOAT = lib.fluid_synth_write_float
        _WRITE_FLOAT.argtypes = [ctypes.c_void_p, ctypes.c_int] + [ctypes.c_void_p, ctypes.c_int,
                                                                   ctypes.c_int] * 2  # fmt: skip
    buf = np.zeros((n, 2), np.float32)
    _WRITE_FLOAT(synth.synth, n, buf.ctypes.data, 0, 2, buf.ctypes.data, 1, 2)
    return buf


def drum_kits(soundfont: str) -> list[tuple[int, str]]:
    synth, sfid = _synth(soundfont)
    kits = [(p, synth.sfpreset_name(sfid, DRUM_BANK, p)) for p in range(128)]
    synth.delete()
    return [(p, name) for p, name in kits if name]


def _note(sf, program, pitch, velocity, split, tasks, client, kit="") -> Row:
    drums = kit != ""
    return Row(
        source="soundfonts",
        domain="instruments",
        synthetic=False,  # recorded samples, rendered by a synthesiser
        client=client,
        split=split,
        labels={
            "soundfont": sf,
            "program": "drums" if drums else str(program),
            "family": "drums" if drums else str(program // 8),
            "pitch": str(pitch),
            "velocity": str(velocity),
            "kit": kit,
        },
        tasks=tasks,
        render={
            "soundfont": sf,
            "bank": DRUM_BANK if drums else 0,
            "program": program,
            "pitch": pitch,
            "velocity": velocity,
        },
    )


def plan(s: Settings, rng: np.random.Generator) -> list[Row]:
    del rng  # the grid is fixed
    rows = []
    sf = s.pretrain_soundfont
    for program in s.programs:
        client = f"{sf}/program{program:03d}"
        for pitch in s.pitches:
            for velocity in s.velocities:
                rows.append(_note(sf, program, pitch, velocity, "pretrain", {}, client))
    kits = drum_kits(sf) if s.drum_kits is None else [(k, f"kit{k}") for k in s.drum_kits]
    for kit, name in kits:
        for pitch in s.drum_notes:
            for velocity in s.drum_velocities:
                client = f"{sf}/drums{kit:03d}"
                rows.append(_note(sf, kit, pitch, velocity, "pretrain", {}, client, kit=name))
    held = s.heldout_soundfont
    for program in s.programs:
        split = "select" if program % 8 < 4 else "test"  # disjoint programs per family
        for pitch in s.heldout_pitches:
            tasks = {"family": split, "pitch": split}
            rows.append(_note(held, program, pitch, s.heldout_velocity, "heldout", tasks, ""))
    return rows


def render(rows: list[Row]) -> list[np.ndarray | None]:
    """Each note is played twice and the second take kept: a voice carries some state (its
    filter's) from the note before, so the first take depends on what the synthesiser played
    last; the second depends only on the note itself. The corpus is then the same however
    its shards are cut or scheduled (a test checks the checksum)."""
    out = []
    synths = {}
    hold = int(NOTE_SECONDS * waves.SAMPLE_RATE)
    for row in rows:
        r = row.render
        if r["soundfont"] not in synths:
            synths[r["soundfont"]] = _synth(r["soundfont"])
        synth, sfid = synths[r["soundfont"]]
        channel = DRUM_CHANNEL if r["bank"] == DRUM_BANK else 0
        for _ in range(2):
            synth.program_select(channel, sfid, r["bank"], r["program"])
            synth.noteon(channel, r["pitch"], r["velocity"])
            held = _write_float(synth, hold)
            synth.noteoff(channel, r["pitch"])
            released = _write_float(synth, waves.CLIP_SAMPLES - hold)
            synth.cc(channel, 120, 0)  # all sound off, then let it settle
            _write_float(synth, waves.SAMPLE_RATE // 10)
        out.append(waves.onset_clip(np.concatenate([held, released]), waves.SAMPLE_RATE))
    for synth, _ in synths.values():
        synth.delete()
    return out
