r"""The SSL methods on FSDD, federated (natural partition: one client per speaker) and
centralized on the same audio: digit and speaker Recall@1 beside the two baselines.

  FASSL_DATA_DIR=../shared/data python experiments/methods_fsdd.py --workdir=runs/methods

Runs configs/<method>.py and configs/<method>.py:centralized one after another into
WORKDIR/<method>_<mode>, skipping runs that finished (their summary.json exists; an
interrupted run resumes from its checkpoint), then writes experiments/methods_fsdd.md.
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import time

import jax

METHODS = ("simclr", "barlow_twins", "acop", "byol_a")
MODES = ("federated", "centralized")
TASKS = ("digit", "speaker")
HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)


def run(method: str, mode: str, workdir: str) -> tuple[dict, float]:
    out = os.path.join(workdir, f"{method}_{mode}")
    summary_path = os.path.join(out, "summary.json")
    seconds = float("nan")
    if not os.path.exists(summary_path):
        config = os.path.join(REPO, "configs", f"{method}.py") + f":{mode}"
        t0 = time.perf_counter()
        cmd = [sys.executable, "-m", "fassl_jax.main", f"--config={config}", f"--workdir={out}"]
        subprocess.run(cmd, check=True, cwd=REPO)
        seconds = time.perf_counter() - t0
    with open(summary_path) as f:
        return json.load(f), seconds


def table(results: dict) -> str:
    head = "| method | training | " + " | ".join(
        f"{t} R@1: model / random init / log-mel" for t in TASKS
    )
    lines = [head + " | wall |", "|---|---|" + "---|" * len(TASKS) + "---|"]
    for (method, mode), (summary, seconds) in results.items():
        cells = []
        for t in TASKS:
            s = summary["tasks"][t]
            cells.append(
                f"**{s['model']['recall@1']:.3f}** / {s['random_init']['recall@1']:.3f} / "
                f"{s['logmel']['recall@1']:.3f}"
            )
        wall = f"{seconds / 60:.1f} min" if seconds == seconds else "(earlier run)"
        lines.append(f"| {method} | {mode} | " + " | ".join(cells) + f" | {wall} |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", default="runs/methods")
    parser.add_argument("--methods", default=",".join(METHODS))
    args = parser.parse_args()
    results = {}
    for method in args.methods.split(","):
        for mode in MODES:
            results[(method, mode)] = run(method, mode, args.workdir)
    report = [
        "# SSL methods on FSDD: federated and centralized",
        "",
        f"Generated {time.strftime('%Y-%m-%d')} on {platform.node() or 'this machine'} "
        f"({os.cpu_count()} CPUs, {platform.machine()}, jax {jax.__version__}) by:",
        "",
        "    FASSL_DATA_DIR=../shared/data python experiments/methods_fsdd.py "
        f"--workdir={args.workdir}",
        "",
        "Each run: configs/<method>.py (quickstart-sized AudioNTT2020, 16 channels, d = 256;"
        " 20 rounds; federated: all 6 speaker clients x 4 steps of 32 clips per round;"
        " centralized: 24 steps of 32 clips per round on all the pretraining audio), seed 0."
        " Test queries (takes 0-4) against the pretraining gallery (takes 10-49).",
        "",
        table(results),
        "",
    ]
    path = os.path.join(HERE, "methods_fsdd.md")
    with open(path, "w") as f:
        f.write("\n".join(report))
    print(table(results))


if __name__ == "__main__":
    main()
