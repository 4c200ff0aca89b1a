"""The learning-rate trial a schedule asks for (`Schedule.learning_rate_sweep`): where the paper gives no
rate (U-Net) or a shared recipe lets each model pick its own (the comparison), each candidate rate trains
`Schedule.sweep_epochs` epochs of the protocol, and the run follows at the best one by validation.

Each candidate is an ordinary run of the protocol with two overrides (the rate and the trial's epochs),
in its own resumable folder; a finished candidate is not trained again. The trial's record (per rate:
best validation score, epochs, training time; the chosen rate) is a results file, and the chosen run's
learning-rate override names it as its reason.
"""
import math
import shutil
from pathlib import Path

from segpapers import papers
from segpapers.common import results
from segpapers.experiment.runs import fit, read_history, train_seconds
from segpapers.experiment.spec import Experiment


# Learning-rate policies whose rate at an epoch does not depend on the run's length: under them the chosen
# candidate's epochs are the run's own first epochs (same seed, data order and rates), so the run goes on
# from them instead of training them again. Under "poly" the rate decays towards the run's last step.
LENGTH_FREE_POLICIES = ("fixed", "step")


def candidate_dir(runs_dir, model, protocol, learning_rate):
    return Path(runs_dir) / "sweeps" / f"{model}_{protocol}_lr{learning_rate:g}"


def record_path(results_dir, model, protocol):
    return Path(results_dir) / "sweeps" / f"{model}_{protocol}.json"


def sweep(model, protocol, runs_dir, data_dir, record_file, **settings):
    """Trains `model` under `protocol` for its schedule's `sweep_epochs` at each rate of its
    `learning_rate_sweep` (resuming or skipping what each folder holds), writes the record to
    `record_file` and returns it. `settings` are further `Experiment` fields (tests shrink the runs)."""
    schedule = papers.get_schedule(model, protocol)
    candidates = []
    for learning_rate in schedule.learning_rate_sweep:
        output = candidate_dir(runs_dir, model, protocol, learning_rate)
        experiment = Experiment.of(model, output, protocol, data_dir=data_dir, eval_split="none", overrides={
            "learning_rate": (learning_rate, "a candidate of the learning-rate trial"),
            "epochs": (schedule.sweep_epochs, "the learning-rate trial's short budget")}, **settings)
        fit(experiment)
        history = read_history(output)
        monitor = experiment.schedule.monitor
        scores = [row[monitor] for row in history if row.get(monitor) is not None and math.isfinite(row[monitor])]
        candidates.append({"learning_rate": learning_rate, monitor: max(scores, default=None),
                           "epochs": len(history), "train_s": round(train_seconds(experiment.schedule, output), 1)})
    monitor = schedule.monitor
    scored = [candidate for candidate in candidates if candidate[monitor] is not None]
    if not scored:
        raise RuntimeError(f"no candidate learning rate of {model} reached a finite {monitor}: {candidates}")
    chosen = max(scored, key=lambda candidate: candidate[monitor])
    record = {"model": model, "protocol": protocol, "epochs": schedule.sweep_epochs, "monitor": monitor,
              "candidates": candidates, "chosen_learning_rate": chosen["learning_rate"],
              "code_version": results.code_version()}
    results.write_json(record_file, record)
    return record


def start_from_trial(model, protocol, runs_dir, record, output):
    """Starts the run in `output` as a copy of the chosen candidate's folder (without its TensorBoard logs) where
    the candidate's epochs are the run's first ones: a one-stage schedule of a LENGTH_FREE_POLICIES policy.
    Returns whether it did; an existing `output` is left as it is."""
    schedule = papers.get_schedule(model, protocol)
    chosen = candidate_dir(runs_dir, model, protocol, record["chosen_learning_rate"])
    if (Path(output).exists() or schedule.stages or schedule.lr_policy not in LENGTH_FREE_POLICIES
            or not (chosen / "done.json").exists()):
        return False
    shutil.copytree(chosen, output, ignore=shutil.ignore_patterns("logs"))
    return True


def chosen_rate(record, record_file):
    """The schedule override {"learning_rate": (rate, reason)} of the rate a trial's `record` (read from
    `record_file`) chose, the reason naming the file and every candidate's score."""
    monitor = record["monitor"]
    tried = ", ".join(f"{candidate['learning_rate']:g}: {100 * candidate[monitor]:.1f}"
                      if candidate[monitor] is not None else f"{candidate['learning_rate']:g}: failed"
                      for candidate in record["candidates"])
    reason = (f"picked by the learning-rate trial ({Path(record_file).name}; {monitor} after {record['epochs']} "
              f"epoch(s): {tried})")
    return {"learning_rate": (record["chosen_learning_rate"], reason)}


def chosen_experiment(model, protocol, output, data_dir, record, record_file, **settings):
    """The run of `model` under `protocol` at the rate its trial's `record` (read from `record_file`) chose."""
    return Experiment.of(model, output, protocol, data_dir=data_dir, eval_split="none",
                         overrides=chosen_rate(record, record_file), **settings)
