"""Helper for test_losses: one SGD step of a tiny model on 2 logical CPUs, with and without
MirroredStrategy; prints the largest weight difference. Run as a script (the logical devices must
be set before TensorFlow starts)."""
import sys

import numpy as np
import tensorflow as tf

tf.config.set_logical_device_configuration(tf.config.list_physical_devices("CPU")[0],
                                           [tf.config.LogicalDeviceConfiguration()] * 2)
import keras  # noqa: E402

from segpapers.common.losses import SegmentationCrossEntropy  # noqa: E402

normalization = sys.argv[1]
rng = np.random.default_rng(0)
images = rng.normal(size=(4, 8, 8, 3)).astype("float32")
labels = rng.integers(0, 3, (4, 8, 8)).astype("int32")
labels[:2, :4] = 255  # replicas see different numbers of labelled pixels


def one_step(strategy):
    with strategy.scope():
        keras.utils.set_random_seed(1)
        model = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(3, 3, padding="same")])
        model.compile(keras.optimizers.SGD(0.1), SegmentationCrossEntropy(3, [1.0, 2.0, 0.5], normalization=normalization))
    model.fit(images, labels, batch_size=4, epochs=1, shuffle=False, verbose=0)
    return model.get_weights()


devices = [d.name for d in tf.config.list_logical_devices("CPU")]
single = one_step(tf.distribute.OneDeviceStrategy(devices[0]))
mirrored = one_step(tf.distribute.MirroredStrategy(devices))
print(max(float(np.abs(a - b).max()) for a, b in zip(single, mirrored)))
