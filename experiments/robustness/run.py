r"""Poisoned clients: the same training clean and with 20% of the population sending
sign-flipped updates scaled by 5, aggregated by FedAvg and by robust rules, over seeds. Test
Recall@1 of the last round (no FASSL selection: the question is what the aggregate becomes).

  FASSL_DATA_DIR=../shared/data python experiments/robustness/run.py --workdir=runs/robustness
  python experiments/robustness/run.py --setting=general --workdir=runs/robustness_general \
      --data_dir=data/general

Settings:
- fsdd: configs/quickstart.py (SimCLR, 6 speaker clients, 20 rounds); 1 of the 6 clients
  attacks. FedAvg and the coordinate-wise median over 10 seeds (3 seeds left FedAvg's fall
  inside its spread, so the seeds were raised to 10 before any new run), Krum over 3.
  Writes results.md. The quickstart's clean encoder is level with its random init on
  digits, so an attack that stops learning has little to take away there.
- general: configs/general.py:quick (federated BYOL-A on the multi-domain corpus, 1,327
  natural clients, 16 a round, 40 rounds), where the trained encoder scores above its
  random init on FSDD digit on average (experiments/general/quick.md, 3 seeds); 265 of
  the clients attack. FedAvg and the median over 5 seeds. Writes general.md.

Each run trains into WORKDIR/<rule>_<clean|attacked>_s<seed> and is skipped when finished.
"""

import argparse
import json
import os
import sys
from typing import NamedTuple

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(os.path.dirname(HERE)))  # the repository root

from configs import aggregators, general, quickstart  # noqa: E402
from fassl_jax import study  # noqa: E402

ATTACK = dict(attack="sign_flip", attack_fraction=0.2, attack_scale=5.0)


class Setting(NamedTuple):
    title: str
    description: str
    command: str
    config: object  # () -> ConfigDict, before the rule and the attack
    seeds: dict  # rule -> seeds
    tasks: tuple | None  # the table's tasks (None: all)
    output: str


def general_config():
    c = general.get_config("quick")
    c.eval.every = c.fl.rounds  # only the last round is read
    return c


SETTINGS = {
    "fsdd": Setting(
        "Sign-flipping clients on FSDD",
        "configs/quickstart.py (SimCLR, 6 speaker clients, 20 rounds) under each rule, clean "
        "and with 1 of the 6 clients (fl.attack_fraction 0.2) sending its update sign-flipped "
        "and scaled by 5.",
        "FASSL_DATA_DIR=../shared/data python experiments/robustness/run.py "
        "--workdir=runs/robustness",
        quickstart.get_config,
        # Seeds per rule: the acceptance compares FedAvg with a robust rule (the median);
        # Krum stays at the first study's 3 seeds.
        {"fedavg": tuple(range(10)), "median": tuple(range(10)), "krum": (0, 1, 2)},
        None,
        "results.md",
    ),
    "general": Setting(
        "Sign-flipping clients on the multi-domain corpus",
        "configs/general.py:quick (federated BYOL-A, 1,327 natural clients, 16 a round, 40 "
        "rounds) under each rule, clean and with 20% of the clients (265, fixed by a seeded "
        "hash of their ids; about 3 of each round's 16) sending their updates sign-flipped "
        "and scaled by 5. FSDD is real speech never heard in pretraining; the other speech "
        "tasks are synthetic (espeak-ng). Random init: the same runs' untrained encoder.",
        "python experiments/robustness/run.py --setting=general "
        "--workdir=runs/robustness_general --data_dir=data/general",
        general_config,
        {"fedavg": tuple(range(5)), "median": tuple(range(5))},
        ("fsdd_digit", "word", "language"),
        "general.md",
    ),
}


def run_one(setting: Setting, rule: str, attacked: bool, seed: int, workdir: str, data_dir):
    """(the run's summary.json tasks, its mean training loss over the last 5 rounds),
    training it first unless finished."""
    from fassl_jax import train

    name = f"{rule}_{'attacked' if attacked else 'clean'}_s{seed}"
    path = os.path.join(workdir, name)
    if not os.path.exists(os.path.join(path, "summary.json")):
        c = aggregators.apply(setting.config(), rule)
        c.seed, c.eval.probe = seed, False
        if data_dir:
            c.data.dir = data_dir
        if attacked:
            c.fl.update(ATTACK)
        print(f"--- {name}", flush=True)
        train.run(c, path)
    with open(os.path.join(path, "summary.json")) as f:
        tasks = json.load(f)["tasks"]
    with open(os.path.join(path, "metrics.jsonl")) as f:
        losses = [row["loss"] for row in map(json.loads, f) if "loss" in row]
    return tasks, float(np.mean(losses[-5:]))


