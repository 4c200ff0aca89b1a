"""Where a training step's or an inference's time goes: TensorFlow's profiler, summed by op type.

    python -m benchmarks.profile --model enet [--inference] [--precision float32] [--steps 3]
                                 [--output results/benchmarks/profile_enet[_inference].json]

Builds the model, optimizer and loss as benchmarks.speed does (train.py's `compile_for_training`,
the paper's input size and batch), warms the step up, records `--steps` steps with
`tf.profiler.experimental`, and sums the TensorFlow op events by op type (Conv2D,
Conv2DBackpropFilter, FusedBatchNormV3, ...) from the trace's XSpace. `--inference` records
`--steps` batch-1 forward passes instead, compiled as evaluate.py's predictor and benchmarks.speed
run them (without XLA, whose fused kernels the profile cannot split by op type). Op times of
concurrent ops add up, so shares are of op time, not of the step's wall time. The JSON lists each op type's
milliseconds per step and share of the op time; the TensorBoard-readable trace stays in `--logdir`.
"""
import argparse
import collections
import sys
import tempfile
from pathlib import Path

import segpapers.common.console  # noqa: F401 -- before any import of TensorFlow: its start is quiet on a CPU machine
from segpapers.benchmarks.speed import REPO, keras_training_setup
from segpapers.common.machine_load import OtherLoad


def op_time_by_type(logdir):
    """{op type: total picoseconds} of the TensorFlow op events in the trace's XSpace files.

    Op events sit on the host plane's executor threads ("tf_Compute/..."), named "name:type";
    other events there (executor bookkeeping such as "ExecutorState::Process") are left out.
    """
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    totals = collections.Counter()
    for path in Path(logdir).rglob("*.xplane.pb"):
        space = xplane_pb2.XSpace()
        space.ParseFromString(path.read_bytes())
        for plane in space.planes:
            names = {key: metadata.name for key, metadata in plane.event_metadata.items()}
            for line in plane.lines:
                if not line.name.startswith("tf_Compute"):
                    continue
                for event in line.events:
                    name = names.get(event.metadata_id, "")
                    if ":" in name and "::" not in name:
                        totals[name.rsplit(":", 1)[1]] += event.duration_ps
    return totals


def main(argv=None):
    import tensorflow as tf

    from segpapers.experiment.inference import forward_pass
    from segpapers.common import results

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="enet")
    parser.add_argument("--precision", default="float32")
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--inference", action="store_true", help="profile a batch-1 forward pass, not a training step")
    parser.add_argument("--input-size", type=int, nargs=2, metavar=("HEIGHT", "WIDTH"))
    parser.add_argument("--logdir", help="where the trace goes (default: a temporary folder)")
    parser.add_argument("--output", help="default: results/benchmarks/profile_<model>[_inference].json")
    argv = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(argv)

    model, stream, setup = keras_training_setup(args.model, args.precision, args.input_size)
    if args.inference:
        image = next(iter(stream))[0][:1]
        forward = forward_pass(model, xla=False)

        def run(steps):
            for _ in range(steps):
                forward(image).numpy()
    else:
        def run(steps):
            model.fit(stream, steps_per_epoch=steps, epochs=1, verbose=0)

    run(2)  # trace and warm up outside the profile
    logdir = args.logdir or tempfile.mkdtemp(prefix="profile_")
    load = OtherLoad()
    tf.profiler.experimental.start(logdir)
    run(args.steps)
    tf.profiler.experimental.stop()
    other = load.result()

    totals = op_time_by_type(logdir)
    total = sum(totals.values())
    ops = [{"op": op, "ms_per_step": picoseconds / 1e9 / args.steps, "share": picoseconds / total}
           for op, picoseconds in totals.most_common()]
    record = {"model": args.model, "precision": args.precision, **setup,
              "profiled": "inference" if args.inference else "training", "steps": args.steps,
              "op_ms_per_step": total / 1e9 / args.steps, "ops": ops, "logdir": logdir,
              **({"other_cpu_share": other["other_cpu_share"], "quiet": other["quiet"]} if other else {}),
              "command": " ".join(["python -m benchmarks.profile", *argv]),
              "code_version": results.code_version(), "environment": results.environment()}
    output = args.output or REPO / "results" / "benchmarks" / f"profile_{args.model}{'_inference' * args.inference}.json"
    results.write_json(output, record)
    for row in ops[:15]:
        print(f"{row['op']:<40} {row['ms_per_step']:9.1f} ms/step {100 * row['share']:5.1f} %")
    print(f"wrote {output}")
    return record


if __name__ == "__main__":
    main()
