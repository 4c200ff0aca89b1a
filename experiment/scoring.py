"""Scoring a model on a dataset split at the labels' original resolution, with and without the dense
CRF, and the results record evaluate.py and benchmarks write.

The model runs at its input size; its logits are resized (bilinear) to each label's original size
before the argmax, so every method is scored on the same pixels. Models with unpadded convolutions
(U-Net) or trained on random crops predict by tiles at the data's own scale instead.
"""
import collections
import itertools
import time
from pathlib import Path

import keras
import numpy as np

from segpapers import datasets
from segpapers.common import checkpoints, metrics, results, viz
from segpapers.common.crf import PRESETS, CrfParams, CrfPool
from segpapers.common.errors import UserError
from segpapers.common.flops import count_flops
from segpapers.common.scorers import one_hot, scorers_for
from segpapers.datasets.pipeline import eval_pipeline
from segpapers.experiment.inference import (by_tiles, check_classes, data_of, load_checkpoint, predictor,
                                  run_config, test_time_symmetries, trained_on_crops, uses_xla)

SUMMARY_KEYS = metrics.SCORES
# The appearance-kernel ranges the papers used (DeconvNet: sxy 20, srgb 3, weight 5; pydensecrf's
# example: 80, 13, 10), at 5 mean-field iterations.
CRF_GRID = {"bilateral_sxy": (20, 50, 80), "bilateral_srgb": (3, 5, 13), "bilateral_compat": (3, 5, 10),
            "iterations": (5,)}


def predictions(model, dataset, split, data_dir=None, batch_size=1, limit=None, verbose=True, tiles=False,
                xla=None, symmetries=1, data_source="files"):
    """Yields (uint8 image, int label, int prediction, float probabilities) per image, with the info."""
    check_classes(model, datasets.get_info(dataset, data_dir))
    source, info = datasets.load(dataset, split, data_dir, data_source)
    if limit:
        source = source.take(limit)
    num_images = int(source.cardinality())
    predict = predictor(model, tiles, xla, symmetries)
    progress = keras.utils.Progbar(num_images, verbose=1 if verbose else 0, unit_name="image")

    def examples():
        for images, labels in eval_pipeline(source, batch_size):
            predicted, probs = (t.numpy() for t in predict(images))
            yield from zip(images.numpy().astype(np.uint8), labels.numpy(), predicted, probs)
            progress.add(len(labels))

    return examples(), info, num_images


def score(model, dataset, split, data_dir=None, batch_size=1, limit=None, overlays_dir=None, num_overlays=0,
          crf_params=None, verbose=True, tiles=False, xla=None, symmetries=1, data_source="files"):
    """Scores `model` on `dataset`/`split` with the dataset's scorers (`common.scorers.scorers_for`); returns
    the results dict: each scorer's result under its key ("metrics": the confusion-matrix scores), its
    one-line summary under "summaries", the confusion matrix, timing and provenance.

    With `crf_params` every image is also scored after the dense CRF (run in a process pool on all
    cores, overlapping the network) by a second set of the same scorers, under "crf". `symmetries`:
    test-time averaging over rotated and flipped inputs (`experiment.inference.predictor`).

    The first `num_overlays` images are also drawn into `overlays_dir` (`common.viz.comparison_panel`),
    each named after its image file (`<stem>.png`), or `<split>_<index>.png` for a generated dataset.
    """
    names = datasets.image_names(dataset, split, data_dir) if overlays_dir else None
    examples, info, num_images = predictions(model, dataset, split, data_dir, batch_size, limit, verbose, tiles, xla,
                                             symmetries, data_source)
    scorers = scorers_for(info)
    crf_scorers, crf_seconds = scorers_for(info), []
    pool = CrfPool(crf_params) if crf_params is not None else None
    pending = collections.deque()

    def collect(count):
        while len(pending) > count:
            future, label = pending.popleft()
            refined, seconds = future.result()
            for scorer in crf_scorers:
                scorer.update(label, one_hot(refined, info.num_classes))
            crf_seconds.append(seconds)

    start = time.perf_counter()
    for index, (image, label, predicted, probs) in enumerate(examples):
        for scorer in scorers:
            scorer.update(label, probs)
        if overlays_dir and index < num_overlays:
            panel = viz.comparison_panel(image, label, predicted, info.palette, info.class_names, info.ignore_label)
            name = names[index] if names else f"{split}_{index:04d}"
            viz.save_png(Path(overlays_dir) / f"{name}.png", panel)
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
        "xla": uses_xla(model, xla),
        "compute_dtypes": checkpoints.compute_dtypes(model),
        "test_time_symmetries": symmetries,
        "class_names": list(info.class_names),
        **scored(scorers),
        "confusion_matrix": scorers[0].confusion.tolist(),
        "wall_time_s": round(wall_time, 3),
        "images_per_s": round(num_images / wall_time, 3) if wall_time else None,
        "code_version": results.code_version(),
        "environment": results.environment(),
    }
    if pool is not None:
        pool.close()
        crf = scored(crf_scorers)
        result["crf"] = {
            "params": pool.params,
            **crf,
            "delta": {key: value - result["metrics"][key] for key, value in crf["metrics"].items()
                      if isinstance(value, float)},
            "confusion_matrix": crf_scorers[0].confusion.tolist(),
            "seconds_per_image": round(float(np.mean(crf_seconds)), 4),
            "workers": pool.workers,
        }
    return result


