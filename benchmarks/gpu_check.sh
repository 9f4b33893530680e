#!/usr/bin/env bash
# The round throughput benchmark on one GPU, cohorts 64 and 256, in under 5 minutes:
# (a) fassl_jax's round, (b) the centralized ceiling, (c) the sequential jitted loop, at the
# stated AudioNTT2020 width (64 channels, embedding 512). Prints the same JSON lines as
# benchmarks/throughput.py and writes benchmarks/results/gpu_throughput.json.
#
# Needs only jax with CUDA, flax and optax on the GPU machine. The few pure-Python packages
# the benchmark also imports (ml-collections and its deps) travel as wheels: prepare them
# here with `benchmarks/gpu_check.sh --prepare` (fills benchmarks/wheels), carry that folder.
set -euo pipefail
cd "$(dirname "$0")/.."
wheels=benchmarks/wheels
if [[ "${1:-}" == "--prepare" ]]; then
  python -m pip download -q -d "$wheels" --only-binary=:all: ml-collections absl-py PyYAML
  ls "$wheels"
  exit 0
fi
python -c 'import jax; assert jax.default_backend() == "gpu", jax.devices(); print(jax.devices())'
if ! python -c 'import ml_collections' 2>/dev/null; then
  python -m pip install -q --no-index --find-links "$wheels" ml-collections
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
timeout 290 python -m benchmarks.throughput --encoder=audio_ntt --cohorts=64,256 --rounds=3 \
  --peers=fassl,centralized,sequential --max_central_batch=4096 --name=gpu_throughput
