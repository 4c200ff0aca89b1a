"""A/B of the training precision: the same protocol, seed and data order in float32 and mixed_bfloat16.

    python -m benchmarks.precision_ab --model segnet_basic --protocol paper --epochs 3

Trains the protocol cut to `--epochs` epochs (`Schedule.replace`: a staged schedule shares them among its
stages, and only the first stage is compared) once per precision (`runs/ab/<model>_<protocol>_<precision>/`,
resumable: an interrupted A/B continues where it stopped), validating every epoch, then writes
`results/ab/<model>_<protocol>_precision.json`: per-epoch training loss and validation scores of both
runs, their training time, and whether mixed_bfloat16 passes the rule below. A protocol may train in
mixed_bfloat16 only where this file says it passes. `--noise-seed N` also trains float32 at seed N, so that
the rule compares bfloat16's departure from float32 with float32's own from seed to seed: for a short run
of a noisy recipe (U-Net: batch 1, momentum 0.99, heavy augmentation) that is the noise a fixed tolerance
can only guess. A protocol that picks its learning rate by a trial
(`Schedule.learning_rate_sweep`: U-Net's, the comparison's) is compared at the rate its recorded trial chose,
the rate its run trains at: run the trial first (`python -m benchmarks.run` runs it before the row).
"""
import argparse
from pathlib import Path

import segpapers.common.console  # noqa: F401 -- before any import of TensorFlow: its start is quiet on a CPU machine
from segpapers import papers
from segpapers.common import results
from segpapers.common.errors import UserError
from segpapers.experiment import Experiment, cli, fit, stage_dirs, stage_seconds, sweep
from segpapers.experiment.runs import read_history

REPO = Path(__file__).resolve().parents[1]
PRECISIONS = ("float32", "mixed_bfloat16")
# bfloat16 passes when it follows float32 as closely as two float32 runs would: the training loss
# within LOSS_TOLERANCE (relative) at every epoch and the best validation score of the selection
# metric within SCORE_TOLERANCE (absolute, a fraction), the reproduction issues' 2-point margin, or,
# with a float32 run at another seed, within that run's own gaps where they are larger.
LOSS_TOLERANCE = 0.03
SCORE_TOLERANCE = 0.02
NOISE_RUN = "float32_noise"  # the float32 run at --noise-seed


def history(stage_dir):
    """A stage's history.csv as {column: [value per epoch, None where not measured]}."""
    rows = read_history(stage_dir)
    return {key: [row[key] for row in rows] for key in rows[0] if key != "epoch"}


def best(values):
    return max(value for value in values if value is not None)


def gaps(reference, other, monitor):
    """How far the history `other` is from `reference`: the largest relative gap of the training loss over
    the epochs, and the gap of the best `monitor`."""
    loss_gap = max(abs(b - a) / a for a, b in zip(reference["loss"], other["loss"]))
    return round(loss_gap, 4), round(abs(best(other[monitor]) - best(reference[monitor])), 4)


def compare(curves, monitor):
    """The rule's verdict on {run: history}: bfloat16's gaps from float32, the bounds they are held to (the
    fixed tolerances, or float32's own gaps at another seed where `curves` has that run and they are larger)
    and whether bfloat16 passes."""
    loss_gap, score_gap = gaps(curves["float32"], curves["mixed_bfloat16"], monitor)
    verdict = {"monitor": monitor, "max_relative_loss_gap": loss_gap, "best_monitor_gap": score_gap,
               "loss_tolerance": LOSS_TOLERANCE, "score_tolerance": SCORE_TOLERANCE}
    loss_bound, score_bound = LOSS_TOLERANCE, SCORE_TOLERANCE
    if NOISE_RUN in curves:
        noise_loss_gap, noise_score_gap = gaps(curves["float32"], curves[NOISE_RUN], monitor)
        verdict.update(float32_seed_to_seed={"max_relative_loss_gap": noise_loss_gap,
                                             "best_monitor_gap": noise_score_gap})
        loss_bound, score_bound = max(loss_bound, noise_loss_gap), max(score_bound, noise_score_gap)
    return {**verdict, "loss_bound": loss_bound, "score_bound": score_bound,
            "passes": loss_gap <= loss_bound and score_gap <= score_bound}


