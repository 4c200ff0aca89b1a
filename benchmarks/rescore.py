"""Re-scores committed weight records the way `evaluate.py --checkpoint NAME --crf` does and checks each
against the numbers its record.json keeps, so that a record is shown to re-make its table row.

    python -m benchmarks.rescore                          # every record
    python -m benchmarks.rescore --records enet_reference

Writes results/benchmarks/rescore.json: per record, the largest difference over every recorded metric
(with the CRF too, where the record has one), its G / C / mIoU as recorded and as re-scored, and whether
the two agree within TOLERANCE. A rerun replaces the entries of the records it scores.
"""
import argparse
import math
import tempfile
from pathlib import Path

import segpapers.common.console  # noqa: F401 -- before any import of TensorFlow: its start is quiet on a CPU machine
from segpapers import papers
from segpapers.common import results
from segpapers.experiment import cli
from segpapers.experiment.inference import run_config
from segpapers.experiment.scoring import crf_params, score_checkpoint

OUTPUT = Path(__file__).resolve().parents[1] / "results" / "benchmarks" / "rescore.json"
# Another float summation order (oneDNN's, XLA's) flips a few pixels: ~1e-7 here; a score that moves by
# a hundredth of a point is a different model or a different scorer.
TOLERANCE = 1e-4
HEADLINE = ("pixel_accuracy", "mean_accuracy", "miou")


def largest_difference(recorded, rescored):
    """The largest absolute difference between two metric dicts over the recorded values (lists item by item)."""
    differences = []
    for key, value in recorded.items():
        pairs = zip(value, rescored[key]) if isinstance(value, list) else [(value, rescored[key])]
        differences += [abs(a - b) for a, b in pairs if not (math.isnan(a) and math.isnan(b))]
    return max(differences)


def rescore(name, verbose=False):
    """Scores the record `name` on its split (and with the CRF where it has CRF metrics); its check entry."""
    checkpoint = papers.resolve_checkpoint(name)
    config = run_config(checkpoint)
    record = papers.get_weights(config["model"], name.removeprefix(f"{config['model']}_"))
    crf = crf_params(config, None, None, []) if record.crf_metrics else None
    with tempfile.TemporaryDirectory() as scratch:
        scored = score_checkpoint(checkpoint, record.split, Path(scratch) / "results.json", crf=crf, verbose=verbose)
    pairs = {"": (record.metrics, scored["metrics"])}  # key prefix -> (recorded, re-scored)
    if record.crf_metrics:
        pairs["crf_"] = (record.crf_metrics, scored["crf"]["metrics"])
    entry = {"command": f"python evaluate.py --checkpoint {name}{' --crf' if crf else ''}", "split": record.split}
    for prefix, (recorded, rescored) in pairs.items():
        entry[f"{prefix}recorded"] = {key: recorded[key] for key in HEADLINE}
        entry[f"{prefix}rescored"] = {key: rescored[key] for key in HEADLINE}
        entry[f"{prefix}largest_difference"] = largest_difference(recorded, rescored)
    entry["matches"] = all(entry[f"{prefix}largest_difference"] <= TOLERANCE for prefix in pairs)
    return entry


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", nargs="+", choices=papers.list_weights(), default=papers.list_weights(),
                        help="which records (default: all)")
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args(argv)
    checked = results.read_json(args.output)["records"] if args.output.exists() else {}
    for name in args.records:
        checked[name] = rescore(name)
        print(f"{name}: largest difference {checked[name]['largest_difference']:.2g}"
              + (f", with the CRF {checked[name]['crf_largest_difference']:.2g}" if "crf_recorded" in checked[name] else "")
              + (" (matches)" if checked[name]["matches"] else " (DOES NOT MATCH)"))
    results.write_json(args.output, {"tolerance": TOLERANCE, "records": dict(sorted(checked.items())),
                                     "code_version": results.code_version(), "environment": results.environment()})
    return checked


if __name__ == "__main__":
    cli.run(main)
