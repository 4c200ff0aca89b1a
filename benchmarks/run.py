"""Re-runs one row of the benchmark: train a model under a protocol, then score it (with the CRF).

    python -m benchmarks.run --model enet --protocol cpu

Data comes from `--data-root/<dataset>` (default ../shared/data), the run lives in
`runs/<model>_<protocol>/` (re-running resumes an interrupted training), and the results file is
`results/<model>_<protocol>.json`; a row whose results file exists is skipped.
"""
import argparse
from pathlib import Path

import evaluate
import papers
import train

REPO = Path(__file__).resolve().parents[1]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help=f"one of {', '.join(papers.list_models())}")
    parser.add_argument("--protocol", default="cpu", help="a protocol of the model's schedules (default: cpu)")
    parser.add_argument("--data-root", default=str(REPO.parent / "shared" / "data"))
    parser.add_argument("--runs-dir", default=str(REPO / "runs"))
    parser.add_argument("--results-dir", default=str(REPO / "results"))
    parser.add_argument("--no-crf", action="store_true", help="score without the dense CRF")
    args = parser.parse_args(argv)

    schedule = papers.get_schedule(args.model, args.protocol)
    name = f"{args.model}_{args.protocol}"
    output = Path(args.results_dir) / f"{name}.json"
    if output.exists():
        print(f"{output} exists: nothing to do")
        return
    run = Path(args.runs_dir) / name
    data_dir = str(Path(args.data_root) / schedule.dataset)
    train.main(["--model", args.model, "--protocol", args.protocol, "--dataset", schedule.dataset,
                "--data-dir", data_dir, "--output", str(run), "--eval-split", "none", "--verbose", "2"])
    evaluate.main(["--checkpoint", str(run / "model.keras"), "--split", schedule.eval_split,
                   "--output", str(output), *([] if args.no_crf else ["--crf"])])


if __name__ == "__main__":
    main()
