"""What an export costs in accuracy: a checkpoint's Keras model and its export (`predict.py --export`),
run by the export's own runtime, scored on a dataset split by the same confusion-matrix scorers.

    python -m benchmarks.export_check --checkpoint enet_paper --format litert --quantize int8 \
        [--calibration-images 100] [--split test] [--output results/benchmarks/export_enet_int8.json]

Keras predicts as evaluate.py does (its logits resized to each label's size); the export, whose input
size is fixed, gets each image resized to it (`experiment.prediction.resized_image`) and its labels
are resized back to the label's size (nearest neighbour), which for CamVid at 360x480 are no resizes
at all. The record holds both scores, their difference, the fraction of pixels whose labels agree,
and the export's own export.json (format, quantisation, calibration image names).
"""
import argparse
import sys
import tempfile
from pathlib import Path

import segpapers.common.console  # noqa: F401 -- before any import of TensorFlow: its start is quiet on a CPU machine
import keras
import numpy as np
import tensorflow as tf

from segpapers import datasets, papers
from segpapers.common import results
from segpapers.common.scorers import one_hot, scorers_for
from segpapers.experiment import cli
from segpapers.experiment.inference import (check_classes, data_of, load_checkpoint, predictor, test_time_symmetries,
                                            trained_on_crops)
from segpapers.experiment.prediction import (FORMATS, QUANTIZATIONS, RECORD_FILE, export, exported_labels,
                                             resized_image)
from segpapers.experiment.scoring import scored

REPO = Path(__file__).resolve().parents[1]


def export_check(checkpoint, format, quantize=None, calibration_images=100, split="test", data_dir=None, limit=None,
                 verbose=True):
    """The results dict: Keras' and the export's scores on `split` of the checkpoint's dataset, their
    difference ("delta", export - Keras), the labels' agreement and the export's record."""
    model, config = load_checkpoint(checkpoint)
    dataset, data_dir = data_of(config, None, data_dir)
    check_classes(model, datasets.get_info(dataset, data_dir))
    with tempfile.TemporaryDirectory() as folder:
        export(checkpoint, folder, format, quantize, calibration_images, dataset, data_dir, overwrite=True)
        record = results.read_json(Path(folder) / RECORD_FILE)
        exported = exported_labels(folder)
        source, info = datasets.load(dataset, split, data_dir)
        source = source.take(limit) if limit else source
        num_images = int(source.cardinality())
        predict = predictor(model, trained_on_crops(config), symmetries=test_time_symmetries(config))
        keras_scorers, export_scorers = scorers_for(info), scorers_for(info)
        equal = total = 0
        progress = keras.utils.Progbar(num_images, verbose=1 if verbose else 0, unit_name="image")
        for image, label in source:
            keras_labels, probabilities = (t.numpy()[0] for t in predict(tf.cast(image, tf.float32)[None]))
            labels = exported(resized_image(image, model.input_shape[1:3])[None])[0]
            labels = tf.image.resize(labels[..., None], label.shape, method="nearest").numpy()[..., 0]
            for scorer in keras_scorers:
                scorer.update(label.numpy(), probabilities)
            for scorer in export_scorers:
                scorer.update(label.numpy(), one_hot(labels, info.num_classes))
            equal, total = equal + int(np.sum(labels == keras_labels)), total + labels.size
            progress.add(1)
    keras_scores, export_scores = scored(keras_scorers), scored(export_scorers)
    return {
        "checkpoint": str(checkpoint), "model": model.name, "dataset": dataset, "split": split,
        "num_images": num_images, "format": format, "quantization": quantize,
        "keras": keras_scores, "export": export_scores,
        "delta": {key: value - keras_scores["metrics"][key] for key, value in export_scores["metrics"].items()
                  if isinstance(value, float)},
        "pixels_equal": equal / total,
        "export_record": {key: value for key, value in record.items() if key not in ("code_version", "environment")},
        "code_version": results.code_version(), "environment": results.environment(),
    }


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", required=True, help="a .keras file, a weight record's folder or name "
                        f"({', '.join(papers.list_weights()) or 'none committed'})")
    parser.add_argument("--format", choices=FORMATS[1:], default="litert")
    parser.add_argument("--quantize", choices=QUANTIZATIONS)
    parser.add_argument("--calibration-images", type=int, default=100, metavar="N")
    parser.add_argument("--split", default="test")
    parser.add_argument("--data-dir", help="the dataset's folder (default: the checkpoint's)")
    parser.add_argument("--limit", type=int, help="score only the first N images (quick checks)")
    parser.add_argument("--output", help="default: results/benchmarks/export_<model>_<quantize or format>.json")
    parser.add_argument("--debug", action="store_true", help="show the full traceback of a user error")
    args = parser.parse_args(argv)
    checkpoint = papers.resolve_checkpoint(args.checkpoint)
    result = export_check(checkpoint, args.format, args.quantize, args.calibration_images, args.split, args.data_dir,
                          args.limit)
    output = args.output or REPO / "results" / "benchmarks" / f"export_{result['model']}_{args.quantize or args.format}.json"
    result["command"] = " ".join(["python -m benchmarks.export_check", *argv])
    results.write_json(output, result)
    keras_miou, delta = result["keras"]["metrics"]["miou"], result["delta"]["miou"]
    print(f"{result['model']} on {result['dataset']}/{args.split}: Keras mIoU {100 * keras_miou:.2f}, "
          f"{args.format}{' ' + args.quantize if args.quantize else ''} {100 * (keras_miou + delta):.2f} "
          f"({100 * delta:+.2f}); labels equal on {100 * result['pixels_equal']:.2f} % of pixels; wrote {output}")
    return result


if __name__ == "__main__":
    cli.run(main)
