r"""SIGKILL at random moments: configs/smoke.py (6 rounds, a checkpoint every round) killed
with SIGKILL, then run again with the same command until it finishes; its metrics (timings
aside) and summary must equal an uninterrupted run's, or the rerun must stop with one line.

  python experiments/robustness/kill.py --workdir=runs/kill --trials=20
  python experiments/robustness/kill.py --workdir=runs/kill_heads --trials=20 --keep_local

--keep_local: the clients keep their heads (`fl.keep_local=heads`), so the kept-local log
(written every round, compacted at every checkpoint) is killed too; each client's latest
heads must also equal the uninterrupted run's.

Odd trials kill at a uniform random time between the uninterrupted run's first checkpoint
and its end; even trials kill as the k-th checkpoint save starts (orbax's temporary folder
appears), k uniform over the rounds.
Writes experiments/robustness/kill.md.
"""

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
ROUNDS = 6


KEEP_LOCAL = False  # --keep_local


def command(workdir: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "fassl_jax.main",
        "--config=configs/smoke.py",
        f"--workdir={workdir}",
        f"--config.fl.rounds={ROUNDS}",
        "--config.eval.every=2",
    ] + (["--config.fl.keep_local=heads"] if KEEP_LOCAL else [])


def record(workdir: str) -> tuple[list[dict], dict, dict]:
    with open(os.path.join(workdir, "metrics.jsonl")) as f:
        metrics = [json.loads(line) for line in f if line.strip()]
    drop = ("seconds", "eval_seconds")
    metrics = [{k: v for k, v in r.items() if k not in drop} for r in metrics]
    with open(os.path.join(workdir, "summary.json")) as f:
        summary = json.load(f)
    return metrics, summary["tasks"], kept_local(workdir)


def kept_local(workdir: str) -> dict:
    """Each client's latest kept-local rows in the run's log, as bytes (empty: none kept)."""
    folder, latest = os.path.join(workdir, "client_states"), {}
    for name in sorted(os.listdir(folder)) if os.path.isdir(folder) else []:
        if ".tmp" in name:  # a torn write the next start deletes
            continue
        with np.load(os.path.join(folder, name)) as f:
            for row, c in enumerate(f["ids"]):
                latest[int(c)] = {k: f[k][row].tobytes() for k in f.files if k != "ids"}
    return latest


def saves_under_way(workdir: str) -> set[str]:
    """Orbax's temporary folders of checkpoint saves in progress."""
    folder = os.path.join(workdir, "checkpoints")
    try:
        return {name for name in os.listdir(folder) if "tmp" in name}
    except FileNotFoundError:
        return set()


def first_checkpoint_and_end(workdir: str) -> tuple[float, float]:
    """Runs uninterrupted; (seconds until the first checkpoint commits, seconds in all)."""
    proc = subprocess.Popen(
        command(workdir), cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    start, first = time.perf_counter(), None
    while proc.poll() is None:
        if first is None and os.path.isdir(os.path.join(workdir, "checkpoints", "1")):
            first = time.perf_counter() - start
        time.sleep(0.01)
    if proc.returncode:
        raise SystemExit(f"the uninterrupted run failed (exit {proc.returncode})")
    return first, time.perf_counter() - start


def trial(workdir: str, when: str, window: tuple[float, float], rng: random.Random) -> dict:
    """Kills at a uniform time within the window (from the first checkpoint to the end), or
    at the start of the k-th checkpoint save (k uniform over the rounds)."""
    proc = subprocess.Popen(
        command(workdir), cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    start = time.perf_counter()
    deadline = start + (rng.uniform(*window) if when == "random" else 10 * window[1])
    target, seen = rng.randint(1, ROUNDS), set()
    while proc.poll() is None and time.perf_counter() < deadline:
        if when == "during a checkpoint save":
            seen |= saves_under_way(workdir)
            if len(seen) >= target:
                break
        time.sleep(0.002)
    killed_at = round(time.perf_counter() - start, 2)
    finished_first = proc.poll() is not None
    if not finished_first:
        proc.send_signal(signal.SIGKILL)
    proc.wait()
    rerun = subprocess.run(command(workdir), cwd=REPO, capture_output=True, text=True)
    lines = [x for x in (rerun.stdout + rerun.stderr).splitlines() if x.strip()]
    return {
        "when": when,
        "killed_at_s": killed_at,
        "finished_before_kill": finished_first,
        "rerun_rc": rerun.returncode,
        "rerun_error": lines[-1] if rerun.returncode else "",
        "resumed_from": next((x for x in lines if "resumed from round" in x), ""),
    }


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--workdir", required=True)
    p.add_argument("--trials", type=int, default=20)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--keep_local", action="store_true", help="clients keep their heads")
    args = p.parse_args()
    global KEEP_LOCAL
    KEEP_LOCAL = args.keep_local
    rng = random.Random(args.seed)
    reference = os.path.join(args.workdir, "uninterrupted")
    shutil.rmtree(reference, ignore_errors=True)
    first, duration = first_checkpoint_and_end(reference)
    want = record(reference)
    rows = []
    for i in range(args.trials):
        workdir = os.path.join(args.workdir, f"trial_{i:02d}")
        shutil.rmtree(workdir, ignore_errors=True)
        when = "random" if i % 2 else "during a checkpoint save"
        row = trial(workdir, when, (first, duration), rng)
        row["equal"] = row["rerun_rc"] == 0 and record(workdir) == want
        rows.append(row)
        print(json.dumps(row), flush=True)
    equal = sum(r["equal"] for r in rows)
    flag = " --keep_local" if KEEP_LOCAL else ""
    heads = ", the clients keeping their heads (fl.keep_local=heads)," if KEEP_LOCAL else ","
    also = " and every client's heads" if KEEP_LOCAL else ""
    workdir = "runs/kill_heads" if KEEP_LOCAL else "runs/kill"
    one_line = sum(r["rerun_rc"] != 0 for r in rows)
    lines = [
        "# SIGKILL at random moments: the rerun finishes as if never killed",
        "",
        f"Made by `python experiments/robustness/kill.py --workdir={workdir} "
        f"--trials={args.trials}{flag}`: configs/smoke.py{heads} {ROUNDS} rounds, a "
        f"checkpoint every round; the uninterrupted run took {duration:.1f} s (start-up "
        "included), its first "
        f"checkpoint committed at {first:.1f} s. Each trial kills the run with SIGKILL (at a "
        "uniform time between those two, or as its k-th checkpoint save starts, k uniform in "
        f"1..{ROUNDS}), then runs the same command once more.",
        "",
        f"**{equal} of {len(rows)}** reruns finished with the uninterrupted run's metrics "
        f"(timings aside) and summary{also}; "
        f"{one_line} stopped with an error.",
        "",
        "| trial | kill | at s | finished before the kill | rerun | equal |",
        "|---:|---|---:|---|---|---|",
    ]
    for i, r in enumerate(rows):
        rerun = r["resumed_from"] or ("started afresh" if r["rerun_rc"] == 0 else "")
        if r["rerun_rc"]:
            rerun = f"error: {r['rerun_error']}"
        lines.append(
            f"| {i} | {r['when']} | {r['killed_at_s']} | {r['finished_before_kill']} | "
            f"{rerun} | {r['equal']} |"
        )
    name = "kill_keep_local.md" if KEEP_LOCAL else "kill.md"
    with open(os.path.join(HERE, name), "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
