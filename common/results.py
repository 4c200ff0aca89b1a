"""Results and run files: atomic JSON writes and the provenance every results file carries."""
import json
import os
import platform
import subprocess
import tempfile
from pathlib import Path


def write_json(path, data):
    """Writes JSON through a temporary file and a rename, so a killed process never leaves half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, prefix=f".{path.name}.", delete=False) as tmp:
        json.dump(data, tmp, indent=2, sort_keys=False, allow_nan=True)
        tmp.write("\n")
    os.replace(tmp.name, path)


def read_json(path):
    with open(path) as f:
        return json.load(f)


def code_version():
    """The git commit of this checkout (with "-dirty" when it has local changes), or "unknown"."""
    repo = Path(__file__).resolve().parents[1]
    try:
        commit = subprocess.run(["git", "-C", str(repo), "describe", "--always", "--dirty", "--abbrev=12"],
                                capture_output=True, text=True, check=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return commit or "unknown"


def environment():
    import keras
    import tensorflow as tf
    return {"python": platform.python_version(), "tensorflow": tf.__version__, "keras": keras.__version__,
            "machine": platform.machine(), "cpus": os.cpu_count()}
