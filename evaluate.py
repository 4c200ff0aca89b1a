"""Score a trained checkpoint on a dataset split at the labels' original resolution.

    python evaluate.py --checkpoint runs/NAME/model.keras --dataset camvid \
        --data-dir ../shared/data/camvid --split test --output runs/NAME/results_test.json

The model runs at its input size; its logits are resized (bilinear) to each label's original size
before the argmax, so every method is scored on the same pixels. Models with unpadded convolutions
(U-Net) or trained on random crops predict by tiles at the data's own scale instead. Prints a per-class table and the
summary metrics and writes a results JSON (see `evaluate()` for its fields).
"""
import argparse
import collections
import itertools
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

import datasets
import papers  # noqa: F401  (registers the custom layers so checkpoints load in safe mode)
from common import metrics, results, viz
from common.crf import PRESETS, CrfParams, CrfPool
from common.flops import count_flops
from common.tiling import overlap_tile_predict
from datasets.pipeline import eval_pipeline

SUMMARY_KEYS = metrics.SCORES
# The appearance-kernel ranges the papers used (DeconvNet: sxy 20, srgb 3, weight 5; pydensecrf's
# example: 80, 13, 10), at 5 mean-field iterations.
CRF_GRID = {"bilateral_sxy": (20, 50, 80), "bilateral_srgb": (3, 5, 13), "bilateral_compat": (3, 5, 10),
            "iterations": (5,)}


def load_checkpoint(path):
    """Loads a `.keras` checkpoint in safe mode, with the run config written next to it (or {})."""
    model = keras.models.load_model(path, compile=False, safe_mode=True)
    config_path = Path(path).with_name("config.json")
    return model, results.read_run_config(config_path) if config_path.exists() else {}


def forward_pass(model, xla=True):
    """The network's compiled inference pass: images -> float32 logits (benchmarks.speed times it)."""
    return tf.function(lambda x: tf.cast(model(x, training=False), tf.float32), reduce_retracing=True,
                       jit_compile=xla or None)


def predictor(model, tiles=False, xla=True):
    """A function: original images -> (class ids, softmax probabilities) at their own size.

    A model whose output has its input's size runs on the image resized to its input size (when
    fixed), and its logits are resized bilinearly back to the image (= label) size. A model with
    unpadded convolutions, whose output is its input less a border (U-Net), predicts the image
    by overlap-tiles with mirrored context instead (`common.tiling`), and so does any model with
    `tiles`: one trained on random crops sees test images at their own scale, tile by tile.
    `xla` compiles the network's forward pass whole with XLA, which fuses its element-wise ops: on
    this CPU much faster inference for ENet, SegNet and the FCNs, none for SegNet-Basic, DeconvNet
    and U-Net (BENCHMARKS.md, the "+ XLA" rows); the same predictions up to float rounding
    (tests/test_predict.py); compiled once per input shape.
    """
    input_size, output_size = model.input_shape[1:3], model.output_shape[1:3]
    logits_of = forward_pass(model, xla)

    @tf.function(reduce_retracing=True)
    def resized_logits(images):
        inputs = images if None in input_size else tf.image.resize(images, input_size)
        return tf.image.resize(logits_of(inputs), tf.shape(images)[1:3])

    def tiled_logits(images):
        return np.stack([overlap_tile_predict(lambda batch: logits_of(batch).numpy(), image, input_size, output_size)
                         for image in images.numpy()])

    def predict(images):
        logits = tiled_logits(images) if by_tiles(model, tiles) else resized_logits(images)
        return tf.argmax(logits, axis=-1, output_type=tf.int32), tf.nn.softmax(logits)

    return predict


def check_classes(model, info):
    num_outputs = model.output_shape[-1]
    if num_outputs != info.num_classes:
        raise ValueError(f"the checkpoint predicts {num_outputs} classes but dataset {info.name!r} has "
                         f"{info.num_classes} ({', '.join(info.class_names)})")


