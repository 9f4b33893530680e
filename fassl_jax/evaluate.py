"""Scores a run's encoder on any folder of labelled wavs, beside the two baselines.

  python -m fassl_jax.evaluate --workdir=runs/quick --data=audiofolder:PATH
  python -m fassl_jax.evaluate --workdir=runs/quick --data=audiofolder:PATH --model=digit

--model: "last" (the latest checkpoint, the default) or a task name: the encoder FASSL
selected for that task (workdir/best/<task>).

PATH/<label>/<file>.wav (leave-one-out retrieval), or PATH/{train,test}/<label>/<file>.wav
(test queries against the train gallery). The last line printed is one JSON object:
{"model": {"recall@1": ...}, "random_init": {...}, "logmel": {...}}.
"""

import json
import os
import sys

from absl import app, flags, logging

from fassl_jax import launch

_WORKDIR = flags.DEFINE_string("workdir", None, "A finished (or stopped) run's workdir.")
_DATA = flags.DEFINE_string("data", None, "audiofolder:PATH")
_MODEL = flags.DEFINE_string(
    "model", "last", "last, or a task whose FASSL-selected encoder to use."
)
flags.mark_flags_as_required(["workdir", "data"])


def evaluate(workdir: str, data: str, model: str = "last") -> dict[str, dict[str, float]]:
    import jax
    import ml_collections
    import numpy as np

    from fassl_jax import build, fassl
    from fassl_jax.checkpoints import Checkpointer
    from fassl_jax.data import audiofolder, sources
    from fassl_jax.errors import UserError
    from fassl_jax.eval import retrieval
    from fassl_jax.models.heads import encoder_variables

    kind, _, path = data.partition(":")
    if kind != "audiofolder" or not path:
        raise UserError(f"--data={data!r}: write it as audiofolder:PATH")
    config_path = os.path.join(workdir, "config.json")
    if not os.path.exists(config_path):
        raise UserError(f"{workdir} holds no run (no config.json); give the --workdir of a run")
    with open(config_path) as f:
        config = ml_collections.ConfigDict(json.load(f))
    ckpt = Checkpointer(workdir)
    if ckpt.latest_round() is None:
        raise UserError(f"{workdir} holds no checkpoint yet; run some rounds first")

    # The input statistics are module attributes, not params: any values give the same shapes.
    method = build.build_method(config, 0.0, 1.0)
    _, server_tx, aggregator = build.build_optimizers(config)
    initial = build.init_state(config, method, server_tx, aggregator)
    initial_encoder = jax.device_get(
        encoder_variables({"params": initial.params, **initial.model_state})
    )
    state, meta, _ = ckpt.restore(initial)
    ckpt.close()
    variables = encoder_variables({"params": state.params, **state.model_state})
    if model != "last":
        tasks = sorted(meta["fassl"])
        if model not in tasks:
            raise UserError(f"--model={model!r}: choose last or a task of this run: {tasks}")
        best = fassl.BestCheckpoints(workdir)
        _, variables = best.restore(model, initial_encoder)
        best.close()
    mean, std = meta["input_mean"], meta["input_std"]
    encoder = build.build_method(config, mean, std).model.encoder

    clips = audiofolder.load(path, clip_seconds=config.data.clip_seconds)
    d = config.data
    cache = None if d.cache_dir == "none" else d.cache_dir or sources.default_cache_dir()
    clips = sources.to_log_mel(clips, build.log_mel_config(config), cache)
    labels = clips.labels["label"]
    if set(clips.split) == {"all"}:
        eval_data = retrieval.RetrievalData(clips.audio, clips.labels, None, None)
        counts = np.bincount(labels)
        lonely = int(np.sum(counts[labels] == 1))
        layout = f"{len(labels)} clips, {len(counts[counts > 0])} labels, leave-one-out"
        why = "their label has no other clip"
    else:
        train_part, test_part = (
            clips.subset(clips.split == "train"),
            clips.subset(clips.split == "test"),
        )
        eval_data = retrieval.RetrievalData(
            test_part.audio, test_part.labels, train_part.audio, train_part.labels
        )
        known = set(train_part.labels["label"].tolist())
        lonely = sum(int(lab not in known) for lab in test_part.labels["label"].tolist())
        layout = f"{len(test_part.audio)} test queries against {len(train_part.audio)} train clips"
        why = "their label has no clip in train/"
    print(f"{path}: {layout}", file=sys.stderr)
    if lonely:
        print(
            f"warning: {lonely} queries can never be hits ({why}); they count as misses",
            file=sys.stderr,
        )

    def score(embed_fn, variables):
        ev = retrieval.Evaluator(embed_fn, eval_data, config.eval.recall_at, config.eval.batch_size)
        return ev.run(variables)["label"]

    embed = lambda v, x: encoder.apply(v, x, train=False)  # noqa: E731
    return {
        "model": score(embed, variables),
        "random_init": score(embed, initial_encoder),
        "logmel": score(retrieval.mean_log_mel(mean, std), None),
    }


def main(argv):
    del argv
    logging.set_verbosity(logging.WARNING)  # orbax logs every restore at INFO
    scores = evaluate(_WORKDIR.value, _DATA.value, _MODEL.value)
    print(launch.summary_table({"tasks": {"label": scores}}))
    print(json.dumps(scores))


def cli():
    """The console script."""
    launch.run_cli(app, main, sys.argv, module="fassl_jax.evaluate")


if __name__ == "__main__":
    cli()
