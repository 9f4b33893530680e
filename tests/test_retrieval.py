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
        {"a": np.arange(5), "b": np.zeros(5, int)},
        gallery,
        {"a": np.arange(7), "b": np.zeros(7, int)},
    )
    ev = retrieval.Evaluator(lambda v, x: x.reshape(x.shape[0], -1), data, ks=(1, 2), batch_size=4)
    scores = ev.run(None)
    assert scores["a"]["recall@1"] == 1.0  # each query's nearest item is its own source
    assert scores["b"] == {"recall@1": 1.0, "recall@2": 1.0}