def scored(scorers):
    """Each scorer's result under its key, their one-line summaries, and the headline scores (what papers
    report, the later scorers' names first) with the primary one: the last scorer's, the dataset's own."""
    found = {scorer.key: scorer.result() for scorer in scorers}
    headline = {}
    for scorer in scorers:
        headline.update(scorer.headline(found[scorer.key]))
    return {**found, "summaries": {scorer.key: scorer.summary(found[scorer.key]) for scorer in scorers},
            "headline": headline, "primary": scorers[-1].primary}


def search_crf_params(model, dataset, split, data_dir=None, limit=None, grid=None, verbose=True, tiles=False,
                      xla=None, data_source="files"):
    """DeepLab-style grid search of the CRF's appearance kernel on `split` (use val), by mIoU."""
    grid = grid or CRF_GRID
    examples, info, _ = predictions(model, dataset, split, data_dir, 1, limit, verbose, tiles, xla,
                                    data_source=data_source)
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
    lines += [summary for key, summary in result["summaries"].items() if key != "metrics"]
    if crf:
        lines.append("+CRF: " + "  ".join(f"{key} {100 * crf['metrics'][key]:.2f} ({100 * crf['delta'][key]:+.2f})"
                                         for key in SUMMARY_KEYS))
        lines.append(f"CRF {crf['seconds_per_image']:.3f} s per image per core, {crf['workers']} workers")
    return "\n".join(lines)


def crf_params(config, params_file=None, preset=None, overrides=()):
    """The CRF's parameters: `params_file` (a JSON, e.g. search_crf_params') > `preset` > the training
    schedule's (`config`, a run config) > DeconvNet's; then `overrides`, "KEY=VALUE" strings."""
    if params_file:
        loaded = results.read_json(params_file)
        params = CrfParams.from_dict(loaded.get("best", loaded))
    elif preset:
        params = PRESETS[preset]
    elif "crf" in config.get("schedule", {}):
        params = CrfParams.from_dict(config["schedule"]["crf"])
    else:
        params = PRESETS["deconvnet"]
    changes = {}
    for item in overrides:
        key, _, value = item.partition("=")
        field = CrfParams.__dataclass_fields__.get(key)
        if field is None or not value:
            raise UserError(f"--crf-param {item!r}: expected KEY=VALUE with KEY one of "
                            f"{', '.join(CrfParams.__dataclass_fields__)}")
        changes[key] = int(value) if key == "iterations" else float(value)
    return CrfParams.from_dict({**params.to_dict(), **changes})


def score_checkpoint(checkpoint, split, output=None, dataset=None, data_dir=None, crf=None, batch_size=1,
                     limit=None, overlays_dir=None, num_overlays=0, xla=None, verbose=True, overwrite=False,
                     symmetries=None, data_source="files"):
    """Scores the `.keras` checkpoint on `split` of its training dataset (or `dataset`), with the dense
    CRF when `crf` (CrfParams) is given, writes the results JSON to `output` (default:
    results_<dataset>_<split>.json beside the checkpoint) with the run's config, and returns it. An
    existing results file is replaced only with `overwrite`, and the check comes before the scoring.
    `symmetries` (test-time averaging) defaults to the run's schedule's; `data_source`: one of
    `datasets.SOURCES`."""
    dataset, data_dir = data_of(run_config(checkpoint), dataset, data_dir)
    output = Path(output or Path(checkpoint).with_name(f"results_{dataset}_{split}.json"))
    if output.exists() and not overwrite:
        raise UserError(f"{output} exists: pass --overwrite to replace it, or --output another file")
    model, config = load_checkpoint(checkpoint)
    result = score(model, dataset, split, data_dir, batch_size, limit, overlays_dir, num_overlays, crf,
                   verbose=verbose, tiles=trained_on_crops(config), xla=xla,
                   symmetries=test_time_symmetries(config) if symmetries is None else symmetries,
                   data_source=data_source)
    result["checkpoint"] = str(checkpoint)
    result["train_config"] = config
    results.write_json(output, result)
    if verbose:
        print(format_table(result))
        print(f"results written to {output}")
    return result
