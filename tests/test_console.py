"""TensorFlow's start on a machine without a GPU (common.console): the CUDA probe's notices hidden, every
other line kept, everything shown with --debug."""
import os
import subprocess
import sys

import pytest

from segpapers.common.console import has_gpu, without_probe_notices
from tests.paths import REPO

# What the pinned CUDA-enabled TensorFlow wheel (2.21) prints on every start without a GPU.
PROBE = ("WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
         "I0000 00:00:1796168835.945076   30802 cudart_stub.cc:31] Could not find cuda drivers on your machine, GPU "
         "will not be used.\n"
         "E0000 00:00:1796168842.950641   30802 cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA error: "
         "Failed call to cuInit: UNKNOWN ERROR (303)\n")


def test_only_the_cuda_probe_notices_are_dropped():
    other = ("E0000 00:00:1796168842.950700   30802 op_kernel.cc:1857] OP_REQUIRES failed: out of memory\n"
             "W0000 00:00:1796168842.950800   30802 some_module.cc:12] a real warning about cuda kernels\n")
    assert without_probe_notices(PROBE + other + PROBE) == other


@pytest.mark.slow
@pytest.mark.skipif(has_gpu(), reason="TensorFlow's output is left as it is on a machine with a GPU")
def test_a_cli_starts_quiet_on_a_cpu_machine_and_debug_shows_everything():
    env = {key: value for key, value in os.environ.items() if key not in ("SEGPAPERS_DEBUG", "TF_CPP_MIN_LOG_LEVEL")}

    def stderr(*flags):
        done = subprocess.run([sys.executable, "train.py", "--help", *flags], cwd=REPO, env=env, capture_output=True,
                              text=True, timeout=300)
        assert done.returncode == 0 and "--model" in done.stdout
        return done.stderr

    quiet = stderr()
    assert not [line for line in quiet.splitlines() if "cuda" in line.lower() or "absl" in line or "cpu_feature" in line]
    shown = stderr("--debug")
    assert "cuda" in shown.lower() and without_probe_notices(shown) != shown  # the probe's lines, as TensorFlow wrote them
