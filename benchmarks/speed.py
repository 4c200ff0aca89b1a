"""Speed and memory of every registered model on this machine, against its measured peak and PyTorch.

    python -m benchmarks.speed [--models enet segnet_basic] [--precisions float32 mixed_bfloat16]
                               [--repeats 3] [--no-torch] [--output results/benchmarks/speed.json]

One command measures, and writes to one JSON (rendered by `python -m benchmarks.table`):
- this machine's peak through TensorFlow: a 2048x2048 matmul (`--peak-size`) and a 3x3 convolution, float32 and
  bfloat16, in GFLOP/s;
- per model, at its paper's input size and class count: the training step exactly as train.py runs
  it (`compile_for_training`, `model.fit`, the paper schedule's optimizer; median step time after a
  warm-up step), inference as evaluate.py runs the model (a compiled batch-1 forward), achieved GFLOP/s
  (training counted as 3x the forward FLOPs of common.flops) and their fraction of the conv peak,
  and the peak RSS of the process. The training batch is the schedule's, capped so that one step
  costs at most STEP_BUDGET_GFLOP (FCN's 20 x 500x500 or DeconvNet's 64 images would take minutes
  per step here); the batch used is recorded. For `--xla-models` (default: all) also the same step
  and inference compiled whole by XLA (`jit_compile=True`): for training, Keras' choice on
  accelerators only, so on this CPU a measured alternative to train.py's path; for inference,
  evaluate.py's default;
- the PyTorch twins (benchmarks/torch_models.py) of SegNet-Basic, ENet and U-Net with the same
  thread count, input, batch and optimizer, eager and `torch.compile`d, and the ratio
  Keras time / PyTorch time, both in float32;
- ENet's and SegNet-Basic's float32 training step and batch-1 inference under Keras' other backends
  (`--backends`, default JAX and PyTorch where installed), each in its own process, beside the
  TensorFlow rows of the same run;
- for `--export-models` (default: ENet), batch-1 inference of the model's exports (`predict.py --export`)
  in their own runtimes, beside Keras': onnxruntime, the LiteRT interpreter in float32, int8 and
  dynamic-range int8 weights, all threads, at the paper's input size, random weights (latency does not depend on their values; the int8
  export calibrated on synthetic images);
- the input pipeline alone (decode + augment + batch of the real CamVid files, no cache);
- the dense CRF's seconds per 360x480 image on one core (benchmarks.crf_speed).

Each model runs in its own child process (`--child`) so that its peak RSS is its own and no
model's memory or threads linger into the next one's timing. Nothing else should run meanwhile, and
each figure says whether anything did: the share of the CPUs' time the rest of the machine took while
it was measured (`other_cpu_share`, a row's busiest round's; `quiet` below 5 %, common.machine_load).
A model's children (its Keras variants, its PyTorch twins, its other backends) are measured in
`--rounds` interleaved rounds (A, B, A, B ...: a drift of the machine falls on all of them alike);
each row holds the median of its rounds and every round's figure (`<figure>_rounds`), and a
Keras/PyTorch ratio the range of the rounds' paired ratios.
"""
import argparse
import importlib.util
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

import segpapers.common.console  # noqa: F401 -- first, as in every entry point (quiet start; JAX's int64 counts)
from segpapers.common.machine_load import QUIET_SHARE, OtherLoad

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CAMVID = REPO.parent / "shared" / "data" / "camvid"
STEP_BUDGET_GFLOP = 2500.0
CHILD_TIMEOUT_S = 1200
RESULT_PREFIX = "SPEED_RESULT "

# The targets, checked against the measurements (benchmarks.table renders them).
TARGETS = {
    "enet_train_ms_per_image": 150.0,
    "segnet_basic_train_ms_per_image": 1500.0,
    "keras_over_torch_ratio": 1.0,
    "vgg_train_fraction_of_fp32_conv_peak": 0.5,
    "pipeline_over_training_images_per_s": 5.0,
    "crf_seconds_per_image": 0.5,
}
VGG_MODELS = ("segnet", "deconvnet", "fcn32s", "fcn16s", "fcn8s")


# The figures of a row that vary from round to round: a row reports their median over the rounds.
TIMED = ("train_ms_per_image", "infer_ms_per_image", "train_gflops_per_s", "infer_gflops_per_s")


def median_seconds(function, repeats, warmup=1):
    for _ in range(warmup):
        function()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def peak_rss_gib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20  # Linux reports KiB