def trial_overrides(model, protocol, schedule, results_dir):
    """The overrides that set a protocol's learning rate to its recorded trial's choice ({} without a trial),
    the trial's record read from `results_dir` as benchmarks.run writes it there."""
    if not schedule.learning_rate_sweep:
        return {}
    record_file = sweep.record_path(results_dir, model, protocol)
    if not record_file.exists():
        raise UserError(f"{model} {protocol} picks its learning rate by a trial and {record_file} is missing: "
                        f"run the trial first (python -m benchmarks.run --model {model} --protocol {protocol} "
                        "runs it before the row)")
    return sweep.chosen_rate(results.read_json(record_file), record_file)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help=f"one of {', '.join(papers.list_models())}")
    parser.add_argument("--protocol", default="paper")
    parser.add_argument("--epochs", type=int, default=3, help="epochs per precision (default 3)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--noise-seed", type=int, help="also train float32 at this seed: bfloat16 may depart from "
                        "float32 as far as float32 departs from itself from seed to seed")
    parser.add_argument("--data-root", default=str(REPO.parent / "shared" / "data"))
    parser.add_argument("--runs-dir", default=str(REPO / "runs" / "ab"))
    parser.add_argument("--results-dir", default=str(REPO / "results" / "ab"))
    parser.add_argument("--trials-dir", default=str(REPO / "results"),
                        help="where benchmarks.run recorded the learning-rate trials (its --results-dir)")
    parser.add_argument("--debug", action="store_true", help="show the full traceback of a user error")
    args = parser.parse_args(argv)
    if args.epochs < 1:
        parser.error(f"--epochs must be at least 1, got {args.epochs}")
    if args.noise_seed == args.seed:
        parser.error(f"--noise-seed must differ from --seed ({args.seed})")

    schedule = papers.get_schedule(args.model, args.protocol)
    name = f"{args.model}_{args.protocol}"
    overrides = {"validate_every": (1, "the A/B compares validation epoch by epoch"),
                 **trial_overrides(args.model, args.protocol, schedule, args.trials_dir)}
    runs = {precision: (precision, args.seed) for precision in PRECISIONS}
    if args.noise_seed is not None:
        runs[NOISE_RUN] = ("float32", args.noise_seed)
    curves, seconds, configs = {}, {}, {}
    for key, (precision, seed) in runs.items():
        # The A/B's own two runs keep the folders they always had: an interrupted A/B resumes in them.
        run = Path(args.runs_dir) / (f"{name}_{precision}" + (f"_seed{seed}" if seed != args.seed else ""))
        trained = fit(Experiment.of(args.model, run, args.protocol, epochs=args.epochs, precision=precision,
                                    overrides=overrides,
                                    data_dir=str(Path(args.data_root) / schedule.dataset), seed=seed,
                                    eval_split="none", verbose=2))
        # A multi-stage schedule's first stage holds the first epochs.
        stage_dir = stage_dirs(trained.experiment.schedule, run)[0][1]
        curves[key] = history(stage_dir)
        seconds[key] = round(stage_seconds(stage_dir), 1)
        configs[key] = trained.config
    monitor = schedule.monitor
    output = Path(args.results_dir) / f"{name}_precision.json"
    results.write_json(output, {
        "model": args.model, "protocol": args.protocol, "dataset": schedule.dataset, "epochs": args.epochs,
        "seed": args.seed, "noise_seed": args.noise_seed, "input_size": configs["float32"]["input_size"],
        "batch_size": configs["float32"]["schedule"]["batch_size"],
        "learning_rate": configs["float32"]["schedule"]["learning_rate"],
        "history": curves, "train_wall_time_s": seconds,
        "speedup": round(seconds["float32"] / seconds["mixed_bfloat16"], 2),
        "verdict": compare(curves, monitor),
        "command": f"python -m benchmarks.precision_ab --model {args.model} --protocol {args.protocol} "
                   f"--epochs {args.epochs} --seed {args.seed}"
                   + (f" --noise-seed {args.noise_seed}" if args.noise_seed is not None else ""),
        "code_version": results.code_version(), "environment": results.environment()})
    print(f"wrote {output}")


if __name__ == "__main__":
    cli.run(main)
