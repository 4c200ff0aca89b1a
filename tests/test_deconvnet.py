import keras
import numpy as np
import pytest

import papers


def test_parameter_count_matches_the_reference():
    model = papers.build_model("deconvnet", 21, (224, 224, 3))
    # Counted from DeconvNet_inference_deploy.prototxt (conv/deconv weights + biases, 21 classes):
    # VGG16 conv 14,714,688 + fc6 102,764,544 + fc7 16,781,312 + fc6-deconv 102,760,960 + the
    # mirrored 3x3 deconvolutions 14,749,376 + seg-score 1,365 = 251,772,245, the "about 252M"
    # commonly quoted (REFERENCES.md), plus batch norm on 16,704 channels (gamma, beta, moving mean and variance).
    conv = sum(w.size for layer in model.layers
               if isinstance(layer, (keras.layers.Conv2D, keras.layers.Conv2DTranspose)) for w in layer.get_weights())
    assert conv == 251_772_245
    assert model.count_params() == 251_772_245 + 4 * 16_704
    assert abs(model.count_params() - 252e6) / 252e6 < 0.01


def test_paper_input_maps_to_a_1x1_fc_and_back():
    model = papers.build_model("deconvnet", 21, (224, 224, 3))
    assert model.get_layer("fc6").output.shape[1:3] == (1, 1)
    assert model.get_layer("fc6-deconv").output.shape[1:3] == (7, 7)
    assert model.output_shape == (None, 224, 224, 21)


@pytest.mark.parametrize("size", [(360, 480), (225, 231)])
def test_larger_and_odd_inputs_keep_their_size(size):
    model = papers.build_model("deconvnet", 11, (*size, 3), fc_channels=64)
    assert model.output_shape == (None, *size, 11)


def test_unpooling_uses_the_encoder_switches():
    model = papers.build_model("deconvnet", 3, (224, 224, 3), fc_channels=16)
    for stage in range(1, 6):
        inbound = model.get_layer(f"unpool{stage}")._inbound_nodes[0].input_tensors
        assert inbound[1]._keras_history.operation.name == f"pool{stage}"


def test_too_small_inputs_are_refused():
    with pytest.raises(ValueError, match="at least 193x193"):
        papers.build_model("deconvnet", 3, (160, 160, 3))


def test_forward_and_save_load_round_trip(tmp_path):
    model = papers.build_model("deconvnet", 3, (200, 200, 3), fc_channels=8)
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras", safe_mode=True, compile=False)
    x = np.random.default_rng(0).uniform(0, 255, (1, 200, 200, 3)).astype("float32")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-4, atol=1e-4)