def measure_peak(repeats, size=2048):
    """GFLOP/s of a `size`² matmul and a 3x3 convolution (size/8 channels, 64x64) through TensorFlow,
    float32 and bfloat16."""
    import tensorflow as tf

    rows = {}
    channels = size // 8
    for dtype in ("float32", "bfloat16"):
        a = tf.random.normal((size, size), dtype="float32")
        a = tf.cast(a, dtype)
        matmul = tf.function(lambda: tf.matmul(a, a))
        rows[f"matmul_{dtype}"] = 2 * size ** 3 / median_seconds(lambda: matmul().numpy(), repeats) / 1e9
        x = tf.cast(tf.random.normal((8, 64, 64, channels)), dtype)
        kernel = tf.cast(tf.random.normal((3, 3, channels, channels)), dtype)
        conv = tf.function(lambda: tf.nn.conv2d(x, kernel, 1, "SAME"))
        flops = 2 * 8 * 64 * 64 * channels * channels * 9
        rows[f"conv3x3_{dtype}"] = flops / median_seconds(lambda: conv().numpy(), repeats) / 1e9
    return {f"{key}_gflops_per_s": round(value, 1) for key, value in rows.items()}


def model_setup(name, input_size=None, protocol="paper"):
    """(schedule, dataset info, output size, forward GFLOPs per image, training batch) of a model at
    its `protocol`'s input size and builder options, or at `input_size` (quick checks)."""
    from segpapers import datasets
    from segpapers import papers
    from segpapers.common.flops import count_flops

    schedule = papers.get_schedule(name, protocol)
    if input_size:
        schedule = schedule.replace(input_size=tuple(input_size))
    info = datasets.get_info(schedule.dataset)
    model = papers.build_model(name, info.num_classes, (*schedule.input_size, 3), **schedule.model_options)
    gflops = count_flops(model) / 1e9
    batch = min(schedule.batch_size, max(1, int(STEP_BUDGET_GFLOP // (3 * gflops))))
    return schedule, info, model.output_shape[1:3], gflops, batch


def keras_training_setup(name, precision="float32", input_size=None, jit_compile="auto", protocol="paper"):
    """(compiled model, endless stream of one random batch, description) for timing train.py's step."""
    import tensorflow as tf

    from segpapers import papers
    from segpapers.common.losses import SegmentationCrossEntropy
    from segpapers.common.training import compile_for_training, global_dtype_policy

    schedule, info, output_size, gflops, batch = model_setup(name, input_size, protocol)
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 255, (batch, *schedule.input_size, 3)).astype("float32")
    labels = rng.integers(0, info.num_classes, (batch, *output_size, 1)).astype("int32")
    with global_dtype_policy(precision):
        model = papers.build_model(name, info.num_classes, (*schedule.input_size, 3), **schedule.model_options)
    loss = SegmentationCrossEntropy(info.num_classes, None, info.ignore_label, schedule.loss_normalization)
    compile_for_training(model, schedule, loss, steps_per_epoch=1000, jit_compile=jit_compile)
    stream = tf.data.Dataset.from_tensors((images, labels)).repeat()
    return model, stream, {"input_size": list(schedule.input_size), "num_classes": info.num_classes,
                           "forward_gflops_per_image": round(gflops, 3), "train_batch": batch,
                           "schedule_batch": schedule.batch_size, "optimizer": schedule.optimizer}


def measure_keras(name, precision, repeats, input_size=None, xla=False, protocol="paper"):
    """Training step (train.py's) and a batch-1 forward pass (as evaluate.py's predictor runs it);
    `xla`: both compiled whole by XLA instead."""
    import keras

    from segpapers.common import results
    from segpapers.common.backends import on_tensorflow
    from segpapers.experiment.inference import forward_pass

    model, stream, setup = keras_training_setup(name, precision, input_size, jit_compile=xla or "auto",
                                                protocol=protocol)
    step_times = []

    class StepTimer(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            self.start = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            step_times.append(time.perf_counter() - self.start)

    warmup = 2  # the first step traces and compiles
    model.fit(stream, steps_per_epoch=warmup + repeats, epochs=1, verbose=0, callbacks=[StepTimer()])
    train_s = statistics.median(step_times[warmup:])
    image = next(iter(stream))[0][:1]
    forward = forward_pass(model, xla)  # as evaluate.py runs the model
    infer_s = median_seconds(lambda: forward(image).numpy(), repeats, warmup=2)
    batch, gflops = setup["train_batch"], setup["forward_gflops_per_image"]
    return {
        "model": name, "framework": "keras", "precision": precision, "xla": xla, **setup,
        "train_ms_per_image": 1000 * train_s / batch, "train_gflops_per_s": 3 * gflops * batch / train_s,
        "infer_ms_per_image": 1000 * infer_s, "infer_gflops_per_s": gflops / infer_s,
        "step_seconds": step_times, "peak_rss_gib": round(peak_rss_gib(), 2),
        "code_version": results.code_version(),  # the child's own: benchmarks.code_ab runs two versions
        **({} if on_tensorflow() else {"environment": results.environment()}),
    }


def measure_torch(name, mode, repeats, input_size=None):
    """The PyTorch twin of a model, timed like measure_keras, eager or torch.compile'd."""
    import torch
    from torch.nn import functional

    from segpapers.benchmarks.torch_models import build_torch_model

    torch.set_num_threads(os.cpu_count())
    schedule, info, output_size, gflops, batch = model_setup(name, input_size)
    torch.manual_seed(0)
    model = build_torch_model(name, info.num_classes, (*schedule.input_size, 3)).to(memory_format=torch.channels_last)
    images = torch.rand(batch, 3, *schedule.input_size).mul(255).contiguous(memory_format=torch.channels_last)
    labels = torch.randint(0, info.num_classes, (batch, *output_size))
    if schedule.optimizer == "sgd":
        optimizer = torch.optim.SGD(model.parameters(), lr=schedule.learning_rate, momentum=schedule.momentum)
    else:
        optimizer = torch.optim.Adam(model.parameters(), lr=schedule.learning_rate)
    # Static shapes: the batch-1 inference graph is compiled once of its own, not made dynamic.
    network = torch.compile(model, dynamic=False) if mode == "compile" else model

    def train_step():
        optimizer.zero_grad(set_to_none=True)
        functional.cross_entropy(network(images), labels).backward()
        optimizer.step()

    model.train()
    train_s = median_seconds(train_step, repeats, warmup=2)
    model.eval()
    with torch.inference_mode():
        single = images[:1].clone()
        infer_s = median_seconds(lambda: network(single), repeats, warmup=2)
    return {
        "model": name, "framework": f"torch_{mode}", "precision": "float32", "torch": torch.__version__,
        "threads": torch.get_num_threads(), "train_batch": batch, "train_ms_per_image": 1000 * train_s / batch,
        "infer_ms_per_image": 1000 * infer_s, "peak_rss_gib": round(peak_rss_gib(), 2),
    }


# The Keras backends besides TensorFlow that the backend rows time, on the models the project's long runs use.
OTHER_BACKENDS = ("jax", "torch")
BACKEND_MODELS = ("enet", "segnet_basic")

# The runtimes the export rows time, each with the export it runs (predict.py --format, --quantize).
EXPORT_RUNTIMES = {"onnxruntime": ("onnx", None), "litert": ("litert", None), "litert_int8": ("litert", "int8"),
                   "litert_dynamic": ("litert", "dynamic")}


def measure_exports(name, repeats, input_size=None, calibration_images=8):
    """Batch-1 inference of `name` (random weights) in Keras, compiled by XLA or not, and in each
    runtime of `EXPORT_RUNTIMES` on its export, timed like measure_keras' inference; uint8 image in,
    labels out for the exports, logits for Keras (evaluate.py's forward pass)."""
    import tempfile

    import keras

    from segpapers import papers
    from segpapers.experiment.inference import forward_pass
    from segpapers.experiment.prediction import export, exported_labels

    schedule, info, _, gflops, _ = model_setup(name, input_size)
    keras.utils.set_random_seed(0)
    model = papers.build_model(name, info.num_classes, (*schedule.input_size, 3), **schedule.model_options)
    image = np.random.default_rng(0).integers(0, 256, (1, *schedule.input_size, 3), dtype=np.uint8)
    pixels = image.astype("float32")
    setup = {"model": name, "input_size": list(schedule.input_size), "batch": 1, "threads": os.cpu_count(),
             "forward_gflops_per_image": round(gflops, 3)}
    rows = []
    for xla in (False, True):
        forward = forward_pass(model, xla)
        seconds = median_seconds(lambda: forward(pixels).numpy(), repeats, warmup=2)
        rows.append({**setup, "runtime": "keras_xla" if xla else "keras", "precision": "float32",
                     "infer_ms_per_image": 1000 * seconds})
    with tempfile.TemporaryDirectory() as folder:
        checkpoint = Path(folder) / "model.keras"
        model.save(checkpoint)
        for runtime, (format, quantize) in EXPORT_RUNTIMES.items():
            start = time.perf_counter()
            exported = export(checkpoint, Path(folder) / runtime, format, quantize, calibration_images, "synthetic")
            export_s = time.perf_counter() - start
            run = exported_labels(exported)
            seconds = median_seconds(lambda: run(image), repeats, warmup=2)
            rows.append({**setup, "runtime": runtime, "precision": quantize or "float32",
                         "infer_ms_per_image": 1000 * seconds, "export_seconds": round(export_s, 1)})
    return {"rows": rows, "peak_rss_gib": round(peak_rss_gib(), 2)}


def measure_pipeline(camvid_dir, batch_size, batches):
    """Images/s of decode + augment + batch from the CamVid files, as train.py streams them (no cache)."""
    from segpapers import datasets
    from segpapers import papers
    from segpapers.datasets.pipeline import Augmentation, train_pipeline

    schedule = papers.get_schedule("enet")
    source, _ = datasets.load("camvid", "train", camvid_dir)
    augment = Augmentation.of(schedule)
    stream = train_pipeline(source, batch_size, schedule.input_size, augment, seed=0, cache=False)
    iterator = iter(stream)
    next(iterator)  # warm-up: thread pools and the first files
    start = time.perf_counter()
    count = sum(int(next(iterator)[0].shape[0]) for _ in range(batches))
    return {"images_per_s": count / (time.perf_counter() - start), "batch_size": batch_size,
            "input_size": list(schedule.input_size), "augmentation": repr(augment),
            "source": str(camvid_dir)}


def run_child(*arguments, backend=None, code=None):
    """Runs `--child ...` in a fresh process (under Keras backend `backend`, default the environment's;
    with `code`, {"cwd", "pythonpath"} of another version of the project: benchmarks.code_ab's);
    returns its result dict or {"error": ...}."""
    command = [sys.executable, "-m", "benchmarks.speed", "--child", *arguments]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", **({"KERAS_BACKEND": backend} if backend else {})}
    if code:  # its folder first on the import path, as `segpapers` and as the `benchmarks` of `-m`
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(code["pythonpath"]), env.get("PYTHONPATH")]))
    load = OtherLoad()
    try:
        done = subprocess.run(command, cwd=code["cwd"] if code else REPO, env=env, capture_output=True, text=True,
                              timeout=CHILD_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {CHILD_TIMEOUT_S} s"}
    lines = [line for line in done.stdout.splitlines() if line.startswith(RESULT_PREFIX)]
    if done.returncode or not lines:
        return {"error": done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"exit {done.returncode}"}
    other = load.result()
    return {**json.loads(lines[-1][len(RESULT_PREFIX):]), **({"other_cpu_share": other["other_cpu_share"]} if other else {})}


def measured_in_rounds(children, rounds):
    """Runs every child of `children` ({key: (row fields, run_child arguments, run_child options)}) once per
    round, in the same order each round; returns {key: its row}: the fields, then each `TIMED` figure's
    median over the rounds with the rounds' values under `<figure>_rounds`. A child that failed in any
    round is that round's error."""
    measured = {key: [] for key in children}
    for _ in range(rounds):
        for key, (fields, arguments, options) in children.items():
            measured[key].append(run_child(*arguments, **options))
    rows = {}
    for key, (fields, _, _) in children.items():
        failed = [row for row in measured[key] if "error" in row]
        if failed:
            rows[key] = {**fields, **failed[0]}
            continue
        row = {**fields, **measured[key][0], "rounds": rounds,
               "peak_rss_gib": max(row["peak_rss_gib"] for row in measured[key])}
        shares = [row["other_cpu_share"] for row in measured[key] if "other_cpu_share" in row]
        if len(shares) == rounds:  # the busiest round's: a row is quiet when every round of it was
            row["other_cpu_share"], row["quiet"] = max(shares), max(shares) < QUIET_SHARE
        for figure in TIMED:
            if figure in row:
                values = [row[figure] for row in measured[key]]
                row[figure], row[f"{figure}_rounds"] = statistics.median(values), values
        rows[key] = row
    return rows


def paired_ratios(row, other, figure):
    """`row`'s `figure` over `other`'s, round by round (both measured in the same rounds), or None."""
    ours, theirs = row.get(f"{figure}_rounds"), other.get(f"{figure}_rounds")
    if not ours or not theirs or len(ours) != len(theirs):
        return None
    return [a / b for a, b in zip(ours, theirs)]


def variant(row):
    """What a Keras row measured: model, precision, whole-step XLA or not, under which protocol's setup."""
    return row["model"], row["precision"], row.get("xla", False), row.get("protocol", "paper")


def conv_peaks(peak):
    """The 3x3-convolution peaks of a `measure_peak` result, by precision."""
    return {"float32": peak["conv3x3_float32_gflops_per_s"], "bfloat16": peak["conv3x3_bfloat16_gflops_per_s"]}


def check_targets(keras_rows, torch_rows, pipeline, crf):
    """Each target of the speed issue with the measured value and whether it is met."""
    from segpapers.experiment.inference import default_xla

    fastest = {}
    for row in keras_rows:  # the variants train.py can run: XLA is Keras' choice on accelerators only
        if "error" in row or row.get("xla"):
            continue
        if row["train_ms_per_image"] < fastest.get(row["model"], {}).get("train_ms_per_image", math.inf):
            fastest[row["model"]] = row
    # Against the float32 PyTorch twins, Keras in float32: training as train.py runs it, inference on
    # the path evaluate.py takes by default for the model (`default_xla`).
    float32 = {(row["model"], row.get("xla", False)): row for row in keras_rows
               if "error" not in row and row["precision"] == "float32"}
    checks = []

    def check(name, value, target, met, detail, spread=None):
        checks.append({"target": name, "value": value, "threshold": target, "met": bool(met), "detail": detail,
                       **({"range": [min(spread), max(spread)]} if spread else {})})

    for model in ("enet", "segnet_basic"):
        if model in fastest:
            key = f"{model}_train_ms_per_image"
            row = fastest[model]
            check(key, row["train_ms_per_image"], TARGETS[key], row["train_ms_per_image"] <= TARGETS[key],
                  f"{row['precision']}, batch {row['train_batch']}, {'x'.join(map(str, row['input_size']))}")
    for row in torch_rows:
        if "error" in row:
            continue
        for phase, xla in (("train", False), ("infer", default_xla(row["model"]))):
            keras_row = float32.get((row["model"], xla))
            if keras_row is None or keras_row.get("command") != row.get("command"):
                continue  # measured by different runs (--update): the machine's speed drifts between them
            figure = f"{phase}_ms_per_image"
            ratio = keras_row[figure] / row[figure]
            check("keras_over_torch_ratio", ratio, TARGETS["keras_over_torch_ratio"], ratio <= 1.0,
                  f"{row['model']} {phase}, Keras float32{' + XLA' if xla else ''} vs {row['framework']}",
                  paired_ratios(keras_row, row, figure))
    for model in VGG_MODELS:
        if model in fastest:  # against the float32 peak of the run that measured the row
            row = fastest[model]
            fraction = row["train_gflops_per_s"] / row["conv_peak_gflops_per_s"]["float32"]
            check("vgg_train_fraction_of_fp32_conv_peak", fraction, TARGETS["vgg_train_fraction_of_fp32_conv_peak"],
                  fraction >= TARGETS["vgg_train_fraction_of_fp32_conv_peak"],
                  f"{model}, {row['precision']}")
    if pipeline and "enet" in fastest:
        ratio = pipeline["images_per_s"] / (1000 / fastest["enet"]["train_ms_per_image"])
        check("pipeline_over_training_images_per_s", ratio, TARGETS["pipeline_over_training_images_per_s"],
              ratio >= TARGETS["pipeline_over_training_images_per_s"], "against ENet, the fastest-training model")
    for preset, row in crf["presets"].items():
        check("crf_seconds_per_image", row["seconds_median"], TARGETS["crf_seconds_per_image"],
              row["seconds_median"] <= TARGETS["crf_seconds_per_image"], f"preset {preset}, {row['params']['iterations']} iterations")
    return checks


def child_main(argv):
    parser = argparse.ArgumentParser()
    parser.add_argument("kind", choices=("keras", "torch_eager", "torch_compile", "pipeline", "exports"))
    parser.add_argument("--model")
    parser.add_argument("--precision", default="float32")
    parser.add_argument("--xla", action="store_true")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--input-size", type=int, nargs=2)
    parser.add_argument("--camvid-dir")
    parser.add_argument("--protocol", default="paper")
    args = parser.parse_args(argv)
    if args.kind == "keras":
        result = measure_keras(args.model, args.precision, args.repeats, args.input_size, args.xla, args.protocol)
    elif args.kind == "pipeline":
        result = measure_pipeline(args.camvid_dir, batch_size=10, batches=10)
    elif args.kind == "exports":
        result = measure_exports(args.model, args.repeats, args.input_size)
    else:
        result = measure_torch(args.model, args.kind.split("_")[1], args.repeats, args.input_size)
    print(RESULT_PREFIX + json.dumps(result), flush=True)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        return child_main(argv[1:])
    from segpapers import papers
    from segpapers.benchmarks import crf_speed
    from segpapers.papers import comparison
    from segpapers.common import results

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", help="default: every model (with --protocol compare: the compared ones)")
    parser.add_argument("--precisions", nargs="+", default=["float32", "mixed_bfloat16"])
    parser.add_argument("--repeats", type=int, default=3, help="timed steps per measurement (default 3)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds of each model's children: its "
                        "Keras variants, PyTorch twins and other backends (default 3)")
    parser.add_argument("--xla-models", nargs="*", help="also time these models' float32 step and inference "
                        "compiled whole by XLA (default: every model in --models)")
    parser.add_argument("--no-torch", action="store_true", help="skip the PyTorch comparison")
    parser.add_argument("--export-models", nargs="*", help="also time these models' exports in onnxruntime and "
                        "LiteRT (float32, int8, dynamic) beside Keras, batch 1 (default: enet where in --models; needs the "
                        "`export` extra)")
    parser.add_argument("--backends", nargs="*", help="also time ENet's and SegNet-Basic's float32 step and "
                        "inference (where in --models) under these other Keras backends (default: jax and torch, "
                        "where installed)")
    parser.add_argument("--update", action="store_true", help="replace only the re-measured rows of --output "
                        "(each row records the code version and command that measured it)")
    parser.add_argument("--input-size", type=int, nargs=2, metavar=("HEIGHT", "WIDTH"),
                        help="one size for every model instead of the papers' (quick checks)")
    parser.add_argument("--protocol", default="paper", help="each model at this protocol's input size and "
                        "builder options (compare: the comparison's models at its precision, no XLA, PyTorch, backend or export rows, "
                        "into results/benchmarks/speed_compare.json)")
    parser.add_argument("--camvid-dir", default=str(DEFAULT_CAMVID))
    parser.add_argument("--peak-size", type=int, default=2048, help="side of the peak's matmul (its convolution: "
                        "size/8 channels); smaller for quick checks, where bfloat16 without hardware support is slow")
    parser.add_argument("--output", help="default: results/benchmarks/speed.json (speed_compare.json with "
                        "--protocol compare)")
    parser.add_argument("--retarget", action="store_true", help="measure nothing: re-check --output's targets "
                        "against its rows (after a model's default inference path changed)")
    args = parser.parse_args(argv)
    for flag in ("repeats", "rounds"):
        if getattr(args, flag) < 1:
            parser.error(f"--{flag} must be at least 1 (a row is the median of what was timed)")
    if args.protocol == comparison.PROTOCOL:  # the comparison's own file, its models, float32 as its recipe
        args.models = args.models or list(comparison.MODELS)
        args.output = args.output or str(REPO / "results" / "benchmarks" / f"speed_{comparison.PROTOCOL}.json")
        args.precisions, args.xla_models, args.no_torch = [comparison.RECIPE.precision], [], True
        args.backends, args.export_models = args.backends or [], args.export_models or []
    args.models = args.models or papers.list_models()
    args.output = args.output or str(REPO / "results" / "benchmarks" / "speed.json")
    if args.retarget:
        record = results.read_json(args.output)
        record["targets"] = check_targets(record["keras"], record["torch"], record["pipeline"], record["crf"])
        record["command"] += f"; then {' '.join(['python -m benchmarks.speed', *argv])}"
        results.write_json(args.output, record)
        print(f"re-checked the targets of {args.output}")
        return record
    size = ["--input-size", *map(str, args.input_size)] if args.input_size else []
    xla_models = args.models if args.xla_models is None else args.xla_models
    export_models = [m for m in ("enet",) if m in args.models] if args.export_models is None else args.export_models
    backends = ([name for name in OTHER_BACKENDS if importlib.util.find_spec(name)] if args.backends is None
                else args.backends)

    peak = measure_peak(repeats=args.repeats + 2, size=args.peak_size)
    print("peak", peak, flush=True)
    twins = ()
    if not args.no_torch:
        from segpapers.benchmarks.torch_models import TORCH_MODELS as twins
    repeats = ["--repeats", str(args.repeats), *size]
    keras_rows, torch_rows, backend_rows, export_rows = [], [], [], []
    for name in args.models:
        children = {}
        variants = [(precision, False) for precision in args.precisions]
        variants += [("float32", True)] if name in xla_models else []
        for precision, xla in variants:
            children["keras", precision, xla] = (
                {"model": name, "precision": precision, "protocol": args.protocol},
                ("keras", "--model", name, "--precision", precision, *repeats, "--protocol", args.protocol,
                 *(["--xla"] if xla else [])), {})
        if name in twins:
            for mode in ("eager", "compile"):
                children["torch", mode] = ({"model": name, "framework": f"torch_{mode}"},
                                           (f"torch_{mode}", "--model", name, *repeats), {})
        for backend in backends if name in BACKEND_MODELS else ():
            children["backend", backend] = ({"model": name, "backend": backend}, ("keras", "--model", name, *repeats),
                                            {"backend": backend})
        for key, row in measured_in_rounds(children, args.rounds).items():
            if key[0] == "keras":
                if "error" not in row:
                    row["conv_peak_gflops_per_s"] = conv_peaks(peak)  # this run's: the machine's speed drifts
                    dtype = "bfloat16" if row["precision"] == "mixed_bfloat16" else "float32"
                    row["train_fraction_of_conv_peak"] = row["train_gflops_per_s"] / row["conv_peak_gflops_per_s"][dtype]
                keras_rows.append(row)
            else:
                (torch_rows if key[0] == "torch" else backend_rows).append(row)
            print(json.dumps({k: v for k, v in row.items() if k != "step_seconds"}), flush=True)
    for name in export_models:
        measured = run_child("exports", "--model", name, *repeats)
        export_rows += measured.get("rows", [{"model": name, **measured}])
        print(json.dumps(export_rows[-1]), flush=True)
    pipeline = None
    if Path(args.camvid_dir, "train").is_dir():
        pipeline = run_child("pipeline", "--camvid-dir", args.camvid_dir)
        print("pipeline", pipeline, flush=True)
    crf = crf_speed.measure(args.camvid_dir, iterations=5, repeats=args.repeats)
    command = " ".join(["python -m benchmarks.speed", *argv])
    environment, version = results.environment(), results.code_version()
    for row in keras_rows + torch_rows + export_rows + backend_rows:
        # --update keeps rows of earlier runs, which may have run on another machine kind
        row["code_version"], row["command"], row["cpu"] = version, command, environment["cpu"]
    if args.update and Path(args.output).exists():
        # Re-measured rows replace their namesakes; the rest of the file's rows stay.
        previous = results.read_json(args.output)
        new_keras = {variant(row) for row in keras_rows}
        new_torch = {(row["model"], row["framework"]) for row in torch_rows}
        keras_rows = [row for row in previous["keras"] if variant(row) not in new_keras] + keras_rows
        torch_rows = [row for row in previous["torch"] if (row["model"], row["framework"]) not in new_torch] + torch_rows
        new_exports = {row["model"] for row in export_rows}
        export_rows = [row for row in previous.get("exports", []) if row["model"] not in new_exports] + export_rows
        new_backends = {(row["model"], row["backend"]) for row in backend_rows}
        backend_rows = [row for row in previous.get("backends", [])
                        if (row["model"], row["backend"]) not in new_backends] + backend_rows
        pipeline = pipeline or previous["pipeline"]
        command = f"{previous['command']}; then {command}"
    record = {
        "peak": peak, "peak_size": args.peak_size, "keras": keras_rows, "torch": torch_rows, "exports": export_rows,
        "backends": backend_rows,
        "pipeline": pipeline, "crf": crf,
        "targets": check_targets(keras_rows, torch_rows, pipeline, crf),
        "step_budget_gflop": STEP_BUDGET_GFLOP, "command": command,
        "code_version": version, "environment": environment,
    }
    results.write_json(args.output, record)
    print(f"wrote {args.output}")
    return record


if __name__ == "__main__":
    main()
