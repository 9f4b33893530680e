"""Corpora by name: which sources, how much of each, and the retrieval tasks they define.

`general` is the multi-domain corpus for general-purpose audio (the default); `tiny` is the
same recipe cut down to a few hundred clips, built in seconds, for tests.
"""

import dataclasses

import numpy as np

from data_prep import espeak, fsdd, recordings, soundfonts
from data_prep.rows import Row


@dataclasses.dataclass(frozen=True)
class Task:
    label: str  # the manifest's label column
    kind: str  # semantic | non-semantic
    protocol: str  # queries and gallery, in words (README and tasks.json)


TASKS = {
    "word": Task(
        "word",
        "semantic",
        "espeak-ng words (numbers, letters, common words) said by voice variants never in "
        "pretraining (select and test voices disjoint), against pretraining speakers' clips; "
        "labelled by the written word, which each language says its own way",
    ),
    "language": Task(
        "language",
        "non-semantic",
        "the word task's queries labelled by language, against pretraining speakers' clips",
    ),
    "voice": Task(
        "voice",
        "non-semantic",
        "pretraining speakers saying words no pretraining clip holds (select and test words "
        "disjoint), labelled by voice variant, against pretraining speakers' clips",
    ),
    "family": Task(
        "family",
        "semantic",
        "notes of the soundfont never in pretraining (MuseScore General; select and test "
        "from disjoint programs), labelled by GM family, against the pretraining soundfont",
    ),
    "pitch": Task(
        "pitch",
        "non-semantic",
        "the family task's queries labelled by MIDI pitch, against the pretraining soundfont",
    ),
    "fsdd_digit": Task(
        "digit",
        "semantic",
        "FSDD (real speech, never in pretraining): takes 0-4 test and 5-9 select queries "
        "against takes 10-49",
    ),
    "fsdd_speaker": Task(
        "speaker", "non-semantic", "FSDD as fsdd_digit, labelled by speaker (6: at the ceiling)"
    ),
}
# Tasks whose gallery is drawn from pretraining clips: the source rows it is drawn from.
GALLERIES = {
    ("word", "language", "voice"): lambda r: r.source == "espeak" and r.split == "pretrain",
    ("family", "pitch"): lambda r: (
        r.source == "soundfonts" and r.split == "pretrain" and r.labels["family"] != "drums"
    ),
}


@dataclasses.dataclass(frozen=True)
class Corpus:
    speech: espeak.Settings | None = espeak.Settings()
    instruments: soundfonts.Settings | None = soundfonts.Settings()
    recorded: recordings.Settings | None = recordings.Settings()
    fsdd_takes: int = 50  # FSDD takes 0..fsdd_takes-1 (when an FSDD folder is given)
    gallery_size: int = 6000  # clips drawn per gallery group above (before silent ones drop)
    seed: int = 0


CORPORA = {
    "general": Corpus(),
    "tiny": Corpus(
        speech=espeak.Settings(
            languages=("de", "fr-fr"),
            variants=("m1", "m3", "f1", "f2", "klatt", "Alex", "linda", "robert"),
            select_variants=2,
            test_variants=2,
            voice_words=2,
            words_per_heldout_speaker=2,
            clips_per_client=6.0,
            size_sigma=0.5,
        ),
        instruments=soundfonts.Settings(
            programs=(0, 4, 24, 28),
            pitches=(48, 60, 72),
            velocities=(80,),
            heldout_pitches=(48, 60, 72),
            drum_kits=(0,),
            drum_notes=(36, 38, 42),
            drum_velocities=(100,),
        ),
        recorded=recordings.Settings(max_per_client=1),
        fsdd_takes=12,
        gallery_size=20,
    ),
}


def sources_of(corpus: Corpus) -> list[str]:
    return [
        name
        for name, settings in (
            ("espeak", corpus.speech),
            ("soundfonts", corpus.instruments),
            ("klettres", corpus.recorded),
        )
        if settings is not None
    ]


def plan(corpus: Corpus, fsdd_folder: str | None) -> list[Row]:
    """Every clip of the corpus, in a fixed order, with its split and task roles."""
    rng = np.random.default_rng(corpus.seed)
    rows = []
    if corpus.speech is not None:
        rows += espeak.plan(corpus.speech, np.random.default_rng([corpus.seed, 1]))
    if corpus.instruments is not None:
        rows += soundfonts.plan(corpus.instruments, np.random.default_rng([corpus.seed, 2]))
    if corpus.recorded is not None:
        rows += recordings.plan(corpus.recorded, np.random.default_rng([corpus.seed, 3]))
    if fsdd_folder:
        rows += fsdd.plan(fsdd_folder, corpus.fsdd_takes)
    for tasks, is_candidate in GALLERIES.items():
        candidates = [i for i, r in enumerate(rows) if is_candidate(r)]
        size = min(corpus.gallery_size, len(candidates))
        for i in sorted(rng.choice(candidates, size, replace=False)) if size else []:
            rows[i].tasks.update({t: "gallery" for t in tasks})
    return rows
