import math

import keras
import numpy as np
import pytest

from segpapers.common.initialization import initialize, torch7_reset


def small_model():
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(64, 3, padding="same", name="conv")(inputs)
    x = keras.layers.BatchNormalization(name="bn")(x)
    x = keras.layers.Conv2D(32, (1, 5), padding="same", use_bias=False, name="asymmetric")(x)
    x = keras.layers.Conv2DTranspose(8, 3, strides=2, name="full")(x)
    return keras.Model(inputs, keras.layers.PReLU(keras.initializers.Constant(0.25), name="prelu")(x))


def test_torch7_reset_draws_each_parameter_from_its_modules_reset_range():
    model = small_model()
    drawn = torch7_reset(model, np.random.default_rng(0))
    assert drawn == ["conv", "bn", "asymmetric", "full"]
    layers = {layer.name: layer for layer in model.layers}
    # SpatialConvolution: U(-s, s), s = 1/sqrt(kW kH nInputPlane), for the kernel and the bias alike.
    # SpatialFullConvolution: nInputPlane is what it takes in (32 here; Keras' own fan_in would count its 8 outputs).
    for name, fan_in in (("conv", 3 * 3 * 3), ("asymmetric", 1 * 5 * 64), ("full", 3 * 3 * 32)):
        bound = 1 / math.sqrt(fan_in)
        kernel = keras.ops.convert_to_numpy(layers[name].kernel)
        assert bound >= np.abs(kernel).max() > 0.9 * bound, name  # hundreds of draws fill the range
        if layers[name].bias is not None:
            assert np.abs(keras.ops.convert_to_numpy(layers[name].bias)).max() <= bound, name
    gamma, beta = (keras.ops.convert_to_numpy(v) for v in (layers["bn"].gamma, layers["bn"].beta))
    assert gamma.min() >= 0 and gamma.max() <= 1 and gamma.std() > 0.2 and not beta.any()  # U[0, 1], zero shift
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(layers["prelu"].alpha), 0.25)


def test_the_builders_initialization_is_kept_and_torch7s_is_seeded():
    model = small_model()
    before = [w.copy() for w in model.get_weights()]
    initialize(model, "builder", seed=0)
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
    twin = small_model()
    initialize(model, "torch7", seed=3)
    initialize(twin, "torch7", seed=3)
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), twin.get_weights()))


def test_torch7_reset_refuses_a_layer_it_has_no_draw_for():
    inputs = keras.Input((4,))
    with pytest.raises(ValueError, match="no Torch7 draw for 'dense'"):
        torch7_reset(keras.Model(inputs, keras.layers.Dense(2, name="dense")(inputs)), np.random.default_rng(0))
