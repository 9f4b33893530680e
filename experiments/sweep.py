r"""Choose a config value on the select split: train a config once per value and seed, then
compare the selection split's Recall@1 per task (at the last round and at the best scored
round), mean ± sd over seeds, with paired differences against the config's own value. No
test score is read.

  FASSL_DATA_DIR=../shared/data python experiments/sweep.py --config=configs/quickstart.py \
      --key=ssl.crop_frames --values=48,96 --workdir=runs/sweep_crop \
      --out=experiments/sweeps/quickstart_crop.md

Each run trains into WORKDIR/<value>_s<seed> and is skipped when finished.
"""

import argparse
import ast
import os
import runpy
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))  # the repository root


def parse_value(text: str):
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def set_key(config, dotted: str, value) -> None:
    node = config
    *path, leaf = dotted.split(".")
    for part in path:
        node = node[part]
    node[leaf] = value


def get_key(config, dotted: str):
    node = config
    for part in dotted.split("."):
        node = node[part]
    return node


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", required=True, help="path[:argument], as for fassl_jax.main")
    p.add_argument("--key", required=True, help="dotted config key, e.g. ssl.crop_frames")
    p.add_argument("--values", required=True, help="comma-separated values to try")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--workdir", required=True)
    p.add_argument("--out", required=True, help="the markdown table to write")
    args = p.parse_args()
    from fassl_jax import train
    from fassl_jax.run_log import read_metrics

    path, _, arg = args.config.partition(":")

    def config_for(value, seed):
        c = runpy.run_path(path)["get_config"](*([arg] if arg else []))
        set_key(c, args.key, value)
        c.seed = seed
        return c

    values = [parse_value(v) for v in args.values.split(",")]
    seeds = [int(s) for s in args.seeds.split(",")]
    own = get_key(runpy.run_path(path)["get_config"](*([arg] if arg else [])), args.key)
    scores, tasks = {}, None  # (value, task, "last" | "best") -> [per seed]
    for value in values:
        for seed in seeds:
            run = os.path.join(args.workdir, f"{value}_s{seed}")
            if not os.path.exists(os.path.join(run, "summary.json")):
                print(f"--- {args.key}={value!r}, seed {seed}", flush=True)
                train.run(config_for(value, seed), run)
            records = [r for r in read_metrics(os.path.join(run, "metrics.jsonl"))
                       if "eval_seconds" in r]  # fmt: skip
            picked = [k for k in records[0] if k.startswith("select/") and k.endswith("/recall@1")]
            tasks = tasks or sorted(k.split("/")[1] for k in picked)
            for task in tasks:
                select = [r[f"select/{task}/recall@1"] for r in records]
                scores.setdefault((value, task, "last"), []).append(select[-1])
                scores.setdefault((value, task, "best"), []).append(max(select))

    def fmt(v):
        v = np.asarray(v)
        return f"{v.mean():.3f} ± {v.std(ddof=1):.3f}" if len(v) > 1 else f"{v.mean():.3f}"

    lines = [
        f"# {args.config}: `{args.key}` on the select split",
        "",
        f"Made by `python experiments/sweep.py --config={args.config} --key={args.key} "
        f"--values={args.values} --seeds={args.seeds} --workdir=... --out={args.out}`. "
        f"Select-split Recall@1, mean ± sd over seeds {seeds}, at the last round and at the "
        f"best scored round. The config's own value: {own!r}.",
        "",
        f"| {args.key} | " + " | ".join(f"{t}: last | {t}: best" for t in tasks) + " |",
        "|---|" + "---|---|" * len(tasks),
    ]
    for value in values:
        cols = [fmt(scores[value, t, w]) for t in tasks for w in ("last", "best")]
        lines.append(f"| {value!r} | " + " | ".join(cols) + " |")
    if own in values and len(seeds) > 1:
        lines += ["", f"Paired over seeds, each value minus {own!r} (mean ± sd):", ""]
        for value in values:
            if value == own:
                continue
            for t in tasks:
                for w in ("last", "best"):
                    d = np.array(scores[value, t, w]) - np.array(scores[own, t, w])
                    lines.append(f"- {value!r}, {t}, {w}: {d.mean():+.3f} ± {d.std(ddof=1):.3f}")
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
