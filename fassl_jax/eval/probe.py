"""Linear probe: multinomial logistic regression on frozen embeddings, trained on a task's
gallery and scored as accuracy on its queries, beside retrieval (the usual convention for
SSL encoders, e.g. BYOL-A's and HEAR's linear evaluations).

One fixed protocol for every encoder and task, chosen before any result: embeddings
standardised with the gallery's mean and standard deviation; weights from zero; 300
full-batch Adam steps at learning rate 0.01 with L2 1e-4 on the weights.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax

STEPS, LEARNING_RATE, L2 = 300, 0.01, 1e-4


@functools.partial(jax.jit, static_argnames=("num_classes",))
def fit(x: jax.Array, y: jax.Array, num_classes: int):
    """(weights [D, C], bias [C]) of the probe on standardised x [N, D], labels y [N]."""
    params = (jnp.zeros((x.shape[1], num_classes)), jnp.zeros(num_classes))
    tx = optax.adam(LEARNING_RATE)

    def loss(p):
        logits = x @ p[0] + p[1]
        ce = optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()
        return ce + L2 * jnp.sum(p[0] ** 2)

    def step(carry, _):
        p, opt = carry
        grads = jax.grad(loss)(p)
        updates, opt = tx.update(grads, opt, p)
        return (optax.apply_updates(p, updates), opt), None

    (params, _), _ = jax.lax.scan(step, (params, tx.init(params)), None, length=STEPS)
    return params


def linear_probe(
    train_x: np.ndarray, train_y: np.ndarray, tests: dict[str, tuple[np.ndarray, np.ndarray]]
) -> dict[str, float]:
    """Accuracy on each test set (name -> (x, y)) of a probe fit on (train_x, train_y).
    Labels are any integers; a test label absent from training counts as a miss."""
    classes, y = np.unique(train_y, return_inverse=True)
    mean, std = train_x.mean(axis=0), train_x.std(axis=0) + 1e-6
    standardise = lambda a: jnp.asarray((a - mean) / std, jnp.float32)  # noqa: E731
    with jax.numpy_dtype_promotion("standard"):  # optax.adam's bias correction mixes dtypes
        w, b = fit(standardise(train_x), jnp.asarray(y, jnp.int32), num_classes=len(classes))
    out = {}
    for name, (x, labels) in tests.items():
        predicted = classes[np.asarray(jnp.argmax(standardise(x) @ w + b, axis=1))]
        out[name] = float(np.mean(predicted == labels))
    return out
