"""TensorFlow's start, quiet on a machine without a GPU: what a command line prints begins with its own words.

Every entry point (train.py, evaluate.py, predict.py, benchmarks.run, precision_ab, table and profile)
imports this module first,
before anything imports TensorFlow; importing it calls `exact_jax_counts` and `quiet_tensorflow_start`. On a machine without a
GPU (no /dev/nvidia* device and CUDA_VISIBLE_DEVICES unset), it

- sets TF_CPP_MIN_LOG_LEVEL=1 unless it is set: TensorFlow's C++ INFO lines go (the CPU-instructions
  notice, XLA's "Compiled cluster using XLA!"), its warnings and errors stay;
- imports TensorFlow and lists its devices with the process's stderr captured, then writes back every
  captured line but CUDA's probe notices (PROBE_NOTICES). TensorFlow's CUDA-enabled wheel logs them on
  every start without a GPU, and TF_CPP_MIN_LOG_LEVEL cannot hide them: they are logged before
  TensorFlow reads it (tensorflow/tensorflow#100442), and the failed cuInit as an error.

On a machine with a GPU TensorFlow's output is left as it is, and so it is everywhere with `--debug` on
the command line or SEGPAPERS_DEBUG=1 (which --debug sets, so that the CRF's worker processes, which
import the entry point again, show everything too).
"""
import os
import re
import sys
import tempfile
from glob import glob

DEBUG_VARIABLE = "SEGPAPERS_DEBUG"  # set to 1 (or pass --debug) for everything TensorFlow prints, and tracebacks
PROBE_NOTICES = re.compile(r"All log messages before absl::InitializeLog\(\) is called are written to STDERR"
                           r"|cudart_stub\.cc.*Could not find cuda drivers"
                           r"|cuda_platform\.cc.*failed call to cuInit")


def debugging(argv):
    return "--debug" in argv or os.environ.get(DEBUG_VARIABLE) == "1"


def has_gpu():
    """Whether this process may see an NVIDIA GPU: a device node, or GPUs chosen with CUDA_VISIBLE_DEVICES
    ("" and -1 hide them)."""
    return bool(glob("/dev/nvidia*")) or os.environ.get("CUDA_VISIBLE_DEVICES", "").strip() not in ("", "-1")


def without_probe_notices(text):
    """`text` (captured stderr) without the lines of CUDA's probe on a machine without a GPU."""
    return "".join(line for line in text.splitlines(keepends=True) if not PROBE_NOTICES.search(line))


def quiet_tensorflow_start(argv=None):
    """Imports TensorFlow quietly on a machine without a GPU (see the module's docstring)."""
    argv = sys.argv[1:] if argv is None else argv
    if "tensorflow" in sys.modules:  # too late: it has printed its start already
        return
    if "--debug" in argv:
        os.environ[DEBUG_VARIABLE] = "1"
    if debugging(argv) or has_gpu():
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")
    with tempfile.TemporaryFile() as captured:
        sys.stderr.flush()
        stderr = os.dup(2)
        os.dup2(captured.fileno(), 2)  # the file descriptor: TensorFlow's C++ logging writes to it directly
        try:
            import tensorflow as tf
            tf.config.list_physical_devices()  # CUDA's probe (cuInit); it does not start the runtime
        finally:
            sys.stderr.flush()
            os.dup2(stderr, 2)
            os.close(stderr)
            captured.seek(0)
            sys.stderr.write(without_probe_notices(captured.read().decode(errors="replace")))
            sys.stderr.flush()


def exact_jax_counts():
    """Under Keras' JAX backend, 64-bit integers for the confusion matrix's counts (common.metrics): JAX
    truncates int64 to int32 unless JAX_ENABLE_X64 is set before it is imported."""
    if os.environ.get("KERAS_BACKEND") == "jax":
        os.environ.setdefault("JAX_ENABLE_X64", "1")


exact_jax_counts()
quiet_tensorflow_start()
