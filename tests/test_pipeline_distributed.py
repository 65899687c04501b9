"""The Trainer honours TF_CONFIG: two local workers match one worker.

Two processes on loopback ports, each with its own TF_CONFIG, run the
Trainer's `train_and_export` (MultiWorkerMirroredStrategy); a third process
without TF_CONFIG trains the same model alone. Held-out MAE and XAUC must
agree.

Tolerance: both runs take the same number of steps over the same global
batches (each worker gets half of every global batch, the loss is summed and
divided by the global batch size), so the only difference is the order of
floating-point sums in the all-reduce, a ~1e-7 relative effect that training
amplifies little over these 26 steps (observed: MAE equal to 1e-7, XAUC to
1e-5). MAE within 1 % and XAUC within 0.005 leave ample room for that, yet
catch a wrongly scaled loss: halving the gradient (a mean-per-replica loss
summed over two workers scales it by 2, or by 1/2 the other way round)
moves the held-out MAE by 6 % on this data (measured with half the
learning rate).

Run as a script, this file is the worker: `python test_pipeline_distributed.py DATA OUT`.
"""
import json
import os
import socket
import subprocess
import sys

import wt_keras  # noqa: F401  (selects Keras 2 before TensorFlow, also as a worker script)

import pytest

from _trainer_inputs import run_trainer, write_trainer_inputs

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return write_trainer_inputs(tmp_path_factory.mktemp("distributed"))


def _free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for sock in sockets:
        sock.bind(("localhost", 0))
    ports = [sock.getsockname()[1] for sock in sockets]
    for sock in sockets:
        sock.close()
    return ports


def _launch(data_dir, output, tf_config=None):
    env = {key: value for key, value in os.environ.items() if key != "TF_CONFIG"}
    env.update(TF_USE_LEGACY_KERAS="1", TF_CPP_MIN_LOG_LEVEL="2")
    if tf_config:
        env["TF_CONFIG"] = json.dumps(tf_config)
    return subprocess.Popen([sys.executable, __file__, str(data_dir), str(output)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _finish(process, timeout=600):
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        output, _ = process.communicate()
        pytest.fail("worker timed out (a peer died?):\n" + output[-3000:])
    assert process.returncode == 0, output[-3000:]


def test_two_workers_match_one_worker(data_dir, tmp_path):
    cluster = {"worker": [f"localhost:{port}" for port in _free_ports(2)]}
    workers = [_launch(data_dir, tmp_path / f"worker{index}",
                       {"cluster": cluster, "task": {"type": "worker", "index": index}})
               for index in range(2)]
    for process in workers:
        _finish(process)
    _finish(_launch(data_dir, tmp_path / "single"))

    results = {name: json.loads((tmp_path / name / "result.json").read_text())
               for name in ("worker0", "worker1", "single")}
    assert results["worker0"]["num_workers"] == 2 and results["single"]["num_workers"] == 1
    assert results["worker0"]["steps"] == results["single"]["steps"]
    assert results["worker0"]["mae"] == pytest.approx(results["worker1"]["mae"], rel=1e-6)
    assert results["worker0"]["mae"] == pytest.approx(results["single"]["mae"], rel=0.01)
    assert abs(results["worker0"]["xauc"] - results["single"]["xauc"]) <= 0.005
    assert results["single"]["xauc"] > 0.55   # the model learned something: the check has teeth
    # Only the chief exports; the other worker's export went to a deleted temp dir.
    assert (tmp_path / "worker0" / "model" / "saved_model.pb").exists()
    assert not (tmp_path / "worker1" / "model").exists()


if __name__ == "__main__":
    run_trainer(*sys.argv[1:3])
