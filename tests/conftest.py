import keras
import pytest


@pytest.fixture(scope="session")
def tiny_vgg16(tmp_path_factory):
    """A headless Keras VGG16 with random weights and the `.weights.h5` file it saved."""
    vgg = keras.applications.VGG16(weights=None, include_top=False, input_shape=(32, 32, 3))
    path = tmp_path_factory.mktemp("vgg16") / "vgg16.weights.h5"
    vgg.save_weights(path)
    return vgg, path