def by_tiles(model, tiles):
    """Whether `predictor` tiles: asked to, or the model's output is smaller than its input."""
    return tiles or model.input_shape[1:3] != model.output_shape[1:3]


def trained_on_crops(config):
    """Whether a run config's model learnt from random crops, and so should predict by tiles."""
    return bool(config.get("schedule", {}).get("crop_size"))


def predictions(model, dataset, split, data_dir=None, batch_size=1, limit=None, verbose=True, tiles=False,
                xla=True):
    """Yields (uint8 image, int label, int prediction, float probabilities) per image, with the info."""
    check_classes(model, datasets.get_info(dataset, data_dir))
    source, info = datasets.load(dataset, split, data_dir)
    if limit:
        source = source.take(limit)
    num_images = int(source.cardinality())
    predict = predictor(model, tiles, xla)
    progress = keras.utils.Progbar(num_images, verbose=1 if verbose else 0, unit_name="image")

    def examples():
        for images, labels in eval_pipeline(source, batch_size):
            predicted, probs = (t.numpy() for t in predict(images))
            yield from zip(images.numpy().astype(np.uint8), labels.numpy(), predicted, probs)
            progress.add(len(labels))

    return examples(), info, num_images


def evaluate(model, dataset, split, data_dir=None, batch_size=1, limit=None, overlays_dir=None, num_overlays=0,
             crf_params=None, verbose=True, tiles=False, xla=True):
    """Scores `model` on `dataset`/`split`; returns the results dict (metrics, per-class IoU, timing).

    With `crf_params` every image is also scored after the dense CRF (run in a process pool on all
    cores, overlapping the network), and the results hold both metric sets and their difference.
    """
    examples, info, num_images = predictions(model, dataset, split, data_dir, batch_size, limit, verbose, tiles, xla)
    confusion = np.zeros((info.num_classes, info.num_classes), np.int64)
    crf_confusion = np.zeros_like(confusion)
    crf_seconds = []
    boundary = info.class_names.index(info.boundary_class) if info.boundary_class else None
    rand_errors, crf_rand_errors = [], []
    threshold_wrong, threshold_rand_errors = 0, []  # the challenge's rule, from the boundary probability
    pool = CrfPool(crf_params) if crf_params is not None else None
    pending = collections.deque()

    def collect(count):
        while len(pending) > count:
            future, label = pending.popleft()
            refined, seconds = future.result()
            crf_confusion[...] += metrics.confusion_matrix(label, refined, info.num_classes, info.ignore_label)
            crf_seconds.append(seconds)
            if boundary is not None:
                crf_rand_errors.append(metrics.rand_error(label, refined, boundary, info.ignore_label))

    start = time.perf_counter()
    for index, (image, label, predicted, probs) in enumerate(examples):
        confusion += metrics.confusion_matrix(label, predicted, info.num_classes, info.ignore_label)
        if boundary is not None:
            rand_errors.append(metrics.rand_error(label, predicted, boundary, info.ignore_label))
            wrong, rand = metrics.thresholded_boundary_errors(label, probs[..., boundary], boundary, info.ignore_label)
            threshold_wrong += wrong
            threshold_rand_errors.append(rand)
        if overlays_dir and index < num_overlays:
            panel = viz.comparison_panel(image, label, predicted, info.palette, info.ignore_label)
            viz.save_png(Path(overlays_dir) / f"{split}_{index:04d}.png", panel)
        if pool is not None:
            pending.append((pool.submit(image, probs), label))
            collect(2 * pool.workers)  # bounded: probabilities are large
    collect(0)
    wall_time = time.perf_counter() - start
    result = {
        "model": model.name,
        "dataset": dataset,
        "split": split,
        "num_images": num_images,
        "params": model.count_params(),
        "gflops": round(count_flops(model) / 1e9, 3) if None not in model.input_shape[1:3] else None,
        "input_size": list(model.input_shape[1:3]),
        "inference": "tiles" if by_tiles(model, tiles) else "resize",
        "xla": xla,
        "class_names": list(info.class_names),
        "metrics": metrics.segmentation_scores(confusion),
        "confusion_matrix": confusion.tolist(),
        "wall_time_s": round(wall_time, 3),
        "images_per_s": round(num_images / wall_time, 3) if wall_time else None,
        "code_version": results.code_version(),
        "environment": results.environment(),
    }
    if boundary is not None:
        result["metrics"].update(metrics.boundary_scores(confusion, boundary, rand_errors))
        result["metrics"]["challenge"] = metrics.challenge_scores(threshold_wrong, confusion.sum(),
                                                                  threshold_rand_errors)
    if pool is not None:
        pool.close()
        crf_scores = metrics.segmentation_scores(crf_confusion)
        if boundary is not None:
            crf_scores.update(metrics.boundary_scores(crf_confusion, boundary, crf_rand_errors))
        result["crf"] = {
            "params": pool.params,
            "metrics": crf_scores,
            "delta": {key: value - result["metrics"][key] for key, value in crf_scores.items()
                      if isinstance(value, float)},
            "confusion_matrix": crf_confusion.tolist(),
            "seconds_per_image": round(float(np.mean(crf_seconds)), 4),
            "workers": pool.workers,
        }
    return result


