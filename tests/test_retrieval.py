"""Recall@k on hand-made similarity matrices."""

import numpy as np
import pytest

from fassl_jax.eval import retrieval


def test_recall_at_k_by_hand():
    # 3 queries x 4 gallery items; gallery labels [0, 1, 1, 2]
    sim = np.array(
        [
            [0.9, 0.1, 0.2, 0.0],  # label 0: nearest is item 0 (label 0) -> hit at 1
            [0.9, 0.1, 0.8, 0.0],  # label 1: nearest item 0 (miss), then item 2 (hit) -> hit at 2
            [0.5, 0.4, 0.3, 0.1],  # label 2: item 3 is last -> hit only at 4
        ]
    )
    got = retrieval.recall_at_k(sim, np.array([0, 1, 2]), np.array([0, 1, 1, 2]), ks=(1, 2, 4))
    assert got == pytest.approx({"recall@1": 1 / 3, "recall@2": 2 / 3, "recall@4": 1.0})


def test_a_collapsed_encoder_scores_chance_whatever_the_gallery_order():
    """All similarities equal: every query scores the share of the gallery with its label,
    not 1 for the label that comes first in a label-ordered gallery."""
    gallery_labels = np.repeat([0, 1, 2], [2, 3, 5])  # in label order
    query_labels = np.array([0, 1, 2, 2])
    got = retrieval.recall_at_k(np.zeros((4, 10)), query_labels, gallery_labels, ks=(1, 2))
    # Recall@2 for a label with n of 10 items: 1 - C(10 - n, 2) / C(10, 2).
    at_2 = [1 - (8 * 7) / (10 * 9), 1 - (7 * 6) / (10 * 9), 1 - (5 * 4) / (10 * 9)]
    assert got["recall@1"] == pytest.approx(np.mean([0.2, 0.3, 0.5, 0.5]))
    assert got["recall@2"] == pytest.approx(np.mean([at_2[0], at_2[1], at_2[2], at_2[2]]))


def test_ties_count_as_the_mean_over_random_tie_orders():
    """Against brute force: the mean over many random gallery orders of a plain
    stable-sort Recall@k, on similarities with many ties."""
    rng = np.random.default_rng(0)
    sim = rng.integers(0, 4, size=(6, 12)).astype(float)
    q, g = rng.integers(0, 3, 6), rng.integers(0, 3, 12)
    ks = (1, 3, 5)
    trials = []
    for _ in range(20000):
        order = rng.permutation(12)
        nearest = np.argsort(-sim[:, order], axis=1, kind="stable")
        hits = g[order][nearest] == q[:, None]
        trials.append([hits[:, :k].any(axis=1).mean() for k in ks])
    want = np.mean(trials, axis=0)
    got = retrieval.recall_at_k(sim, q, g, ks)
    np.testing.assert_allclose([got[f"recall@{k}"] for k in ks], want, atol=0.01)


def test_leave_one_out_never_retrieves_the_query_itself():
    emb = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]])
    sim = np.asarray(retrieval.cosine_similarity(emb, emb))
    labels = np.array([0, 0, 1, 1])
    assert retrieval.recall_at_k(sim, labels, labels, ks=(1,), exclude_self=True)["recall@1"] == 1.0
    swapped = np.array([0, 1, 0, 1])  # each item's nearest other item now has another label
    assert (
        retrieval.recall_at_k(sim, swapped, swapped, ks=(1,), exclude_self=True)["recall@1"] == 0.0
    )


def test_evaluator_scores_every_task_and_pads_the_last_batch():
    rng = np.random.default_rng(0)
    gallery = rng.normal(size=(7, 3, 2)).astype(np.float32)
    queries = gallery[:5] + 0.01
    data = retrieval.RetrievalData(
        queries,
        {"a": np.arange(5), "b": np.array([1, 1, 0, 0, 0])},
        gallery,
        {"a": np.arange(7), "b": np.array([0, 1, 0, 1, 0, 1, 0])},
    )
    ev = retrieval.Evaluator(lambda v, x: x.reshape(x.shape[0], -1), data, ks=(1, 2), batch_size=4)
    scores = ev.run(None)
    assert scores["a"]["recall@1"] == 1.0  # each query's nearest item is its own source

    # "b": a hit when the query's own source (its nearest) or the next nearest shares its label
    def unit(z):
        return z.reshape(len(z), -1) / np.linalg.norm(z.reshape(len(z), -1), axis=1)[:, None]

    order = np.argsort(-(unit(queries) @ unit(gallery).T), axis=1)
    hits = data.gallery_labels["b"][order[:, :2]] == data.query_labels["b"][:, None]
    assert scores["b"]["recall@1"] == pytest.approx(hits[:, 0].mean())  # 3 of 5
    assert scores["b"]["recall@2"] == pytest.approx(hits.any(1).mean())
    assert hits[:, 0].mean() == 0.6


