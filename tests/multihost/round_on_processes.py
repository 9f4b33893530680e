"""One federated round on a 4-device client mesh, run as `num_processes` processes of
4 / num_processes CPU devices each (jax.distributed over localhost); process 0 saves the
new global params. tests/test_multihost.py compares 2 processes with 1.

  python tests/multihost/round_on_processes.py COORDINATOR NUM_PROCESSES PROCESS_ID OUT.npz
"""

import os
import sys

import jax

coordinator, num_processes, process_id, out = sys.argv[1:5]
num_processes, process_id = int(num_processes), int(process_id)
jax.config.update("jax_num_cpu_devices", 4 // num_processes)
jax.config.update("jax_numpy_dtype_promotion", "strict")
sys.path.insert(0, os.path.dirname(os.path.dirname(__file__)))  # tests/helpers.py

from fassl_jax import distributed  # noqa: E402

if num_processes > 1:
    distributed.initialize(coordinator, num_processes, process_id)

import numpy as np  # noqa: E402
import optax  # noqa: E402
from helpers import init_state, tiny_log_mels, tiny_method  # noqa: E402

from fassl_jax.data import clients, partitions  # noqa: E402
from fassl_jax.federated import aggregators, placement  # noqa: E402
from fassl_jax.federated import round as fl_round  # noqa: E402
from fassl_jax.federated.client import make_local_training  # noqa: E402

assert len(jax.devices()) == 4 and len(jax.local_devices()) == 4 // num_processes
data = tiny_log_mels()
pretrain = data.subset(data.split == "pretrain")
parts = partitions.iid(pretrain, np.random.default_rng(0), num_clients=8, size_sigma=0.8)
store = clients.ClientStore.from_partition(parts)
work = clients.LocalWork(batch_size=4, epochs=1.0)
mesh = placement.client_mesh()
cohort = clients.round_cohort(store, np.arange(8), work, 16, 0, 3, pad_clients_to=4)
method = tiny_method(dropout=0.3)
tx = optax.sgd(0.02, momentum=0.5)
update = fl_round.make_client_update(make_local_training(method.loss, tx), tx)
round_fn = jax.jit(fl_round.make_round(update, aggregators.fedavg(), optax.sgd(1.0), mesh, 1))
state = distributed.put(init_state(method), placement.replicated(mesh))
device_cohort = fl_round.DeviceCohort(
    distributed.put(pretrain.audio, placement.replicated(mesh)),
    *distributed.put(tuple(cohort), placement.split_clients(mesh)),
)
distributed.compile_together(round_fn, state, device_cohort, jax.random.key(42))
state, metrics, _ = round_fn(state, device_cohort, jax.random.key(42))
params = distributed.fetch(state.params)
if distributed.is_writer():
    leaves = {jax.tree_util.keystr(k): v for k, v in jax.tree_util.tree_leaves_with_path(params)}
    np.savez(out, loss=float(metrics["loss"]), clients=int(metrics["clients"]), **leaves)
