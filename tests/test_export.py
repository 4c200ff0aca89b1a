"""predict.py --export in each format, every file loaded back in a fresh process by its own runtime alone
(onnxruntime, the LiteRT interpreter, TensorFlow for the SavedModel), its labels against Keras'; the int8
export; the combinations that cannot export; benchmarks.export_check end to end."""
import json
import subprocess
import sys

import keras
import numpy as np
import pytest

from segpapers import predict, train
from segpapers.benchmarks import export_check
from segpapers.common.errors import UserError
from segpapers.common.training import global_dtype_policy
from segpapers.experiment.prediction import RECORD_FILE, RUNTIMES, dataset_images, export
from tests.model_checks import tiny_model

# Each runtime on its own, as on the device the file is shipped to: images.npy in, labels.npy out.
RUNNERS = {
    "savedmodel": "import tensorflow as tf\n"
                  "served = tf.saved_model.load(path)  # held: its variables go with it\n"
                  "labels = served.serve(images).numpy()\n",
    "onnx": "import onnxruntime\n"
            "session = onnxruntime.InferenceSession(path + '/model.onnx', providers=['CPUExecutionProvider'])\n"
            "labels = session.run(None, {session.get_inputs()[0].name: images})[0]\n",
    "litert": "from ai_edge_litert.interpreter import Interpreter\n"
              "interpreter = Interpreter(path + '/model.tflite')\n"
              "interpreter.allocate_tensors()\n"
              "(source,), (target,) = interpreter.get_input_details(), interpreter.get_output_details()\n"
              "found = []\n"
              "for image in images:\n"
              "    interpreter.set_tensor(source['index'], image[None])\n"
              "    interpreter.invoke()\n"
              "    found.append(interpreter.get_tensor(target['index']))\n"
              "labels = np.concatenate(found)\n",
}
SIZE = (32, 32)


def needs_runtime(format):
    for name in RUNTIMES.get(format, ()):
        pytest.importorskip(name, reason=f"a {format} export needs the `export` extra")


