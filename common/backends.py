"""Which Keras backend runs the model, asked in one place.

Models, layers and losses are written in `keras.ops` and run on every Keras 3 backend. A few pieces
take a TensorFlow-only path when Keras runs on TensorFlow, each named where it lives:
`layers.BatchNormalization` (the fused kernel), `layers._tensorflow_prelu` (XLA-fused element-wise
passes), `layers._use_tensorflow_kernels` (XLA-compiled pooling and unpooling),
`losses._sum_over_replicas` (tf.distribute replicas) and `experiment.inference.forward_pass` (one
`tf.function` with the predictor's image ops).

It also says what the CPU can compute natively (`cpu`, `cpu_has_bfloat16_units`,
`emulates_bfloat16`): a schedule's mixed_bfloat16 is a speed choice that holds only on CPUs with
bfloat16 units.
"""
import functools
import platform
from pathlib import Path

import keras

from segpapers.common import console

# x86 flags (Linux /proc/cpuinfo) of bfloat16 arithmetic in hardware; without them TensorFlow
# emulates bfloat16 in float32 code and a bfloat16 step is slower than a float32 one.
BFLOAT16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")


def on_tensorflow():
    """True when Keras runs on its TensorFlow backend (KERAS_BACKEND unset or "tensorflow")."""
    return keras.backend.backend() == "tensorflow"


@functools.cache
def _cpuinfo():
    """(model name, set of flags) of the first CPU in /proc/cpuinfo; (None, None) where it is not there."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return None, None
    fields = dict(line.split(":", 1) for line in text.split("\n\n", 1)[0].splitlines() if ":" in line)
    fields = {key.strip(): value.strip() for key, value in fields.items()}
    return fields.get("model name"), set(fields.get("flags", "").split()) or None


def cpu():
    """The CPU's model name (platform's processor name where /proc/cpuinfo is missing)."""
    return _cpuinfo()[0] or platform.processor() or platform.machine()


def cpu_has_bfloat16_units():
    """True where the CPU computes bfloat16 natively (AVX512-BF16 or AMX), False where /proc/cpuinfo
    lists neither flag, None where the flags cannot be read (not Linux, or not x86)."""
    flags = _cpuinfo()[1]
    if flags is None or platform.machine() != "x86_64":
        return None
    return bool(flags & set(BFLOAT16_CPU_FLAGS))


def emulates_bfloat16():
    """True where the CPU is known to lack bfloat16 units and no GPU is visible: there a bfloat16 step
    is emulated and slower than a float32 one. Starts no backend runtime (JAX's multi-worker setup
    must come first)."""
    return cpu_has_bfloat16_units() is False and not console.has_gpu()