def search_crf_params(model, dataset, split, data_dir=None, limit=None, grid=None, verbose=True, tiles=False,
                      xla=True):
    """DeepLab-style grid search of the CRF's appearance kernel on `split` (use val), by mIoU."""
    grid = grid or CRF_GRID
    examples, info, _ = predictions(model, dataset, split, data_dir, 1, limit, verbose, tiles, xla)
    images, labels, _, probs = zip(*examples)
    trials = []
    with CrfPool() as pool:
        for values in itertools.product(*grid.values()):
            params = CrfParams.from_dict(dict(zip(grid, values)))
            pool.params = params.to_dict()
            refined = [future.result()[0] for future in [pool.submit(i, p) for i, p in zip(images, probs)]]
            confusion = sum(metrics.confusion_matrix(label, refinement, info.num_classes, info.ignore_label)
                            for label, refinement in zip(labels, refined))
            trials.append({"params": params.to_dict(), "miou": metrics.segmentation_scores(confusion)["miou"]})
            if verbose:
                print(f"{trials[-1]['params']}: mIoU {100 * trials[-1]['miou']:.2f}")
    best = max(trials, key=lambda trial: trial["miou"])
    return {"best": best["params"], "best_miou": best["miou"], "dataset": dataset, "split": split,
            "num_images": len(images), "trials": trials}


