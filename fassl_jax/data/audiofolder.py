"""Any folder of audio laid out as PATH/<label>/<file>, or PATH/{train,test}/<label>/...

Files: .wav, .flac, .ogg and .mp3 in any letter case (what soundfile reads). One task,
"label". For scoring (`load`): with train/ and test/ subfolders the clips get those
splits; without, every clip is in split "all" (leave-one-out retrieval).

For training (`load_for_training`, `data.source=audiofolder`): the clips are split into
pretrain / select / test, and the clients come from a manifest or from the folders:

- PATH/manifest.csv (optional) with a `file` column (paths relative to PATH) and any of
  `client`, `label`, `split` (pretrain | select | test): what it gives overrides the
  folders.
- Splits, when neither train/test folders nor the manifest give them: per label, a seeded
  10% of the clips test, 10% select, the rest pretrain (at least one clip each where a
  label has three or more). With train/ and test/ folders: test/ is the test split, and a
  seeded 10% of each label's train/ clips the select split.
- Clients (`partition.kind=natural`): the manifest's `client` column, else one client per
  label folder. Any other partition (iid, dirichlet) works on the pretraining clips too.
- Unlabelled: audio files directly in PATH (no label folders; a manifest without a
  `label` column may add clients). Every clip is pretraining audio; there are no retrieval
  tasks, so the run trains and checkpoints without FASSL selection (partition.kind=iid,
  or natural with a manifest's clients).
"""

import csv
import os

import numpy as np

from fassl_jax.data import audio_io
from fassl_jax.data.audioset import AudioSet, encode_labels
from fassl_jax.errors import DataError

SPLIT_DIRS = ("train", "test")
MANIFEST_COLUMNS = ("file", "client", "label", "split")
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


def skipped_files(path: str) -> dict[str, list[str]]:
    """What a labelled read of `path` (PATH/<label>/<file>, or under train/ and test/) leaves
    out, by reason: files that are not audio, files outside a label folder, and folders
    inside a label folder (never read)."""
    roots = [os.path.join(path, s) for s in SPLIT_DIRS if os.path.isdir(os.path.join(path, s))]
    out = {"not audio": [], "outside a label folder": [], "folders inside a label folder": []}
    for root in sorted({path, *roots}):
        for name in sorted(os.listdir(root)):
            full = os.path.join(root, name)
            if os.path.isfile(full):
                if name != "manifest.csv":
                    out["outside a label folder"].append(os.path.relpath(full, path))
            elif root != path or not roots:  # a label folder
                for f in sorted(os.listdir(full)):
                    inner = os.path.join(full, f)
                    if os.path.isdir(inner):
                        out["folders inside a label folder"].append(os.path.relpath(inner, path))
                    elif not f.lower().endswith(AUDIO_EXTENSIONS):
                        out["not audio"].append(os.path.relpath(inner, path))
    return {reason: files for reason, files in out.items() if files}


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


def _unlabelled(files, manifest, sample_rate: int, clip_seconds: float) -> AudioSet:
    """Every clip pretraining audio; the manifest's clients, if it names them."""
    waves = audio_io.read_clips(files, sample_rate, int(round(sample_rate * clip_seconds)))
    clients_ = [manifest.get(p, {}).get("client", "") for p in files]
    if all(clients_):
        codes, classes = encode_labels(clients_)
        labels, names, client_label = {"client": codes}, {"client": classes}, "client"
    else:
        labels, names, client_label = {}, {}, None
    return AudioSet(waves, labels, names, np.full(len(files), "pretrain"), client_label)


def _split_per_label(labels: list[str], rng: np.random.Generator, shares=(0.1, 0.1)) -> list:
    """A seeded test / select / pretrain split inside each label."""
    split = ["pretrain"] * len(labels)
    for label in sorted(set(labels)):
        members = rng.permutation([i for i, lab in enumerate(labels) if lab == label])
        n = len(members)
        n_test = max(1, int(round(shares[0] * n))) if n >= 3 else 0
        n_select = max(1, int(round(shares[1] * n))) if n >= 3 else 0
        for i in members[:n_test]:
            split[i] = "test"
        for i in members[n_test : n_test + n_select]:
            split[i] = "select"
    return split


