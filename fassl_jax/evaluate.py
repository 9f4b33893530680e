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
    import numpy as np

    from fassl_jax import build
    from fassl_jax.data import audiofolder, sources
    from fassl_jax.encoders_io import load_encoder
    from fassl_jax.errors import UserError
    from fassl_jax.eval import retrieval

    kind, _, path = data.partition(":")
    if kind != "audiofolder" or not path:
        raise UserError(f"--data={data!r}: write it as audiofolder:PATH")
    loaded = load_encoder(workdir, model)
    config, encoder, variables = loaded.config, loaded.encoder, loaded.variables
    initial_encoder, mean, std = loaded.initial, loaded.input_mean, loaded.input_std

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
    skipped = audiofolder.skipped_files(path)
    if skipped:
        parts = [f"{len(f)} {why} ({', '.join(f[:3])}{', ...' if len(f) > 3 else ''})"
                 for why, f in skipped.items()]  # fmt: skip
        print(f"skipped {sum(map(len, skipped.values()))} files: {'; '.join(parts)}",
              file=sys.stderr)  # fmt: skip
    if lonely:
        print(
            f"warning: {lonely} queries can never be hits ({why}); they count as misses",
            file=sys.stderr,
        )

    def score(embed_fn, variables):
        ev = retrieval.Evaluator(embed_fn, eval_data, config.eval.recall_at, config.eval.batch_size)
        return ev.run(variables)["label"]

    embed = build.eval_embed_fn(config, encoder)  # as the run scored it
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
