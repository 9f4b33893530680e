r"""Writes the colab/ notebooks from the cells below (edit here, then run
`python colab/make_notebooks.py`); tests/test_notebooks.py executes each one top to bottom
with FASSL_NOTEBOOK_TINY=1, so none can rot.
"""

import os

import nbformat

HERE = os.path.dirname(os.path.abspath(__file__))

SETUP = r"""# Setup: on Colab, install the project (set REPO_URL to your clone of this
# repository) and its data; elsewhere, run from a checkout where `pip install -e .` was done.
import os
import subprocess
import sys

REPO_URL = os.environ.get("FASSL_REPO_URL", "")  # e.g. https://github.com/<you>/fassl_jax
TINY = os.environ.get("FASSL_NOTEBOOK_TINY") == "1"  # the tests run every notebook tiny
if "google.colab" in sys.modules:
    if not REPO_URL:
        raise SystemExit("set REPO_URL to this repository's git URL first")
    subprocess.run(["git", "clone", "-q", REPO_URL, "fassl_jax"], check=False)
    os.chdir("fassl_jax")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "-e", ".[tf]"], check=True)

import jax  # noqa: E402 (after the install)

print("backend:", jax.default_backend(), "devices:", jax.devices())"""

NOTEBOOKS = {
    "quickstart.ipynb": [
        (
            "markdown",
            "# fassl_jax quickstart\n\nSimCLR + FedAvg on the Free Spoken Digit "
            "Dataset, one client per speaker; FASSL keeps the best round per task. "
            "FSDD comes from `FASSL_DATA_DIR` (a folder holding "
            "`fsdd/recordings/*.wav`) or, on Colab, through TFDS.",
        ),
        ("code", SETUP),
        (
            "code",
            r"""from configs import quickstart
from fassl_jax import launch, train

config = quickstart.get_config()
if TINY:
    config.fl.rounds, config.eval.every, config.model.channels = 2, 1, 4
summary = train.run(config, "runs/notebook_quickstart")
print(launch.summary_table(summary))""",
        ),
        (
            "code",
            r"""from fassl_jax import report

for path in report.report("runs/notebook_quickstart"):
    print(path)""",
        ),
    ],
    "scaling_study.ipynb": [
        (
            "markdown",
            "# Scaling: round time against cohort size and population\n\n"
            "Sizes itself to the machine (TPU / GPU / CPU): one jitted round per "
            "point, timed after compilation, on a synthetic population laid over "
            "procedural clips.",
        ),
        ("code", SETUP),
        (
            "code",
            r"""import time

import numpy as np

from configs import smoke
from fassl_jax import train
from fassl_jax.run_log import read_metrics

backend = jax.default_backend()
cohorts = {"tpu": [64, 256, 1024], "gpu": [64, 256, 1024], "cpu": [4, 16, 64]}[backend]
populations = [1_000, 100_000, 1_000_000]
if TINY:
    cohorts, populations = [2, 4], [100, 10_000]
rows = []
for population in populations:
    for cohort in cohorts:
        c = smoke.get_config()
        c.partition.update(kind="population", num_clients=population, clips_per_client=8.0)
        c.fl.clients_per_round, c.fl.rounds, c.eval.every = cohort, 3, 3
        c.eval.probe = False
        c.log.tensorboard = False
        workdir = f"runs/notebook_scaling/p{population}_c{cohort}"
        t0 = time.perf_counter()
        train.run(c, workdir)
        seconds = [r["seconds"] for r in read_metrics(workdir + "/metrics.jsonl")][1:]
        rows.append((population, cohort, float(np.median(seconds))))
        print(f"population {population:>9,}  cohort {cohort:>5}  {rows[-1][2]:.3f} s/round")""",
        ),
        (
            "code",
            r"""import matplotlib.pyplot as plt

fig, ax = plt.subplots(figsize=(6, 4))
for population in populations:
    pts = [(c, s) for p, c, s in rows if p == population]
    ax.plot(*zip(*pts, strict=True), marker="o", label=f"population {population:,}")
ax.set(
    xscale="log",
    yscale="log",
    xlabel="clients per round",
    ylabel="seconds per round",
    title=f"round time on {backend}",
)
ax.legend()
fig.savefig("runs/notebook_scaling/scaling.png", dpi=100)""",
        ),
    ],
    "your_own_audio.ipynb": [
        (
            "markdown",
            "# Train and score on your own audio\n\nA folder laid out as "
            "`PATH/<label>/<file>` (.wav/.flac/.ogg/.mp3), optionally with "
            "`manifest.csv` (file, client, label, split); splits and clients are "
            "made for you when the folder has none (`fassl_jax/data/audiofolder.py`).",
        ),
        ("code", SETUP),
        (
            "code",
            r"""import soundfile

from fassl_jax.data import synthetic

AUDIO = os.environ.get("FASSL_AUDIO_DIR", "")  # your folder; empty: a made-up one
if not AUDIO:
    AUDIO = "runs/notebook_audio/folder"
    clips = synthetic.load(num_patterns=3, num_sources=2, takes=8, clip_seconds=0.3)
    for i, (wave, label) in enumerate(zip(clips.audio, clips.labels["pattern"], strict=True)):
        os.makedirs(f"{AUDIO}/pattern{label}", exist_ok=True)
        soundfile.write(f"{AUDIO}/pattern{label}/clip{i}.wav", wave, 16_000)""",
        ),
        (
            "code",
            r"""from configs import smoke
from fassl_jax import launch, train

config = smoke.get_config()
config.data.source, config.data.dir, config.data.clip_seconds = "audiofolder", AUDIO, 0.3
config.fl.clients_per_round, config.fl.rounds = 2, 2 if TINY else 20
summary = train.run(config, "runs/notebook_audio/run")
print(launch.summary_table(summary))""",
        ),
        (
            "code",
            r"""import numpy as np

from fassl_jax import hear

model = hear.load_model("runs/notebook_audio/run")
audio = np.zeros((2, 16_000), np.float32)
print(hear.get_scene_embeddings(audio, model).shape)""",
        ),
    ],
    "multidomain_corpus.ipynb": [
        (
            "markdown",
            "# The multi-domain corpus with FASSL selection\n\nBuilds the corpus "
            "(espeak-ng, FluidSynth soundfonts, klettres, sonic-pi and hydrogen "
            "samples; needs `data_prep/install.sh`), then trains "
            "`configs/general.py:quick` and reports each task's FASSL pick.",
        ),
        ("code", SETUP),
        (
            "code",
            r"""if "google.colab" in sys.modules:
    subprocess.run(["bash", "data_prep/install.sh"], check=True)
corpus = "tiny" if TINY else "general"
out = f"runs/notebook_corpus/{corpus}"
build = [sys.executable, "-m", "data_prep.build", f"--corpus={corpus}", f"--out={out}"]
subprocess.run(build, check=True)""",
        ),
        (
            "code",
            r"""from configs import general
from fassl_jax import launch, train

config = general.get_config("quick")
config.data.dir = out
if TINY:
    config.model.channels, config.model.embed_dim = 4, 16
    config.fl.rounds, config.eval.every, config.fl.clients_per_round = 2, 1, 2
    config.ssl.proj_hidden, config.ssl.proj_dim, config.ssl.mixup_bank = 16, 8, 16
    config.eval.recall_at = (1, 5)  # the tiny corpus's galleries hold about a dozen clips
summary = train.run(config, f"runs/notebook_corpus/run_{corpus}")
print(launch.summary_table(summary))""",
        ),
    ],
}


def main() -> None:
    for name, cells in NOTEBOOKS.items():
        nb = nbformat.v4.new_notebook()
        nb.metadata["kernelspec"] = {
            "name": "python3",
            "display_name": "Python 3",
            "language": "python",
        }
        nb.cells = [
            nbformat.v4.new_markdown_cell(src)
            if kind == "markdown"
            else nbformat.v4.new_code_cell(src)
            for kind, src in cells
        ]
        nbformat.write(nb, os.path.join(HERE, name))
        print(os.path.join(HERE, name))


if __name__ == "__main__":
    main()
