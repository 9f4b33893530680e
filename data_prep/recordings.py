"""Real recordings decoded from Debian packages: speech (klettres-data) and sample libraries
(sonic-pi-samples, hydrogen-drumkits). All of it is pretraining audio.

- klettres: letters and syllables read by native speakers of 20 languages (one speaker per
  language); 44.1 kHz ogg padded with silence, trimmed and centred. Labels: grapheme,
  language. One client per language.
- sonic-pi: one-shot and loop samples; category = the file name's prefix (bd, drum, elec,
  tabla, ...); one client per category.
- hydrogen: 14 drum kits; category = the kit instrument's kind (kick, snare, hi-hat, tom,
  cymbal, other) from its drumkit.xml; one client per kit.
Samples keep their onset at the start of the clip.
"""

import dataclasses
import os
import xml.etree.ElementTree as ET

import numpy as np
import soundfile

from data_prep import waves
from data_prep.rows import Row, missing

LICENCE = {
    "klettres": "klettres-data: GPL-2.0-or-later (recorded speech)",
    "sonic_pi": "sonic-pi-samples: CC0-1.0 and CC-BY (see its debian/copyright)",
    "hydrogen": "hydrogen-drumkits: GPL-2.0-or-later and others (see its debian/copyright)",
}
KLETTRES_DIR = "/usr/share/klettres"
SONIC_PI_DIR = "/usr/share/sonic-pi/samples"
HYDROGEN_DIR = "/usr/share/hydrogen/data/drumkits"
PACKAGES = {
    KLETTRES_DIR: "klettres-data",
    SONIC_PI_DIR: "sonic-pi-samples",
    HYDROGEN_DIR: "hydrogen-drumkits",
}
AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".aif", ".aiff")
# Kit instrument names -> kind; the first keyword found wins.
DRUM_KINDS = (
    ("kick", ("kick", "bass drum", "bassdrum", "bd")),
    ("snare", ("snare", "sd", "rim")),
    ("hihat", ("hat", "hh")),
    ("tom", ("tom",)),
    ("cymbal", ("crash", "ride", "cymbal", "china", "splash", "bell")),
    ("clap", ("clap",)),
)


@dataclasses.dataclass(frozen=True)
class Settings:
    klettres: bool = True
    sonic_pi: bool = True
    hydrogen: bool = True
    max_per_client: int = 0  # > 0: keep at most this many files per client (small fixtures)


def check() -> None:
    for folder, package in PACKAGES.items():
        if not os.path.isdir(folder):
            raise missing(f"{package} ({folder})", f"apt-get install {package}")


def _row(source, domain, client, labels, path) -> Row:
    return Row(
        source=source,
        domain=domain,
        synthetic=False,
        client=client,
        split="pretrain",
        labels=labels,
        tasks={},
        render={"path": path, "shape": "speech" if domain == "speech_real" else "onset"},
    )


def klettres_rows() -> list[Row]:
    rows = []
    for lang in sorted(os.listdir(KLETTRES_DIR)):
        xml = os.path.join(KLETTRES_DIR, lang, "sounds.xml")
        if not os.path.exists(xml):
            continue
        for sound in ET.parse(xml).getroot().iter("sound"):
            path = os.path.join(KLETTRES_DIR, sound.get("file", ""))
            if os.path.exists(path):
                labels = {"grapheme": sound.get("name", ""), "language": lang}
                rows.append(_row("klettres", "speech_real", f"klettres/{lang}", labels, path))
    return rows


def sonic_pi_rows() -> list[Row]:
    rows = []
    for name in sorted(os.listdir(SONIC_PI_DIR)):
        if name.lower().endswith(AUDIO_EXTENSIONS):
            category = name.split("_")[0]
            path = os.path.join(SONIC_PI_DIR, name)
            rows.append(
                _row("sonic_pi", "samples", f"sonic_pi/{category}", {"category": category}, path)
            )
    return rows


def drum_kind(instrument: str) -> str:
    words = instrument.lower().replace("_", " ").replace("-", " ")
    for kind, keys in DRUM_KINDS:
        if any(k in words.split() or (len(k) > 2 and k in words) for k in keys):
            return kind
    return "other"


def hydrogen_rows() -> list[Row]:
    rows = []
    for kit in sorted(os.listdir(HYDROGEN_DIR)):
        xml = os.path.join(HYDROGEN_DIR, kit, "drumkit.xml")
        if not os.path.exists(xml):
            continue
        root = ET.parse(xml).getroot()
        ns = root.tag[: root.tag.index("}") + 1] if root.tag.startswith("{") else ""
        seen = set()
        for inst in root.iter(f"{ns}instrument"):
            name = inst.findtext(f"{ns}name") or ""
            for f in inst.iter(f"{ns}filename"):
                path = os.path.join(HYDROGEN_DIR, kit, (f.text or "").strip())
                if path in seen or not os.path.exists(path):
                    continue
                seen.add(path)
                labels = {"category": drum_kind(name), "kit": kit}
                rows.append(_row("hydrogen", "samples", f"hydrogen/{kit}", labels, path))
    return rows


def plan(s: Settings, rng: np.random.Generator) -> list[Row]:
    del rng
    rows = []
    if s.klettres:
        rows += klettres_rows()
    if s.sonic_pi:
        rows += sonic_pi_rows()
    if s.hydrogen:
        rows += hydrogen_rows()
    if s.max_per_client:
        kept, count = [], {}
        for r in rows:
            count[r.client] = count.get(r.client, 0) + 1
            if count[r.client] <= s.max_per_client:
                kept.append(r)
        rows = kept
    return rows


def render(rows: list[Row]) -> list[np.ndarray | None]:
    out = []
    for row in rows:
        path = row.render["path"]
        try:
            wave, rate = soundfile.read(path, dtype="float32", always_2d=True)
        except Exception as e:  # soundfile raises several types for bad files
            raise RuntimeError(f"cannot decode {path} ({type(e).__name__}: {e})") from None
        shape = waves.speech_clip if row.render["shape"] == "speech" else waves.onset_clip
        out.append(shape(wave, rate) if len(wave) else None)
    return out
