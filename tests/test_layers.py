import contextlib

import keras
import numpy as np
import pytest
import tensorflow as tf

from segpapers.common.layers import (BatchNormalization, LocalResponseNormalization, MaxPoolingWithArgmax2D, MaxUnpooling2D,
                           PReLU, SpatialDropout2D, exportable_pooling, exportable_unpooling, for_export,
                           portable_pooling, portable_unpooling, tensorflow_pooling,
                           tensorflow_unpooling)


def brute_force_unpool(x):
    """Each 2x2 (ceil-mode) window keeps its first maximum in row-major order; the rest is zero."""
    batch, height, width, channels = x.shape
    out = np.zeros_like(x)
    for b in range(batch):
        for c in range(channels):
            for i in range(0, height, 2):
                for j in range(0, width, 2):
                    window = x[b, i:i + 2, j:j + 2, c]
                    di, dj = np.unravel_index(np.argmax(window), window.shape)
                    out[b, i + di, j + dj, c] = window[di, dj]
    return out


@pytest.mark.parametrize("shape", [(1, 4, 6, 2), (3, 5, 7, 3), (2, 1, 3, 1), (4, 9, 8, 5)])
def test_pooling_matches_tensorflow_ceil_mode(shape):
    x = np.random.default_rng(0).normal(size=shape).astype("float32")
    pooled, switches = MaxPoolingWithArgmax2D()(x)
    expected, _ = tf.nn.max_pool_with_argmax(x, 2, 2, "SAME")
    np.testing.assert_array_equal(np.asarray(pooled), expected.numpy())
    assert np.asarray(switches).dtype == np.int32 and np.asarray(switches).max() <= 3


@pytest.mark.parametrize("shape", [(1, 4, 6, 2), (3, 5, 7, 3), (2, 1, 3, 1)])
def test_unpooling_puts_each_value_at_its_argmax(shape):
    x = np.random.default_rng(1).normal(size=shape).astype("float32")
    pooled, switches = MaxPoolingWithArgmax2D()(x)
    unpooled = MaxUnpooling2D(shape[1:3])(pooled, switches)
    np.testing.assert_array_equal(np.asarray(unpooled), brute_force_unpool(x))


def test_unpooling_agrees_with_tensorflow_argmax_positions():
    x = np.random.default_rng(2).normal(size=(2, 6, 8, 3)).astype("float32")
    pooled, switches = MaxPoolingWithArgmax2D()(x)
    unpooled = np.asarray(MaxUnpooling2D()(pooled, switches))
    _, flat_argmax = tf.nn.max_pool_with_argmax(x, 2, 2, "SAME", include_batch_in_index=True)
    expected = np.zeros(x.size, np.float32)
    expected[flat_argmax.numpy().ravel()] = x.ravel()[flat_argmax.numpy().ravel()]
    np.testing.assert_array_equal(unpooled, expected.reshape(x.shape))


def test_ties_pick_the_first_position_and_ignore_padding():
    x = np.zeros((1, 3, 3, 1), np.float32)  # all tied; row/column 3 is padding
    pooled, switches = MaxPoolingWithArgmax2D()(x)
    np.testing.assert_array_equal(np.asarray(switches)[0, ..., 0], np.zeros((2, 2)))
    np.testing.assert_array_equal(np.asarray(pooled), np.zeros((1, 2, 2, 1)))
    x = -np.ones((1, 3, 3, 1), np.float32)  # negative values must still beat the -inf padding
    np.testing.assert_array_equal(np.asarray(MaxPoolingWithArgmax2D()(x)[0]), -np.ones((1, 2, 2, 1)))


