"""Audio encoders: log-mel [B, T, F] -> embedding [B, D]."""

import flax.linen as nn
import jax
import jax.numpy as jnp

Dtype = jnp.float32


def im2col_3x3(x: jax.Array) -> jax.Array:
    """[B, H, W, C] -> [B, H, W, 9 * C]: each pixel's zero-padded 3x3 neighbourhood, ordered
    (kh, kw, c) to match a reshaped HWIO kernel."""
    h, w = x.shape[1:3]
    xp = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    return jnp.concatenate([xp[:, i : i + h, j : j + w] for i in range(3) for j in range(3)], -1)


@jax.custom_vjp
def conv3x3_matmul(x: jax.Array, kernel: jax.Array) -> jax.Array:
    """3x3 SAME convolution as im2col + matmul, with a backward pass of matmuls too.

    Under a vmap over per-client kernels every product is a batched matmul; lax.conv would
    become a grouped convolution, which XLA's CPU backend runs several times slower.
    """
    cin, cout = kernel.shape[2:]
    return im2col_3x3(x) @ kernel.reshape(9 * cin, cout)


def _conv3x3_fwd(x, kernel):
    return conv3x3_matmul(x, kernel), (x, kernel)


def _conv3x3_bwd(residuals, g):
    x, kernel = residuals
    cin, cout = kernel.shape[2:]
    d_kernel = jnp.einsum("bhwk,bhwo->ko", im2col_3x3(x), g).reshape(kernel.shape)
    # The input gradient is the same convolution of g with the flipped, transposed kernel.
    flipped = kernel[::-1, ::-1].transpose(0, 1, 3, 2).reshape(9 * cout, cin)
    return im2col_3x3(g) @ flipped, d_kernel


conv3x3_matmul.defvjp(_conv3x3_fwd, _conv3x3_bwd)


def xla_conv3x3(x: jax.Array, kernel: jax.Array) -> jax.Array:
    return jax.lax.conv_general_dilated(
        x, kernel, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC")
    )


def _conv3x3(x, kernel):
    if x.shape[-1] == 1:  # one input channel: 9 shifted multiply-adds beat XLA's CPU conv 8x
        h, w = x.shape[1:3]
        xp = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
        return sum(
            xp[:, i : i + h, j : j + w] * kernel[i, j, 0] for i in range(3) for j in range(3)
        )
    return xla_conv3x3(x, kernel)


@jax.custom_vjp
def conv3x3_im2col_grad(x: jax.Array, kernel: jax.Array) -> jax.Array:
    """Convolution forward; backward: the input gradient as a (forward) convolution and the
    kernel gradient as one im2col matmul. On CPU, XLA's kernel-gradient convolution runs
    tens of times slower inside a loop (lax.scan, lax.map; JAX issue 12868); this one does not.
    """
    return _conv3x3(x, kernel)


def _conv3x3_ig_fwd(x, kernel):
    return _conv3x3(x, kernel), (x, kernel)


def _conv3x3_ig_bwd(residuals, g):
    x, kernel = residuals
    cin, cout = kernel.shape[2:]
    patches = im2col_3x3(x).reshape(-1, 9 * cin)
    d_kernel = (patches.T @ g.reshape(-1, cout)).reshape(kernel.shape)
    return _conv3x3(g, kernel[::-1, ::-1].transpose(0, 1, 3, 2)), d_kernel


conv3x3_im2col_grad.defvjp(_conv3x3_ig_fwd, _conv3x3_ig_bwd)


class Conv3x3(nn.Module):
    """A 3x3 SAME convolution with nn.Conv's parameters, computed as `impl` says (CONV_IMPLS):
    "xla" (lax.conv and its autodiff: best on accelerators for one set of kernels),
    "im2col" (matmuls only: a vmap over per-client kernels stays a batched matmul),
    "im2col_grad" (convolution forward, im2col kernel gradient: fast inside loops on CPU)."""

    features: int
    impl: str = "xla"

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:  # [B, H, W, Cin]
        cin = x.shape[-1]
        kernel = self.param(
            "kernel", nn.initializers.lecun_normal(), (3, 3, cin, self.features), Dtype
        )
        bias = self.param("bias", nn.initializers.zeros, (self.features,), Dtype)
        y = CONV_IMPLS[self.impl](x, kernel.astype(x.dtype))  # computed in the input's dtype
        return y + bias.astype(x.dtype)


CONV_IMPLS = {"xla": xla_conv3x3, "im2col": conv3x3_matmul, "im2col_grad": conv3x3_im2col_grad}