def _read_manifest(path: str) -> dict[str, dict[str, str]]:
    """PATH/manifest.csv -> {absolute file path: its row}."""
    with open(os.path.join(path, "manifest.csv"), newline="") as f:
        reader = csv.DictReader(f)
        columns = reader.fieldnames or []
        if "file" not in columns:
            raise DataError(f"{path}/manifest.csv needs a 'file' column (paths relative to {path})")
        unknown = [c for c in columns if c not in MANIFEST_COLUMNS]
        if unknown:  # a misspelt 'label' would otherwise read as unlabelled audio
            raise DataError(
                f"{path}/manifest.csv: unknown column {unknown[0]!r}; its columns are "
                f"{', '.join(MANIFEST_COLUMNS)}"
            )
        rows = {}
        for row in reader:
            full = os.path.normpath(os.path.join(path, row["file"]))
            if not os.path.exists(full):
                raise DataError(f"{path}/manifest.csv names {row['file']}, which does not exist")
            rows[full] = row
    return rows


def load_for_training(
    path: str, sample_rate: int = 16_000, clip_seconds: float = 1.0, seed: int = 0
) -> AudioSet:
    """The folder as a training source: labels "label" (and "client"), splits pretrain /
    select / test, natural clients (see the module docstring)."""
    if not os.path.isdir(path):
        raise DataError(
            f"audio folder {path} does not exist; give a folder laid out as PATH/<label>/<file>"
        )
    present = [s for s in SPLIT_DIRS if os.path.isdir(os.path.join(path, s))]
    if len(present) == 1:
        raise DataError(
            f"{path} has {present[0]}/ but no {({'train', 'test'} - set(present)).pop()}/"
        )
    if present:
        found = [(lab, p, "train") for lab, p in _labelled_files(os.path.join(path, "train"))]
        found += [(lab, p, "test") for lab, p in _labelled_files(os.path.join(path, "test"))]
    else:
        found = [(lab, p, "") for lab, p in _labelled_files(path)]
    manifest = _read_manifest(path) if os.path.exists(os.path.join(path, "manifest.csv")) else {}
    if manifest and not found:  # files listed only in the manifest
        found = [(row.get("label", ""), p, "") for p, row in manifest.items()]
    if not found and not present:  # unlabelled: the audio files directly in PATH
        found = [("", os.path.join(path, f), "") for f in sorted(os.listdir(path))
                 if f.lower().endswith(AUDIO_EXTENSIONS)]  # fmt: skip
    if not found:
        raise DataError(
            f"no audio files ({', '.join(AUDIO_EXTENSIONS)}) under {path}; lay it out as "
            "PATH/<file> (unlabelled), PATH/<label>/<file> or list them in PATH/manifest.csv"
        )
    files = [p for _, p, _ in found]
    labels = [manifest.get(p, {}).get("label") or lab for lab, p, _ in found]
    labelled_manifest = any("label" in row for row in manifest.values())
    if not any(labels) and not labelled_manifest:  # no label folders, no label column
        return _unlabelled(files, manifest, sample_rate, clip_seconds)
    if any(not lab for lab in labels):
        raise DataError(f"{path}: some files have no label (a folder or a manifest 'label')")
    clients_ = [manifest.get(p, {}).get("client") or lab for lab, p, _ in found]
    rng = np.random.default_rng([seed, 11])
    given = [manifest.get(p, {}).get("split", "") for p in files]
    if all(given):
        split = given
    elif present:
        train = [i for i, (_, _, part) in enumerate(found) if part == "train"]
        inner = _split_per_label([labels[i] for i in train], rng, shares=(0.0, 0.1))
        split = ["test"] * len(found)
        for i, role in zip(train, inner, strict=True):
            split[i] = "select" if role == "select" else "pretrain"
    else:
        split = _split_per_label(labels, rng)
    bad = sorted(set(split) - {"pretrain", "select", "test"})
    if bad:
        raise DataError(f"{path}/manifest.csv: split {bad[0]!r}; use pretrain, select or test")
    for role in ("pretrain", "select", "test"):
        if role not in split:
            raise DataError(
                f"{path}: no {role!r} clips after splitting ({len(files)} files); give each "
                "label at least 3 clips, or a manifest 'split' column"
            )
    codes, classes = encode_labels(labels)
    client_codes, client_classes = encode_labels(clients_)
    waves = audio_io.read_clips(files, sample_rate, int(round(sample_rate * clip_seconds)))
    return AudioSet(
        waves,
        {"label": codes, "client": client_codes},
        {"label": classes, "client": client_classes},
        np.array(split),
        client_label="client",
    )
