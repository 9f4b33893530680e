r"""Builds a corpus's feature cache, which training reads with data.source="corpus".

  python -m data_prep.build --corpus=general --out=data/general
  python -m data_prep.build --corpus=tiny --out=/tmp/tiny --fsdd=../shared/data

Renders or decodes every clip of the corpus's plan, turns it into log-mels with the project's
own front end (fassl_jax.audio.features) and writes the cache described in data_prep/cache.py.
Rendering runs on --workers processes, shard by shard; each finished shard is kept, so a
killed build resumes where it stopped, and the result does not depend on where it stopped.
A second run of a finished build does nothing and says so.
"""

import contextlib
import dataclasses
import json
import multiprocessing
import os
import platform
import shutil
import subprocess
import sys
import time
from importlib import metadata

import numpy as np
import tqdm

from data_prep import cache, corpora, fsdd, sources, stats
from data_prep.rows import MissingPackage, Row

FORMAT_VERSION = 3  # bump when a change to the code changes what a build writes
ENV_FSDD = "FASSL_DATA_DIR"


DEBIAN_PACKAGES = ("espeak-ng", "libfluidsynth3", "fluid-soundfont-gm",
                   "musescore-general-soundfont-small", "klettres-data", "sonic-pi-samples",
                   "hydrogen-drumkits")  # fmt: skip


class BuildError(RuntimeError):
    """A build that cannot go on; the message names the fix."""


def check_packages(corpus: corpora.Corpus) -> None:
    for name in corpora.sources_of(corpus):
        sources.MODULES[name].check()


def shards_of(rows: list[Row], shard_size: int) -> list[tuple[str, list[int]]]:
    """(source, row ids): consecutive rows of one source, at most shard_size of them."""
    shards, start = [], 0
    for i in range(1, len(rows) + 1):
        if i == len(rows) or rows[i].source != rows[start].source or i - start == shard_size:
            shards.append((rows[start].source, list(range(start, i))))
            start = i
    return shards


def _command_output(cmd: list[str]) -> str | None:
    with contextlib.suppress(OSError):
        return subprocess.run(cmd, capture_output=True, text=True, check=False).stdout.strip()
    return None


