"""The experiment as a story: data -> clients -> model -> rounds -> evaluation -> summary."""

import contextlib
import json
import os
import time

import jax
import ml_collections
import numpy as np
import tqdm

from configs import base
from fassl_jax import config_check, distributed, fassl
from fassl_jax.build import (
    build_method,
    build_optimizers,
    build_round,
    device_cohort,
    eval_embed_fn,
    init_state,
    log_mel_config,
)
from fassl_jax.checkpoints import Checkpointer
from fassl_jax.data import clients, datasets, partitions, sources
from fassl_jax.data.audioset import AudioSet
from fassl_jax.data.pool import ClientPool, Prefetch
from fassl_jax.errors import ConfigError, UserError
from fassl_jax.eval import retrieval
from fassl_jax.federated import parts, placement
from fassl_jax.models.heads import encoder_variables
from fassl_jax.run_log import (
    MetricsLog,
    ProgressLines,
    StopRequests,
    TensorBoardLog,
    workdir_lock,
    write_atomically,
    write_json,
)

# Keys a resumed run may change: how long it runs, how often it evaluates or saves, and
# where the (same) data lives.
RESUMABLE_CHANGES = (
    "fl.rounds",
    "eval.every",
    "checkpoint.every",
    "checkpoint.keep",
    "data.dir",
    "data.cache_dir",
    "data.pool",  # where clips are read from changes no result
    "data.pool_gb",
    "log.every",
    "log.tensorboard",
    "eval.probe",  # the linear probes run after training and change no round
)


def load_log_mels(config: ml_collections.ConfigDict) -> AudioSet:
    d = config.data
    data = sources.load_waveforms(d.source, d.dir, d.clip_seconds)
    cache = None if d.cache_dir == "none" else d.cache_dir or sources.default_cache_dir()
    return sources.to_log_mel(data, log_mel_config(config), cache)


def load_dataset(config: ml_collections.ConfigDict) -> datasets.Dataset:
    d = config.data
    if d.source == "corpus":  # a data_prep feature cache, memory-mapped
        domains = d.get("domains", "")  # workdirs from before the option lack it
        return datasets.from_corpus(d.dir, log_mel_config(config), d.clip_seconds, domains)
    return datasets.from_audioset(load_log_mels(config), d.source)


def build_clients(config, pretrain: AudioSet) -> clients.ClientStore:
    if config.mode == "centralized":  # one client holding every clip
        return clients.ClientStore.from_partition([np.arange(len(pretrain.audio))])
    p = config.partition
    rng = np.random.default_rng([config.seed, 7])
    parts = partitions.partition(
        p.kind, pretrain, rng, **{k: v for k, v in p.items() if k != "kind"}
    )
    return (
        parts
        if isinstance(parts, clients.ClientStore)
        else clients.ClientStore.from_partition(parts)
    )


def _ssl_defaults(method: str) -> dict[str, object]:
    """config.ssl's options of `method` that hold a default, flat as _flat writes them."""
    import inspect

    from fassl_jax.ssl import METHODS

    if method not in METHODS:
        return {}
    out = {}
    for name, p in inspect.signature(METHODS[method]).parameters.items():
        if p.default is not inspect.Parameter.empty:
            value = json.loads(json.dumps(p.default))  # tuples as the JSON config holds them
            out.update(_flat({"ssl": {name: value}}))
    return out


def config_differences(workdir: str, config) -> list[str]:
    """The keys (beyond RESUMABLE_CHANGES) in which `config` differs from the run in workdir;
    an option added to the project since the run started holds its default there."""
    with open(os.path.join(workdir, "config.json")) as f:
        old = _flat(json.load(f))
    new = _flat(json.loads(config.to_json()))
    defaults = _flat(json.loads(base.get_config().to_json()))
    defaults.update(_ssl_defaults(config.ssl.method))
    old = {**{k: v for k, v in defaults.items() if k not in old and k in new}, **old}
    diffs = [k for k in old.keys() | new.keys() if old.get(k) != new.get(k)]
    return sorted(k for k in diffs if k not in RESUMABLE_CHANGES)


