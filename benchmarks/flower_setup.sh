#!/usr/bin/env bash
# Makes benchmarks/.flower-venv for peer (d): Flower's simulation engine with the same jax,
# flax and optax versions as the active environment (flwr[simulation] pins protobuf and grpc
# versions that tensorflow-datasets' dependencies do not take, so it gets its own venv).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
pins=$(python -c 'import jax, flax, optax, numpy; print(f"jax=={jax.__version__} flax=={flax.__version__} optax=={optax.__version__} numpy=={numpy.__version__}")')
python -m venv "$here/.flower-venv"
"$here/.flower-venv/bin/python" -m pip install -q --upgrade pip
# shellcheck disable=SC2086
"$here/.flower-venv/bin/python" -m pip install -q "flwr[simulation]>=1.20" $pins
"$here/.flower-venv/bin/python" -c 'import flwr, ray, jax; print("flower", flwr.__version__, "ray", ray.__version__, "jax", jax.__version__)'
