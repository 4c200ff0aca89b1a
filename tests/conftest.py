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
