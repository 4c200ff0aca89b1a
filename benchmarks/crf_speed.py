"""Seconds per image of the dense CRF on one core, at CamVid's 360x480 and 11 classes.

    python -m benchmarks.crf_speed [--iterations 5] [--repeats 5]
                                   [--output results/benchmarks/crf_speed.json]

The quick check on its own; `python -m benchmarks.speed` runs the same measurement into speed.json,
which BENCHMARKS.md renders. Uses a real CamVid test image when `--camvid-dir` exists (the appearance kernel's cost depends on
the image), otherwise a synthetic one; probabilities are a smoothed random field. Reports the
median over repeats for each parameter preset, with the iteration count overridden.
"""
import argparse
import statistics
import time
from pathlib import Path

import numpy as np
from PIL import Image

from segpapers.common import results
from segpapers.common.crf import PRESETS, dense_crf
from segpapers.common.machine_load import OtherLoad

DEFAULT_CAMVID = Path(__file__).resolve().parents[2] / "shared" / "data" / "camvid"


def test_image(camvid_dir):
    images = sorted((Path(camvid_dir) / "test").glob("*.png")) if camvid_dir else []
    if images:
        return np.asarray(Image.open(images[0]).convert("RGB")), str(images[0])
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (360, 480, 3), dtype=np.uint8), "synthetic noise"


def smooth_probabilities(height, width, num_classes, seed=0):
    rng = np.random.default_rng(seed)
    coarse = rng.normal(size=(height // 20 + 1, width // 20 + 1, num_classes))
    logits = np.repeat(np.repeat(coarse, 20, axis=0), 20, axis=1)[:height, :width] * 3
    probs = np.exp(logits - logits.max(-1, keepdims=True))
    return (probs / probs.sum(-1, keepdims=True)).astype(np.float32)


def measure(camvid_dir, iterations=5, repeats=5, num_classes=11):
    """Median seconds of `dense_crf` on one image, per preset, with `iterations` mean-field steps, and the
    share of the CPUs the rest of the machine took meanwhile (common.machine_load)."""
    load = OtherLoad()
    image, source = test_image(camvid_dir)
    probs = smooth_probabilities(*image.shape[:2], num_classes)
    rows = {}
    for name, preset in PRESETS.items():
        params = {**preset.to_dict(), "iterations": iterations}
        dense_crf(image, probs, **params)  # warm-up
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            dense_crf(image, probs, **params)
            times.append(time.perf_counter() - start)
        rows[name] = {"params": params, "seconds_median": statistics.median(times), "seconds_all": times}
    return {"image": source, "size": list(image.shape[:2]), "num_classes": num_classes, "presets": rows,
            "other_cpu_share": (load.result() or {}).get("other_cpu_share")}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--iterations", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--num-classes", type=int, default=11)
    parser.add_argument("--camvid-dir", default=str(DEFAULT_CAMVID))
    parser.add_argument("--output", default="results/benchmarks/crf_speed.json")
    args = parser.parse_args(argv)
    measured = measure(args.camvid_dir, args.iterations, args.repeats, args.num_classes)
    for name, row in measured["presets"].items():
        print(f"{name:<10} {row['seconds_median']:.3f} s per {measured['size'][0]}x{measured['size'][1]} image, "
              f"{args.iterations} iterations, one core")
    results.write_json(args.output, {**measured, "code_version": results.code_version(),
                                     "environment": results.environment()})


if __name__ == "__main__":
    main()
