"""The multi-domain corpus: data_prep's build (idempotent, resumable after a kill, the same
checksum either way), its manifest and task splits, its clients, and training on it.

These build the `tiny` corpus from the Debian packages that .ci/run installs (espeak-ng,
FluidSynth and the soundfonts, klettres-data, sonic-pi-samples, hydrogen-drumkits). Where
they are missing the tests skip with the install command, except under CI, where they fail.
"""

import collections
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from conftest import FSDD, REPO

from data_prep import build, cache, corpora, espeak, soundfonts
from data_prep.rows import MissingPackage, Row
from fassl_jax.audio.features import LogMelConfig


def _require_packages():
    try:
        build.check_packages(corpora.CORPORA["tiny"])
    except MissingPackage as e:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"{e} (data_prep/install.sh installs them all)")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    _require_packages()
    out = str(tmp_path_factory.mktemp("tiny"))
    info = build.build("tiny", out, workers=2, fsdd_dir=FSDD, progress=False)
    return out, info


def manifest(out):
    from fassl_jax.data.corpus import open_corpus

    return open_corpus(out)


def test_a_second_build_does_nothing_and_says_so(tiny, capsys):
    out, info = tiny
    before = {f: os.stat(os.path.join(out, f)).st_mtime_ns for f in os.listdir(out)}
    again = build.build("tiny", out, workers=2, fsdd_dir=FSDD, progress=False)
    assert "already built" in capsys.readouterr().out
    assert again["checksum"] == info["checksum"]
    assert not os.path.exists(os.path.join(out, cache.SHARDS))  # working copies removed
    assert before == {f: os.stat(os.path.join(out, f)).st_mtime_ns for f in os.listdir(out)}


def test_a_build_killed_midway_resumes_to_the_same_checksum(tiny, tmp_path):
    """A real kill (SIGKILL) once some shards are written; the rerun finishes the rest."""
    out = str(tmp_path / "killed")
    cmd = [sys.executable, "-m", "data_prep.build", "--corpus=tiny", f"--out={out}",
           f"--fsdd={FSDD}", "--shard_size=16", "--workers=1"]  # fmt: skip
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)  # fmt: skip
    shards = os.path.join(out, cache.SHARDS)
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if os.path.isdir(shards) and len(os.listdir(shards)) >= 3:
            break
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not os.path.exists(os.path.join(out, cache.BUILD_INFO)), "killed too late to test"
    done = len([f for f in os.listdir(shards) if f.endswith(".npz")])
    result = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, check=True)
    assert f"resuming: {done} of" in result.stdout
    with open(os.path.join(out, cache.BUILD_INFO)) as f:
        resumed = json.load(f)
    # Shard size is not part of the result: 16-clip shards give the fixture's 256-clip bytes.
    assert resumed["checksum"] == tiny[1]["checksum"]


def test_other_settings_in_the_same_folder_are_refused(tiny):
    out, _ = tiny
    with pytest.raises(build.BuildError, match="other settings"):
        build.build("tiny", out, workers=1, fsdd_dir="", progress=False)


