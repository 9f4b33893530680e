"""Encoder building blocks: every convolution formulation agrees, pooling matches Flax."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from fassl_jax.models import encoders


@pytest.mark.parametrize("impl", ["im2col", "im2col_grad"])
@pytest.mark.parametrize("cin", [1, 3])
def test_conv_formulations_match_lax_conv_with_gradients(impl, cin):
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.normal(size=(2, 6, 5, cin)), jnp.float32)
    k = jnp.asarray(rng.normal(size=(3, 3, cin, 4)), jnp.float32)
    target = jnp.asarray(rng.normal(size=(2, 6, 5, 4)), jnp.float32)

    def loss(conv):
        return lambda x, k: ((conv(x, k) - target) ** 2).sum()

    want = jax.value_and_grad(loss(encoders.xla_conv3x3), (0, 1))(x, k)
    got = jax.value_and_grad(loss(encoders.CONV_IMPLS[impl]), (0, 1))(x, k)
    np.testing.assert_allclose(got[0], want[0], rtol=1e-5)
    for g, w in zip(got[1], want[1], strict=True):
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-4)
    # Under a vmap over per-client kernels, too.
    xs, ks = jnp.stack([x, 2 * x]), jnp.stack([k, -k])
    np.testing.assert_allclose(
        jax.vmap(encoders.CONV_IMPLS[impl])(xs, ks),
        jax.vmap(encoders.xla_conv3x3)(xs, ks),
        rtol=1e-5,
        atol=1e-5,
    )


def test_max_pool_matches_flax_and_commutes_with_relu():
    x = jnp.asarray(np.random.default_rng(0).normal(size=(2, 7, 6, 3)), jnp.float32)
    np.testing.assert_array_equal(encoders.max_pool_2x2(x), nn.max_pool(x, (2, 2), (2, 2)))
    np.testing.assert_array_equal(
        nn.relu(encoders.max_pool_2x2(x)), encoders.max_pool_2x2(nn.relu(x))
    )


def test_audio_ntt_published_size_and_any_length():
    encoder = encoders.AudioNTT2020()  # channels 64, d 2048
    shapes = jax.eval_shape(lambda: encoder.init(jax.random.key(0), jnp.zeros((1, 96, 64))))
    count = sum(np.prod(p.shape) for p in jax.tree.leaves(shapes["params"]))
    assert 5.2e6 < count < 5.4e6  # "5.3M parameters at d = 2048" (BYOL-A)
    tiny = encoders.AudioNTT2020(channels=4, embed_dim=16)
    variables = tiny.init(jax.random.key(0), jnp.zeros((1, 96, 64)))
    assert tiny.apply(variables, jnp.zeros((3, 101, 64))).shape == (3, 16)  # a full 1 s clip


def test_encoder_conv_impls_give_the_same_embeddings():
    x = jnp.asarray(np.random.default_rng(0).normal(size=(3, 24, 64)), jnp.float32)
    models = {
        impl: encoders.AudioNTT2020(channels=4, embed_dim=16, conv_impl=impl)
        for impl in encoders.CONV_IMPLS
    }
    variables = models["xla"].init(jax.random.key(0), x)
    want = models["xla"].apply(variables, x)
    for model in models.values():
        np.testing.assert_allclose(model.apply(variables, x), want, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("norm", ["batch", "group"])
def test_bfloat16_compute_keeps_float32_params_and_tracks_float32(norm):
    """model.dtype=bfloat16: the same float32 params, convolutions and matmuls in bfloat16,
    a float32 embedding within bfloat16's precision of the float32 model's."""
    x = jnp.asarray(np.random.default_rng(0).normal(-9.0, 3.0, (4, 32, 64)), jnp.float32)
    kwargs = dict(channels=4, embed_dim=16, dropout=0.0, norm=norm, input_mean=-9.0, input_std=3.0)
    f32 = encoders.AudioNTT2020(**kwargs)
    bf16 = encoders.AudioNTT2020(**kwargs, dtype="bfloat16")
    variables = f32.init(jax.random.key(0), x)
    assert jax.tree.structure(bf16.init(jax.random.key(0), x)) == jax.tree.structure(variables)
    want, got = f32.apply(variables, x), bf16.apply(variables, x)
    assert got.dtype == jnp.float32
    scale = float(jnp.abs(want).max())
    assert float(jnp.abs(got - want).max()) < 0.05 * scale
    assert float(jnp.abs(got - want).max()) > 0.0  # it did compute in bfloat16
    assert "bf16" in str(jax.make_jaxpr(lambda v: bf16.apply(v, x))(variables))


@pytest.mark.parametrize("backend", ["cpu", "gpu", "tpu"])
def test_auto_conv_impl_per_backend_and_mode(monkeypatch, backend):
    """conv_impl="auto": im2col matmuls only where a GPU round vmaps clients' kernels (the
    measured case), XLA's convolution for centralized training and on TPU, and the CPU rule
    by width; an explicit choice always stands."""
    from configs import base
    from fassl_jax import build

    monkeypatch.setattr(build.jax, "default_backend", lambda: backend)
    config = base.get_config()
    config.model.update(encoder="audio_ntt", channels=64)
    federated = build.build_method(config, 0.0, 1.0).model.encoder.conv_impl
    config.mode = "centralized"
    centralized = build.build_method(config, 0.0, 1.0).model.encoder.conv_impl
    want = {"cpu": ("im2col", "im2col"), "gpu": ("im2col", "xla"), "tpu": ("xla", "xla")}
    assert (federated, centralized) == want[backend]
    config.model.conv_impl = "im2col_grad"
    assert build.build_method(config, 0.0, 1.0).model.encoder.conv_impl == "im2col_grad"


def test_gpu_evaluation_embeds_with_the_convolution_for_one_set_of_kernels(monkeypatch):
    """The round's im2col choice on GPU is for vmapped client kernels: scoring an encoder
    (one set of kernels) builds its own with XLA's convolution."""
    from configs import base
    from fassl_jax import build

    monkeypatch.setattr(build.jax, "default_backend", lambda: "gpu")
    config = base.get_config()
    config.model.update(encoder="audio_ntt", channels=4, embed_dim=16)
    encoder = build.build_method(config, 0.0, 1.0).model.encoder
    assert encoder.conv_impl == "im2col"
    x = jnp.zeros((2, 16, 64))
    variables = encoder.init(jax.random.key(0), x)

    def never(*_):
        raise AssertionError("evaluation ran the round's im2col convolution")

    monkeypatch.setitem(encoders.CONV_IMPLS, "im2col", never)
    assert build.eval_embed_fn(config, encoder)(variables, x).shape == (2, 16)
