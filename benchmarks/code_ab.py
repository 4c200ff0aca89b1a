"""Is a code change faster? One model's training step and inference timed under two versions of the
code, interleaved, in one run.

    python -m benchmarks.code_ab --base HEAD~1 --models enet [--precision float32] [--rounds 3] [--repeats 3] [--xla]

The base version (any git revision) is checked out into a temporary worktree. Each round runs, per
model, the base's `benchmarks.speed` child and then this checkout's (its working tree, uncommitted
changes included), each in a fresh process (`speed.run_child`), so a drift of the machine falls on
both alike. The speed issue's rule: a change stays only if it is faster here and equal in value
(its tests). Writes results/benchmarks/code_ab.json: per model and version the medians and every
round (train and inference ms per image: train.py's step, evaluate.py's `--no-xla` forward pass; with
`--xla` both compiled whole by XLA, as `benchmarks.speed`'s `+ XLA` rows),
the ratio this checkout / base with the range of the rounds' paired ratios, and whether each
version's rounds ran on a quiet machine (common.machine_load).
"""
import argparse
import contextlib
import subprocess
import sys
import tempfile
from pathlib import Path

import segpapers.common.console  # noqa: F401 -- first, as in every entry point (quiet start)
from segpapers.benchmarks.speed import REPO, measured_in_rounds, paired_ratios
from segpapers.common import results

FIGURES = ("train_ms_per_image", "infer_ms_per_image")


@contextlib.contextmanager
def checkout(revision):
    """A temporary worktree of `revision` and an import path under which `segpapers` is that worktree:
    yields the options that make `speed.run_child` run its code."""
    with tempfile.TemporaryDirectory(prefix="code_ab_") as folder:
        tree, imports = Path(folder) / "tree", Path(folder) / "imports"
        subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", str(tree), revision],
                       check=True, capture_output=True)
        try:
            imports.mkdir()
            (imports / "segpapers").symlink_to(tree)
            yield {"cwd": tree, "pythonpath": imports}
        finally:
            subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(tree)], capture_output=True)


def revision_of(revision):
    return subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short=12", revision], check=True,
                          capture_output=True, text=True).stdout.strip()


def compare(models, base, precision, rounds, repeats, input_size=None, xla=False):
    """{model: {"base": row, "new": row, "<figure>_ratio": new / base, "<figure>_ratio_range": [min, max]}}."""
    size = ["--input-size", *map(str, input_size)] if input_size else []
    compared = {}
    with checkout(base) as base_code:
        for model in models:
            arguments = ("keras", "--model", model, "--precision", precision, "--repeats", str(repeats), *size,
                         *(["--xla"] if xla else []))
            rows = measured_in_rounds({"base": ({"model": model, "version": "base"}, arguments, {"code": base_code}),
                                       "new": ({"model": model, "version": "new"}, arguments, {})}, rounds)
            entry = {version: {key: value for key, value in row.items() if key != "step_seconds"}
                     for version, row in rows.items()}
            for figure in FIGURES if not any("error" in row for row in rows.values()) else ():
                entry[f"{figure}_ratio"] = rows["new"][figure] / rows["base"][figure]
                ratios = paired_ratios(rows["new"], rows["base"], figure)
                entry[f"{figure}_ratio_range"] = [min(ratios), max(ratios)]
            compared[model] = entry
            print(model, {key: value for key, value in entry.items() if "ratio" in key}, flush=True)
    return compared


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", required=True, help="the git revision to compare this checkout against")
    parser.add_argument("--models", nargs="+", default=["enet"])
    parser.add_argument("--precision", default="float32")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3, help="timed steps per measurement")
    parser.add_argument("--input-size", type=int, nargs=2, metavar=("HEIGHT", "WIDTH"),
                        help="one size for every model instead of the papers' (quick checks)")
    parser.add_argument("--xla", action="store_true", help="time the step and the forward pass compiled by XLA")
    parser.add_argument("--output", default=str(REPO / "results" / "benchmarks" / "code_ab.json"))
    argv = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(argv)
    record = {"base": revision_of(args.base), "new": results.code_version(), "precision": args.precision,
              "xla": args.xla, "rounds": args.rounds, "repeats": args.repeats,
              "models": compare(args.models, args.base, args.precision, args.rounds, args.repeats, args.input_size,
                                args.xla),
              "command": " ".join(["python -m benchmarks.code_ab", *argv]), "environment": results.environment()}
    results.write_json(args.output, record)
    print(f"wrote {args.output}")
    return record


if __name__ == "__main__":
    main()