def dp_accounting_for(config, cohort_size: int, num_clients: int):
    """For DP-FedAvg: fixes the noise multiplier for config.dp.target_epsilon (if set) in the
    config, and returns rounds -> epsilon at config.dp.delta; None without DP."""
    if config.mode == "centralized" or config.aggregator.rule != "dp_fedavg":
        return None
    from fassl_jax.federated import privacy

    q = cohort_size / num_clients
    if config.dp.target_epsilon > 0:
        z = privacy.noise_for_epsilon(
            q, config.fl.rounds, config.dp.target_epsilon, config.dp.delta
        )
        with config.unlocked():
            config.aggregator.noise_multiplier = z
    z = config.aggregator.get("noise_multiplier", 1.0)
    return lambda rounds: privacy.epsilon(q, z, rounds, config.dp.delta)


def privacy_summary(config, cohort_size: int, num_clients: int) -> dict:
    from fassl_jax.federated import privacy

    q = cohort_size / num_clients
    z = config.aggregator.get("noise_multiplier", 1.0)
    return {
        "epsilon": privacy.epsilon(q, z, config.fl.rounds, config.dp.delta),
        "delta": config.dp.delta,
        "noise_multiplier": z,
        "clip": config.aggregator.get("clip", 1.0),
        "sampling_rate": q,
        "rounds": config.fl.rounds,
        "accountant": "RDP (dp-accounting), Poisson sampling at rate clients_per_round / clients",
    }


def check_recall_at(ks, tasks: dict) -> None:
    """Recall@k needs k below each task's gallery size (before any compilation)."""
    for name, task in tasks.items():
        if max(ks) > len(task.gallery):
            raise ConfigError(
                f"config.eval.recall_at holds {max(ks)}, but task {name!r} has a gallery of "
                f"{len(task.gallery)} clips; use ks up to {len(task.gallery)}"
            )


def check_workdir_config(workdir: str, config, write: bool = True) -> None:
    """A workdir holds one run: resuming it with another config would mix two experiments."""
    path = os.path.join(workdir, "config.json")
    has_rounds = Checkpointer.exists(workdir)
    if has_rounds and os.path.exists(path):
        diffs = config_differences(workdir, config)
        if diffs:
            raise UserError(
                f"{workdir} holds a run with another config (differs in {', '.join(diffs)}); "
                "use a new --workdir or the same config"
            )
    if write:
        write_atomically(path, config.to_json(indent=2))


def check_data_identity(workdir: str, identity: str | None, write: bool = True) -> None:
    """A corpus rebuilt or swapped under data.dir must not continue a run made on another."""
    if identity is None:
        return
    path = os.path.join(workdir, "data_identity.txt")
    if os.path.exists(path) and Checkpointer.exists(workdir):
        with open(path) as f:
            old = f.read().strip()
        if old != identity:
            raise UserError(
                f"{workdir} was trained on a corpus with checksum {old[:12]}; data.dir now "
                f"holds {identity[:12]}; use a new --workdir or the corpus it was trained on"
            )
    if write:
        write_atomically(path, identity + "\n")


