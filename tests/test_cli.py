"""The command lines: bad input ends in one clear line (exit 2), a good run in a JSON line."""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import soundfile
from conftest import REPO

from fassl_jax.data import synthetic


def run_cli(module: str, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, **(env or {})},
    )


def assert_one_line_error(result: subprocess.CompletedProcess, *fragments: str) -> None:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("fassl_jax: error:")]
    assert len(errors) == 1, result.stderr
    for fragment in fragments:
        assert fragment in errors[0]


def main_with(tmp_path, *overrides: str) -> subprocess.CompletedProcess:
    return run_cli(
        "fassl_jax.main",
        "--config=configs/quickstart.py",
        f"--workdir={tmp_path / 'run'}",
        *overrides,
    )


def test_unknown_config_key(tmp_path):
    assert_one_line_error(main_with(tmp_path, "--config.fl.roundz=3"), "fl.roundz", "rounds")


def test_invalid_config_values(tmp_path):
    assert_one_line_error(main_with(tmp_path, "--config.fl.rounds=abc"), "config.fl.rounds")
    assert_one_line_error(main_with(tmp_path, "--config.fl.rounds=0"), "config.fl.rounds", ">= 1")
    assert_one_line_error(main_with(tmp_path, "--config.ssl.method=moco"), "ssl.method", "simclr")


def test_a_missing_config_file_or_a_wrong_variant_is_one_line(tmp_path):
    run = lambda config: run_cli("fassl_jax.main", f"--config={config}", f"--workdir={tmp_path}")  # noqa: E731
    assert_one_line_error(run("configs/nope.py"), "configs/nope.py does not exist")
    assert_one_line_error(run("configs/general.py:nope"), "config argument 'nope'", "quick")


SCRIPTS = {"fassl_jax.main": "fassl-train", "fassl_jax.evaluate": "fassl-evaluate",
           "fassl_jax.study": "fassl-study", "fassl_jax.report": "fassl-report",
           "data_prep.build": "fassl-prep"}  # fmt: skip


