"""Applying a checkpoint to image files, and exporting it for serving (predict.py's library).

TensorFlow-only: every export is traced from TensorFlow (a SavedModel; ONNX by tf2onnx; LiteRT by
TFLiteConverter through Keras' exporter).
"""
import importlib.util
import os
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from PIL import Image

from segpapers import datasets
from segpapers.common import checkpoints, layers, results, viz
from segpapers.common.crf import CrfPool
from segpapers.common.errors import UserError
from segpapers.experiment.inference import (by_tiles, data_of, load_checkpoint, predictor, test_time_symmetries,
                                            trained_on_crops)

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"}


def image_paths(inputs):
    """Files as given, folders expanded to their images (sorted); a missing path is an error."""
    paths = []
    for item in map(Path, inputs):
        if item.is_dir():
            found = sorted(p for p in item.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
            if not found:
                raise UserError(f"{item}: no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
            paths += found
        elif item.is_file():
            paths.append(item)
        else:
            raise UserError(f"{item}: no such file or folder")
    stems = {}
    for path in paths:  # outputs are named by stem: two inputs must not write the same files
        if path.stem in stems:
            raise UserError(f"{stems[path.stem]} and {path} would both write {path.stem}_labels.png; rename one")
        stems[path.stem] = path
    return paths


def read_image(path):
    try:
        with Image.open(path) as image:
            return np.asarray(image.convert("RGB"))
    except Exception as error:  # Pillow raises several types for damaged files
        raise UserError(f"cannot read image {path}: {error}") from error


def palette_of(config, num_classes):
    """The training dataset's palette, or the VOC colour map when the checkpoint has no config."""
    if config.get("dataset"):
        return datasets.get_info(config["dataset"], config.get("data_dir")).palette
    return datasets.base.color_map(num_classes)


def save_label_png(path, labels, palette):
    image = Image.fromarray(labels.astype(np.uint8), mode="P")
    image.putpalette([value for colour in palette for value in colour])
    image.save(path)


def predict_files(checkpoint, inputs, output, crf_params=None, xla=None, symmetries=None, overwrite=False):
    """Writes `<name>_labels.png` and `<name>_overlay.png` into `output` for every image of `inputs`,
    averaged over `symmetries` rotated/flipped versions (default: the run's schedule's). Files already
    there are replaced only with `overwrite`, checked before the model loads."""
    paths, output = image_paths(inputs), Path(output)
    existing = [target for stem in (path.stem for path in paths) for target in (output / f"{stem}_labels.png", output / f"{stem}_overlay.png")
                if target.exists()]
    if existing and not overwrite:
        raise UserError(f"{existing[0]} exists ({len(existing)} of the {2 * len(paths)} files this would write): "
                        "pass --overwrite to replace them, or another --output")
    model, config = load_checkpoint(checkpoint)
    palette = palette_of(config, model.output_shape[-1])
    class_names = config.get("class_names") or [f"class {index}" for index in range(model.output_shape[-1])]
    predict = predictor(model, trained_on_crops(config), xla,
                        test_time_symmetries(config) if symmetries is None else symmetries)
    output.mkdir(parents=True, exist_ok=True)
    pool = CrfPool(crf_params) if crf_params is not None else None
    progress = keras.utils.Progbar(len(paths), unit_name="image")
    for path in paths:
        image = read_image(path)
        labels, probs = (t.numpy()[0] for t in predict(tf.constant(image[None], tf.float32)))
        if pool is not None:
            labels = pool.submit(image, probs).result()[0]
        save_label_png(output / f"{path.stem}_labels.png", labels, palette)
        viz.save_png(output / f"{path.stem}_overlay.png", viz.prediction_overlay(image, labels, palette, class_names))
        progress.add(1)
    if pool is not None:
        pool.close()
    return output


FORMATS = ("savedmodel", "onnx", "litert")
# LiteRT's post-training quantisations (TFLiteConverter), as export.json describes them.
QUANTIZATIONS = {"int8": "full-integer: int8 weights and activations, calibrated on the images named",
                 "dynamic": "dynamic range: int8 weights, float activations, no calibration"}
MODEL_FILES = {"onnx": "model.onnx", "litert": "model.tflite"}  # inside the export folder
RECORD_FILE = "export.json"
CHECK_IMAGES = 4  # images on which export() compares the export's labels with Keras'
# Each format's input shape at the model's input size: LiteRT's static, as embedded delegates want it.
INPUT_SHAPES = {"savedmodel": lambda size: [None, None, None, 3], "onnx": lambda size: [None, *size, 3],
                "litert": lambda size: [1, *size, 3]}
RUNTIMES = {"onnx": ("tf2onnx", "onnxruntime"), "litert": ("ai_edge_litert",)}  # the `export` extra (setup.cfg)


def export(checkpoint, directory, format="savedmodel", quantize=None, calibration_images=100, dataset=None,
           data_dir=None, overwrite=False):
    """Writes `checkpoint` for serving into `directory` (replaced only with `overwrite` when not empty),
    with `export.json`: what was exported, and its labels' agreement with Keras' on `CHECK_IMAGES`
    images of the dataset (`dataset`, else the checkpoint's; none known: not measured).

    - "savedmodel": a TF SavedModel serving uint8 images of any size -> uint8 label maps (same size);
    - "onnx": `model.onnx`, uint8 images [batch, H, W, 3] at the model's input size -> uint8 labels
      [batch, H, W], for onnxruntime (by tf2onnx);
    - "litert": `model.tflite`, the same for one image [1, H, W, 3], TFLite's built-in ops only (no Flex),
      for the LiteRT interpreter (TFLiteConverter through Keras' exporter). `quantize` (`QUANTIZATIONS`):
      "int8", full-integer post-training quantisation, calibrated on `calibration_images` images spread
      evenly over the dataset's train split, named in export.json; "dynamic", int8 weights only.
    """
    if format not in FORMATS:
        raise UserError(f"unknown export format {format!r}; formats: {', '.join(FORMATS)}")
    if quantize is not None and (quantize not in QUANTIZATIONS or format != "litert"):
        raise UserError(f"--quantize {quantize}: {' or '.join(QUANTIZATIONS)} quantisation of a LiteRT export "
                        "(--format litert)")
    directory = Path(directory)
    if directory.is_dir() and any(directory.iterdir()) and not overwrite:
        raise UserError(f"{directory} exists and is not empty: pass --overwrite to replace it, or another --export")
    _check_runtime(format)
    model, config = load_checkpoint(checkpoint, as_trained=True)  # what is exported does not depend on the machine
    _check_exportable(model, config, format)
    # Images: the given dataset's or the checkpoint's; an int8 export cannot do without them.
    known = quantize == "int8" or dataset or config.get("dataset")
    dataset, data_dir = data_of(config, dataset, data_dir) if known else (None, None)
    input_size = list(model.input_shape[1:3])
    calibration = None
    if quantize == "int8":
        calibration = dataset_images(dataset, "train", data_dir, calibration_images, input_size)
    directory.mkdir(parents=True, exist_ok=True)
    if format == "savedmodel":
        _write_saved_model(model, directory)
    else:
        _write_portable(model, directory / MODEL_FILES[format], format, quantize, calibration)
    record = {
        "format": format, "model": model.name, "checkpoint": str(checkpoint),
        "file": MODEL_FILES.get(format, "saved_model.pb"),
        "input": {"shape": INPUT_SHAPES[format](input_size), "dtype": "uint8", "content": "RGB images"},
        "output": {"shape": INPUT_SHAPES[format](input_size)[:3], "dtype": "uint8", "content": "class ids"},
        "quantization": None, "calibration": None,
    }
    if quantize:
        record["quantization"] = f"{quantize}: post-training, {QUANTIZATIONS[quantize]} (TFLiteConverter)"
    if calibration:
        record["calibration"] = {"dataset": dataset, "split": "train", "images": calibration[0]}
    record["agreement"] = agreement(model, directory, format, dataset, data_dir) if dataset else None
    record.update(code_version=results.code_version(), environment=results.environment())
    results.write_json(directory / RECORD_FILE, record)
    return directory


def _check_runtime(format):
    missing = [name for name in RUNTIMES.get(format, ()) if importlib.util.find_spec(name) is None]
    if missing:
        raise UserError(f"a {format} export needs {', '.join(missing)}: pip install 'segmentation-papers[export]'")


def _check_exportable(model, config, format):
    if by_tiles(model, trained_on_crops(config)):
        raise UserError(f"{model.name}: export serves whole images resized to the model's input, but this model "
                         "predicts by overlap-tiles (unpadded convolutions, or trained on crops): use predict.py")
    if format != "savedmodel" and None in model.input_shape[1:3]:
        raise UserError(f"{model.name}: a {format} export has a fixed input size, but this model takes any; "
                         "rebuild it with one (papers.build_model(..., input_shape))")
    dtypes = [dtype for dtype in checkpoints.compute_dtypes(model) if dtype != "float32"]
    if format != "savedmodel" and dtypes:
        raise UserError(f"{model.name}: a {format} export needs a float32 model, this checkpoint computes in "
                         f"{', '.join(dtypes)} (train.py --precision float32)")


def _write_saved_model(model, directory):
    """uint8 images of any size -> uint8 label maps of that size, the network at its input size."""
    input_size = model.input_shape[1:3]

    def serve(images):
        pixels = tf.cast(images, tf.float32)
        inputs = pixels if None in input_size else tf.image.resize(pixels, input_size)
        logits = tf.image.resize(tf.cast(model(inputs, training=False), tf.float32), tf.shape(images)[1:3])
        return tf.cast(tf.argmax(logits, axis=-1), tf.uint8)

    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint("serve", serve, input_signature=[tf.TensorSpec([None, None, None, 3], tf.uint8)])
    archive.write_out(str(directory), verbose=False)  # verbose: the endpoint's signature and every captured variable


def labels_model(model, batch_size=None):
    """uint8 images at `model`'s input size -> uint8 label maps: what the ONNX and LiteRT files compute."""
    images = keras.Input((*model.input_shape[1:3], 3), batch_size=batch_size, dtype="uint8", name="images")
    logits = model(keras.ops.cast(images, "float32"))
    # tf.argmax: Keras' argmax tests the sign bit of its floats, with ops neither runtime has.
    labels = keras.layers.Lambda(lambda x: tf.cast(tf.argmax(x, axis=-1), tf.uint8), name="labels")(logits)
    return keras.Model(images, labels, name=model.name)


def _write_portable(model, path, format, quantize, calibration):
    """The ONNX or LiteRT file of `labels_model`, its pooling with switches and unpooling traced from
    ops the runtime has built in (`common.layers.for_export`)."""
    serving = labels_model(model, INPUT_SHAPES[format](model.input_shape[1:3])[0])
    signature = [tf.TensorSpec(serving.input_shape, tf.uint8, name="images")]
    with layers.for_export():
        if format == "onnx":
            _write_onnx(serving, path, signature)
        else:
            _write_litert(serving, path, signature, quantize, calibration)


def _write_onnx(serving, path, signature):
    """By tf2onnx from the frozen graph: its `from_function`, which Keras' exporter calls, takes a
    function's captured constants (Keras' Normalization: the VGG models' mean) for more inputs."""
    import tf2onnx
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    function = tf.function(lambda images: serving(images, training=False), input_signature=signature)
    frozen = convert_variables_to_constants_v2(function.get_concrete_function())
    tf2onnx.convert.from_graph_def(frozen.graph.as_graph_def(), input_names=[t.name for t in frozen.inputs],
                                   output_names=[t.name for t in frozen.outputs], output_path=str(path))


def _write_litert(serving, path, signature, quantize, calibration):
    """By Keras' exporter (TFLiteConverter), TFLite's built-in ops only: no Flex (TF) ops, which the plain
    LiteRT interpreter lacks; `calibration`: the (names, images) of an int8 quantisation."""
    options = {"target_spec": {"supported_ops": [tf.lite.OpsSet.TFLITE_BUILTINS]}}
    if quantize == "dynamic":
        options["optimizations"] = [tf.lite.Optimize.DEFAULT]
    if quantize == "int8":
        options = {"optimizations": [tf.lite.Optimize.DEFAULT],
                   "representative_dataset": lambda: ([image[None]] for image in calibration[1]),
                   "target_spec": {"supported_ops": [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]}}
    serving.export(str(path), format="litert", verbose=False, input_signature=signature, **options)


def dataset_images(dataset, split, data_dir, count, size):
    """(names, uint8 images [count, *size, 3]): `count` images spread evenly over `split`, resized to
    `size` (bilinear, rounded) where they have another."""
    source, _ = datasets.load(dataset, split, data_dir)
    total = int(source.cardinality())
    if count < 1 or total < 1:
        raise UserError(f"{count} images of {dataset}/{split} ({total} there): ask for at least one")
    chosen = set(np.linspace(0, total - 1, min(count, total)).round().astype(int).tolist())
    names = datasets.image_names(dataset, split, data_dir) or [f"{split}_{index:04d}" for index in range(total)]
    picked, images = [], []
    for index, (image, _) in enumerate(source):
        if index in chosen:
            picked.append(names[index])
            images.append(resized_image(image, size))
    return picked, np.stack(images)


def resized_image(image, size):
    """A uint8 image at `size`: itself when it has that size, else resized bilinearly and rounded."""
    if tuple(image.shape[:2]) == tuple(size):
        return np.asarray(image, np.uint8)
    resized = tf.image.resize(tf.cast(image, tf.float32), size)
    return tf.cast(tf.round(tf.clip_by_value(resized, 0, 255)), tf.uint8).numpy()


def agreement(model, directory, format, dataset, data_dir, count=CHECK_IMAGES):
    """The fraction of pixels on which the export in `directory`, run by its own runtime, gives Keras'
    labels, on `count` images of the dataset's test split (val where it has none), at the input size."""
    splits = datasets.get_info(dataset, data_dir).splits
    split = "test" if "test" in splits else "val" if "val" in splits else splits[0]
    names, images = dataset_images(dataset, split, data_dir, count, model.input_shape[1:3])
    expected = labels_model(model)(images).numpy()
    served = exported_labels(directory, format)(images)
    return {"dataset": dataset, "split": split, "images": names, "pixels_equal": float(np.mean(served == expected))}


def exported_labels(directory, format=None):
    """A function: uint8 images [N, H, W, 3] at the export's input size -> its uint8 labels [N, H, W],
    computed by the export's own runtime (TensorFlow, onnxruntime, the LiteRT interpreter). `format`:
    the one export.json names."""
    record = Path(directory) / RECORD_FILE
    if format is None and not record.is_file():
        raise UserError(f"{directory}: no {RECORD_FILE}; not a folder written by predict.py --export")
    format = format or results.read_json(record)["format"]
    if format == "savedmodel":
        served = tf.saved_model.load(str(directory))
        return lambda images: served.serve(tf.constant(images, tf.uint8)).numpy()
    path = str(Path(directory) / MODEL_FILES[format])
    if format == "onnx":
        import onnxruntime

        session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name
        return lambda images: session.run(None, {name: np.asarray(images, np.uint8)})[0]
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(path, num_threads=os.cpu_count())
    interpreter.allocate_tensors()
    (source,), (target,) = interpreter.get_input_details(), interpreter.get_output_details()

    def labels(images):
        found = []
        for image in np.asarray(images, np.uint8):
            interpreter.set_tensor(source["index"], image[None])
            interpreter.invoke()
            found.append(interpreter.get_tensor(target["index"]))
        return np.concatenate(found)

    return labels
