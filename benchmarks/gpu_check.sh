#!/usr/bin/env bash
# The round's throughput on one NVIDIA GPU, in about 8 minutes, from a fresh machine with only
# the package registries: AudioNTT2020 at its stated width (64 channels, embedding 512),
# cohorts 64, 256 and 1024, compute in float32 and in bfloat16: (a) fassl_jax's round at
# every cohort, (b) centralized training of the same samples (a reference) at 256, (c) the
# sequential loop of jitted client steps at 64 and 256 (the budgets below say why); 5 timed
# rounds each after the first, peak device memory. Installs into benchmarks/.gpu-venv, unless $PYTHON (default python3) already
# has a CUDA jax, flax, optax and ml-collections.
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
  gpu_ready='import jax, flax, optax, ml_collections; assert jax.default_backend() == "gpu"'
  if "$python" -c "$gpu_ready" 2>/dev/null; then
    # An image that already has a CUDA jax and the packages (some GPU machines have no
    # registry to install from): use it as it is; the project runs from PYTHONPATH.
    echo "using $python's own jax $("$python" -c 'import jax; print(jax.__version__)')"
  else
    # Its own venv: a fresh image's system Python may refuse pip (PEP 668).
    python3 -m venv benchmarks/.gpu-venv
    python=benchmarks/.gpu-venv/bin/python
    "$python" -m pip install -q --upgrade pip
    "$python" -m pip install -q "jax[cuda12]" flax optax numpy ml-collections absl-py
    "$python" -m pip install -q --no-deps -e .
  fi
  "$python" -c 'import jax; assert jax.default_backend() == "gpu", jax.devices(); print(jax.devices())'
  model=(--encoder=audio_ntt --channels=64 --embed_dim=512)
  cohorts=(64 256 1024)
  # Budgets from an H200 run (benchmarks/RESULTS.md): a first round (compilation) took
  # 11-27 s for (a) and (c), 67-84 s for (b); a timed round at 256, 0.4-0.6 s for (a) and
  # about 4 s for (c) (1 s at cohort 64, scaled). Cohort 256 holds the targets: (a), (b)
  # and (c) there, (b) before (c): a timeout loses (c), whose rate cohort 64 also gives.
  # At 64, (a) and (c); at 1024 (a) alone: all three everywhere would take twice the 8
  # minutes. (c) is the step loop (the scan per client, CPU's faster loop, does not fit).
  budget=([64]=45 [256]=155 [1024]=40)
  peers=([64]=fassl,sequential [256]=fassl,centralized,sequential [1024]=fassl)
  # A rerun on the same machine skips the compilations (first rounds) of the last one.
  export JAX_COMPILATION_CACHE_DIR="${JAX_COMPILATION_CACHE_DIR:-/tmp/fassl_jax_gpu_cache}"
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
