import pytest

from segpapers import papers

torch = pytest.importorskip("torch", reason="PyTorch is the optional `speed` extra: pip install -e '.[speed]'")

from segpapers.benchmarks.torch_models import TORCH_MODELS, build_torch_model, count_params  # noqa: E402  (imports torch)


# Small inputs each Keras model accepts: SegNet-Basic and ENet take any size (ceil-mode pooling; 45x61
# covers the odd-size paths), U-Net needs 16 b + 124 pixels with b >= 4, so 188 is its smallest tile.
@pytest.mark.parametrize("name, num_classes, input_shape", [
    ("segnet_basic", 11, (64, 64, 3)),
    ("segnet_basic", 11, (45, 61, 3)),
    ("enet", 11, (64, 64, 3)),
    ("enet", 11, (45, 61, 3)),
    ("unet", 2, (188, 188, 1)),
])
def test_twin_matches_keras_parameter_count_and_output_shape(name, num_classes, input_shape):
    keras_model = papers.build_model(name, num_classes, input_shape)
    twin = build_torch_model(name, num_classes, input_shape).eval()
    assert count_params(twin) == keras_model.count_params()
    with torch.no_grad():
        logits = twin(torch.zeros(1, input_shape[2], *input_shape[:2]))
    _, height, width, classes = keras_model.output_shape
    assert tuple(logits.shape) == (1, classes, height, width)


def test_every_twin_is_a_registered_model_and_others_are_refused():
    assert set(TORCH_MODELS) <= set(papers.list_models())
    with pytest.raises(ValueError, match="no PyTorch twin"):
        build_torch_model("segnet", 11, (64, 64, 3))
