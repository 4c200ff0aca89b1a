"""Load `.keras` checkpoints, failing with a sentence that names the file and the fix.

Keras reports a file it cannot read as "File not found" even when it exists, and a model it cannot
rebuild with a long nested message; `load_model` looks at the file first and says what is wrong.
"""
import json
import zipfile
from pathlib import Path

import keras

from segpapers.common import backends
from segpapers.common.errors import UserError

ARCHIVE_MEMBERS = ("config.json", "model.weights.h5")  # with metadata.json, what Keras 3 writes
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
ZIP_SIGNATURE = b"PK\x03\x04"
MAX_REASON_CHARS = 300  # Keras' messages can end with a full layer config or a weight tensor


class CheckpointError(UserError, ValueError):
    """A checkpoint that is missing, not a `.keras` archive, damaged, or not a model this code defines."""


def load_model(path, as_trained=False):
    """The model in a `.keras` archive, uncompiled and in safe mode, or a `CheckpointError`. A model
    trained in bfloat16 is given float32 compute where this machine would emulate bfloat16
    (`backends.emulates_bfloat16`, far slower there); `as_trained` keeps the dtypes it was saved with.

    Import `papers` first: it registers the custom layers the archives name.
    """
    diagnose(path)
    try:
        model = keras.models.load_model(path, compile=False, safe_mode=True)
    except Exception as error:  # by now the file is sound: Keras raises TypeError, ValueError, ... on the model
        raise CheckpointError(f"the {describe(archive_config(path))} in {path} does not match this code's model "
                              f"definitions (load it with the code that saved it): {keras_reason(error)}") from error
    if not as_trained and "bfloat16" in compute_dtypes(model) and backends.emulates_bfloat16():
        print(f"{path}: computing in float32, not the bfloat16 it was trained in: this CPU has no bfloat16 units")
        model = as_float32(model)
    return model


def compute_dtypes(model):
    """The dtypes `model`'s layers compute in, sorted."""
    return sorted({layer.compute_dtype for layer in model.layers})


def as_float32(model):
    """`model` with every layer computing in float32 and the same weights (a mixed-precision model keeps
    float32 variables): how a bfloat16-trained checkpoint runs on a CPU that would emulate bfloat16."""
    def float32_layer(layer):
        return layer.__class__.from_config({**layer.get_config(), "dtype": "float32"})

    converted = keras.models.clone_model(model, clone_function=float32_layer, recursive=True)
    converted.set_weights(model.get_weights())
    return converted


def archive_config(path):
    """The archive's config.json, read without building the model: `class_name`, `config.name` and
    `config.layers` (an InputLayer's `config.batch_shape` is the input shape)."""
    diagnose(path)
    with zipfile.ZipFile(path) as archive:
        return json.loads(archive.read("config.json"))


def diagnose(path):
    """Raises `CheckpointError` unless `path` is a sound `.keras` archive that Keras will open."""
    path = Path(path)
    if path.is_dir():
        raise CheckpointError(folder_message(path))
    if not path.exists():
        raise CheckpointError(f"no checkpoint at {path}")
    with open(path, "rb") as file:
        signature = file.read(len(HDF5_SIGNATURE))
    if signature == HDF5_SIGNATURE:
        raise CheckpointError(f"{path} is an HDF5 file, not a .keras archive: Keras 3 saves .keras, "
                              "so save the model again with model.save('model.keras')")
    if not signature.startswith(ZIP_SIGNATURE):
        raise CheckpointError(f"not a .keras archive: {path} (neither a zip nor HDF5)")
    try:
        with zipfile.ZipFile(path) as archive:
            damaged_member, members = archive.testzip(), archive.namelist()
    except zipfile.BadZipFile:  # a zip's directory is at its end: what a cut-short copy loses first
        raise CheckpointError(f"truncated or corrupt .keras archive: {path} (its zip directory is missing or "
                              "damaged): copy or save it again") from None
    if damaged_member is not None:
        raise CheckpointError(f"truncated or corrupt .keras archive: {path} ({damaged_member} fails its CRC check): "
                              "copy or save it again")
    missing = [member for member in ARCHIVE_MEMBERS if member not in members]
    if missing:
        raise CheckpointError(f"{path} is a zip but not a .keras archive (missing {', '.join(missing)})")
    if path.suffix != ".keras":
        raise CheckpointError(f"{path} is a .keras archive under another name: Keras opens it only as *.keras")


def folder_message(path):
    if (path / "model.keras").is_file():
        return f"{path} is a folder, not a checkpoint: pass {path / 'model.keras'}"
    if (path / "saved_model.pb").is_file():
        return f"{path} is a folder holding a SavedModel export: evaluate needs the .keras file it was exported from"
    return f"{path} is a folder, not a .keras checkpoint"


def describe(config):
    """'Functional model "segnet" with input (None, 360, 480, 3)', from an archive's config."""
    layers = config["config"].get("layers", [])
    inputs = [tuple(layer["config"]["batch_shape"]) for layer in layers if layer["class_name"] == "InputLayer"]
    shapes = f" with input {', '.join(map(str, inputs))}" if inputs else ""
    return f"{config['class_name']} model \"{config['config'].get('name')}\"{shapes}"


def keras_reason(error):
    """What failed, from Keras' message: a nested error's own message follows 'Exception encountered:'."""
    lines = [line for line in str(error).rpartition("Exception encountered: ")[2].splitlines() if line.strip()]
    reason = " ".join(lines[:2] if lines and lines[0].endswith(":") else lines[:1]) or type(error).__name__
    return reason if len(reason) <= MAX_REASON_CHARS else reason[:MAX_REASON_CHARS] + "..."
