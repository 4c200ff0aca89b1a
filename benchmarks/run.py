"""Re-runs one row of the benchmark: train a model under a protocol, then score it (with the CRF).

    python -m benchmarks.run --model enet --protocol cpu

Data comes from `--data-root/<dataset>` (default ../shared/data), the run lives in
`runs/<model>_<protocol>/` (re-running resumes an interrupted training), and the results file is
`results/<model>_<protocol>.json`; a row whose results file exists is skipped.

    python -m benchmarks.run --model enet --protocol paper --progress

writes how far an unfinished run got (epochs per stage, validation scores, training time so far)
to `results/progress/<model>_<protocol>.json`, without training: the table shows it as a running row.
"""
import argparse
import csv
from pathlib import Path

import evaluate
import papers
import train
from common import results

REPO = Path(__file__).resolve().parents[1]


def progress(model, protocol, run):
    """Epochs done per stage of the run in `run`, with its latest and best validation scores."""
    schedule = papers.get_schedule(model, protocol)
    stages = []
    for stage, stage_dir in train.stage_dirs(schedule, run):
        history_path, clock_path = stage_dir / "history.csv", stage_dir / "train_time.json"
        # A resumed run may log an epoch twice; the last row of each epoch counts.
        logged = list(csv.DictReader(history_path.open())) if history_path.exists() else []
        history = {int(row["epoch"]): row for row in logged}
        rows = [history[epoch] for epoch in sorted(history)]
        scores = [float(row["val_miou"]) for row in rows if row.get("val_miou")]
        stages.append({"stage": stage.name, "epochs_done": len(rows), "epochs": stage.epochs,
                       "val_miou_last": scores[-1] if scores else None, "val_miou_best": max(scores, default=None),
                       "train_s": results.read_json(clock_path)["seconds"] if clock_path.exists() else 0.0})
    return {"model": model, "protocol": protocol, "dataset": schedule.dataset, "stages": stages,
            "command": f"python -m benchmarks.run --model {model} --protocol {protocol}",
            "code_version": results.code_version()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help=f"one of {', '.join(papers.list_models())}")
    parser.add_argument("--protocol", default="cpu", help="a protocol of the model's schedules (default: cpu)")
    parser.add_argument("--data-root", default=str(REPO.parent / "shared" / "data"))
    parser.add_argument("--runs-dir", default=str(REPO / "runs"))
    parser.add_argument("--results-dir", default=str(REPO / "results"))
    parser.add_argument("--no-crf", action="store_true", help="score without the dense CRF")
    parser.add_argument("--progress", action="store_true", help="only record how far the run got")
    args = parser.parse_args(argv)

    schedule = papers.get_schedule(args.model, args.protocol)
    name = f"{args.model}_{args.protocol}"
    output = Path(args.results_dir) / f"{name}.json"
    progress_path = Path(args.results_dir) / "progress" / f"{name}.json"
    run = Path(args.runs_dir) / name
    if args.progress:
        results.write_json(progress_path, progress(args.model, args.protocol, run))
        print(f"wrote {progress_path}")
        return
    if output.exists():
        print(f"{output} exists: nothing to do")
        return
    data_dir = str(Path(args.data_root) / schedule.dataset)
    train.main(["--model", args.model, "--protocol", args.protocol, "--dataset", schedule.dataset,
                "--data-dir", data_dir, "--output", str(run), "--eval-split", "none", "--verbose", "2"])
    evaluate.main(["--checkpoint", str(run / "model.keras"), "--split", schedule.eval_split,
                   "--output", str(output), *([] if args.no_crf else ["--crf"])])
    progress_path.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
