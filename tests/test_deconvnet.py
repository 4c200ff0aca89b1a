import pytest

from segpapers import papers
from tests.model_checks import (check_forward, check_gradients, check_parameter_count, check_save_load, conv_params,
                                tiny_model)


def test_parameter_count_matches_the_reference():
    model = papers.build_model("deconvnet", 21, (224, 224, 3))
    # Counted from DeconvNet_inference_deploy.prototxt (conv/deconv weights + biases, 21 classes):
    # VGG16 conv 14,714,688 + fc6 102,764,544 + fc7 16,781,312 + fc6-deconv 102,760,960 + the
    # mirrored 3x3 deconvolutions 14,749,376 + seg-score 1,365 = 251,772,245, the "about 252M"
    # commonly quoted (REFERENCES.md), plus batch norm on 16,704 channels (gamma, beta, moving mean and variance).
    assert conv_params(model) == 251_772_245
    check_parameter_count(model.count_params(), 251_772_245 + 4 * 16_704, 252e6, 0.01, "REFERENCES.md (about 252M)")


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
    model = tiny_model("deconvnet")
    for stage in range(1, 6):
        inbound = model.get_layer(f"unpool{stage}")._inbound_nodes[0].input_tensors
        assert inbound[1]._keras_history.operation.name == f"pool{stage}"


def test_too_small_inputs_are_refused():
    with pytest.raises(ValueError, match="at least 193x193"):
        papers.build_model("deconvnet", 3, (160, 160, 3))


@pytest.mark.slow
def test_every_weight_gets_a_gradient_in_training_mode():
    check_gradients(tiny_model("deconvnet"))


def test_forward_and_save_load_round_trip(tmp_path):
    model = tiny_model("deconvnet", size=(200, 200))
    check_forward(model, (2, 200, 200, 3))
    check_save_load(model, tmp_path, tolerance=1e-4)
