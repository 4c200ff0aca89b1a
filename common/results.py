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
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp.name, 0o666 & ~umask)  # NamedTemporaryFile creates 0600; give it a normal file's mode
    os.replace(tmp.name, path)


def read_json(path):
    with open(path) as f:
        try:
            return json.load(f)
        except json.JSONDecodeError as error:
            raise ValueError(f"{path} is not valid JSON ({error})") from error


# What train.py writes to a run's config.json and the other tools read back, with the types.
RUN_CONFIG_FIELDS = {"model": str, "dataset": str, "num_classes": int, "class_names": list, "input_size": list,
                     "schedule": dict, "deviations": list}


def read_run_config(path):
    """A run's config.json, checked: a hand-edited or foreign file fails here with its path named."""
    config = read_json(path)
    problems = [f"{key} should be {kind.__name__}" for key, kind in RUN_CONFIG_FIELDS.items()
                if not isinstance(config.get(key) if isinstance(config, dict) else None, kind)]
    if not problems and (len(config["input_size"]) != 2 or len(config["class_names"]) != config["num_classes"]):
        problems.append("input_size needs 2 values and class_names num_classes names")
    if problems:
        raise ValueError(f"{path} is not a run config written by train.py: {'; '.join(problems)}")
    return config


def weight_record_dir(results_dir, name):
    """Where benchmarks.run keeps the trained model of a small run `name` (<model>_<protocol>)."""
    return Path(results_dir) / "weights" / name


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
