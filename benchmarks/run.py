"""Re-runs one row of the benchmark: train a model under a protocol, then score it (with the CRF).

    python -m benchmarks.run --model enet --protocol cpu
    python -m benchmarks.run --protocol compare     # the architecture comparison: every row not done

Data comes from `--data-root/<dataset>` (default ../shared/data; `--data-source tfds` reads TensorFlow
Datasets records prepared from those files instead, the same examples), the run lives in
`runs/<model>_<protocol>/` (re-running resumes an interrupted training), and the results file is
`results/<model>_<protocol>.json`; a row whose results file exists is skipped (`--rerun` starts it over).
A model whose weights take at most a few MB (ENet, SegNet-Basic) is also kept as a weight record,
`results/weights/<model>_<protocol>/` (model.keras, its run config, record.json with the scores and
the command), which evaluate.py and predict.py take as `--checkpoint`.

    python -m benchmarks.run --model enet --protocol paper --progress

writes how far an unfinished run got (epochs per stage, validation scores, training time so far)
to `results/progress/<model>_<protocol>.json`, without training: the table shows it as a running row.
When what resuming needs (checkpoints, optimizer state, history; not the TensorBoard logs) is small
(ENet: a few MB), it is packed beside it as `<model>_<protocol>.state.tar.gz`: committed, it lets the
run continue on another machine, where `benchmarks.run` unpacks it into a missing run folder.
Stop the training before recording progress, so that the pack holds complete files.
"""
import argparse
import shutil
import tarfile
import tempfile
from pathlib import Path

import segpapers.common.console  # noqa: F401 -- before any import of TensorFlow: its start is quiet on a CPU machine
from segpapers import datasets
from segpapers import papers
from segpapers.common import results
from segpapers.common.errors import UserError
from segpapers.experiment import Experiment, cli, fit, load_checkpoint, stage_dirs, stage_seconds, sweep
from segpapers.experiment.runs import read_history, trained_precisions
from segpapers.experiment.scoring import crf_params, score_checkpoint
from segpapers.papers.comparison import MODELS as COMPARED, PROTOCOL as COMPARISON

REPO = Path(__file__).resolve().parents[1]


def progress(model, protocol, run, command):
    """Epochs done per stage of the run in `run`, with its latest and best validation scores."""
    schedule = papers.get_schedule(model, protocol)
    stages = []
    for stage, stage_dir in stage_dirs(schedule, run):
        rows = read_history(stage_dir)
        scores = [row[schedule.monitor] for row in rows if row.get(schedule.monitor) is not None]
        stages.append({"stage": stage.name, "epochs_done": len(rows), "epochs": stage.epochs,
                       "monitor": schedule.monitor, "val_last": scores[-1] if scores else None,
                       "val_best": max(scores, default=None), "train_s": stage_seconds(stage_dir)})
    return {"model": model, "protocol": protocol, "dataset": schedule.dataset, "stages": stages,
            "trained_precisions": trained_precisions(schedule, run), "command": command,
            "code_version": results.code_version()}


STATE_LIMIT_MB = 20  # a packed run state larger than this is not meant for the repository


def without_optimizer(checkpoint, path):
    """Saves the `.keras` checkpoint's model to `path` without its optimizer state; returns `path`."""
    load_checkpoint(checkpoint, as_trained=True)[0].save(path)  # loaded uncompiled
    return path