def in_fresh_process(format, directory, images, tmp_path):
    """The labels of `images` by the export in `directory`, loaded by its runtime in a new Python."""
    np.save(tmp_path / "images.npy", images)
    script = ("import sys\nimport numpy as np\npath, folder = sys.argv[1], sys.argv[2]\n"
              "images = np.load(folder + '/images.npy')\n" + RUNNERS[format] +
              "np.save(folder + '/labels.npy', labels)\n")
    done = subprocess.run([sys.executable, "-c", script, str(directory), str(tmp_path)], timeout=300,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    return np.load(tmp_path / "labels.npy")


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    """Random-weight SegNet-Basic and ENet for the synthetic dataset's 6 classes, without a run config."""
    folder = tmp_path_factory.mktemp("checkpoints")
    keras.utils.set_random_seed(0)
    for name in ("segnet_basic", "enet"):
        tiny_model(name, 6, SIZE).save(folder / f"{name}.keras")
    return folder


@pytest.fixture(scope="module")
def images():
    """Four images of the synthetic test split at the models' input size, as export() checks them."""
    return dataset_images("synthetic", "test", None, 4, SIZE)[1]


def keras_labels(checkpoint, images):
    model = keras.models.load_model(checkpoint, safe_mode=True)
    return np.argmax(model.predict(images.astype("float32"), verbose=0), axis=-1)


# ENet's graph (about a minute per export on two cores) goes through the two converters that translate its
# ops (PReLU, the argmax unpooling, dilated and asymmetric convolutions); a SavedModel stores any graph as traced.
@pytest.mark.slow
@pytest.mark.parametrize("name, format", [("segnet_basic", "savedmodel"), ("segnet_basic", "onnx"),
                                          ("segnet_basic", "litert"), ("enet", "onnx"), ("enet", "litert")])
def test_each_export_gives_keras_labels_in_its_own_runtime(checkpoints, images, tmp_path, capsys, name, format):
    needs_runtime(format)
    directory = tmp_path / "export"
    predict.main(["--checkpoint", str(checkpoints / f"{name}.keras"), "--export", str(directory), "--format", format,
                  "--dataset", "synthetic"])
    assert capsys.readouterr().out.endswith(f" written to {directory}\n")
    labels = in_fresh_process(format, directory, images, tmp_path)
    assert labels.dtype == np.uint8 and labels.shape == (4, *SIZE)
    assert np.mean(labels == keras_labels(checkpoints / f"{name}.keras", images)) >= 0.999
    record = json.loads((directory / RECORD_FILE).read_text())
    assert (record["format"], record["model"], record["quantization"]) == (format, name, None)
    assert record["agreement"]["dataset"] == "synthetic" and len(record["agreement"]["images"]) == 4
    assert record["agreement"]["pixels_equal"] >= 0.999


@pytest.mark.slow  # two LiteRT conversions, one calibrated
def test_the_int8_litert_export_runs_and_names_its_calibration_images(checkpoints, images, float_litert_bytes,
                                                                     tmp_path, capsys):
    needs_runtime("litert")
    directory = tmp_path / "int8"
    predict.main(["--checkpoint", str(checkpoints / "segnet_basic.keras"), "--export", str(directory),
                  "--format", "litert", "--quantize", "int8", "--calibration-images", "3", "--dataset", "synthetic"])
    assert capsys.readouterr().out == f"LiteRT model (int8) written to {directory}\n"
    record = json.loads((directory / RECORD_FILE).read_text())
    # Spread evenly over the 600 synthetic train images (generated: named by split and index).
    assert record["calibration"] == {"dataset": "synthetic", "split": "train",
                                     "images": ["train_0000", "train_0300", "train_0599"]}
    assert record["quantization"].startswith("int8: post-training, full-integer")
    assert 0 <= record["agreement"]["pixels_equal"] <= 1  # random weights: no threshold to hold
    labels = in_fresh_process("litert", directory, images, tmp_path)
    assert labels.dtype == np.uint8 and labels.shape == (4, *SIZE) and labels.max() < 6
    assert (directory / "model.tflite").stat().st_size < 0.5 * float_litert_bytes


def test_dynamic_range_quantisation_needs_no_calibration(checkpoints, float_litert_bytes, tmp_path):
    needs_runtime("litert")
    directory = export(checkpoints / "segnet_basic.keras", tmp_path / "dynamic", "litert", "dynamic")
    record = json.loads((directory / RECORD_FILE).read_text())
    assert record["quantization"].startswith("dynamic: post-training, dynamic range: int8 weights")
    assert record["calibration"] is None and record["agreement"] is None  # no dataset given, none in a config
    assert (directory / "model.tflite").stat().st_size < 0.5 * float_litert_bytes


@pytest.fixture(scope="module")
def float_litert_bytes(checkpoints, tmp_path_factory):
    """The size of SegNet-Basic's float LiteRT file, which quantised weights should cut to about a quarter."""
    needs_runtime("litert")
    directory = export(checkpoints / "segnet_basic.keras", tmp_path_factory.mktemp("float"), "litert")
    return (directory / "model.tflite").stat().st_size


def test_combinations_that_cannot_export_are_refused_with_the_reason(checkpoints, tmp_path):
    segnet_basic = checkpoints / "segnet_basic.keras"
    with pytest.raises(UserError, match="int8 or dynamic quantisation of a LiteRT export"):
        export(segnet_basic, tmp_path / "a", "onnx", quantize="int8")
    with pytest.raises(UserError, match="--dataset is required"):  # int8 calibrates on the training data
        export(segnet_basic, tmp_path / "b", "litert", quantize="int8")
    with pytest.raises(UserError, match="unknown export format 'tflite'; formats: savedmodel, onnx, litert"):
        export(segnet_basic, tmp_path / "c", "tflite")
    tiny_model("unet", 6).save(tmp_path / "unet.keras")
    for format in ("savedmodel", "onnx", "litert"):
        with pytest.raises(UserError, match="unet: export serves whole images .* overlap-tiles"):
            export(tmp_path / "unet.keras", tmp_path / "d", format)
    with global_dtype_policy("mixed_bfloat16"):
        tiny_model("segnet_basic", 6, SIZE).save(tmp_path / "bfloat16.keras")
    with pytest.raises(UserError, match="a litert export needs a float32 model, this checkpoint computes in bfloat16"):
        export(tmp_path / "bfloat16.keras", tmp_path / "e", "litert")
    assert not any((tmp_path / name).exists() for name in "abcde")  # refused before writing anything


def test_a_missing_runtime_names_the_extra(checkpoints, tmp_path, monkeypatch):
    monkeypatch.setattr("importlib.util.find_spec", lambda name: None if name == "onnxruntime" else object())
    with pytest.raises(UserError, match=r"a onnx export needs onnxruntime: pip install 'segmentation-papers\[export\]'"):
        export(checkpoints / "segnet_basic.keras", tmp_path / "export", "onnx")


@pytest.mark.slow  # trains a checkpoint, exports it and scores both
def test_export_check_scores_keras_and_the_export_with_the_same_scorers(tmp_path):
    needs_runtime("litert")
    run = tmp_path / "run"
    train.main(["--model", "segnet_basic", "--dataset", "synthetic", "--input-size", "64x64", "--batch-size", "4",
                "--verbose", "0", "--precision", "float32", "--epochs", "1", "--steps-per-epoch", "2",
                "--eval-split", "none", "--output", str(run)])
    output = tmp_path / "check.json"
    result = export_check.main(["--checkpoint", str(run / "model.keras"), "--format", "litert", "--split", "val",
                                "--limit", "3", "--output", str(output)])
    assert json.loads(output.read_text())["delta"] == result["delta"]
    assert (result["num_images"], result["dataset"], result["export_record"]["format"]) == (3, "synthetic", "litert")
    keras_miou, export_miou = result["keras"]["metrics"]["miou"], result["export"]["metrics"]["miou"]
    assert result["delta"]["miou"] == pytest.approx(export_miou - keras_miou)
    # A float export at the images' own size (64x64): Keras' labels, so Keras' scores.
    assert result["pixels_equal"] >= 0.999 and abs(result["delta"]["miou"]) < 0.01
