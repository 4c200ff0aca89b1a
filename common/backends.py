"""Which Keras backend runs the model, asked in one place.

Models, layers and losses are written in `keras.ops` and run on every Keras 3 backend. A few pieces
take a TensorFlow-only path when Keras runs on TensorFlow, each named where it lives:
`layers.BatchNormalization` (the fused kernel), `layers._tensorflow_prelu` (XLA-fused element-wise
passes), `layers._use_tensorflow_pooling` (TF's argmax pooling), `losses._sum_over_replicas`
(tf.distribute replicas) and `experiment.inference.forward_pass` (one `tf.function` with the
predictor's image ops).
"""
import keras


def on_tensorflow():
    """True when Keras runs on its TensorFlow backend (KERAS_BACKEND unset or "tensorflow")."""
    return keras.backend.backend() == "tensorflow"
