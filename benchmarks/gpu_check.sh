#!/usr/bin/env bash
# The round's throughput on one NVIDIA GPU, in about 8 minutes, from a fresh machine with only
# the package registries: AudioNTT2020 at its stated width (64 channels, embedding 512),
# cohorts 64, 256 and 1024, compute in float32 and in bfloat16; per point (a) fassl_jax's
# round, (b) centralized training of the same samples (a reference), (c) the sequential loop
# of jitted client steps, and at cohort 256 also one jitted scan per client, (c) being the
# faster (neither at 1024: they would not fit); 5 timed rounds each after the first, peak
# device memory. Installs into benchmarks/.gpu-venv.
#
#   benchmarks/gpu_check.sh [OUT_DIR]            # installs jax[cuda12] and the project
#   benchmarks/gpu_check.sh --dry-run [OUT_DIR]  # CPU, a tiny encoder, no install (CI runs it)
#
# OUT_DIR defaults to $OUT (the device machine's returned folder), else benchmarks/results/gpu.
# Each row is appended to OUT_DIR/gpu_rows.jsonl the moment it is measured (a timeout keeps
# what finished); each (dtype, cohort) also leaves gpu_<dtype>_<cohort>.json; the ratios
# table is printed at the end and written to OUT_DIR/gpu_ratios.md.
set -euo pipefail
cd "$(dirname "$0")/.."
dry=0
if [[ "${1:-}" == "--dry-run" ]]; then dry=1; shift; fi
out="${1:-${OUT:-benchmarks/results/gpu}}"
mkdir -p "$out"
rows="$out/gpu_rows.jsonl"
: >"$rows"
python=${PYTHON:-python3}

declare -A budget peers # seconds and peers per cohort's process
if ((dry)); then
  export JAX_PLATFORMS=cpu
  model=(--encoder=frame_mlp --channels=0 --embed_dim=16)
  cohorts=(4)
  budget=([4]=120)
  peers=([4]=fassl,centralized,sequential,sequential_scan)
else
  # Its own venv: a fresh image's system Python may refuse pip (PEP 668).
  python3 -m venv benchmarks/.gpu-venv
  python=benchmarks/.gpu-venv/bin/python
  "$python" -m pip install -q --upgrade pip
  "$python" -m pip install -q "jax[cuda12]" flax optax numpy ml-collections absl-py
  "$python" -m pip install -q --no-deps -e .
  "$python" -c 'import jax; assert jax.default_backend() == "gpu", jax.devices(); print(jax.devices())'
  model=(--encoder=audio_ntt --channels=64 --embed_dim=512)
  cohorts=(64 256 1024)
  # Cohort 256 holds the targets: the most time. At 1024 the sequential loop (4 x 1024
  # jitted steps a round, 6 rounds) would not fit the 8 minutes: (a) and (b) only.
  # (c) at cohort 256 is the faster of the step loop and the scan per client (peers.py).
  budget=([64]=45 [256]=120 [1024]=55)
  peers=([64]=fassl,centralized,sequential [256]=fassl,centralized,sequential,sequential_scan
    [1024]=fassl,centralized)
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"

for dtype in float32 bfloat16; do
  for cohort in "${cohorts[@]}"; do
    # One process per point, (a) first: its peak device memory is its own (later rows: the
    # process's peak so far).
    if ! timeout "${budget[$cohort]}" "$python" -m benchmarks.throughput "${model[@]}" \
      --cohorts="$cohort" --rounds=5 --peers="${peers[$cohort]}" --max_central_batch=4096 \
      --dtype="$dtype" --name="gpu_${dtype}_${cohort}" --results_dir="$out" |
      grep --line-buffered '^{' | tee -a "$rows"; then
      echo "{\"dtype\": \"$dtype\", \"cohort\": $cohort, \"error\": \"failed or over ${budget[$cohort]} s\"}" |
        tee -a "$rows"
    fi
  done
done
"$python" -m benchmarks.gpu_ratios "$rows" | tee "$out/gpu_ratios.md"