@pytest.mark.parametrize("module", sorted(SCRIPTS))
def test_help_exits_zero_and_console_scripts_are_installed(module):
    flag = "--out" if module == "data_prep.build" else "--workdir"
    result = run_cli(module, "--help")
    assert result.returncode == 0 and flag in result.stdout + result.stderr
    script = SCRIPTS[module]
    path = shutil.which(script, path=os.path.dirname(sys.executable))
    assert path is not None, f"{script} is not installed beside {sys.executable}"
    result = subprocess.run([path, "--help"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and flag in result.stdout + result.stderr


def test_print_config_checks_and_prints_the_config_with_its_overrides_and_trains_nothing(
    tmp_path,
):
    result = run_cli(
        "fassl_jax.main", "--config=configs/quickstart.py", "--print_config",
        "--config.fl.rounds=3", f"--workdir={tmp_path / 'run'}",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    printed = json.loads(result.stdout)
    assert printed["fl"]["rounds"] == 3 and printed["ssl"]["method"] == "simclr"
    assert not (tmp_path / "run").exists()
    bad = run_cli("fassl_jax.main", "--config=configs/quickstart.py", "--print_config",
                  "--config.fl.rounds=-3")  # fmt: skip
    assert_one_line_error(bad, "config.fl.rounds must be >= 1")
    assert_one_line_error(
        run_cli("fassl_jax.main", "--config=configs/quickstart.py"), "--workdir is required"
    )
    # The shipped configs from any directory: resolved against the installed project.
    elsewhere = subprocess.run(
        [sys.executable, "-m", "fassl_jax.main", "--config=configs/general.py:quick",
         "--print_config"], cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert elsewhere.returncode == 0, elsewhere.stderr
    assert json.loads(elsewhere.stdout)["ssl"]["method"] == "byol_a"


def test_empty_data_directory(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert_one_line_error(main_with(tmp_path, f"--config.data.dir={empty}"), str(empty), "no .wav")


def test_corrupt_wav(tmp_path, fsdd_dir):
    folder = tmp_path / "fsdd"
    folder.mkdir()
    for name in ["0_george_0.wav", "1_george_0.wav"]:
        shutil.copy(os.path.join(fsdd_dir, name), folder)
    (folder / "2_george_0.wav").write_bytes(b"RIFF\x00\x00not really a wav")
    result = main_with(tmp_path, f"--config.data.dir={folder}")
    assert_one_line_error(result, "2_george_0.wav", "replace")


def write_audiofolder(root, with_split: bool) -> None:
    """Synthetic clips as PATH/<label>/<file>.wav (or under train/ and test/)."""
    clips = synthetic.load(num_patterns=3, num_sources=2, takes=4, clip_seconds=0.3)
    for i, (wave, label) in enumerate(zip(clips.audio, clips.labels["pattern"], strict=True)):
        part = ("test" if clips.split[i] == "test" else "train") if with_split else ""
        folder = root / part / f"pattern{label}"
        folder.mkdir(parents=True, exist_ok=True)
        soundfile.write(folder / f"clip{i}.wav", wave, 16_000)


@pytest.fixture(scope="module")
def smoke_workdir(tmp_path_factory):
    """One smoke run through the CLI, shared by the evaluate tests."""
    workdir = tmp_path_factory.mktemp("smoke") / "run"
    result = run_cli("fassl_jax.main", "--config=configs/smoke.py", f"--workdir={workdir}")
    assert result.returncode == 0, result.stderr
    assert "random_init" in result.stdout and "logmel" in result.stdout
    return workdir


@pytest.mark.parametrize("with_split", [False, True])
def test_smoke_run_then_evaluate_on_an_audio_folder(tmp_path, smoke_workdir, with_split):
    workdir = smoke_workdir
    folder = tmp_path / "folder"
    write_audiofolder(folder, with_split)
    # pattern: the encoder FASSL selected for that task (once is enough).
    for model in ("last", "pattern") if with_split else ("last",):
        result = run_cli(
            "fassl_jax.evaluate",
            f"--workdir={workdir}",
            f"--data=audiofolder:{folder}",
            f"--model={model}",
        )
        assert result.returncode == 0, result.stderr
        scores = json.loads(result.stdout.strip().splitlines()[-1])
        # The values are checked against the run's own in the test above; here, that both
        # layouts and both model choices run and report every k of the run's config.
        assert set(scores) == {"model", "random_init", "logmel"}
        assert all(set(row) == {"recall@1", "recall@5"} for row in scores.values())
    if with_split:
        result = run_cli(
            "fassl_jax.evaluate",
            f"--workdir={workdir}",
            f"--data=audiofolder:{folder}",
            "--model=x",
        )
        assert_one_line_error(result, "model 'x'", "pattern", "source")


def test_evaluate_on_the_runs_own_clips_reproduces_the_runs_scores(tmp_path, smoke_workdir):
    """The smoke run's pretraining clips as train/ and its test clips as test/ (float wavs,
    labelled by pattern): evaluate must score the last checkpoint, the random init and the
    log-mel baseline exactly as the run itself did on its pattern task."""
    clips = synthetic.load(clip_seconds=0.3)  # what configs/smoke.py trains on
    for i, (wave, label) in enumerate(zip(clips.audio, clips.labels["pattern"], strict=True)):
        part = {"pretrain": "train", "test": "test"}.get(clips.split[i])
        if part:
            folder = tmp_path / part / f"pattern{label}"
            folder.mkdir(parents=True, exist_ok=True)
            soundfile.write(folder / f"clip{i}.wav", wave, 16_000, subtype="FLOAT")
    result = run_cli(
        "fassl_jax.evaluate", f"--workdir={smoke_workdir}", f"--data=audiofolder:{tmp_path}"
    )
    assert result.returncode == 0, result.stderr
    scores = json.loads(result.stdout.strip().splitlines()[-1])
    with open(smoke_workdir / "summary.json") as f:
        run = json.load(f)["tasks"]["pattern"]
    for name in ("model", "random_init", "logmel"):
        assert scores[name] == pytest.approx(run[name], abs=1e-6), name
    assert scores["model"] != scores["random_init"]  # so the check tells the two apart


def test_evaluate_counts_clips_and_warns_of_queries_that_cannot_hit(tmp_path, smoke_workdir):
    """Upper-case .WAV and .flac files are read; a label with one clip (leave-one-out) is
    reported, as is the file count."""
    clips = synthetic.load(num_patterns=3, num_sources=2, takes=2, clip_seconds=0.3)
    for i, (wave, label) in enumerate(zip(clips.audio, clips.labels["pattern"], strict=True)):
        folder = tmp_path / f"pattern{label}"
        folder.mkdir(exist_ok=True)
        soundfile.write(folder / f"clip{i}.{'WAV' if i % 2 else 'flac'}", wave, 16_000)
    (tmp_path / "lonely").mkdir()
    soundfile.write(tmp_path / "lonely" / "only.wav", clips.audio[0], 16_000)
    (tmp_path / "pattern0" / "notes.txt").write_text("not audio")
    soundfile.write(tmp_path / "stray.wav", clips.audio[1], 16_000)
    result = run_cli(
        "fassl_jax.evaluate", f"--workdir={smoke_workdir}", f"--data=audiofolder:{tmp_path}"
    )
    assert result.returncode == 0, result.stderr
    assert f"{tmp_path}: 13 clips, 4 labels, leave-one-out" in result.stderr
    assert "warning: 1 queries can never be hits (their label has no other clip)" in result.stderr
    assert (
        "skipped 2 files: 1 not audio (pattern0/notes.txt); "
        "1 outside a label folder (stray.wav)" in result.stderr
    )


def test_evaluate_caches_log_mels_where_the_run_says_and_not_at_all_with_none(
    tmp_path, smoke_workdir
):
    """The smoke run's data.cache_dir is "none": nothing is written, not even to the default
    folder; the same run with cache_dir "" writes to $FASSL_CACHE_DIR."""
    clips = synthetic.load(num_patterns=2, num_sources=2, takes=2, clip_seconds=0.3)
    folder = tmp_path / "folder"
    for i, (wave, label) in enumerate(zip(clips.audio, clips.labels["pattern"], strict=True)):
        (folder / f"pattern{label}").mkdir(parents=True, exist_ok=True)
        soundfile.write(folder / f"pattern{label}" / f"clip{i}.wav", wave, 16_000)
    cache, home = tmp_path / "cache", tmp_path / "home"
    data = f"--data=audiofolder:{folder}"
    # No FASSL_CACHE_DIR: the default folder would be ~/.cache/fassl_jax, in this HOME.
    env = {"FASSL_CACHE_DIR": "", "HOME": str(home)}
    result = run_cli("fassl_jax.evaluate", f"--workdir={smoke_workdir}", data, env=env)
    assert result.returncode == 0, result.stderr
    assert not home.exists()
    env = {"FASSL_CACHE_DIR": str(cache), "HOME": str(home)}
    cached = tmp_path / "run_with_cache"
    shutil.copytree(smoke_workdir, cached, ignore=shutil.ignore_patterns("run.lock"))
    with open(cached / "config.json") as f:
        config = json.load(f)
    assert config["data"]["cache_dir"] == "none"
    config["data"]["cache_dir"] = ""  # the default: $FASSL_CACHE_DIR, else ~/.cache/fassl_jax
    with open(cached / "config.json", "w") as f:
        json.dump(config, f)
    result = run_cli("fassl_jax.evaluate", f"--workdir={cached}", data, env=env)
    assert result.returncode == 0, result.stderr
    assert len(list(cache.glob("logmel-*.npy"))) == 1


def test_evaluate_warns_of_test_labels_that_train_does_not_hold(tmp_path, smoke_workdir):
    """With train/ and test/: a test clip whose label train/ lacks can never be a hit."""
    clips = synthetic.load(num_patterns=3, num_sources=2, takes=2, clip_seconds=0.3)
    for i, (wave, label) in enumerate(zip(clips.audio, clips.labels["pattern"], strict=True)):
        part = "test" if i % 3 == 0 else "train"
        folder = tmp_path / part / f"pattern{label}"
        folder.mkdir(parents=True, exist_ok=True)
        soundfile.write(folder / f"clip{i}.wav", wave, 16_000)
    (tmp_path / "test" / "unheard").mkdir()
    soundfile.write(tmp_path / "test" / "unheard" / "x.wav", clips.audio[0], 16_000)
    result = run_cli(
        "fassl_jax.evaluate", f"--workdir={smoke_workdir}", f"--data=audiofolder:{tmp_path}"
    )
    assert result.returncode == 0, result.stderr
    assert "warning: 1 queries can never be hits (their label has no clip in train/)" in (
        result.stderr
    )


def test_audio_folder_with_train_but_no_test_says_so(tmp_path):
    from fassl_jax.data import audiofolder
    from fassl_jax.errors import DataError

    (tmp_path / "train" / "a").mkdir(parents=True)
    with pytest.raises(DataError, match="has train/ but no test/"):
        audiofolder.load(str(tmp_path))


def test_evaluate_bad_inputs(tmp_path):
    assert_one_line_error(
        run_cli("fassl_jax.evaluate", f"--workdir={tmp_path}", "--data=folder:/x"),
        "audiofolder:PATH",
    )
    assert_one_line_error(
        run_cli("fassl_jax.evaluate", f"--workdir={tmp_path}", f"--data=audiofolder:{tmp_path}"),
        "no run",
    )


def test_wav_of_another_sample_rate_is_resampled(tmp_path):
    from fassl_jax.data import audio_io

    tone = np.sin(2 * np.pi * 440 * np.arange(4410) / 44_100).astype(np.float32)
    soundfile.write(tmp_path / "a.wav", tone, 44_100)
    clip = audio_io.read_clip(str(tmp_path / "a.wav"), 16_000, 16_000)
    assert clip.shape == (16_000,)
    assert np.count_nonzero(clip) == pytest.approx(1600, abs=20)  # 0.1 s of tone, centred


def test_hear_api_embeds_windows_of_the_training_length(smoke_workdir):
    """The HEAR-style module against the encoder applied by hand: a scene embedding is the
    mean over windows of the training clip length (every half window), a timestamp
    embedding the window centred on its timestamp, 50 ms apart."""
    import jax.numpy as jnp

    from fassl_jax import hear
    from fassl_jax.audio import features
    from fassl_jax.encoders_io import load_encoder

    model = hear.load_model(str(smoke_workdir))
    loaded = load_encoder(str(smoke_workdir))
    audio = synthetic.load(num_patterns=2, num_sources=1, takes=1, clip_seconds=0.7).audio
    mels = np.asarray(features.log_mel(jnp.asarray(audio), model.log_mel))  # [2, 71, 64]
    w = model.window_frames  # 0.3 s: 31 frames

    def by_hand(x):
        return np.asarray(loaded.encoder.apply(loaded.variables, jnp.asarray(x), train=False))

    scene = hear.get_scene_embeddings(audio, model)
    starts = range(0, mels.shape[1] - w + 1, w // 2)
    want = np.mean([by_hand(mels[:, s : s + w]) for s in starts], axis=0)
    assert scene.shape == (2, model.scene_embedding_size)
    np.testing.assert_allclose(scene, want, rtol=1e-4, atol=1e-5)
    frames, stamps = hear.get_timestamp_embeddings(audio, model)
    assert frames.shape[:2] == stamps.shape == (2, len(range(0, mels.shape[1], 5)))
    np.testing.assert_allclose(np.diff(stamps[0]), 50.0)
    k = 6  # timestamp 300 ms: the window of frames 30 - 15 .. 30 + 16
    np.testing.assert_allclose(frames[:, k], by_hand(mels[:, 30 - w // 2 : 30 - w // 2 + w]),
                               rtol=1e-4, atol=1e-5)  # fmt: skip
    picked = hear.load_model(f"{smoke_workdir}:pattern")
    assert picked.scene_embedding_size == model.scene_embedding_size


def test_report_writes_plots_and_the_summarys_numbers(smoke_workdir):
    result = run_cli("fassl_jax.report", f"--workdir={smoke_workdir}")
    assert result.returncode == 0, result.stderr
    out = smoke_workdir / "report"
    from matplotlib import image

    with open(smoke_workdir / "summary.json") as f:
        tasks = len(json.load(f)["tasks"])  # a panel of 4 x 3.5 inches each
    sizes = {"loss.png": (400, 600), "clients.png": (300, 600), "recall.png": (350, 400 * tasks)}
    for png, size in sizes.items():
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        pixels = image.imread(out / png)  # [H, W, RGBA] at 100 dpi
        assert pixels.shape[:2] == size, (png, pixels.shape)
        ink = (pixels[..., :3] < 0.5).any(axis=-1).mean()  # dark pixels: axes, text, lines
        assert 0.005 < ink < 0.5, (png, ink)  # drawn on, not blank, not a solid fill
    md = (out / "report.md").read_text()
    with open(smoke_workdir / "summary.json") as f:
        t = json.load(f)["tasks"]["pattern"]
    row = next(line for line in md.splitlines() if line.startswith("| pattern |"))
    assert f"{t['best_test_recall@1']:.3f} ({t['best_round']})" in row
    assert f"{t['random_init']['recall@1']:.3f}" in row
    assert f"{t['probe']['selected']['test']:.3f}" in row
    assert_one_line_error(run_cli("fassl_jax.report", "--workdir=/nonexistent"), "does not exist")


def test_training_on_your_own_audio_folder(tmp_path):
    """data.source=audiofolder: a labelled folder trains with seeded per-label splits; a
    manifest's client column makes the natural clients."""
    from test_train import smoke_config

    from fassl_jax import train
    from fassl_jax.data import audiofolder

    clips = synthetic.load(num_patterns=3, num_sources=2, takes=8, clip_seconds=0.3)
    rows = ["file,client"]
    for i, (wave, label) in enumerate(zip(clips.audio, clips.labels["pattern"], strict=True)):
        folder = tmp_path / f"pattern{label}"
        folder.mkdir(exist_ok=True)
        ext = ("flac", "wav", "ogg", "mp3")[i % 4]  # what soundfile (libsndfile) reads
        soundfile.write(folder / f"clip{i}.{ext}", wave, 16_000)
        rows.append(f"pattern{label}/clip{i}.{ext},player{clips.labels['source'][i]}")
    data = audiofolder.load_for_training(str(tmp_path), clip_seconds=0.3)
    for label in range(3):  # 16 clips a label: 2 test, 2 select, 12 pretrain
        part = data.split[data.labels["label"] == label]
        assert [int((part == s).sum()) for s in ("test", "select", "pretrain")] == [2, 2, 12]
    again = audiofolder.load_for_training(str(tmp_path), clip_seconds=0.3)
    np.testing.assert_array_equal(data.split, again.split)  # seeded
    assert data.classes["client"] == ("pattern0", "pattern1", "pattern2")  # by folder
    (tmp_path / "manifest.csv").write_text("\n".join(rows) + "\n")
    with_manifest = audiofolder.load_for_training(str(tmp_path), clip_seconds=0.3)
    assert with_manifest.classes["client"] == ("player0", "player1")
    overrides = {"data.source": "audiofolder", "data.dir": str(tmp_path), "fl.rounds": 3,
                 "eval.every": 1, "fl.clients_per_round": 2, "eval.probe": False}  # fmt: skip
    summary = train.run(smoke_config(**overrides), str(tmp_path / "run"))
    assert set(summary["tasks"]) == {"label", "client"}
    # FASSL selects by the folder's tasks: each task's pick is its best select round.
    with open(tmp_path / "run" / "metrics.jsonl") as f:
        records = [json.loads(line) for line in f]
    for task, t in summary["tasks"].items():
        select = [r[f"select/{task}/recall@1"] for r in records]
        assert t["best_round"] == records[int(np.argmax(select))]["round"]
        assert t["best_test_recall@1"] == records[t["best_round"] - 1][f"{task}/recall@1"]


def test_training_on_a_folder_of_unlabelled_audio_end_to_end(tmp_path):
    """A flat folder of clips, no labels, no splits: every clip is pretraining audio, the
    CLI trains iid clients for 2 rounds and checkpoints, without tasks to select by; the
    encoder it saved embeds audio (fassl_jax.hear); natural clients need a manifest."""
    from fassl_jax import hear

    clips = synthetic.load(num_patterns=3, num_sources=2, takes=6, clip_seconds=0.3)
    folder = tmp_path / "unlabelled"
    folder.mkdir()
    for i, wave in enumerate(clips.audio):
        soundfile.write(folder / f"recording_{i:03d}.wav", wave, 16_000)
    workdir = tmp_path / "run"
    args = ["--config=configs/smoke.py", f"--workdir={workdir}", "--config.fl.rounds=2",
            "--config.data.source=audiofolder", f"--config.data.dir={folder}",
            "--config.partition.kind=iid", "--config.partition.num_clients=4",
            "--config.fl.clients_per_round=2"]  # fmt: skip
    result = run_cli("fassl_jax.main", *args)
    assert result.returncode == 0, result.stderr
    assert "no labelled tasks" in result.stdout
    with open(workdir / "summary.json") as f:
        summary = json.load(f)
    assert summary["rounds"] == 2 and summary["tasks"] == {}
    with open(workdir / "metrics.jsonl") as f:
        losses = [json.loads(line)["loss"] for line in f]
    assert len(losses) == 2 and all(np.isfinite(losses))
    model = hear.load_model(str(workdir))
    emb = hear.get_scene_embeddings(clips.audio[:3], model)
    assert emb.shape == (3, model.scene_embedding_size) and np.isfinite(emb).all()
    natural = run_cli("fassl_jax.main", *args[:-3], f"--workdir={tmp_path / 'natural'}")
    assert_one_line_error(natural, "partition.kind='natural'", "partition.kind=iid")
    report = run_cli("fassl_jax.report", f"--workdir={workdir}")
    assert report.returncode == 0, report.stderr
    md = (workdir / "report" / "report.md").read_text()
    assert "No labelled tasks" in md and "recall.png" not in md
    assert not (workdir / "report" / "recall.png").exists()
    # A manifest whose label column is misspelt is an error, not unlabelled audio.
    (folder / "manifest.csv").write_text("file,class\nrecording_000.wav,dog\n")
    misspelt = run_cli("fassl_jax.main", *args[:-1], f"--workdir={tmp_path / 'misspelt'}")
    assert_one_line_error(misspelt, "unknown column 'class'")


def test_sigint_finishes_the_round_saves_and_resumes(tmp_path):
    """SIGINT mid-run: the round in progress finishes and is checkpointed, the run stops
    with one line, and the same command resumes to the end."""
    import signal
    import time

    workdir = tmp_path / "run"
    args = [sys.executable, "-m", "fassl_jax.main", "--config=configs/smoke.py",
            f"--workdir={workdir}", "--config.fl.rounds=30", "--config.eval.every=30",
            "--config.checkpoint.every=7", "--config.eval.probe=False"]  # fmt: skip
    env = {**os.environ, "FASSL_NO_TCMALLOC": "1"}
    proc = subprocess.Popen(args, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)  # fmt: skip
    for line in proc.stdout:  # progress lines: not a terminal
        if line.startswith("round 3/30"):
            break
    time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 2, err
    errors = [line for line in err.splitlines() if line.startswith("fassl_jax: error:")]
    assert len(errors) == 1 and "stopped by SIGINT after round" in errors[0], err
    assert "Traceback" not in err
    stopped_at = int(errors[0].split("after round ")[1].split()[0])
    assert 3 <= stopped_at < 30
    checkpoints = sorted(int(d) for d in os.listdir(workdir / "checkpoints") if d.isdigit())
    assert checkpoints[-1] == stopped_at  # saved on the way out, though every=7
    result = subprocess.run(args, cwd=REPO, capture_output=True, text=True, timeout=600, env=env)
    assert result.returncode == 0, result.stderr
    assert f"resumed from round {stopped_at} of 30" in result.stdout
    with open(workdir / "summary.json") as f:
        assert json.load(f)["rounds"] == 30
