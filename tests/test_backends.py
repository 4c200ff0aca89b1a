"""train.py and evaluate.py under Keras 3's JAX and PyTorch backends, fed by the same tf.data pipeline
(README, Keras backends). Each run is a fresh process: the backend is chosen before Keras is imported."""
import importlib.util
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from tests.paths import REPO
from tests.model_checks import TINY_RUN as TINY


pytestmark = pytest.mark.slow


def needs(backend):
    return pytest.mark.skipif(importlib.util.find_spec(backend) is None,
                              reason=f"{backend} is not installed (pip install -e '.[jax,speed]')")


def run(backend, *command, **env):
    return subprocess.run([sys.executable, *command], cwd=REPO, env={**os.environ, "KERAS_BACKEND": backend, **env},
                          capture_output=True, text=True, timeout=600)


def scored(backend, checkpoint, output):
    flags = ["--checkpoint", str(checkpoint), "--limit", "8", "--output", str(output)]
    if backend == "tensorflow":  # this process's backend: evaluate's main here saves a process start
        from segpapers import evaluate
        evaluate.main(flags)
    else:
        done = run(backend, "evaluate.py", *flags)
        assert done.returncode == 0, done.stderr[-3000:]
    data = json.loads(output.read_text())
    assert data["environment"]["keras_backend"] == backend
    return {name: data["metrics"][name] for name in ("miou", "pixel_accuracy", "mean_accuracy")}


@needs("jax")
@needs("torch")
def test_enet_trained_under_torch_scores_the_same_under_every_backend(tmp_path):
    """ENet (PReLU, argmax unpooling, dilated and asymmetric convolutions) trains under PyTorch, and its
    checkpoint scores alike under PyTorch, JAX and TensorFlow. Training under JAX: the two-worker test."""
    run_dir = tmp_path / "run"
    # SGD and a one-stage protocol keep the step small, as in tests/test_cli.py's every-model run.
    trained = run("torch", "train.py", "--model", "enet", "--protocol", "compare", "--optimizer", "sgd", *TINY,
                  "--batch-size", "2", "--epochs", "1", "--steps-per-epoch", "1", "--val-steps", "1",
                  "--eval-split", "none", "--output", str(run_dir))
    assert trained.returncode == 0, trained.stderr[-3000:]
    assert json.loads((run_dir / "config.json").read_text())["model"] == "enet"
    assert sum(1 for _ in (run_dir / "history.csv").open()) == 2  # the header and one epoch, with val scores
    under_torch = scored("torch", run_dir / "model.keras", tmp_path / "torch.json")
    for other in ("jax", "tensorflow"):
        assert scored(other, run_dir / "model.keras", tmp_path / f"{other}.json") == pytest.approx(under_torch, abs=1e-4)


@needs("jax")
def test_jax_without_64_bit_integers_is_refused_by_the_confusion_matrix():
    probe = "from segpapers.common.metrics import ConfusionMatrixMetric; ConfusionMatrixMetric(3)"
    refused = run("jax", "-c", probe, JAX_ENABLE_X64="0")
    assert refused.returncode != 0 and "JAX_ENABLE_X64=1" in refused.stderr


def load_weights(checkpoint):
    from segpapers.experiment import load_checkpoint
    return load_checkpoint(checkpoint)[0].get_weights()


@needs("jax")
def test_two_workers_train_as_one_with_their_global_batch_and_resume(tmp_path):
    """Two worker processes on 127.0.0.1 (CPU collectives): both end with the same weights, those of one
    process training on the same global batches, and a second invocation continues the run exactly."""
    flags = ["--model", "segnet_basic", *TINY, "--steps-per-epoch", "2", "--val-steps", "1", "--eval-split", "none"]

    def two_workers(epochs, port):
        cluster = {"KERAS_DISTRIBUTION_JOB_ADDRESSES": f"127.0.0.1:{port}", "KERAS_DISTRIBUTION_NUM_PROCESSES": "2"}
        workers = [subprocess.Popen([sys.executable, "train.py", *flags, "--epochs", str(epochs), "--distribute",
                                     "multi-worker", "--output", str(tmp_path / "two")], cwd=REPO,
                                    env={**os.environ, "KERAS_BACKEND": "jax", **cluster,
                                         "KERAS_DISTRIBUTION_PROCESS_ID": str(index)},
                                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) for index in (0, 1)]
        for worker in workers:
            _, stderr = worker.communicate(timeout=600)
            assert worker.returncode == 0, stderr[-3000:]

    two_workers(1, 23481)
    two_workers(2, 23482)  # resumes both workers' runs at epoch 1
    one = run("jax", "train.py", *flags, "--epochs", "2", "--output", str(tmp_path / "one"))
    assert one.returncode == 0, one.stderr[-3000:]
    chief, other = load_weights(tmp_path / "two" / "model.keras"), load_weights(tmp_path / "two/workers/1/model.keras")
    for chief_array, other_array, single in zip(chief, other, load_weights(tmp_path / "one" / "model.keras"),
                                                strict=True):
        np.testing.assert_array_equal(chief_array, other_array)
        np.testing.assert_allclose(chief_array, single, rtol=1e-4, atol=1e-5)
    assert not (tmp_path / "two" / "workers" / "0").exists()  # the chief writes the run folder itself


def test_multi_worker_training_under_tensorflow_is_refused_with_the_reason():
    from segpapers.common.errors import UserError
    from segpapers.common.training import start_multi_worker
    with pytest.raises(UserError, match="keras-team/keras#20585"):
        start_multi_worker(4)
