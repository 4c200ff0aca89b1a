import ctypes
import gc
import os
from pathlib import Path

import keras
import pytest

try:
    _LIBC = ctypes.CDLL("libc.so.6")
except OSError:  # not glibc
    _LIBC = None


@pytest.fixture(autouse=True, scope="module")
def release_memory_after_each_file():
    """Test files build many models (FCN's weigh 0.5 GB each): after each file, free what they left
    and hand glibc's free memory back to the system (test_fcn then test_vgg: 11.3 -> 8.5 GB peak)."""
    yield
    keras.backend.clear_session()
    gc.collect()
    if _LIBC is not None:
        _LIBC.malloc_trim(0)


@pytest.fixture(scope="session")
def tiny_vgg16(tmp_path_factory):
    """A headless Keras VGG16 with random weights and the `.weights.h5` file it saved."""
    vgg = keras.applications.VGG16(weights=None, include_top=False, input_shape=(32, 32, 3))
    path = tmp_path_factory.mktemp("vgg16") / "vgg16.weights.h5"
    vgg.save_weights(path)
    return vgg, path


@pytest.fixture(autouse=True, scope="session")
def scan_cache(tmp_path_factory):
    """The data scan's cache (datasets.scan) in a folder of this test session, not the user's."""
    os.environ["SEGPAPERS_CACHE"] = str(tmp_path_factory.mktemp("scan_cache"))
    yield Path(os.environ["SEGPAPERS_CACHE"])


@pytest.fixture(autouse=True, scope="session")
def jax_compilation_cache(tmp_path_factory):
    """One JAX compilation cache for the session's processes under Keras' JAX backend (they inherit the
    environment): a run resumed, a second worker or the same step in another test loads the programs
    the first compiled instead of compiling them again (a tiny SegNet-Basic run: 48 -> 20 s of CPU).
    Shared by pytest-xdist's workers; a half-written entry is a warning and a recompilation in JAX."""
    base = tmp_path_factory.getbasetemp()
    folder = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "jax_cache"
    folder.mkdir(exist_ok=True)
    os.environ["JAX_COMPILATION_CACHE_DIR"] = str(folder)
    os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"  # also the many small eager programs
    yield folder


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """A run folder of train.py's tiny SegNet-Basic (one epoch of two steps on the synthetic data), trained
    once per test process for the tests that only need a checkpoint. Read-only: a test that writes into
    a run folder copies it first."""
    from segpapers import train
    from tests.model_checks import TINY_RUN

    run = tmp_path_factory.mktemp("tiny_run") / "run"
    train.main(["--model", "segnet_basic", *TINY_RUN, "--epochs", "1", "--steps-per-epoch", "2",
                "--eval-split", "none", "--output", str(run)])
    return run