def versions() -> dict[str, str]:
    """The Python packages, the synthesiser and the Debian data packages the build used."""
    out = {"python": platform.python_version()}
    for pkg in ("numpy", "jax", "librosa", "soundfile", "soxr", "pyfluidsynth"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            out[pkg] = metadata.version(pkg)
    out["espeak-ng"] = _command_output(["espeak-ng", "--version"])
    for pkg in DEBIAN_PACKAGES:
        out[pkg] = _command_output(["dpkg-query", "-W", "-f=${Version}", pkg])
    return {k: v for k, v in out.items() if v}


def build(
    corpus_name: str,
    out: str,
    workers: int = 2,
    fsdd_dir: str | None = None,
    shard_size: int = 256,
    progress: bool | None = None,
) -> dict:
    """Builds (or resumes, or confirms) the cache in `out`; returns its build_info."""
    t0 = time.time()
    if corpus_name not in corpora.CORPORA:
        raise BuildError(
            f"unknown corpus {corpus_name!r}; choose one of: {', '.join(corpora.CORPORA)}"
        )
    corpus = corpora.CORPORA[corpus_name]
    fsdd_folder = fsdd.find(fsdd_dir if fsdd_dir is not None else os.environ.get(ENV_FSDD, ""))
    settings = {
        "corpus": corpus_name,
        "format": FORMAT_VERSION,
        "sources": dataclasses.asdict(corpus),
        "fsdd": fsdd_folder is not None,
        "log_mel": _log_mel_settings(),
    }
    settings_digest = cache.digest(settings)

    # A finished build of these settings: nothing to do (no packages or planning needed).
    info_path = os.path.join(out, cache.BUILD_INFO)
    if os.path.exists(info_path):
        with open(info_path) as f:
            info = json.load(f)
        if info.get("settings_digest") != settings_digest:
            raise BuildError(_other_settings(out, info.get("settings", {}), settings))
        c = info["counts"]
        print(f"{out}: corpus {corpus_name!r} is already built ({c['clips']} clips, "
              f"checksum {info['checksum'][:12]}); nothing to do")  # fmt: skip
        return info

    check_packages(corpus)
    if fsdd_folder is None:
        print(f"note: no FSDD folder (--fsdd or ${ENV_FSDD}): the fsdd_* tasks are left out")
    rows = corpora.plan(corpus, fsdd_folder)
    digest = cache.plan_digest(rows, settings)
    os.makedirs(os.path.join(out, cache.SHARDS), exist_ok=True)
    cache.remove_stale_temporaries(out)
    plan_path = os.path.join(out, cache.PLAN)
    if os.path.exists(plan_path):
        with open(plan_path) as f:
            plan = json.load(f)
        if plan["digest"] != digest:
            raise BuildError(_other_settings(out, plan["settings"], settings, finished=False))
    else:
        plan = {"digest": digest, "settings": settings, "rows": cache.rows_to_json(rows)}
        cache.write_json(plan_path, plan)

    shards = shards_of(rows, shard_size)
    _render_shards(rows, shards, out, workers, fsdd_folder, progress)
    info = _assemble(rows, shards, out)
    info.update(
        corpus=corpus_name,
        settings=settings,
        settings_digest=settings_digest,
        plan_digest=digest,
        versions=versions(),
        licences={s: sources.LICENCES[s] for s in info["counts"]["per_source"]},
        seconds=round(time.time() - t0, 1),
    )
    cache.write_json(info_path, info)  # last: its presence means the cache is complete
    shutil.rmtree(os.path.join(out, cache.SHARDS))  # the working copies, now in features.npy
    c = info["counts"]
    print(
        f"{out}: built corpus {corpus_name!r}: {c['clips']} clips ({c['pretrain']} pretraining, "
        f"{c['clients']} clients) in {info['seconds']} s; checksum {info['checksum'][:12]}"
    )
    return info


def _other_settings(out: str, old: dict, new: dict, finished: bool = True) -> str:
    differ = sorted(k for k in old.keys() | new.keys() if old.get(k) != new.get(k))
    what = "a build" if finished else "an unfinished build"
    hint = ""
    if "fsdd" in differ:
        hint = f" (it was built {'with' if old.get('fsdd') else 'without'} FSDD: --fsdd)"
    return (
        f"{out} holds {what} of other settings (differing: {', '.join(differ)}){hint}; "
        "give another --out, or delete the folder to rebuild"
    )


def _log_mel_settings() -> dict:
    from fassl_jax.audio import features

    return features.DEFAULT._asdict()


def _shard_path(out: str, ids: list[int]) -> str:
    """Named by the rows it holds, so a resume with another --shard_size never misreads one."""
    return os.path.join(out, cache.SHARDS, f"{ids[0]:07d}-{ids[-1] + 1:07d}.npz")


def _render_shards(rows, shards, out, workers, fsdd_folder, progress) -> None:
    from fassl_jax.audio import features

    todo = [
        (_shard_path(out, ids), src, [rows[i] for i in ids], fsdd_folder)
        for src, ids in shards
        if not os.path.exists(_shard_path(out, ids))
    ]
    done = len(rows) - sum(len(job[2]) for job in todo)
    if done:
        print(f"{out}: resuming: {len(shards) - len(todo)} of {len(shards)} shards are done")
    bar = tqdm.tqdm(total=len(rows), initial=done, unit="clip", disable=progress is False,
                    desc="render + log-mel")  # fmt: skip
    frames = features.DEFAULT.num_frames(features.DEFAULT.sample_rate)
    # Spawned, not forked: the parent has JAX loaded. Results come back in any order; each
    # shard's file is written as it arrives.
    with multiprocessing.get_context("spawn").Pool(max(1, workers)) as pool:
        try:
            for path, waves, keep in pool.imap_unordered(_render, todo):
                if waves is None:
                    mels = np.zeros((0, frames, features.DEFAULT.n_mels), np.float16)
                else:
                    mels = features.log_mel_batched(waves).astype(np.float16)
                cache.save_shard(path, mels, keep)
                bar.update(len(keep))
        except sources.RenderError as e:
            raise BuildError(str(e)) from None
    bar.close()


def _render(job):
    path, source, rows, fsdd_folder = job
    clips = sources.render_shard(source, rows, fsdd_folder)
    keep = np.array([c is not None for c in clips])
    waves = np.stack([c for c in clips if c is not None]) if keep.any() else None
    return path, waves, keep


def _assemble(rows: list[Row], shards, out: str) -> dict:
    """Writes the cache from the shards: features in training order, the manifest, the tasks
    and the client statistics. Returns counts for build_info."""
    kept = {}  # row id -> (shard path, position in that shard's features)
    for _, ids in shards:
        _, keep = cache.load_shard(_shard_path(out, ids))
        path = _shard_path(out, ids)
        kept.update({int(i): (path, p) for p, i in enumerate(np.asarray(ids)[keep])})
    order = [i for i in cache.order_for_training(rows) if i in kept]
    final = [rows[i] for i in order]
    _write_features(out, shards, kept, order)
    task_names = [t for t in corpora.TASKS if any(t in r.tasks for r in final)]
    cache.write_manifest(os.path.join(out, cache.MANIFEST), final, task_names)
    tasks = _write_tasks(out, final, task_names)
    client = stats.client_stats(final)
    cache.write_json(os.path.join(out, "clients.json"), client)
    stats.plot(client, os.path.join(out, "clients.png"))

    def count(key):
        values = [getattr(r, key) for r in final]
        return {v: values.count(v) for v in sorted(set(values))}

    return {
        "checksum": cache.checksum(out),
        "counts": {
            "clips": len(final),
            "pretrain": sum(r.split == "pretrain" for r in final),
            "dropped_silent": len(rows) - len(final),
            "clients": client["summary"]["clients"],
            "per_split": count("split"),
            "per_source": count("source"),
            "per_domain": count("domain"),
            "synthetic": sum(r.synthetic for r in final),
        },
        "clients": client["summary"],
        "tasks": {t: v["counts"] for t, v in tasks.items()},
    }


def _write_features(out, shards, kept, order) -> None:
    """features.npy in training order, filled one shard at a time (bounded memory)."""
    position = {i: j for j, i in enumerate(order)}
    path = os.path.join(out, cache.FEATURES)
    first = cache.load_shard(_shard_path(out, shards[0][1]))[0]
    with cache.atomic_path(path) as tmp:
        arr = np.lib.format.open_memmap(tmp, "w+", np.float16, (len(order), *first.shape[1:]))
        for _, ids in shards:
            shard = _shard_path(out, ids)
            mels, _ = cache.load_shard(shard)
            for i in ids:
                if i in kept:
                    arr[position[i]] = mels[kept[i][1]]
        arr.flush()
        del arr


def _write_tasks(out, final, task_names) -> dict:
    tasks = {}
    for t in task_names:
        roles = [r.tasks.get(t, "") for r in final]
        tasks[t] = {
            **dataclasses.asdict(corpora.TASKS[t]),
            "counts": {role: roles.count(role) for role in ("gallery", "select", "test")},
        }
    cache.write_json(os.path.join(out, cache.TASKS_FILE), tasks)
    return tasks


def main(argv=None) -> int:
    import argparse

    p = argparse.ArgumentParser(
        prog="python -m data_prep.build", description=__doc__.split("\n")[0]
    )
    p.add_argument("--corpus", default="general", help=f"one of {', '.join(corpora.CORPORA)}")
    p.add_argument("--out", required=True, help="the cache folder (data.dir for training)")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    fsdd_help = f"FSDD folder for the external test (default ${ENV_FSDD}; none: skipped)"
    p.add_argument("--fsdd", default=None, help=fsdd_help)
    p.add_argument("--shard_size", type=int, default=256)
    args = p.parse_args(argv)
    try:
        build(args.corpus, args.out, args.workers, args.fsdd, args.shard_size)
    except (BuildError, MissingPackage) as e:
        print(f"data_prep.build: error: {e}", file=sys.stderr)
        return 2
    return 0


def cli() -> None:
    """The console script fassl-prep."""
    sys.exit(main())


if __name__ == "__main__":
    cli()