def format_table(result):
    """The per-class IoU/accuracy table and the summary metrics, in percent."""
    scores, crf = result["metrics"], result.get("crf")
    width = max(len(name) for name in result["class_names"] + ["class"])
    lines = [f"{result['model']} on {result['dataset']}/{result['split']} ({result['num_images']} images)",
             f"{'class':<{width}}  {'IoU':>6}  {'acc':>6}" + ("  CRF IoU" if crf else "")]
    for index, (name, iou, acc) in enumerate(zip(result["class_names"], scores["iou"], scores["per_class_accuracy"])):
        crf_iou = f"  {100 * crf['metrics']['iou'][index]:7.2f}" if crf else ""
        lines.append(f"{name:<{width}}  {100 * iou:6.2f}  {100 * acc:6.2f}{crf_iou}")
    lines.append("  ".join(f"{key} {100 * scores[key]:.2f}" for key in SUMMARY_KEYS))
    if "rand_error" in scores:
        lines.append("  ".join(f"{key} {scores[key]:.4f}" for key in metrics.BOUNDARY_SCORES))
    if "challenge" in scores:
        lines.append(f"challenge rule (best of {len(scores['challenge']['thresholds'])} thresholds): pixel_error "
                     f"{scores['challenge']['best_pixel_error']:.4f}  rand_error {scores['challenge']['best_rand_error']:.4f}")
    if crf:
        lines.append("+CRF: " + "  ".join(f"{key} {100 * crf['metrics'][key]:.2f} ({100 * crf['delta'][key]:+.2f})"
                                         for key in SUMMARY_KEYS))
        lines.append(f"CRF {crf['seconds_per_image']:.3f} s per image per core, {crf['workers']} workers")
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
    parser.add_argument("--xla", action=argparse.BooleanOptionalAction, default=True,
                        help="compile the network's forward pass whole with XLA (default: much faster for ENet, "
                        "SegNet and the FCNs on this CPU, see BENCHMARKS.md); --no-xla: TensorFlow's graph, "
                        "as fast or faster for SegNet-Basic, DeconvNet and U-Net")
    crf = parser.add_argument_group("dense CRF post-processing")
    crf.add_argument("--crf", action="store_true", help="also score every image after the dense CRF")
    crf.add_argument("--crf-preset", choices=sorted(PRESETS),
                     help="CRF parameters from a paper (default: the training schedule's)")
    crf.add_argument("--crf-params", metavar="FILE", help="CRF parameters from a JSON file (e.g. --crf-search's)")
    crf.add_argument("--crf-param", action="append", default=[], metavar="KEY=VALUE",
                     help=f"override one CRF parameter ({', '.join(CrfParams.__dataclass_fields__)})")
    crf.add_argument("--crf-search", metavar="FILE", help="grid-search the CRF on --split (use val) and write the "
                     "best parameters to FILE instead of scoring")
    return parser.parse_args(argv)


def resolve_crf_params(args, config):
    """--crf-params file > --crf-preset > the training schedule's > DeconvNet's; then --crf-param."""
    if args.crf_params:
        loaded = results.read_json(args.crf_params)
        params = CrfParams.from_dict(loaded.get("best", loaded))
    elif args.crf_preset:
        params = PRESETS[args.crf_preset]
    elif "crf" in config.get("schedule", {}):
        params = CrfParams.from_dict(config["schedule"]["crf"])
    else:
        params = PRESETS["deconvnet"]
    overrides = {}
    for item in args.crf_param:
        key, _, value = item.partition("=")
        field = CrfParams.__dataclass_fields__.get(key)
        if field is None or not value:
            raise SystemExit(f"--crf-param {item!r}: expected KEY=VALUE with KEY one of "
                             f"{', '.join(CrfParams.__dataclass_fields__)}")
        overrides[key] = int(value) if key == "iterations" else float(value)
    return CrfParams.from_dict({**params.to_dict(), **overrides})


def main(argv=None):
    args = parse_args(argv)
    model, config = load_checkpoint(args.checkpoint)
    dataset = args.dataset or config.get("dataset")
    if not dataset:
        raise SystemExit("--dataset is required: the checkpoint has no config.json naming its dataset")
    data_dir = args.data_dir or (config.get("data_dir") if dataset == config.get("dataset") else None)
    tiles = trained_on_crops(config)
    if args.crf_search:
        found = search_crf_params(model, dataset, args.split, data_dir, args.limit, tiles=tiles, xla=args.xla)
        results.write_json(args.crf_search, found)
        print(f"best CRF parameters {found['best']} (mIoU {100 * found['best_miou']:.2f}) written to {args.crf_search}")
        return found
    crf_params = resolve_crf_params(args, config) if args.crf else None
    result = evaluate(model, dataset, args.split, data_dir, args.batch_size, args.limit,
                      args.save_overlays, args.num, crf_params, tiles=tiles, xla=args.xla)
    result["checkpoint"] = str(args.checkpoint)
    result["train_config"] = config
    output = Path(args.output or Path(args.checkpoint).with_name(f"results_{dataset}_{args.split}.json"))
    results.write_json(output, result)
    print(format_table(result))
    print(f"results written to {output}")
    return result


if __name__ == "__main__":
    main()
