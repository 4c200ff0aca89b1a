import keras
import pytest

from segpapers import papers
from segpapers.common.flops import count_flops


def test_flops_of_hand_counted_layers():
    inputs = keras.Input((8, 10, 3))
    x = keras.layers.Conv2D(4, 3, padding="same")(inputs)  # 2 * 9 * 3 * 4 * 80
    x = keras.layers.Conv2D(6, 1, strides=2)(x)  # 2 * 4 * 6 * 20
    x = keras.layers.Conv2DTranspose(2, 2, strides=2)(x)  # 2 * 4 * 6 * 2 * 20 (per input pixel)
    x = keras.layers.BatchNormalization()(x)
    outputs = keras.layers.Dense(5)(x)  # 2 * 2 * 5 * 80
    model = keras.Model(inputs, outputs)
    assert count_flops(model) == 2 * 9 * 3 * 4 * 80 + 2 * 4 * 6 * 20 + 2 * 4 * 6 * 2 * 20 + 2 * 2 * 5 * 80


def test_segnet_flops_match_the_published_figure():
    # The ENet paper's comparison quotes SegNet at 286 GFLOPs (REFERENCES.md, secondary source).
    # That matches 640x360 inputs: 284.6 GFLOPs here; at 360x480 SegNet is 213.4 GFLOPs.
    flops = count_flops(papers.build_model("segnet", 11, (360, 640, 3)))
    assert flops == pytest.approx(286e9, rel=0.01)


def test_dynamic_input_sizes_are_refused():
    model = keras.Sequential([keras.Input((None, None, 3)), keras.layers.Conv2D(2, 3)])
    with pytest.raises(ValueError, match="static input size"):
        count_flops(model)