def _flat(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        out.update(_flat(v, f"{prefix}{k}.") if isinstance(v, dict) else {f"{prefix}{k}": v})
    return out


def run(config: ml_collections.ConfigDict, workdir: str) -> dict:
    config_check.validate(config)
    os.makedirs(workdir, exist_ok=True)
    # One lock per run: process 0 holds it for all of a multi-process run's processes.
    # The others wait at a barrier until it has it: if process 0 cannot take the lock (a busy
    # workdir) it stops, and they stop with it before touching the workdir.
    lock = workdir_lock(workdir) if distributed.is_writer() else contextlib.nullcontext()
    with lock, StopRequests() as stops:
        distributed.barrier("workdir_locked")
        return _run(config, workdir, stops)


def _run(config: ml_collections.ConfigDict, workdir: str, stops=None) -> dict:
    writer = distributed.is_writer()  # process 0 writes the run's files; all train
    check_workdir_config(workdir, config, writer)

    # --- Data: log-mels; clients see only the pretraining audio, never its labels.
    data = load_dataset(config)
    check_recall_at(config.eval.recall_at, data.tasks)
    check_data_identity(workdir, data.identity, writer)
    pretrain = data.pretrain
    input_mean, input_std = data.input_mean, data.input_std
    store = build_clients(config, pretrain)
    fl = config.fl
    cohort_size = 1 if config.mode == "centralized" else fl.clients_per_round
    if cohort_size > store.num_clients:
        raise ConfigError(
            f"config.fl.clients_per_round={cohort_size} exceeds the {store.num_clients} clients "
            f"of partition {config.partition.kind!r}; lower it or make more clients"
        )
    strata = None
    if fl.stratify and cohort_size > 1:
        if fl.stratify not in pretrain.labels:
            raise ConfigError(
                f"config.fl.stratify={fl.stratify!r}: the pool has no such label; choose one "
                f"of {sorted(pretrain.labels)} or ''"
            )
        strata = clients.client_strata(store, pretrain.labels[fl.stratify], fl.stratify)
    work = clients.LocalWork(fl.batch_size, fl.local_epochs, fl.local_steps, fl.max_local_steps)
    availability = (
        clients.Availability()
        if config.mode == "centralized"
        else clients.Availability(fl.dropout, fl.over_select, fl.stragglers, fl.deadline)
    )
    # Each round's step axis follows its cohort's largest client, in power-of-two buckets
    # (clients.step_bucket): a bounded number of compilations, never the population's max.
    max_steps = int(work.steps_for(store.sizes).max())

    # --- Model, objective and the round function.
    method = build_method(config, input_mean, input_std)
    privacy_of = dp_accounting_for(config, cohort_size, store.num_clients)
    client_tx, server_tx, aggregator = build_optimizers(config)
    mesh = placement.client_mesh()
    keep_local = "" if config.mode == "centralized" else fl.keep_local
    model_parts = parts.ModelParts.build(keep_local, method.private_collections)
    round_fn, pad_clients_to = build_round(
        config, method, client_tx, server_tx, aggregator, model_parts, mesh, store.num_clients
    )
    # Committed to the mesh up front, so the first round's outputs match its inputs' placement
    # and the second round does not compile again.
    state = init_state(config, method, server_tx, aggregator)
    state = distributed.put(state, placement.replicated(mesh))
    # Kept-local parts: a per-round log on disk (parts.ClientStateStore), touched only for
    # each round's cohort; new clients start from the initial model.
    client_states = parts.ClientStateStore(
        distributed.fetch(model_parts.local({"params": state.params, **state.model_state})),
        os.path.join(workdir, "client_states"),
        write=writer,  # process 0 writes the log; every process reads it
    )
    # A host copy: the device buffers are donated to the first round.
    initial_encoder = distributed.fetch(
        encoder_variables({"params": state.params, **state.model_state})
    )

    # --- Resume where a previous run stopped.
    ckpt = Checkpointer(workdir, keep=config.checkpoint.keep)
    bests, seconds, saved = fassl.init(), {"train": 0.0, "eval": 0.0}, None
    if ckpt.latest_round() is not None:
        state, meta, saved = ckpt.restore_newest_readable(
            state,
            "auto" if client_states.keeps_anything else False,  # "auto": older checkpoints
            warn=lambda m: print(f"warning: {m}", flush=True),
            set_aside=writer,
        )
        bests, seconds = meta["fassl"], meta["seconds"]
        distributed.barrier("restored")  # process 0 may have set damaged checkpoints aside
        ckpt.manager.reload()
    start = int(state.round)

    def resume_client_log():
        client_states.resume(start)  # the log's rounds after the checkpoint's are dropped
        if saved is not None:  # a checkpoint saved before the log existed
            client_states.load_arrays(saved, start)

    if writer:
        resume_client_log()
    distributed.barrier("resumed")  # process 0 has settled the log: the others read it
    if not writer:
        resume_client_log()
    best_ckpts = fassl.BestCheckpoints(workdir)
    # The picks each retained checkpoint names are kept (a later fallback may need them);
    # picks from rounds after the restored one are redone, and dropped.
    checkpointed_bests = [bests]
    best_ckpts.settle(checkpointed_bests, after=start)
    log = MetricsLog(os.path.join(workdir, "metrics.jsonl"), rounds_done=start, write=writer)

    # --- Evaluation: per task, selection and test queries against its gallery.
    def evaluator(embed_fn):
        e = config.eval
        return retrieval.TaskEvaluator(
            embed_fn, data.eval_clips, data.tasks, e.recall_at, e.batch_size
        )

    encoder_eval = evaluator(eval_embed_fn(config, method.model.encoder))
    pool = ClientPool(data.pool, config.data, mesh)
    cohort_sharding = (
        placement.split_clients(mesh) if pad_clients_to > 1 else placement.replicated(mesh)
    )
    base_key = jax.random.key(config.seed)

    # --- Rounds.
    last_test = None  # test scores of the last round, which is always evaluated
    bar = tqdm.tqdm(
        range(start, fl.rounds),
        initial=start,
        total=fl.rounds,
        unit="round",
        disable=None if writer else True,
    )
    if start > 0 and writer:
        print(f"{workdir}: resumed from round {start} of {fl.rounds}", flush=True)
    lines = ProgressLines(start, fl.rounds, config.log.every, enabled=writer and bool(bar.disable))
    board = (
        TensorBoardLog(os.path.join(workdir, "tensorboard"))
        if config.log.tensorboard and writer
        else None
    )

    def finish_round(r: int, record: dict) -> None:
        """FASSL's scoring on evaluation rounds, the log line, the checkpoint."""
        nonlocal last_test, bests, stopping
        if (r + 1) % config.eval.every == 0 or r + 1 == fl.rounds:
            # FASSL: score the global encoder on every task; keep each task's best round.
            t1 = time.perf_counter()
            encoder = distributed.fetch(
                encoder_variables({"params": state.params, **state.model_state})
            )
            scores = encoder_eval.run(encoder)
            last_test = scores["test"]
            bests, improved = fassl.update(bests, r + 1, scores["select"], scores["test"])
            for task in improved:
                best_ckpts.save(task, r + 1, encoder)
            for split, prefix in (("test", ""), ("select", "select/")):
                record.update(
                    {
                        f"{prefix}{task}/{k}": v
                        for task, s in scores[split].items()
                        for k, v in s.items()
                    }
                )
            record["eval_seconds"] = round(time.perf_counter() - t1, 3)
            seconds["eval"] += record["eval_seconds"]
        log.write(record)
        if board is not None:
            board.write(record)
        lines.round(record)
        # Decided by all processes alike: they save and stop together.
        stopping = distributed.any_process(stops is not None and stops.signal is not None)
        if (r + 1) % config.checkpoint.every == 0 or r + 1 == fl.rounds or stopping:
            meta = {
                "input_mean": input_mean,
                "input_std": input_std,
                "fassl": bests,
                "seconds": seconds,
            }
            best_ckpts.wait()  # every pick this checkpoint names is on disk before it
            ckpt.save(r + 1, state, meta)  # kept-local parts: already in their per-round log
            ckpt.wait()  # committed: the bests it holds are the run's
            checkpointed_bests.append(bests)
            del checkpointed_bests[: -config.checkpoint.keep]  # as the checkpoints retained
            best_ckpts.settle(checkpointed_bests)
            if client_states.keeps_anything:  # rows no retained checkpoint can read again
                client_states.compact(ckpt.oldest_round())
                distributed.barrier("client_states compacted")
                client_states.reread(r + 1)

    def cohort_of(r: int):
        """Round r's clients, schedule and clips: host work that needs no earlier round."""
        sampled = min(clients.sample_size(cohort_size, availability), store.num_clients)
        ids = (
            clients.sample_clients(store.num_clients, sampled, config.seed, r)
            if strata is None
            else clients.sample_stratified(strata, sampled, config.seed, r)
        )
        ids, share, dropped = clients.reporting_clients(
            ids, cohort_size, availability, config.seed, r
        )
        cohort = clients.round_cohort(
            store, ids, work, max_steps, config.seed, r, pad_clients_to, cohort_size, share
        )
        if not (cohort.weights > 0).any():
            return cohort, None, dropped
        return (*pool.for_cohort(cohort), dropped)

    prefetch = Prefetch(cohort_of)  # on an error, exit waits for at most its one round
    compiled_shapes, stopping = set(), False

    for r in bar:
        t0 = time.perf_counter()
        cohort, examples, dropped = prefetch.get(r)
        if examples is None:  # nobody reported: the global model stays
            state = state._replace(round=state.round + 1)
            record = {"round": r + 1, "loss": None, "clients": 0, "dropped": dropped}
            record["seconds"] = round(time.perf_counter() - t0, 3)
            print(f"round {r + 1}: no client reported ({dropped} dropped); skipped", flush=True)
            seconds["train"] += record["seconds"]
            finish_round(r, record)
            continue
        ids = cohort.client_ids  # on the host: the device copy may span other processes
        own = client_states.gather(ids)
        cohort = device_cohort(cohort, examples, own, cohort_sharding)
        key = jax.random.fold_in(base_key, r)
        shape = cohort.batches.shape  # a new step bucket compiles the round again
        if shape not in compiled_shapes:
            distributed.compile_together(round_fn, state, cohort, key)
            compiled_shapes.add(shape)
        state, metrics, trained = round_fn(state, cohort, key)
        if r + 1 < fl.rounds:
            prefetch.start(r + 1)  # while this round computes
        client_states.scatter(ids, trained, r + 1)
        if client_states.keeps_anything:
            distributed.barrier("client_states")  # process 0's file is whole before any read
        record = {
            "round": r + 1,
            "loss": float(metrics["loss"]),
            "clients": int(metrics["clients"]),
        }
        if availability != clients.Availability():
            record["dropped"] = dropped
        if privacy_of is not None:
            record["epsilon"] = privacy_of(r + 1)
            record["clip"] = float(state.agg_state.clip)  # the next round's (adaptive) clip
        rejected = int(metrics.get("rejected", 0))
        if rejected:
            record["rejected"] = rejected
        record["seconds"] = round(time.perf_counter() - t0, 3)
        seconds["train"] += record["seconds"]
        if not np.isfinite(record["loss"]):
            raise UserError(
                f"the loss is not finite in round {r + 1} for every client "
                f"({rejected} updates left out); lower config.client.learning_rate "
                "(finished rounds are kept in the checkpoints)"
            )
        if rejected:
            print(f"round {r + 1}: {rejected} clients' updates were not finite; left out",
                  flush=True)  # fmt: skip
        finish_round(r, record)
        bar.set_postfix(loss=f"{record['loss']:.4f}")
        if stopping and r + 1 < fl.rounds:
            prefetch.close()
            ckpt.wait()
            ckpt.close()
            best_ckpts.close()
            if board is not None:
                board.close()
            raise UserError(
                f"stopped by {stops.signal} after round {r + 1} of {fl.rounds} (checkpoint "
                "saved); run the same command again to resume"
            )
    prefetch.close()
    ckpt.wait()
    best_ckpts.close()
    if board is not None:
        board.close()

    # --- Summary: per task, FASSL's selected round and the last round, beside the
    # random-init encoder and plain log-mels (test split).
    if last_test is None:  # a finished run, resumed: its last round was scored before
        last_test = encoder_eval.run(
            encoder_variables({"params": state.params, **state.model_state}), ("test",)
        )["test"]
    trained = last_test
    # Baselines on both splits: their select scores are what a recipe is compared with.
    random_init = encoder_eval.run(initial_encoder)
    logmel = evaluator(retrieval.mean_log_mel(input_mean, input_std)).run(None)
    summary = {
        "rounds": int(state.round),
        "seconds": {k: round(v, 3) for k, v in seconds.items()},
        **(
            {
                "privacy": {
                    **privacy_summary(config, cohort_size, store.num_clients),
                    "final_clip": float(state.agg_state.clip),  # adaptive: where it ended
                }
            }
            if privacy_of is not None
            else {}
        ),  # fmt: skip
        "tasks": {task: task_summary(bests[task], trained[task]) for task in trained},
    }
    for task in trained:
        summary["tasks"][task].update(
            random_init=random_init["test"][task],
            logmel=logmel["test"][task],
            select_baselines={
                "random_init": random_init["select"][task],
                "logmel": logmel["select"][task],
            },
        )
    if config.eval.probe:
        t0 = time.perf_counter()
        last = encoder_variables({"params": state.params, **state.model_state})
        probes = {
            "model": encoder_eval.probe(last),
            "random_init": encoder_eval.probe(initial_encoder),
            "logmel": evaluator(retrieval.mean_log_mel(input_mean, input_std)).probe(None),
        }
        best_ckpts = fassl.BestCheckpoints(workdir)
        for task in trained:  # FASSL's pick for each task, restored from best/<task>
            _, picked = best_ckpts.restore(task, initial_encoder)
            probe = encoder_eval.probe(picked, tasks=[task])
            summary["tasks"][task]["probe"] = {
                "selected": {s: probe[s][task] for s in probe},
                **{name: {s: p[s][task] for s in p} for name, p in probes.items()},
            }
        best_ckpts.close()
        summary["seconds"]["probe"] = round(time.perf_counter() - t0, 3)
    if writer:
        write_json(os.path.join(workdir, "summary.json"), summary)
    ckpt.close()
    return summary


def task_summary(best: dict, last: dict) -> dict:
    """FASSL's pick (best round by selection Recall@1, and its test scores) beside the last
    round's test scores ("model")."""
    metric = fassl.SELECT_METRIC
    return {
        "best_round": best["round"],
        f"best_select_{metric}": best["select"][metric],
        f"best_test_{metric}": best["test"][metric],
        f"last_test_{metric}": last[metric],
        "selected": best["test"],
        "model": last,
    }