def interval(d: np.ndarray) -> str:
    low, high = study.interval(*study.mean_sd(d), len(d))  # the studies' 95% t-interval
    return f"[{low:+.3f}, {high:+.3f}]"


def mean_sd(x: np.ndarray, signed: bool = False) -> str:
    return f"{x.mean():{'+' if signed else ''}.3f} ± {x.std(ddof=1):.3f}"


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--workdir", required=True)
    p.add_argument("--setting", choices=sorted(SETTINGS), default="fsdd")
    p.add_argument("--data_dir", default=None, help="the corpus folder (setting general)")
    args = p.parse_args()
    setting = SETTINGS[args.setting]
    rules = tuple(setting.seeds)

    scores, baseline, losses = {}, {}, {}
    # Seeds outermost: an interrupted study has every rule and condition at its first seeds.
    for seed in sorted({s for seeds in setting.seeds.values() for s in seeds}):
        for rule in rules:
            if seed not in setting.seeds[rule]:
                continue
            for attacked in (False, True):
                tasks, loss = run_one(setting, rule, attacked, seed, args.workdir, args.data_dir)
                losses.setdefault((rule, attacked), {})[seed] = loss
                for task, t in tasks.items():
                    scores.setdefault((rule, attacked, task), {})[seed] = t["model"]["recall@1"]
                    if rule == rules[0] and not attacked:
                        baseline.setdefault(task, {})[seed] = t["random_init"]["recall@1"]

    def paired(a: dict, b: dict) -> tuple[np.ndarray, np.ndarray]:
        """Scores of a and b on the seeds both have, in seed order."""
        seeds = sorted(set(a) & set(b))
        return np.array([a[s] for s in seeds]), np.array([b[s] for s in seeds])

    tasks = setting.tasks or tuple(sorted({k[2] for k in scores}))
    lines = [
        f"# {setting.title}",
        "",
        f"Made by `{setting.command}`: {setting.description} Last-round test Recall@1, mean ± "
        "sd over each rule's seeds; attacked minus clean paired by seed, with the 95% "
        "t-interval of its mean.",
        "",
        "| rule | seeds | "
        + " | ".join(f"{t}: clean | {t}: attacked | {t}: attacked - clean | 95% CI" for t in tasks)
        + " |",  # fmt: skip
        "|---|---|" + "---|---|---|---|" * len(tasks),
    ]
    for rule in rules:
        cols = []
        for t in tasks:
            clean, bad = paired(scores[rule, False, t], scores[rule, True, t])
            cols += [mean_sd(clean), mean_sd(bad), mean_sd(bad - clean, signed=True),
                     interval(bad - clean)]  # fmt: skip
        lines.append(f"| {rule} | {len(setting.seeds[rule])} | " + " | ".join(cols) + " |")
    if args.setting != "fsdd":
        first = rules[0]
        lines += [
            "",
            f"Against the clean {first} runs (paired by seed), and {first}'s random init:",
            "",
            "| | " + " | ".join(f"{t} | 95% CI" for t in tasks) + " |",
            "|---|" + "---|---|" * len(tasks),
        ]
        reference = {t: scores[first, False, t] for t in tasks}
        for rule in rules[1:]:
            for attacked in (False, True):
                cols = []
                for t in tasks:
                    ours, theirs = paired(scores[rule, attacked, t], reference[t])
                    cols += [mean_sd(ours - theirs, signed=True), interval(ours - theirs)]
                kind = "attacked" if attacked else "clean"
                lines.append(f"| {rule} {kind} - {first} clean | " + " | ".join(cols) + " |")
        cols = []
        for t in tasks:
            init, trained = paired(baseline[t], reference[t])
            cols += [mean_sd(init - trained, signed=True), interval(init - trained)]
        lines.append(f"| random init - {first} clean | " + " | ".join(cols) + " |")
    lines += [
        "",
        "Training loss (the SSL objective the clients report), mean of the last 5 "
        "rounds, mean ± sd over seeds:",
        "",
        "| rule | clean | attacked |",
        "|---|---|---|",
    ]
    for rule in rules:
        clean, bad = paired(losses[rule, False], losses[rule, True])
        lines.append(f"| {rule} | {mean_sd(clean)} | {mean_sd(bad)} |")
    with open(os.path.join(HERE, setting.output), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