def max_pool_2x2(x: jax.Array) -> jax.Array:
    """2x2 max pool, stride 2, floor mode, as a reshape and max: the same output as
    nn.max_pool with a cheaper backward pass on CPU."""
    b, h, w, c = x.shape
    x = x[:, : h // 2 * 2, : w // 2 * 2]
    return x.reshape(b, h // 2, 2, w // 2, 2, c).max(axis=(2, 4))


NORMS = ("batch", "group")


def normalize(kind: str, train: bool, momentum: float, x: jax.Array) -> jax.Array:
    """norm_layer applied in float32 (mixed precision keeps normalisation statistics in full
    precision), its output back in x's compute dtype. Call inside a compact module."""
    return norm_layer(kind, train, momentum)(x.astype(jnp.float32)).astype(x.dtype)


def norm_layer(kind: str, train: bool, momentum: float) -> nn.Module:
    """BatchNorm (its statistics are model state: aggregated, or kept local by FedBN) or
    GroupNorm (no statistics: the same at training and evaluation, whatever the batch)."""
    if kind == "batch":
        return nn.BatchNorm(use_running_average=not train, momentum=momentum)
    if kind == "group":
        return nn.GroupNorm(num_groups=None, group_size=1)  # per channel: instance-like
    raise ValueError(f"unknown norm {kind!r}; choose one of {NORMS}")


class AudioNTT2020(nn.Module):
    """BYOL-A's encoder (Niizumi et al. 2021): 3 x [conv3x3, norm, ReLU, maxpool 2],
    an MLP per frame, then mean + max pooling over time.

    5.3M parameters at channels=64, embed_dim=2048 (the published size).
    """

    channels: int = 64
    embed_dim: int = 2048
    dropout: float = 0.3
    conv_impl: str = "xla"
    norm: str = "batch"
    bn_momentum: float = 0.9  # PyTorch's BatchNorm default (0.1 there)
    input_mean: float = 0.0  # dataset statistics of the log-mel input
    input_std: float = 1.0
    dtype: str = "float32"  # compute dtype (COMPUTE_DTYPES); params stay float32

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:  # [B, T, F]
        x = compute_input(x, self.input_mean, self.input_std, self.dtype)[..., None]
        for _ in range(3):
            x = Conv3x3(self.channels, self.conv_impl)(x)
            x = normalize(self.norm, train, self.bn_momentum, x)
            x = nn.relu(max_pool_2x2(x))  # = pool(relu(x)), on 4x fewer values
        return frame_mlp_and_pool(x, self.embed_dim, self.dropout, train)


COMPUTE_DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16}


def compute_input(x: jax.Array, mean: float, std: float, dtype: str) -> jax.Array:
    """The standardised input in the compute dtype (bfloat16 halves activation memory and
    uses accelerators' matrix units; the embedding comes back in float32)."""
    if dtype not in COMPUTE_DTYPES:
        raise ValueError(f"unknown compute dtype {dtype!r}; choose one of {list(COMPUTE_DTYPES)}")
    return ((x - mean) / std).astype(COMPUTE_DTYPES[dtype])


def frame_mlp_and_pool(x: jax.Array, embed_dim: int, dropout: float, train: bool) -> jax.Array:
    """[B, T, F, C] feature maps -> one vector per time step -> 2-layer MLP -> mean + max over
    time. Called inside a compact module, so its layers belong to the caller."""
    b, t, f, c = x.shape
    x = x.reshape(b, t, f * c)
    x = nn.relu(nn.Dense(embed_dim, dtype=x.dtype)(x))
    x = nn.Dropout(dropout, deterministic=not train)(x)
    x = nn.relu(nn.Dense(embed_dim, dtype=x.dtype)(x))
    return (x.mean(axis=1) + x.max(axis=1)).astype(jnp.float32)


class ResidualBlock(nn.Module):
    """conv-norm-ReLU-conv-norm plus the input (through a 1x1 projection when the width
    changes), then ReLU: ResNet's basic block."""

    features: int
    conv_impl: str
    norm: str
    bn_momentum: float

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        y = Conv3x3(self.features, self.conv_impl)(x)
        y = nn.relu(normalize(self.norm, train, self.bn_momentum, y))
        y = Conv3x3(self.features, self.conv_impl)(y)
        y = normalize(self.norm, train, self.bn_momentum, y)
        if x.shape[-1] != self.features:
            x = nn.Dense(self.features, use_bias=False, dtype=x.dtype)(x)  # 1x1 convolution
        return nn.relu(x + y)


class ResNetAudio(nn.Module):
    """A ResNet-style 2D CNN on log-mels: a conv stem, then one residual block per stage at
    widths channels x (1, 2, 4), each followed by a 2x2 max pool; AudioNTT2020's per-frame
    MLP and mean + max pooling over time on top."""

    channels: int = 64
    embed_dim: int = 2048
    dropout: float = 0.3
    conv_impl: str = "xla"
    norm: str = "batch"
    bn_momentum: float = 0.9
    input_mean: float = 0.0
    input_std: float = 1.0
    dtype: str = "float32"
    widths: tuple[int, ...] = (1, 2, 4)

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:  # [B, T, F]
        x = compute_input(x, self.input_mean, self.input_std, self.dtype)
        x = Conv3x3(self.channels, self.conv_impl)(x[..., None])
        x = nn.relu(normalize(self.norm, train, self.bn_momentum, x))
        for w in self.widths:
            x = ResidualBlock(self.channels * w, self.conv_impl, self.norm, self.bn_momentum)(
                x, train
            )
            x = max_pool_2x2(x)
        return frame_mlp_and_pool(x, self.embed_dim, self.dropout, train)


class FrameMLP(nn.Module):
    """A tiny encoder without convolutions: AudioNTT2020's per-frame MLP and mean + max
    pooling over time, straight on the log-mel frames. For scaling studies with very many
    clients, where per-client overhead rather than compute should dominate. Takes the
    encoders' common arguments; channels, conv_impl and norm have nothing to act on."""

    channels: int = 0
    embed_dim: int = 256
    dropout: float = 0.0
    conv_impl: str = "xla"
    norm: str = "batch"
    input_mean: float = 0.0
    input_std: float = 1.0
    dtype: str = "float32"

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:  # [B, T, F]
        x = compute_input(x, self.input_mean, self.input_std, self.dtype)
        return frame_mlp_and_pool(x[..., None], self.embed_dim, self.dropout, train)


ENCODERS = {"audio_ntt": AudioNTT2020, "resnet": ResNetAudio, "frame_mlp": FrameMLP}
