"""Score a trained checkpoint on a dataset split at the labels' original resolution.

    python evaluate.py --checkpoint runs/NAME/model.keras --dataset camvid \
        --data-dir ../shared/data/camvid --split test --output runs/NAME/results_test.json

The model runs at its input size; its logits are resized (bilinear) to each label's original size
before the argmax, so every method is scored on the same pixels. Prints a per-class table and the
summary metrics and writes a results JSON (see `evaluate()` for its fields).
"""
import argparse
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

import datasets
import papers  # noqa: F401  (registers the custom layers so checkpoints load in safe mode)
from common import metrics, results, viz
from datasets.pipeline import eval_pipeline

SUMMARY_KEYS = ("pixel_accuracy", "mean_accuracy", "miou", "fwiou")


def load_checkpoint(path):
    """Loads a `.keras` checkpoint in safe mode, with the run config written next to it (or {})."""
    model = keras.models.load_model(path, compile=False, safe_mode=True)
    config_path = Path(path).with_name("config.json")
    return model, results.read_json(config_path) if config_path.exists() else {}


def label_predictor(model):
    """A compiled function: images -> class ids at `label_size` (logits resized bilinearly first)."""

    @tf.function(reduce_retracing=True)
    def predict(images, label_size):
        logits = tf.cast(model(images, training=False), tf.float32)
        logits = tf.image.resize(logits, label_size, method="bilinear")
        return tf.argmax(logits, axis=-1, output_type=tf.int32)

    return predict


def evaluate(model, dataset, split, data_dir=None, batch_size=1, limit=None, overlays_dir=None, num_overlays=0,
             verbose=True):
    """Scores `model` on `dataset`/`split`; returns the results dict (metrics, per-class IoU, timing)."""
    info = datasets.get_info(dataset, data_dir)
    num_outputs = model.output_shape[-1]
    if num_outputs != info.num_classes:
        raise ValueError(f"the checkpoint predicts {num_outputs} classes but dataset {dataset!r} has "
                         f"{info.num_classes} ({', '.join(info.class_names)})")
    source, info = datasets.load(dataset, split, data_dir)
    if limit:
        source = source.take(limit)
    num_images = int(source.cardinality())
    input_size = model.input_shape[1:3] if None not in model.input_shape[1:3] else None
    batches = eval_pipeline(source, batch_size, input_size)
    predict = label_predictor(model)
    confusion = np.zeros((info.num_classes, info.num_classes), np.int64)
    progress = keras.utils.Progbar(num_images, verbose=1 if verbose else 0, unit_name="image")
    saved_overlays = 0
    start = time.perf_counter()
    for images, labels in batches:
        predictions = predict(images, tf.shape(labels)[1:3]).numpy()
        labels = labels.numpy()
        confusion += metrics.confusion_matrix(labels, predictions, info.num_classes, info.ignore_label)
        for image, label, prediction in zip(images.numpy(), labels, predictions):
            if overlays_dir and saved_overlays < num_overlays:
                panel = viz.comparison_panel(image, label, prediction, info.palette, info.ignore_label)
                viz.save_png(Path(overlays_dir) / f"{split}_{saved_overlays:04d}.png", panel)
                saved_overlays += 1
        progress.add(len(labels))
    wall_time = time.perf_counter() - start
    return {
        "model": model.name,
        "dataset": dataset,
        "split": split,
        "num_images": num_images,
        "params": model.count_params(),
        "input_size": list(model.input_shape[1:3]),
        "class_names": list(info.class_names),
        "metrics": metrics.segmentation_scores(confusion),
        "confusion_matrix": confusion.tolist(),
        "wall_time_s": round(wall_time, 3),
        "images_per_s": round(num_images / wall_time, 3) if wall_time else None,
        "code_version": results.code_version(),
        "environment": results.environment(),
    }


def format_table(result):
    """The per-class IoU/accuracy table and the summary metrics, in percent."""
    scores = result["metrics"]
    width = max(len(name) for name in result["class_names"] + ["class"])
    lines = [f"{result['model']} on {result['dataset']}/{result['split']} ({result['num_images']} images)",
             f"{'class':<{width}}  {'IoU':>6}  {'acc':>6}"]
    for name, iou, acc in zip(result["class_names"], scores["iou"], scores["per_class_accuracy"]):
        lines.append(f"{name:<{width}}  {100 * iou:6.2f}  {100 * acc:6.2f}")
    lines.append("  ".join(f"{key} {100 * scores[key]:.2f}" for key in SUMMARY_KEYS))
    return "\n".join(lines)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", required=True, help="a .keras file written by train.py")
    parser.add_argument("--dataset", help="dataset name (default: the one the checkpoint was trained on); "
                        f"one of {', '.join(datasets.list_datasets())}")
    parser.add_argument("--data-dir", help="dataset folder (default: the training run's)")
    parser.add_argument("--split", default="test", help="split to score (default: test)")
    parser.add_argument("--batch-size", type=int, default=1, help="images per batch; >1 needs equal label sizes")
    parser.add_argument("--limit", type=int, help="score only the first N images")
    parser.add_argument("--output", help="results JSON (default: results_<dataset>_<split>.json next to the checkpoint)")
    parser.add_argument("--save-overlays", metavar="DIR", help="write image | ground truth | prediction PNGs here")
    parser.add_argument("--num", type=int, default=10, help="how many overlays to write (default 10)")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    model, config = load_checkpoint(args.checkpoint)
    dataset = args.dataset or config.get("dataset")
    if not dataset:
        raise SystemExit("--dataset is required: the checkpoint has no config.json naming its dataset")
    data_dir = args.data_dir or (config.get("data_dir") if dataset == config.get("dataset") else None)
    result = evaluate(model, dataset, args.split, data_dir, args.batch_size, args.limit,
                      args.save_overlays, args.num)
    result["checkpoint"] = str(args.checkpoint)
    result["train_config"] = config
    output = Path(args.output or Path(args.checkpoint).with_name(f"results_{dataset}_{args.split}.json"))
    results.write_json(output, result)
    print(format_table(result))
    print(f"results written to {output}")
    return result


if __name__ == "__main__":
    main()
