r"""configs/general.py over 3 seeds, federated and centralized, beside random init and log-mel:
test Recall@1 per task as mean and standard deviation, with each seed's paired differences.

  python experiments/general/run.py --variant=quick --workdir=runs/general_quick \
      --data_dir=data/general
  python experiments/general/run.py --variant=full --workdir=runs/general --data_dir=data/general

Each run trains into WORKDIR/<mode>_s<seed> and is skipped when its summary.json exists (an
interrupted one resumes), so rerunning finishes the table. Writes
experiments/general/<variant>.md and .json. Selection (FASSL's per-task pick) reads the
select split only; this script reads the test scores that the runs report.
"""

import argparse
import json
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(os.path.dirname(HERE)))  # the repository root

from configs import general  # noqa: E402

METRIC = "recall@1"


def run_all(variant: str, workdir: str, data_dir: str, seeds, modes) -> dict:
    from fassl_jax import train

    out = {}
    for mode in modes:
        for seed in seeds:
            name = f"{mode}_s{seed}"
            path = os.path.join(workdir, name)
            summary_path = os.path.join(path, "summary.json")
            if not os.path.exists(summary_path):
                config = general.get_config(variant if mode == "federated" else
                                            ("centralized" if variant == "full"
                                             else f"{variant}_centralized"))  # fmt: skip
                config.seed = seed
                config.data.dir = data_dir
                print(f"--- {name}", flush=True)
                train.run(config, path)
            with open(summary_path) as f:
                out[name] = json.load(f)
    return out


def table(runs: dict, seeds, modes) -> tuple[str, dict]:
    tasks = list(next(iter(runs.values()))["tasks"])
    rows = {}

    def collect(mode, key):
        return {t: [runs[f"{mode}_s{s}"]["tasks"][t][key][METRIC] for s in seeds] for t in tasks}

    for mode in modes:
        rows[f"{mode} (FASSL-selected)"] = collect(mode, "selected")
        rows[f"{mode} (last round)"] = collect(mode, "model")
    rows["random init"] = collect(modes[0], "random_init")
    rows["log-mel"] = collect(modes[0], "logmel")

    def fmt(values):
        return f"{np.mean(values):.3f} ± {np.std(values, ddof=1):.3f}"

    lines = ["| | " + " | ".join(tasks) + " |", "|---" * (len(tasks) + 1) + "|"]
    for name, per_task in rows.items():
        lines.append(f"| {name} | " + " | ".join(fmt(per_task[t]) for t in tasks) + " |")
    lines += ["", "Paired differences over seeds, federated (FASSL-selected) minus each "
              "baseline (mean ± sd; **bold**: mean above zero by more than the sd):", "",
              "| | " + " | ".join(tasks) + " |", "|---" * (len(tasks) + 1) + "|"]  # fmt: skip
    fed = rows[f"{modes[0]} (FASSL-selected)"]
    verdict = {}
    for base in ("random init", "log-mel"):
        cells = []
        for t in tasks:
            d = np.array(fed[t]) - np.array(rows[base][t])
            mean, sd = d.mean(), d.std(ddof=1)
            beats = bool(mean > sd and mean > 0)
            verdict.setdefault(t, {})[base] = {"mean": mean, "sd": sd, "beats": beats}
            text = f"{mean:+.3f} ± {sd:.3f}"
            cells.append(f"**{text}**" if beats else text)
        lines.append(f"| minus {base} | " + " | ".join(cells) + " |")
    probes = probe_rows(runs, seeds, modes, tasks)
    if probes:
        lines += ["", "Linear probe (eval/probe.py: logistic regression fit on each task's "
                  "gallery), test accuracy; reported beside retrieval, it chose nothing:", "",
                  "| | " + " | ".join(tasks) + " |", "|---" * (len(tasks) + 1) + "|"]  # fmt: skip
        for name, per_task in probes.items():
            lines.append(f"| {name} | " + " | ".join(fmt(per_task[t]) for t in tasks) + " |")
    return "\n".join(lines), {"rows": rows, "verdict": verdict, "probe": probes}


def probe_rows(runs: dict, seeds, modes, tasks) -> dict:
    """Linear-probe test accuracy per row and task, or {} when a run has no probes."""
    names = {"selected": "FASSL-selected", "model": "last round"}
    rows = {}
    for mode in modes:
        for key, label in names.items():
            rows[f"{mode} ({label})"] = (mode, key)
    rows["random init"], rows["log-mel"] = (modes[0], "random_init"), (modes[0], "logmel")
    out = {}
    for name, (mode, key) in rows.items():
        try:
            out[name] = {t: [runs[f"{mode}_s{s}"]["tasks"][t]["probe"][key]["test"]
                             for s in seeds] for t in tasks}  # fmt: skip
        except KeyError:
            return {}
    return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--variant", default="quick", choices=("quick", "full"))
    p.add_argument("--workdir", required=True)
    p.add_argument("--data_dir", default="data/general")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--modes", default="federated,centralized")
    args = p.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    modes = args.modes.split(",")
    runs = run_all(args.variant, args.workdir, args.data_dir, seeds, modes)
    text, data = table(runs, seeds, modes)
    command = " ".join(["python experiments/general/run.py", *sys.argv[1:]])
    with open(os.path.join(args.data_dir, "build_info.json")) as f:
        checksum = json.load(f)["checksum"][:12]
    minutes = {
        mode: np.mean([sum(runs[f"{mode}_s{s}"]["seconds"].values()) for s in seeds]) / 60
        for mode in modes
    }
    timing = ", ".join(f"{mode} {m:.1f} min" for mode, m in minutes.items())
    header = (f"# configs/general.py:{args.variant}: test Recall@1, {len(seeds)} seeds\n\n"
              f"Made by `{command}` on the corpus of checksum {checksum} "
              f"([build_info.json](build_info.json)); mean training + scoring time per run: "
              f"{timing}. Speech in word/language/voice is synthetic (espeak-ng); "
              "FSDD is real speech never heard in pretraining.\n\n")  # fmt: skip
    with open(os.path.join(HERE, f"{args.variant}.md"), "w") as f:
        f.write(header + text + "\n")
    with open(os.path.join(HERE, f"{args.variant}.json"), "w") as f:
        json.dump({"command": command, **data}, f, indent=2, default=float)
    print(text)


if __name__ == "__main__":
    main()
