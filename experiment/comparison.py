"""The architecture comparison's runs (`papers.comparison`): a learning-rate sweep per model, then
the recipe trained at the rate the sweep chose.

Each candidate rate is an ordinary run of the `compare` protocol with two overrides (the rate and
the sweep's epochs), in its own resumable folder; a finished candidate is not trained again. The
sweep's record (per rate: best val mIoU, epochs, training time; the chosen rate) is a results file,
and the chosen run's learning-rate override names it as its reason.
"""
import math
from pathlib import Path

from common import results
from experiment.runs import fit, read_history, train_seconds
from experiment.spec import Experiment
from papers import comparison
from papers.comparison import PROTOCOL


def candidate_dir(runs_dir, model, learning_rate):
    return Path(runs_dir) / "compare_sweep" / f"{model}_lr{learning_rate:g}"


def sweep(model, runs_dir, data_dir, record_path, learning_rates=comparison.LEARNING_RATES,
          epochs=comparison.SWEEP_EPOCHS, **settings):
    """Trains `model` under the comparison recipe for `epochs` at each of `learning_rates` (resuming or
    skipping what its folder holds), writes the record to `record_path` and returns it. `settings` are
    further `Experiment` fields (tests shrink the runs with them)."""
    candidates = []
    for learning_rate in learning_rates:
        output = candidate_dir(runs_dir, model, learning_rate)
        experiment = Experiment.of(model, output, PROTOCOL, data_dir=data_dir, eval_split="none", overrides={
            "learning_rate": (learning_rate, "a candidate of the comparison's learning-rate sweep"),
            "epochs": (epochs, "the sweep's short budget")}, **settings)
        fit(experiment)
        history = read_history(output)
        scores = [row["val_miou"] for row in history if row.get("val_miou") is not None and math.isfinite(row["val_miou"])]
        candidates.append({"learning_rate": learning_rate, "val_miou": max(scores, default=None),
                           "epochs": len(history), "train_s": round(train_seconds(experiment.schedule, output), 1)})
    scored = [candidate for candidate in candidates if candidate["val_miou"] is not None]
    if not scored:
        raise RuntimeError(f"no candidate learning rate of {model} reached a finite val mIoU: {candidates}")
    chosen = max(scored, key=lambda candidate: candidate["val_miou"])
    record = {"model": model, "protocol": PROTOCOL, "epochs": epochs, "selection": "best val mIoU",
              "candidates": candidates, "chosen_learning_rate": chosen["learning_rate"],
              "code_version": results.code_version()}
    results.write_json(record_path, record)
    return record


def chosen_experiment(model, output, data_dir, record, record_path, **settings):
    """The comparison run of `model` at the rate its sweep `record` (read from `record_path`) chose."""
    tried = ", ".join(f"{candidate['learning_rate']:g}: {100 * candidate['val_miou']:.1f}"
                      if candidate["val_miou"] is not None else f"{candidate['learning_rate']:g}: failed"
                      for candidate in record["candidates"])
    reason = f"picked by the sweep ({Path(record_path).name}; val mIoU after {record['epochs']} epoch(s): {tried})"
    return Experiment.of(model, output, PROTOCOL, data_dir=data_dir, eval_split="none",
                         overrides={"learning_rate": (record["chosen_learning_rate"], reason)}, **settings)
