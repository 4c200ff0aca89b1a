"""Results and run files: atomic JSON writes and the provenance every results file carries."""
import functools
import importlib.metadata
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


@functools.cache
def code_version():
    """The git commit of this checkout (with "-dirty" when it has local changes), or "unknown", as it was
    when this process started: a run of hours records the code it ran, not what was committed meanwhile."""
    repo = Path(__file__).resolve().parents[1]
    try:
        commit = subprocess.run(["git", "-C", str(repo), "describe", "--always", "--dirty", "--abbrev=12"],
                                capture_output=True, text=True, check=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return commit or "unknown"


code_version()  # at import, which every entry point does before its work


def environment():
    import keras
    import tensorflow as tf

    from segpapers.common import backends
    backend = keras.backend.backend()
    return {"python": platform.python_version(), "tensorflow": tf.__version__, "keras": keras.__version__,
            "keras_backend": backend, **({} if backend == "tensorflow" else
                                         {backend: importlib.metadata.version(backend)}),
            "machine": platform.machine(), "cpus": os.cpu_count(), "cpu": backends.cpu(),
            "cpu_bfloat16_units": backends.cpu_has_bfloat16_units()}


def with_headline(data):
    """A results dict with the fields `experiment.scoring.scored` writes (`headline`, `primary`,
    `summaries`), in it and in its "crf" part, derived from its own numbers when it was written before
    scorers stated them: G / C / mIoU, or for ISBI files the adapted Rand error's scores at argmax and,
    where they were computed, at the best of 10 thresholds (`metrics.challenge`)."""
    def upgrade(section):
        if "headline" in section:
            return section
        metrics = section["metrics"]
        if "rand_error" not in metrics:
            headline = {key: metrics[key] for key in ("pixel_accuracy", "mean_accuracy", "miou") if key in metrics}
            return {**section, "headline": headline, "primary": "miou", "summaries": section.get("summaries", {})}
        headline = {"pixel_error": metrics["pixel_error"], "rand_error": metrics["rand_error"]}
        text = (f"pixel error {metrics['pixel_error']:.4f}, Rand error {metrics['rand_error']:.4f}, "
                f"membrane IoU {100 * metrics['foreground_iou']:.1f}")
        challenge = metrics.get("challenge", {})
        if challenge:
            headline.update({key.removeprefix("best_"): value for key, value in challenge.items()
                             if key.startswith("best_")})
            text += (f"; at the best of the challenge's {len(challenge['thresholds'])} thresholds: pixel error "
                     f"{challenge['best_pixel_error']:.4f}, Rand error {challenge['best_rand_error']:.4f}")
        return {**section, "headline": headline, "primary": "rand_error",
                "summaries": {"adapted": text + " (the adapted Rand error, scored before the challenge's scorer)"}}

    data = upgrade(data)
    return {**data, "crf": upgrade(data["crf"])} if data.get("crf") else data