def test_gradient_flows_to_the_argmax_positions_only():
    x = tf.constant(np.random.default_rng(3).normal(size=(2, 5, 7, 3)).astype("float32"))
    upstream = np.random.default_rng(4).normal(size=x.shape).astype("float32")
    with tf.GradientTape() as tape:
        tape.watch(x)
        pooled, switches = MaxPoolingWithArgmax2D()(x)
        unpooled = MaxUnpooling2D((5, 7))(pooled, switches)
        loss = tf.reduce_sum(unpooled * upstream)
    gradient = tape.gradient(loss, x).numpy()
    is_max = brute_force_unpool(x.numpy()) != 0
    np.testing.assert_allclose(gradient, np.where(is_max, upstream, 0.0), rtol=1e-6)


def test_unpooling_rejects_a_size_pooling_cannot_have_come_from():
    pooled, switches = MaxPoolingWithArgmax2D()(np.zeros((1, 4, 4, 1), np.float32))
    with pytest.raises(ValueError, match="does not invert"):
        MaxUnpooling2D((7, 4))(pooled, switches)


def test_local_response_normalization_matches_caffe_formula():
    x = np.random.default_rng(5).uniform(0, 255, size=(2, 4, 5, 3)).astype("float32")
    ours = LocalResponseNormalization(local_size=5, alpha=1e-4, beta=0.75)(x)
    # Caffe divides alpha by local_size; TF does not.
    reference = tf.nn.local_response_normalization(x, depth_radius=2, bias=1.0, alpha=1e-4 / 5, beta=0.75)
    np.testing.assert_allclose(np.asarray(ours), reference.numpy(), rtol=1e-5)


def test_layers_round_trip_through_keras_safe_mode(tmp_path):
    inputs = keras.Input((5, 7, 3))
    x = LocalResponseNormalization()(inputs)
    pooled, switches = MaxPoolingWithArgmax2D()(x)
    model = keras.Model(inputs, MaxUnpooling2D((5, 7))(pooled, switches))
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras", safe_mode=True)
    x = np.random.default_rng(6).normal(size=(2, 5, 7, 3)).astype("float32")
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


@pytest.mark.parametrize("policy", ["float32", "mixed_bfloat16"])
def test_fused_batch_norm_matches_keras_batch_norm(policy):
    x = tf.constant(np.random.default_rng(7).normal(1.0, 3.0, size=(4, 6, 5, 3)).astype("float32"))
    fused = BatchNormalization(momentum=0.9, dtype=policy)
    reference = keras.layers.BatchNormalization(momentum=0.9, dtype=policy)
    for layer in (fused, reference):
        layer.build(x.shape)
        layer.gamma.assign([0.5, 1.0, 2.0])
        layer.beta.assign([-1.0, 0.0, 1.0])
    tolerance = 1e-5 if policy == "float32" else 2e-2
    for training in (True, True, False):  # two updates of the moving statistics, then inference
        outputs, gradients = [], []
        for layer in (fused, reference):
            with tf.GradientTape() as tape:
                tape.watch(x)
                y = layer(x, training=training)
                loss = tf.reduce_sum(tf.cast(y, "float32") ** 2 * tf.range(3, dtype="float32"))
            outputs.append(tf.cast(y, "float32").numpy())
            gradients.append([g.numpy() for g in tape.gradient(loss, [x, layer.gamma.value, layer.beta.value])])
        assert outputs[0].dtype == outputs[1].dtype
        np.testing.assert_allclose(outputs[0], outputs[1], atol=tolerance, rtol=tolerance)
        for fused_gradient, reference_gradient in zip(*gradients):
            np.testing.assert_allclose(fused_gradient, reference_gradient, atol=tolerance * 10, rtol=tolerance)
    np.testing.assert_allclose(fused.moving_mean.numpy(), reference.moving_mean.numpy(), rtol=1e-6)
    np.testing.assert_allclose(fused.moving_variance.numpy(), reference.moving_variance.numpy(), rtol=1e-6)