def test_a_missing_package_is_one_line_naming_the_install_command(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(espeak.shutil, "which", lambda name: None)
    cmd_out = str(tmp_path / "x")
    assert build.main(["--corpus=tiny", f"--out={cmd_out}"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "apt-get install espeak-ng" in err
    with pytest.raises(MissingPackage, match="apt-get install espeak-ng"):
        build.build("tiny", cmd_out, progress=False)


def test_manifest_matches_features_and_the_pretraining_clips_come_first(tiny):
    out, info = tiny
    c = manifest(out)
    n = len(c.features)
    assert n == info["counts"]["clips"] == len(c.columns["clip"])
    split = c.columns["split"]
    p = c.num_pretrain
    assert set(split[:p]) == {"pretrain"} and "pretrain" not in set(split[p:])
    assert all(c.columns["client"][:p]) and not any(c.columns["client"][p:])
    assert set(c.columns["source"][:p]) >= {"espeak", "soundfonts", "klettres", "sonic_pi",
                                             "hydrogen"}  # fmt: skip
    assert set(c.columns["source"][split == "external"]) == {"fsdd"}
    assert np.isfinite(np.asarray(c.features, np.float32)).all()


def test_cached_log_mels_are_the_project_front_end_of_a_fresh_render(tiny):
    """Rows rendered again here and passed through fassl_jax's log-mel equal the cache."""
    from fassl_jax.audio import features

    out, _ = tiny
    c = manifest(out)
    for source, module in (("espeak", espeak), ("soundfonts", soundfonts)):
        i = int(np.flatnonzero(c.columns["source"] == source)[0])
        with open(os.path.join(out, cache.PLAN)) as f:
            plan = json.load(f)["rows"]
        render = json.loads(c.columns["origin"][i])
        (row,) = [r for r in plan if r["render"] == render and r["source"] == source][:1]
        wave = module.render([Row(**row)])[0]
        want = features.log_mel_batched(wave[None])[0]
        np.testing.assert_allclose(np.asarray(c.features[i], np.float32), want, atol=0.02)


def test_each_task_generalises_over_what_it_must(tiny):
    """Queries never come from pretraining; select and test queries are disjoint in the
    factor the task generalises over, and that factor is unseen in pretraining."""
    c = manifest(out := tiny[0])
    col = c.columns
    pre = col["split"] == "pretrain"

    def values(task, role, column):
        return set(col[column][col[f"task:{task}"] == role])

    for task in c.tasks:
        for role in ("select", "test"):
            assert not (pre & (col[f"task:{task}"] == role)).any(), (task, role)
        assert len(c.role_ids(task, "gallery")) > 0, task
    pre_voices = set(col["voice"][pre & (col["source"] == "espeak")])
    pre_words = set(col["word"][pre & (col["source"] == "espeak")])
    for task in ("word", "language"):
        sel, test = values(task, "select", "voice"), values(task, "test", "voice")
        assert sel and test and not sel & test and not (sel | test) & pre_voices
    sel, test = values("voice", "select", "word"), values("voice", "test", "word")
    assert sel and test and not sel & test and not (sel | test) & pre_words
    assert values("voice", "test", "voice") <= pre_voices  # the voices are known, the words not
    pre_fonts = set(col["soundfont"][pre & (col["source"] == "soundfonts")])
    for task in ("family", "pitch"):
        fonts = values(task, "select", "soundfont") | values(task, "test", "soundfont")
        assert fonts and not fonts & pre_fonts
        assert not values(task, "select", "program") & values(task, "test", "program")
    assert not (pre & (col["source"] == "fsdd")).any()
    takes = {
        role: {json.loads(o)["file"] for o in col["origin"][col["task:fsdd_digit"] == role]}
        for role in ("gallery", "select", "test")
    }
    assert all(takes.values())
    assert not takes["gallery"] & takes["select"] and not takes["select"] & takes["test"]
    assert not takes["gallery"] & takes["test"]
    with open(os.path.join(out, cache.TASKS_FILE)) as f:
        counts = {t: v["counts"] for t, v in json.load(f).items()}
    for task in c.tasks:
        assert counts[task] == {r: len(c.role_ids(task, r)) for r in ("gallery", "select", "test")}


def test_natural_partition_is_one_client_per_manifest_client(tiny):
    from fassl_jax.data import datasets, partitions

    c = manifest(tiny[0])
    data = datasets.from_corpus(tiny[0], LogMelConfig(), 1.0)
    parts = partitions.natural(data.pretrain, np.random.default_rng(0))
    names = c.columns["client"][: c.num_pretrain]
    assert len(parts) == len(set(names))
    assert sorted(int(i) for p in parts for i in p) == list(range(c.num_pretrain))
    assert all(len(set(names[p])) == 1 for p in parts)
    by_domain = partitions.dirichlet(data.pretrain, np.random.default_rng(0), num_clients=5,
                                     alpha=0.1, label="domain")  # fmt: skip
    assert sum(len(p) for p in by_domain) == c.num_pretrain


def test_pretraining_on_some_domains_keeps_their_clips_and_clients_and_every_task(tiny):
    from fassl_jax.data import datasets, partitions
    from fassl_jax.errors import DataError

    c = manifest(tiny[0])
    whole = datasets.from_corpus(tiny[0], LogMelConfig(), 1.0)
    domain = c.columns["domain"][: c.num_pretrain]
    kept = sorted(set(domain))[:2]
    data = datasets.from_corpus(tiny[0], LogMelConfig(), 1.0, domains=",".join(kept))
    rows = np.flatnonzero(np.isin(domain, kept))
    assert 0 < len(rows) < c.num_pretrain  # the fixture has other domains too
    np.testing.assert_array_equal(data.pool, np.asarray(c.features[rows]))
    names = c.columns["client"][rows]
    parts = partitions.natural(data.pretrain, np.random.default_rng(0))
    assert sorted(names[p[0]] for p in parts) == sorted(set(names))
    kept_clips = np.asarray(c.features[rows], np.float64)
    assert data.input_mean == pytest.approx(kept_clips.mean(), rel=1e-4)  # the kept pool's
    assert data.input_std == pytest.approx(kept_clips.std(), rel=1e-4)
    assert abs(data.input_mean - whole.input_mean) > 1e-3
    np.testing.assert_array_equal(data.eval_clips, whole.eval_clips)
    for name, task in whole.tasks.items():  # scored on the whole corpus's tasks all the same
        np.testing.assert_array_equal(data.tasks[name].gallery, task.gallery)
        for split in ("select", "test"):
            np.testing.assert_array_equal(
                data.tasks[name].queries[split][0], task.queries[split][0]
            )
    with pytest.raises(DataError, match="data.domains: nowhere not in .* choose from"):
        datasets.from_corpus(tiny[0], LogMelConfig(), 1.0, domains="nowhere")


def test_client_statistics_agree_with_the_manifest(tiny):
    out, info = tiny
    c = manifest(out)
    with open(os.path.join(out, "clients.json")) as f:
        stats = json.load(f)
    names = c.columns["client"][: c.num_pretrain]
    sizes = collections.Counter(names)
    assert {k: v["size"] for k, v in stats["clients"].items()} == dict(sizes)
    assert info["counts"]["clients"] == len(sizes) == stats["summary"]["clients"]
    cid = next(k for k in sizes if k.startswith("espeak/"))
    words = collections.Counter(c.columns["word"][: c.num_pretrain][names == cid])
    want = max(words.values()) / sum(words.values())
    assert stats["clients"][cid]["labels"]["word"]["top_share"] == pytest.approx(want, abs=1e-4)
    assert os.path.getsize(os.path.join(out, "clients.png")) > 1000


def test_corpus_tasks_read_their_own_clips(tiny):
    """Each task's gallery and queries in the dataset are the manifest's clips for it."""
    from fassl_jax.data import datasets

    c = manifest(tiny[0])
    data = datasets.from_corpus(tiny[0], LogMelConfig(), 1.0)
    assert isinstance(data.pool, np.memmap)  # the pool is read only where a round needs it
    for name, task in data.tasks.items():
        for role, ids in (("gallery", task.gallery), ("test", task.queries["test"][0])):
            want = np.asarray(c.features[c.role_ids(name, role)], np.float32)
            np.testing.assert_array_equal(data.eval_clips[ids], want)
        # One code per label value across gallery and queries (a query hits what it should).
        label = c.columns[c.tasks[name]["label"]]
        names = np.concatenate([label[c.role_ids(name, r)] for r in ("gallery", "select", "test")])
        codes = np.concatenate(
            [task.gallery_labels, *(task.queries[s][1] for s in ("select", "test"))]
        )
        assert ((codes[:, None] == codes[None, :]) == (names[:, None] == names[None, :])).all()


def test_streaming_the_cohort_equals_the_resident_pool(tiny, tmp_path):
    """data.pool=cohort (each round reads only its clips from the memory map) trains exactly
    as the resident pool does."""
    from test_train import smoke_config, without_timings

    from fassl_jax import train
    from fassl_jax.run_log import read_metrics

    records = {}
    for mode in ("resident", "cohort"):
        overrides = {"data.source": "corpus", "data.dir": tiny[0], "data.clip_seconds": 1.0}
        c = smoke_config(**overrides, **{"data.pool": mode, "fl.rounds": 2})
        train.run(c, str(tmp_path / mode))
        records[mode] = without_timings(read_metrics(str(tmp_path / mode / "metrics.jsonl")))
    assert records["resident"] == records["cohort"]
    assert {"word/recall@1", "family/recall@1", "fsdd_digit/recall@1"} <= set(records["cohort"][1])


def test_a_resumed_run_refuses_a_different_corpus(tiny, tmp_path):
    from test_train import smoke_config

    from fassl_jax import train
    from fassl_jax.errors import UserError

    overrides = {"data.source": "corpus", "data.dir": tiny[0], "data.clip_seconds": 1.0}
    train.run(smoke_config(**overrides, **{"fl.rounds": 1}), str(tmp_path / "run"))
    with open(tmp_path / "run" / "data_identity.txt", "w") as f:
        f.write("0" * 64)  # as if data.dir had been rebuilt from other settings since
    with pytest.raises(UserError, match="checksum 000000000000"):
        train.run(smoke_config(**overrides, **{"fl.rounds": 2}), str(tmp_path / "run"))


def test_a_config_with_another_front_end_is_refused_by_name(tiny):
    """The cache holds Slaney-scale log-mels: asking for BYOL-A's HTK scale (or 2 s clips)
    must not train on them silently."""
    from fassl_jax.data import datasets
    from fassl_jax.errors import DataError

    with pytest.raises(DataError, match="mel_scale='slaney'.*mel_scale='htk'"):
        datasets.from_corpus(tiny[0], LogMelConfig(mel_scale="htk"), 1.0)
    with pytest.raises(DataError, match="asks for 2.0 s clips"):
        datasets.from_corpus(tiny[0], LogMelConfig(), 2.0)


def test_the_general_corpus_plan_is_large_heterogeneous_and_natural():
    """The default corpus, planned (not rendered): 40,000+ clips over 4 domains, 1,000+
    natural clients of skewed sizes (the build then drops a few silent notes)."""
    _require_packages()
    rows = corpora.plan(corpora.CORPORA["general"], fsdd_folder=None)
    pretrain = [r for r in rows if r.split == "pretrain"]
    assert len(rows) > 45_000
    assert {r.domain for r in pretrain} == {"speech_synthetic", "instruments", "speech_real",
                                            "samples"}  # fmt: skip
    sizes = np.array(list(collections.Counter(r.client for r in pretrain).values()))
    assert len(sizes) >= 1000
    assert sizes.max() > 10 * np.median(sizes) and sizes.min() < np.median(sizes) / 4
