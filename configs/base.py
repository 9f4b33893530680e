r"""SimCLR + FedAvg on the Free Spoken Digit Dataset, one client per speaker: the defaults.

Every other config starts from this one and changes a few fields.

  python -m fassl_jax.main --config=configs/base.py --workdir=runs/base
"""

import ml_collections


def get_config():
    c = ml_collections.ConfigDict()
    c.seed = 0
    c.mode = "federated"  # or "centralized": the same model, loss and step code on all the audio

    c.data = dict(
        # spoken_digit | audiofolder | synthetic | synthetic_nuisance | corpus (data_prep's cache)
        source="spoken_digit",
        dir="",  # FSDD folder (empty: $FASSL_DATA_DIR, else TFDS); corpus: the cache folder
        clip_seconds=1.0,
        cache_dir="",  # log-mel cache; empty: $FASSL_CACHE_DIR or ~/.cache/fassl_jax; "none": off
        pool="auto",  # resident | cohort (each round reads only its clips) | auto: by pool_gb
        pool_gb=4.0,  # auto: the float32 pool stays on the devices when it fits in this
        domains="",  # corpus: pretrain on these domains only (comma-separated; read into memory)
    )
    # log(mel + eps), 16 kHz, n_fft 1024, hop 160; mel_scale "slaney" | "htk", mel_norm
    # "slaney" | "none" (BYOL-A's torchaudio front end: htk, none).
    c.audio = dict(n_mels=64, eps=1e-5, mel_scale="slaney", mel_norm="slaney")
    c.partition = dict(
        kind="natural",  # natural (one client per speaker) | dirichlet | iid | population
        splits_per_group=1,  # natural: clients per speaker
        num_clients=6,  # dirichlet, iid, population (a synthetic one: clips repeat; millions ok)
        clips_per_client=16.0,  # population: mean clips per client
        alpha=0.1,  # dirichlet concentration
        label="digit",  # dirichlet: the label it skews
        size_sigma=0.0,  # log-normal spread of client sizes (natural splits, iid, population)
        min_client_size=1,
    )

    c.model = dict(
        encoder="audio_ntt",  # audio_ntt | resnet | frame_mlp (tiny, no convolutions)
        channels=64,
        embed_dim=2048,
        dropout=0.3,
        conv_impl="auto",  # xla | im2col | im2col_grad; auto: by backend (build.py)
        norm="batch",  # batch (statistics aggregated like params) | group
        dtype="float32",  # compute dtype: float32 | bfloat16 (params and losses stay float32)
    )
    # The self-supervised method and its options: the keywords of its build() in
    # fassl_jax/ssl/ (configs/<method>.py sets each method's own).
    c.ssl = dict(
        method="simclr",
        temperature=0.1,
        proj_dim=128,
        crop_frames=96,
        gain_db=6.0,
        noise_std=0.05,
    )

    c.fl = dict(
        rounds=100,
        clients_per_round=6,
        batch_size=32,
        local_epochs=1.0,  # per round, unless local_steps > 0
        local_steps=0,
        max_local_steps=0,  # > 0: cap for large clients
        clients_in_parallel=0,  # clients at once per device; 0: auto (CPU 1, frame MLP 32; else 64)
        unroll_local_steps=1,  # lax.scan unroll of the local steps
        keep_local="",  # parts each client keeps: "norm" (FedBN), "heads", "norm,heads"
        stratify="",  # a pool label constant within clients (e.g. "domain"): cohorts spread
        # evenly over its values; "": uniform over all clients
        # Unreliable clients: each sampled client drops before training with probability
        # `dropout`; `over_select` samples that fraction more and keeps the first
        # clients_per_round that report; a straggler (probability `stragglers`) completes a
        # uniform share in [0, deadline) of its local steps.
        dropout=0.0,
        over_select=0.0,
        stragglers=0.0,
        deadline=0.5,
        # Poisoned clients: a fixed attack_fraction of the population (by client id) sends a
        # corrupted params delta: "sign_flip" (-scale d), "scale" (scale d), "noise"
        # (d + scale N(0, 1)); "": none.
        attack="",
        attack_fraction=0.0,
        attack_scale=1.0,
    )
    # FedProx: proximal_mu > 0 (configs/aggregators.py names the common setups).
    c.client = dict(optimizer="sgd", learning_rate=0.05, momentum=0.9, proximal_mu=0.0)
    # On the pseudo-gradient: sgd (lr 1: FedAvg; momentum: FedAvgM), or Reddi et al.'s
    # adam | yogi | adagrad with beta_1 = momentum, beta_2 = b2 and tau.
    c.server = dict(optimizer="sgd", learning_rate=1.0, momentum=0.0, b2=0.99, tau=1e-3)
    # fedavg | loss | fedvssl (alpha, beta) | ldawa (warmup_rounds) | median | trimmed_mean
    # (trim) | krum (byzantine, keep) | dp_fedavg (clip, noise_multiplier); options beside
    # "rule".
    c.aggregator = dict(rule="fedavg")
    # Differential privacy (with aggregator.rule=dp_fedavg): target_epsilon > 0 sets the
    # noise multiplier for the run's rounds; epsilon at `delta` is reported every round.
    c.dp = dict(target_epsilon=0.0, delta=1e-5)

    # FASSL: every `every` rounds the global encoder is scored on each task's selection and
    # test splits; per task the best round by selection Recall@1 is kept in workdir/best.
    # window_frames > 0: embed each clip as the mean over windows of that many frames, every
    # window_hop frames (0: half a window), e.g. an encoder trained on short sub-clips.
    # probe: a linear probe per task (eval/probe.py) on the final encoders, in summary.json.
    c.eval = dict(
        every=10,
        recall_at=(1, 5, 10, 20, 50),
        batch_size=256,
        window_frames=0,
        window_hop=0,
        probe=True,
    )
    c.checkpoint = dict(every=1, keep=2)
    # Output that is not a terminal gets a line every `every` rounds (and at scored rounds).
    # tensorboard: the metrics also as TensorBoard scalars in workdir/tensorboard.
    c.log = dict(every=1, tensorboard=True)
    return c