def pack_state(run, path):
    """Packs `run`'s files but its TensorBoard logs and the backup's spare copies (`*.bkp`, kept
    against a kill mid-write; the training is stopped when packing) into `path`; returns the size
    in MB, or None (and no file) when it is over STATE_LIMIT_MB. The selected checkpoints
    (`model.keras`) go in without their optimizer state, two thirds of their size under Adam:
    resuming takes it from the backup, and a selected checkpoint is only ever read for its weights.
    A staged run's finished stage goes in without its backup: a staged schedule's epochs cannot change
    on resume (experiment.runs.resume_differences), so nothing reads it again; a one-stage run's keeps
    it, for more --epochs."""
    with tempfile.TemporaryDirectory() as scratch, tarfile.open(path, "w:gz") as tar:
        for file in sorted(run.rglob("*")):
            relative = file.relative_to(run)
            if not file.is_file() or file.suffix == ".bkp" or "logs" in relative.parts:
                continue
            stage_dir = file.parent.parent
            if file.parent.name == "backup" and stage_dir != run and (stage_dir / "done.json").exists():
                continue
            if file.name == "model.keras":
                file = without_optimizer(file, Path(scratch) / file.name)
            tar.add(file, arcname=str(relative))
    size_mb = path.stat().st_size / 2 ** 20
    if size_mb > STATE_LIMIT_MB:
        path.unlink()
        return None
    return round(size_mb, 1)


WEIGHTS_LIMIT_MB = 8  # MiB of float32 weights: a trained model this small is kept (ENet, SegNet-Basic)


def keep_weights(run, scores_path, record_dir, command):
    """Writes a weight record into `record_dir`: the trained model of `run` without its optimizer state,
    the run's config (evaluate.py and predict.py read it beside the model), and `record.json` with the
    scores of `scores_path` and the command that made them. Only for models within WEIGHTS_LIMIT_MB;
    returns whether it wrote one."""
    scores = results.read_json(scores_path)
    if scores["params"] * 4 > WEIGHTS_LIMIT_MB * 2 ** 20:
        return False
    record_dir.mkdir(parents=True, exist_ok=True)
    without_optimizer(run / "model.keras", record_dir / "model.keras")
    shutil.copy(run / "config.json", record_dir / "config.json")
    results.write_json(record_dir / "record.json", {
        "command": command, "results": scores_path.name, "dataset": scores["dataset"], "split": scores["split"],
        "metrics": scores["metrics"], "crf_metrics": scores.get("crf", {}).get("metrics"),
        "code_version": results.code_version()})
    return True


def rerun_command(args, model):
    """The command that continues or re-makes this row on any machine: the folders and the data source are
    local choices, a backbone weights file is part of the recipe."""
    return (f"python -m benchmarks.run --model {model} --protocol {args.protocol}"
            + (f" --backbone-weights {args.backbone_weights}" if args.backbone_weights else "")
            + (" --no-crf" if args.no_crf else ""))


def row_experiment(args, model, run):
    """The Experiment of a benchmark row: the protocol as it is, on `--data-root/<dataset>`, in `run`. A
    protocol with a learning-rate trial (`Schedule.learning_rate_sweep`: the comparison's, U-Net's) runs it
    first (`experiment.sweep`; once, recorded in `results/sweeps/<model>_<protocol>.json`) and trains at
    the rate it chose, going on from that rate's trial run where its epochs are the run's first ones
    (`sweep.start_from_trial`: U-Net's fixed rate, not the comparison's decaying one)."""
    schedule = papers.get_schedule(model, args.protocol)
    data_dir = str(Path(args.data_root) / schedule.dataset)
    if args.protocol == COMPARISON and args.backbone_weights:
        raise UserError("the comparison trains every model from random init: --backbone-weights does not apply")
    if schedule.learning_rate_sweep:
        record_file = sweep.record_path(args.results_dir, model, args.protocol)
        record = (results.read_json(record_file) if record_file.exists()
                  else sweep.sweep(model, args.protocol, args.runs_dir, data_dir, record_file, verbose=2,
                                   data_source=args.data_source))
        if sweep.start_from_trial(model, args.protocol, args.runs_dir, record, run):
            print(f"{run}: goes on from the trial's run at the chosen rate, whose {record['epochs']} epoch(s) are its first")
        return sweep.chosen_experiment(model, args.protocol, run, data_dir, record, record_file, verbose=2,
                                       data_source=args.data_source)
    return Experiment.of(model, run, args.protocol, backbone_weights=args.backbone_weights, data_dir=data_dir,
                         eval_split="none", verbose=2, data_source=args.data_source)


