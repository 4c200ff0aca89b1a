"""Loading a local Keras VGG16 weights file into every VGG-based model."""
import keras
import numpy as np
import pytest

from segpapers import papers


@pytest.mark.parametrize("name, size, options", [
    ("segnet", (32, 32), {}),
    ("fcn8s", (32, 32), {}),
    ("deconvnet", (224, 224), {"fc_channels": 8}),
])
def test_vgg16_weights_load_into_the_encoder(tiny_vgg16, name, size, options):
    vgg, path = tiny_vgg16
    model = papers.build_model(name, 3, (*size, 3), backbone_weights=str(path), **options)
    kernel, bias = vgg.get_layer("block4_conv2").get_weights()
    np.testing.assert_array_equal(model.get_layer("conv4_2").get_weights()[0], kernel)
    np.testing.assert_array_equal(model.get_layer("conv4_2").get_weights()[1], bias)
    # Keras' VGG16 expects BGR: the first kernel's input channels are flipped for RGB inputs.
    np.testing.assert_array_equal(model.get_layer("conv1_1").get_weights()[0],
                                  vgg.get_layer("block1_conv1").get_weights()[0][:, :, ::-1, :])


def test_a_file_that_is_not_vgg16_is_refused(tmp_path):
    other = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    path = tmp_path / "other.weights.h5"
    other.save_weights(path)
    with pytest.raises(ValueError, match="not a Keras VGG16 weights file"):
        papers.build_model("segnet", 3, (32, 32, 3), backbone_weights=str(path))