@pytest.mark.parametrize("shape", [(2, 6, 8, 3), (1, 5, 7, 4), (3, 9, 4, 1)])
def test_tensorflow_and_exportable_pooling_match_the_portable_pooling(shape):
    rng = np.random.default_rng(8)
    x = tf.constant(np.maximum(rng.normal(size=shape), 0).astype("float32"))  # ReLU output: many ties at 0
    weights = tf.constant(rng.normal(size=((shape[1] + 1) // 2, (shape[2] + 1) // 2, shape[3])).astype("float32"))
    results = []
    for pooling in (portable_pooling, tensorflow_pooling, exportable_pooling):
        with tf.GradientTape() as tape:
            tape.watch(x)
            pooled, switches = pooling(x)
            loss = tf.reduce_sum(pooled * weights)
        results.append((pooled.numpy(), switches.numpy(), tape.gradient(loss, x).numpy()))
    for portable, *others in zip(*results):
        for other in others:
            np.testing.assert_array_equal(portable, other)


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_tensorflow_unpooling_matches_the_portable_one_in_values_and_gradients(dtype):
    rng = np.random.default_rng(11)
    values = tf.constant(rng.normal(size=(2, 3, 4, 5)), dtype=dtype)
    switches = tf.constant(rng.integers(0, 4, size=(2, 3, 4, 5)), dtype="int32")
    upstream = tf.constant(rng.normal(size=(2, 6, 8, 5)), dtype=dtype)
    results = []
    for unpooling in (portable_unpooling, tensorflow_unpooling):
        with tf.GradientTape() as tape:
            tape.watch(values)
            placed = unpooling(values, switches)
            loss = tf.reduce_sum(placed * upstream)
        results.append((placed.numpy(), tape.gradient(loss, values).numpy()))
    for portable, tensorflow in zip(*results):
        np.testing.assert_array_equal(portable, tensorflow)


def test_the_layers_run_xla_kernels_on_tensorflow_and_their_keras_ops_inside_a_compiled_model():
    x = tf.constant(np.random.default_rng(12).normal(size=(1, 6, 8, 3)).astype("float32"))
    pooling, unpooling = MaxPoolingWithArgmax2D(), MaxUnpooling2D()

    def pool_and_unpool(x):
        return unpooling(*pooling(x))

    eager = tf.function(pool_and_unpool).get_concrete_function(x).graph
    compiled = tf.function(pool_and_unpool, jit_compile=True)
    # The kernels are calls of their own compiled functions; a whole-model compilation inlines the ops.
    assert {"PartitionedCall", "StatefulPartitionedCall"} & {op.type for op in eager.get_operations()}
    assert "OneHot" not in {op.type for op in eager.get_operations()}
    np.testing.assert_array_equal(compiled(x).numpy(), brute_force_unpool(x.numpy()))
    np.testing.assert_array_equal(pool_and_unpool(x).numpy(), brute_force_unpool(x.numpy()))


@pytest.mark.parametrize("shape", [(2, 6, 8, 3), (1, 5, 7, 4)])
def test_the_layers_trace_the_exportable_versions_for_export_with_the_same_values(shape):
    x = tf.constant(np.maximum(np.random.default_rng(9).normal(size=shape), 0).astype("float32"))
    pooling, unpooling = MaxPoolingWithArgmax2D(), MaxUnpooling2D(shape[1:3])

    def pool_and_unpool(x):
        pooled, switches = pooling(x)
        return unpooling(pooled * 2, switches)

    expected = pool_and_unpool(x).numpy()
    with for_export():  # a trace of its own: the context is not part of a tf.function's cache key
        graph = tf.function(pool_and_unpool).get_concrete_function(x).graph
        exported = pool_and_unpool(x).numpy()
    ops = {op.type for op in graph.get_operations()}
    assert {"SpaceToDepth", "DepthToSpace"} <= ops and not ops & {"MaxPoolWithArgmax", "Bitcast", "BitwiseAnd", "OneHot"}
    np.testing.assert_array_equal(exported, expected)
    np.testing.assert_array_equal(expected, 2 * brute_force_unpool(x.numpy()))


def test_exportable_unpooling_inverts_the_exportable_pooling():
    x = tf.constant(np.random.default_rng(10).normal(size=(2, 4, 6, 3)).astype("float32"))
    np.testing.assert_array_equal(exportable_unpooling(*exportable_pooling(x)).numpy(), brute_force_unpool(x.numpy()))


@pytest.mark.parametrize("shared_axes", [[1, 2], None])
@pytest.mark.parametrize("policy", ["float32", "mixed_bfloat16"])
@pytest.mark.parametrize("path", [contextlib.nullcontext, for_export], ids=["xla_fused", "keras_ops"])
def test_prelu_matches_keras_prelu_values_and_gradients(shared_axes, policy, path):
    rng = np.random.default_rng(3)
    x = rng.normal(size=(3, 5, 4, 6)).astype("float32")
    x[np.abs(x) < 1e-3] = 0.5  # the gradients differ only at exactly 0
    x = tf.constant(x)
    lean, reference = (cls(shared_axes=shared_axes, dtype=policy) for cls in (PReLU, keras.layers.PReLU))
    for layer in (lean, reference):
        layer.build(x.shape)
    # Slopes of both signs and above 1: the formula must not rely on 0 <= alpha <= 1.
    slopes = rng.uniform(-1.5, 1.5, size=lean.alpha.shape).astype("float32")
    lean.alpha.assign(slopes)
    reference.alpha.assign(slopes)
    weights = tf.constant(rng.normal(size=x.shape).astype("float32"))
    results = []
    for layer in (lean, reference):
        with tf.GradientTape() as tape, path():
            tape.watch(x)
            y = layer(x)
            loss = tf.reduce_sum(tf.cast(y, "float32") * weights)
        results.append([tf.cast(y, "float32").numpy()] + [g.numpy() for g in tape.gradient(loss, [x, layer.alpha.value])])
    tolerance = 1e-6 if policy == "float32" else 2e-2
    for lean_value, reference_value in zip(*results):
        np.testing.assert_allclose(lean_value, reference_value, rtol=tolerance, atol=tolerance * 10)


def test_spatial_dropout_drops_whole_channels_and_scales_the_kept_ones():
    x = tf.constant(np.random.default_rng(4).uniform(1.0, 2.0, size=(8, 3, 4, 250)).astype("float32"))
    layer = SpatialDropout2D(0.3, seed=5)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = layer(x, training=True)
    gradient = tape.gradient(y, x).numpy()
    y = y.numpy()
    kept = (y != 0).all(axis=(1, 2))
    dropped = (y == 0).all(axis=(1, 2))
    assert (kept | dropped).all()  # per image and channel, all or nothing
    assert abs(kept.mean() - 0.7) < 0.05  # 2000 channels: 4.9 standard deviations
    np.testing.assert_allclose(y[kept.nonzero()[0], :, :, kept.nonzero()[1]],
                               x.numpy()[kept.nonzero()[0], :, :, kept.nonzero()[1]] / 0.7, rtol=1e-6)
    np.testing.assert_allclose(gradient, np.broadcast_to(np.where(kept[:, None, None, :], 1 / 0.7, 0.0), x.shape),
                               rtol=1e-6)
    np.testing.assert_array_equal(layer(x, training=False).numpy(), x.numpy())
    assert not (layer(x, training=True).numpy() == y).all()  # a new mask every call


def test_pooling_compiles_under_xla():
    x = tf.constant(np.random.default_rng(8).normal(size=(2, 6, 5, 3)).astype("float32"))
    layer = MaxPoolingWithArgmax2D()
    compiled = tf.function(lambda x: layer(x), jit_compile=True)(x)  # TF's kernel has no XLA version
    for expected, actual in zip(layer(x), compiled):
        np.testing.assert_array_equal(np.asarray(expected), actual.numpy())