def run_row(args, model):
    """Trains and scores one row (resuming it; nothing when its results file exists), or with `--progress`
    records how far it got."""
    schedule = papers.get_schedule(model, args.protocol)
    name = f"{model}_{args.protocol}"
    output = Path(args.results_dir) / f"{name}.json"
    progress_path = Path(args.results_dir) / "progress" / f"{name}.json"
    run = Path(args.runs_dir) / name
    weight_record = results.weight_record_dir(args.results_dir, name)
    command = rerun_command(args, model)
    state_path = progress_path.with_name(f"{name}.state.tar.gz")
    if args.progress:
        progress_path.parent.mkdir(parents=True, exist_ok=True)
        record = progress(model, args.protocol, run, command)  # its code version before the pack dirties the tree
        state_mb = pack_state(run, state_path)
        packed = state_mb is not None
        record.update(state=state_path.name if packed else None, state_mb=state_mb)
        results.write_json(progress_path, record)
        print(f"wrote {progress_path}" + (f" and {state_path} ({state_mb} MB)" if packed else
                                          f"; the run's state is over {STATE_LIMIT_MB} MB: resume it on this machine"))
        return
    if args.rerun:
        output.unlink(missing_ok=True)
        for folder in (run, weight_record):
            shutil.rmtree(folder, ignore_errors=True)
    if output.exists():
        print(f"{output} exists: nothing to do (--rerun starts the row over)")
        return
    if state_path.exists() and not (run / "config.json").exists():
        with tarfile.open(state_path) as tar:
            tar.extractall(run, filter="data")
        print(f"resuming from the packed state {state_path}")
    # The split scored after training, checked before it (the row's run itself scores nothing).
    datasets.load(schedule.dataset, schedule.eval_split, str(Path(args.data_root) / schedule.dataset),
                  args.data_source)
    trained = fit(row_experiment(args, model, run))
    score_checkpoint(trained.checkpoint, schedule.eval_split, output,
                     crf=None if args.no_crf else crf_params(trained.config), data_source=args.data_source)
    if keep_weights(run, output, weight_record, command):
        print(f"wrote the weight record {weight_record}")
    progress_path.unlink(missing_ok=True)
    state_path.unlink(missing_ok=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", nargs="+", help=f"one or more of {', '.join(papers.list_models())} (with "
                        f"--protocol {COMPARISON}, default: every compared model, {', '.join(COMPARED)})")
    parser.add_argument("--protocol", default="cpu", help="a protocol of the model's schedules (default: cpu)")
    parser.add_argument("--data-root", default=str(REPO.parent / "shared" / "data"))
    parser.add_argument("--data-source", choices=datasets.SOURCES, default="files",
                        help="files: decode the dataset's files (default); tfds: read TensorFlow Datasets records "
                             "prepared once from them. Both give the same examples, so a row may switch between them")
    parser.add_argument("--runs-dir", default=str(REPO / "runs"))
    parser.add_argument("--results-dir", default=str(REPO / "results"))
    parser.add_argument("--backbone-weights", help="local Keras VGG16 weights file for the VGG-based models "
                        "(default: random init, recorded as a deviation)")
    parser.add_argument("--no-crf", action="store_true", help="score without the dense CRF")
    parser.add_argument("--rerun", action="store_true",
                        help="start the row over (e.g. after a schedule change): removes its results file and run "
                             "folder, so that the plain command resumes an interrupted re-run")
    parser.add_argument("--progress", action="store_true", help="only record how far the run got")
    parser.add_argument("--debug", action="store_true", help="show the full traceback of a user error")
    args = parser.parse_args(argv)
    models = args.model or (COMPARED if args.protocol == COMPARISON else None)
    if not models:
        parser.error("--model is required (except with --protocol compare)")
    for model in models:
        papers.get_schedule(model, args.protocol)  # every name checked before the first row trains
    for model in models:
        run_row(args, model)


if __name__ == "__main__":
    cli.run(main)