def test_task_evaluator_scores_each_task_against_its_own_gallery():
    """Two tasks over one set of clips, with different galleries and labels: each split's
    Recall@1 equals a direct nearest-neighbour count, and a test-only call skips nothing
    it needs."""
    from fassl_jax.data.datasets import RetrievalTask

    rng = np.random.default_rng(0)
    clips = rng.normal(size=(40, 3, 5)).astype(np.float32)
    tasks = {
        "a": RetrievalTask(np.arange(0, 20), rng.integers(0, 3, 20),
                           {"select": (np.arange(20, 30), rng.integers(0, 3, 10)),
                            "test": (np.arange(30, 40), rng.integers(0, 3, 10))}),
        "b": RetrievalTask(np.arange(10, 30), rng.integers(0, 2, 20),
                           {"select": (np.arange(0, 10), rng.integers(0, 2, 10)),
                            "test": (np.arange(35, 40), rng.integers(0, 2, 5))}),
    }  # fmt: skip
    embed = lambda v, x: x.reshape(x.shape[0], -1)  # noqa: E731
    ev = retrieval.TaskEvaluator(embed, clips, tasks, ks=(1,), batch_size=8)
    got, test_only = ev.run(None), ev.run(None, ("test",))
    flat = clips.reshape(len(clips), -1)
    unit = flat / np.linalg.norm(flat, axis=1, keepdims=True)
    for name, task in tasks.items():
        for split in ("select", "test"):
            ids, labels = task.queries[split]
            nearest = task.gallery[np.argmax(unit[ids] @ unit[task.gallery].T, axis=1)]
            hit = task.gallery_labels[np.searchsorted(task.gallery, nearest)] == labels
            assert got[split][name]["recall@1"] == pytest.approx(hit.mean())
        assert test_only["test"][name] == got["test"][name]
    assert set(test_only) == {"test"}


def test_windowed_embedding_is_the_mean_over_windows():
    clips = np.random.default_rng(0).normal(size=(3, 20, 4)).astype(np.float32)
    embed = lambda v, x: np.concatenate([x.max(axis=1), x[:, 0]], -1)  # noqa: E731
    got = retrieval.windowed(embed, 8, 5)(None, clips)
    starts = [0, 5, 10]  # 15 would run past 20 frames
    want = np.mean([embed(None, clips[:, s : s + 8]) for s in starts], axis=0)
    np.testing.assert_allclose(got, want, rtol=1e-6)
    with pytest.raises(ValueError, match="window_frames=30 exceeds the clips' 20 frames"):
        retrieval.windowed(embed, 30, 5)(None, clips)


def test_linear_probe_separates_what_is_separable_and_not_what_is_not():
    from fassl_jax.eval.probe import linear_probe

    rng = np.random.default_rng(0)
    centres = rng.normal(size=(4, 16)) * 3.0
    labels = np.array([7, 11, 42, 99])  # any integers
    y = rng.integers(0, 4, 400)
    x = centres[y] + rng.normal(size=(400, 16))
    yt = rng.integers(0, 4, 200)
    xt = centres[yt] + rng.normal(size=(200, 16))
    acc = linear_probe(x, labels[y], {"test": (xt, labels[yt]), "unseen": (xt, yt + 1000)})
    assert acc["test"] > 0.97
    assert acc["unseen"] == 0.0  # labels absent from training are misses
    noise = linear_probe(rng.normal(size=(400, 16)), labels[y], {"t": (xt * 0, labels[yt])})
    assert noise["t"] < 0.45  # constant inputs: one class for all, about a quarter right


def test_a_broken_encoder_scores_chance_not_a_perfect_recall():
    """NaN similarities (a diverged encoder) rank as far as can be: every item tied, so the
    score is the chance rate, never 1."""
    labels = np.array([0, 0, 1, 1, 1])
    nan = np.full((2, 5), np.nan)
    got = retrieval.recall_at_k(nan, np.array([0, 1]), labels, ks=(1,))
    assert got["recall@1"] == pytest.approx(np.mean([2 / 5, 3 / 5]))


def test_linear_probe_matches_scikit_learns_logistic_regression_on_real_audio(fsdd_dir):
    """The probe against sklearn's multinomial logistic regression with the same L2 penalty
    (sklearn's C * sum of losses + |w|^2 / 2 is the probe's mean loss + L2 |w|^2 for
    C = 1 / (2 L2 N)) on the same standardised embeddings: MFCC means and deviations of
    FSDD clips, digit and speaker, trained on the pretraining takes, scored on the test
    takes. Accuracies within 1 point."""
    import librosa
    from sklearn.linear_model import LogisticRegression

    from fassl_jax.data import spoken_digit
    from fassl_jax.eval import probe

    data = spoken_digit.load(fsdd_dir, clip_seconds=1.0)
    mfcc = np.stack([librosa.feature.mfcc(y=w, sr=16_000, n_mfcc=20) for w in data.audio])
    x = np.concatenate([mfcc.mean(axis=2), mfcc.std(axis=2)], axis=1)
    train, test = data.split == "pretrain", data.split == "test"
    mean, std = x[train].mean(axis=0), x[train].std(axis=0) + 1e-6
    for task in ("digit", "speaker"):
        y = data.labels[task]
        ours = probe.linear_probe(x[train], y[train], {"test": (x[test], y[test])})["test"]
        reference = LogisticRegression(C=1.0 / (2 * probe.L2 * train.sum()), max_iter=5000)
        reference.fit((x[train] - mean) / std, y[train])
        theirs = reference.score((x[test] - mean) / std, y[test])
        assert abs(ours - theirs) <= 0.01, (task, ours, theirs)
        assert ours > 2.0 / len(np.unique(y))  # the features carry the task
