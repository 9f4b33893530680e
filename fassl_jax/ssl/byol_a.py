"""BYOL-A (Niizumi et al. 2021): BYOL on log-mels with mixup and random resize crop views.

An online network (encoder, projector, predictor) regresses, for two views of a clip, the
other view's projection by a target network (encoder, projector) whose weights are an
exponential moving average of the online ones; the loss is the normalised regression
2 - 2 cos(p, z'), symmetrised.

Under federation the target needs a definition (config `ssl.target`):

- "aggregated" (default): the target is part of the global model. Each client starts from
  the global target, moves it by EMA during its local steps, and the server averages the
  clients' targets like BatchNorm statistics. Centralized training sees exactly BYOL.
- "restart": each client's target restarts from the global online network it receives
  (encoder and projector), so no target ever leaves a client.

Views follow BYOL-A's order: a clip is standardised with the dataset's log-mel statistics
(the encoder's input_mean and input_std), mixed and resize-cropped (padding zeros, the
dataset mean), and the batch of both views is standardised again ("post-norm"); the
encoder, which standardises its input with the dataset statistics, gets the views back in
log-mel units. Mixup mixes against a bank of the client's own recent clips. The bank belongs to one
client's local training: it starts empty every round and is never sent to the server.
"""

import flax.linen as nn
import jax
import jax.numpy as jnp

from fassl_jax.audio import augment
from fassl_jax.models.heads import MLP, model_variables
from fassl_jax.ssl.base import SSLMethod

TARGET_MODES = ("aggregated", "restart")


class Byol(nn.Module):
    """Params {"encoder": ..., "projector": ..., "predictor": ...}."""

    encoder: nn.Module
    projector: nn.Module
    predictor: nn.Module

    def project(self, x: jax.Array, train: bool = False) -> jax.Array:
        return self.projector(self.encoder(x, train), train)

    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        return self.predictor(self.project(x, train), train)


def normalized_regression(p: jax.Array, z: jax.Array) -> jax.Array:
    """||p/|p| - z/|z|||^2 = 2 - 2 cos(p, z), per row."""
    p = p / jnp.linalg.norm(p, axis=-1, keepdims=True).clip(1e-12)
    z = z / jnp.linalg.norm(z, axis=-1, keepdims=True).clip(1e-12)
    return 2.0 - 2.0 * jnp.sum(p * z, axis=-1)


def byol_loss(p1, p2, target_z1, target_z2) -> jax.Array:
    """Each view's prediction against the other view's target projection, summed over the two
    directions, averaged over the batch. The targets carry no gradient."""
    target_z1, target_z2 = jax.lax.stop_gradient((target_z1, target_z2))
    return (normalized_regression(p1, target_z2) + normalized_regression(p2, target_z1)).mean()


def post_normalize(views: jax.Array, eps: float = 1e-8) -> jax.Array:
    """BYOL-A's NormalizeBatch: the augmented batch standardised over all its values."""
    return (views - views.mean()) / (views.std() + eps)


def views_fn(
    crop_frames, mixup_ratio, rrc_scale, rrc_freq_scale, data_mean, data_std, filter_db=0.0
):
    """fn(key, x [B, T, F], bank) -> (both views [2B, crop, F] in log-mel units, the
    standardised crops for the bank). Both views share one random time crop; each then gets
    its own log-mixup-exp against the bank and its own random resize crop, on standardised
    values; post-norm standardises the 2B views together (BYOL-A's order). filter_db > 0:
    each view first passes a random equaliser of up to that many dB (not in BYOL-A)."""
    crop = augment.batched(augment.random_crop(crop_frames))
    mixup = augment.log_mixup_exp(mixup_ratio)
    freq_scale = None if rrc_freq_scale is None else tuple(rrc_freq_scale)
    rrc = augment.random_resize_crop(1.5, 1.0, tuple(rrc_scale), freq_scale, fill=0.0)

    equalise = augment.random_filter(filter_db) if filter_db else None

    def view(key, clip, bank):
        k_mix, k_rrc = jax.random.split(key)
        if equalise is not None:  # a gain in log-mel units is gain / data_std here
            clip = equalise(jax.random.fold_in(key, 2), clip * data_std) / data_std
        return rrc(k_rrc, mixup(k_mix, clip, bank))

    def views(key, clips, bank):
        return jax.vmap(view, in_axes=(0, 0, None))(jax.random.split(key, len(clips)), clips, bank)

    def fn(key, x, bank):
        k_crop, k1, k2 = jax.random.split(key, 3)
        clips = (crop(k_crop, x) - data_mean) / data_std
        both = post_normalize(jnp.concatenate([views(k1, clips, bank), views(k2, clips, bank)]))
        return both * data_std + data_mean, clips

    return fn


