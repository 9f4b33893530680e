"""Multi-voice speech synthesised with espeak-ng (a formant synthesiser: SYNTHETIC speech).

Every (language, voice variant) pair is a speaker. Pretraining speakers are natural clients,
each saying a log-normal number of words from the word list (numbers 0-20, letter names,
common words) at a jittered speed and pitch. Held out of pretraining:
  - whole voice variants, for the `word` and `language` tasks (select and test voices are
    disjoint), so word retrieval is judged on voices the encoder never heard;
  - a few words, for the `voice` task: pretraining speakers saying words that no pretraining
    clip holds (select and test words are disjoint).
Labels: word, voice (the variant), language.
"""

import dataclasses
import shutil
import subprocess

import numpy as np

from data_prep import waves
from data_prep.rows import Row, missing

LICENCE = "espeak-ng: GPL-3.0-or-later (synthesised audio)"
ESPEAK_RATE = 22_050

# Latin-script languages, so the common words are read with each language's own rules.
LANGUAGES = (
    "af", "an", "az", "ca", "cs", "cy", "da", "de", "en-gb", "en-us",
    "eo", "es", "es-419", "et", "eu", "fi", "fr-fr", "ga", "hr", "hu",
    "id", "is", "it", "lt", "lv", "ms", "mt", "nb", "nl", "pl",
    "pt", "pt-br", "ro", "sk", "sl", "sq", "sv", "sw", "tr", "vi",
)  # fmt: skip
# Voice variants that sound like people (no robots or effects).
VARIANTS = (
    "m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8", "f1", "f2",
    "f3", "f4", "f5", "klatt", "klatt2", "klatt3", "klatt4", "klatt6", "adam", "Alex",
    "Andy", "antonio", "aunty", "belinda", "benjamin", "caleb", "david", "edward", "Gene",
    "grandma", "grandpa", "Henrique", "iven", "john", "linda", "max", "michel", "norbert",
    "pablo", "robert",
)  # fmt: skip
NUMBERS = tuple(str(i) for i in range(21))
LETTERS = tuple("abcdefghijklmnopqrstuvwxyz")
COMMON = (
    "yes", "no", "up", "down", "left", "right", "stop", "go", "house", "water",
    "music", "bird", "tree", "river", "red", "blue", "green", "happy", "morning", "night",
    "bread", "table", "window", "mother", "father", "money", "school", "garden", "coffee",
    "animal", "orange", "summer",
)  # fmt: skip
WORDS = NUMBERS + LETTERS + COMMON


@dataclasses.dataclass(frozen=True)
class Settings:
    languages: tuple[str, ...] = LANGUAGES
    variants: tuple[str, ...] = VARIANTS
    words: tuple[str, ...] = WORDS
    select_variants: int = 6  # held-out voices: word/language select queries
    test_variants: int = 6  # held-out voices: word/language test queries
    voice_words: int = 4  # held-out words per split for the voice task (taken from COMMON)
    words_per_heldout_speaker: int = 3
    clips_per_client: float = 30.0  # log-normal mean
    size_sigma: float = 0.8
    max_clips_per_client: int = 200
    speed: tuple[int, int] = (130, 210)  # words per minute (espeak-ng -s)
    pitch: tuple[int, int] = (25, 75)  # espeak-ng -p (0-99)


def check() -> None:
    if shutil.which("espeak-ng") is None:
        raise missing("espeak-ng", "apt-get install espeak-ng")


def _clip(rng, s: Settings, lang, variant, word, split, tasks) -> Row:
    return Row(
        source="espeak",
        domain="speech_synthetic",
        synthetic=True,
        client=f"espeak/{lang}/{variant}" if split == "pretrain" else "",
        split=split,
        labels={"word": word, "voice": variant, "language": lang},
        tasks=tasks,
        render={
            "voice": f"{lang}+{variant}",
            "text": word,
            "speed": int(rng.integers(s.speed[0], s.speed[1] + 1)),
            "pitch": int(rng.integers(s.pitch[0], s.pitch[1] + 1)),
        },
    )


def plan(s: Settings, rng: np.random.Generator) -> list[Row]:
    variants = list(rng.permutation(s.variants))
    n_sel, n_test = s.select_variants, s.test_variants
    select_v, test_v = variants[:n_sel], variants[n_sel : n_sel + n_test]
    pretrain_v = variants[n_sel + n_test :]
    common = [w for w in s.words if w in COMMON]
    held = list(rng.permutation(common))[: 2 * s.voice_words]
    voice_select, voice_test = held[: s.voice_words], held[s.voice_words :]
    pretrain_words = [w for w in s.words if w not in held]

    rows = []
    for lang in s.languages:
        for variant in sorted(pretrain_v):
            n = rng.lognormal(np.log(s.clips_per_client) - s.size_sigma**2 / 2, s.size_sigma)
            n = int(np.clip(round(n), 1, s.max_clips_per_client))
            for word in rng.choice(pretrain_words, size=n):
                rows.append(_clip(rng, s, lang, variant, str(word), "pretrain", {}))
            # The voice task's queries: this speaker saying words pretraining never holds.
            for split, words in (("select", voice_select), ("test", voice_test)):
                if words:
                    word = str(rng.choice(words))
                    rows.append(_clip(rng, s, lang, variant, word, "heldout", {"voice": split}))
        for split, voices in (("select", select_v), ("test", test_v)):
            for variant in sorted(voices):
                for word in rng.choice(pretrain_words, s.words_per_heldout_speaker, replace=False):
                    tasks = {"word": split, "language": split}
                    rows.append(_clip(rng, s, lang, variant, str(word), "heldout", tasks))
    return rows


def render(rows: list[Row]) -> list[np.ndarray | None]:
    out = []
    for row in rows:
        r = row.render
        text = r["text"]
        if len(text) == 1 and text.isalpha():  # a letter's name, not the word "a"
            text = f'<say-as interpret-as="characters">{text}</say-as>'
        cmd = ["espeak-ng", "-m", "-v", r["voice"], "-s", str(r["speed"]), "-p", str(r["pitch"])]
        result = subprocess.run([*cmd, "--stdout", text], capture_output=True, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"espeak-ng {' '.join(cmd)} {text!r}: {result.stderr.decode()}")
        pcm = np.frombuffer(result.stdout[44:], dtype="<i2").astype(np.float32) / 32768.0
        out.append(waves.speech_clip(pcm, ESPEAK_RATE))
    return out
