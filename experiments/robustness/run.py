r"""Poisoned clients on FSDD: the quickstart (SimCLR, 6 speaker clients, 20 rounds) clean and
with 20% of the clients (1 of 6) sending sign-flipped updates scaled by 5, aggregated by
FedAvg and the coordinate-wise median over 10 seeds (3 seeds left FedAvg's fall inside its
spread, so the seeds were raised to 10 before any new run), Krum over 3. Test Recall@1 of the
last round (no FASSL selection: the question is what the aggregate becomes).

  FASSL_DATA_DIR=../shared/data python experiments/robustness/run.py --workdir=runs/robustness

Each run trains into WORKDIR/<rule>_<clean|attacked>_s<seed> and is skipped when finished;
writes experiments/robustness/results.md.
"""

import argparse
import json
import os
import sys

import numpy as np
from scipy import stats

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(os.path.dirname(HERE)))  # the repository root

from configs import aggregators, quickstart  # noqa: E402

# Seeds per rule: the acceptance compares FedAvg with a robust rule (the median); Krum stays
# at the first study's 3 seeds.
SEEDS = {"fedavg": tuple(range(10)), "median": tuple(range(10)), "krum": (0, 1, 2)}
RULES = tuple(SEEDS)
ATTACK = dict(attack="sign_flip", attack_fraction=0.2, attack_scale=5.0)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--workdir", required=True)
    args = p.parse_args()
    from fassl_jax import train

    scores = {}
    for rule in RULES:
        for attacked in (False, True):
            for seed in SEEDS[rule]:
                name = f"{rule}_{'attacked' if attacked else 'clean'}_s{seed}"
                path = os.path.join(args.workdir, name)
                if not os.path.exists(os.path.join(path, "summary.json")):
                    c = aggregators.apply(quickstart.get_config(), rule)
                    c.seed, c.eval.probe = seed, False
                    if attacked:
                        c.fl.update(ATTACK)
                    print(f"--- {name}", flush=True)
                    train.run(c, path)
                with open(os.path.join(path, "summary.json")) as f:
                    tasks = json.load(f)["tasks"]
                for task, t in tasks.items():
                    scores.setdefault((rule, attacked, task), []).append(t["model"]["recall@1"])
    tasks = sorted({k[2] for k in scores})
    lines = [
        "# Sign-flipping clients on FSDD",
        "",
        "Made by `FASSL_DATA_DIR=../shared/data python experiments/robustness/run.py "
        "--workdir=runs/robustness`: configs/quickstart.py (SimCLR, 6 speaker clients, 20 "
        "rounds) under each rule, clean and with 1 of the 6 clients (fl.attack_fraction 0.2) "
        "sending its update sign-flipped and scaled by 5. Last-round test Recall@1, mean ± sd "
        "over each rule's seeds; attacked minus clean paired by seed, with the 95% "
        "t-interval of its mean.",
        "",
        "| rule | seeds | "
        + " | ".join(f"{t}: clean | {t}: attacked | {t}: attacked - clean | 95% CI" for t in tasks)
        + " |",  # fmt: skip
        "|---|---|" + "---|---|---|---|" * len(tasks),
    ]
    for rule in RULES:
        cols = []
        for t in tasks:
            clean, bad = np.array(scores[rule, False, t]), np.array(scores[rule, True, t])
            d = bad - clean
            half = stats.t.ppf(0.975, len(d) - 1) * d.std(ddof=1) / np.sqrt(len(d))
            cols += [f"{clean.mean():.3f} ± {clean.std(ddof=1):.3f}",
                     f"{bad.mean():.3f} ± {bad.std(ddof=1):.3f}",
                     f"{d.mean():+.3f} ± {d.std(ddof=1):.3f}",
                     f"[{d.mean() - half:+.3f}, {d.mean() + half:+.3f}]"]  # fmt: skip
        lines.append(f"| {rule} | {len(SEEDS[rule])} | " + " | ".join(cols) + " |")
    with open(os.path.join(HERE, "results.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