def _online_target_params(params, copy: bool = False):
    """The online weights the target tracks. copy: fresh buffers (outside jit, the target
    must not alias the params, or donating both to the round donates one buffer twice)."""
    online = {"encoder": params["encoder"], "projector": params["projector"]}
    return jax.tree.map(jnp.copy, online) if copy else online


def build(
    encoder: nn.Module,
    embed_dim: int,
    proj_hidden: int = 4096,
    proj_dim: int = 256,
    target_decay: float = 0.99,
    target: str = "aggregated",
    crop_frames: int = 96,
    mixup_ratio: float = 0.4,
    mixup_bank: int = 128,
    rrc_scale: tuple[float, float] = (0.6, 1.5),
    rrc_freq_scale: tuple[float, float] | None = None,
    filter_db: float = 0.0,
) -> SSLMethod:
    """Default views (BYOL-A, see views_fn; rrc_freq_scale: the resize crop's frequency range,
    if not rrc_scale's; (1, 1) stretches time only)."""
    del embed_dim
    if target not in TARGET_MODES:
        raise ValueError(f"unknown BYOL target mode {target!r}; choose one of {TARGET_MODES}")
    model = Byol(
        encoder,
        MLP(hidden=proj_hidden, out=proj_dim, batch_norm=True),
        MLP(hidden=proj_hidden, out=proj_dim, batch_norm=True),
    )
    make_views = views_fn(
        crop_frames,
        mixup_ratio,
        rrc_scale,
        rrc_freq_scale,
        float(encoder.input_mean),
        float(encoder.input_std),
        filter_db,
    )

    def init(key, clips):
        variables = dict(model.init(key, clips[:, :crop_frames], train=False))
        variables["target"] = _online_target_params(variables["params"], copy=True)
        bank = augment.mixup_bank_init(mixup_bank, (crop_frames, clips.shape[-1]))
        variables["mixup_bank"] = bank._asdict()
        return variables

    def loss(variables, x, key):
        k_views, k_online, k_target = jax.random.split(key, 3)
        bank = augment.MixupBank(**variables["mixup_bank"])
        both, clips = make_views(k_views, x, bank)
        online = model_variables(variables)
        p, updates = model.apply(
            online, both, train=True, rngs={"dropout": k_online}, mutable=["batch_stats"]
        )
        # The target runs in training mode (batch statistics); its running statistics are
        # never used, so the online ones stand in and its updates are dropped.
        target_z, _ = model.apply(
            {**online, "params": variables["target"]},
            both,
            train=True,
            method=Byol.project,
            rngs={"dropout": k_target},
            mutable=["batch_stats"],
        )
        p1, p2 = jnp.split(p, 2)
        z1, z2 = jnp.split(target_z, 2)
        new_bank = augment.mixup_bank_push(bank, clips)
        return byol_loss(p1, p2, z1, z2), {**updates, "mixup_bank": new_bank._asdict()}

    def after_step(variables):
        online = _online_target_params(variables["params"])
        ema = jax.tree.map(
            lambda t, o: target_decay * t + (1.0 - target_decay) * o, variables["target"], online
        )
        return {**variables, "target": ema}

    def on_receive(variables):
        if target == "restart":
            return {**variables, "target": _online_target_params(variables["params"])}
        return variables

    private = ("mixup_bank",) + (("target",) if target == "restart" else ())
    return SSLMethod(model, loss, init, after_step, on_receive, private)
