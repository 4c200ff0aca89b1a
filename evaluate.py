"""Score a trained checkpoint on a dataset split at the labels' original resolution.

    python evaluate.py --checkpoint runs/NAME/model.keras --dataset camvid \
        --data-dir ../shared/data/camvid --split test --output runs/NAME/results_test.json

The model runs at its input size; its logits are resized (bilinear) to each label's original size
before the argmax, so every method is scored on the same pixels. Models with unpadded convolutions
(U-Net) or trained on random crops predict by tiles at the data's own scale instead. Prints a per-class table and the
summary metrics and writes a results JSON (see `experiment.scoring.score` for its fields).
"""
import argparse

import segpapers.common.console  # noqa: F401 -- before any import of TensorFlow: its start is quiet on a CPU machine
from segpapers import datasets
from segpapers import papers
from segpapers.common import results
from segpapers.common.crf import PRESETS, CrfParams
from segpapers.experiment import cli, load_checkpoint, search_crf_params, trained_on_crops
from segpapers.experiment.inference import data_of, run_config
from segpapers.experiment.scoring import crf_params, score_checkpoint


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", required=True, help="a .keras file written by train.py, a weight record's "
                        f"folder, or a record's name ({', '.join(papers.list_weights()) or 'none committed'})")
    parser.add_argument("--dataset", help="dataset name (default: the one the checkpoint was trained on); "
                        f"one of {', '.join(datasets.list_datasets())}")
    parser.add_argument("--data-dir", help="dataset folder (default: the training run's)")
    parser.add_argument("--data-source", choices=datasets.SOURCES, default="files", help="files: decode the "
                        "dataset's files (default); tfds: read TensorFlow Datasets records prepared once from them")
    parser.add_argument("--split", default="test", help="split to score (default: test)")
    parser.add_argument("--batch-size", type=int, default=1, help="images per batch; >1 needs equal label sizes")
    parser.add_argument("--limit", type=int, help="score only the first N images")
    parser.add_argument("--output", help="results JSON (default: results_<dataset>_<split>.json next to the checkpoint)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing results file")
    parser.add_argument("--save-overlays", metavar="DIR", help="write image | ground truth | prediction PNGs "
                        "here, each named after its image (<split>_<index>.png for generated data)")
    parser.add_argument("--num", type=int, default=10, help="how many overlays to write (default 10)")
    cli.add_xla_flag(parser)
    cli.add_symmetries_flag(parser)
    crf = parser.add_argument_group("dense CRF post-processing")
    crf.add_argument("--crf", action="store_true", help="also score every image after the dense CRF")
    crf.add_argument("--crf-preset", choices=sorted(PRESETS),
                     help="CRF parameters from a paper (default: the training schedule's)")
    crf.add_argument("--crf-params", metavar="FILE", help="CRF parameters from a JSON file (e.g. --crf-search's)")
    crf.add_argument("--crf-param", action="append", default=[], metavar="KEY=VALUE",
                     help=f"override one CRF parameter ({', '.join(CrfParams.__dataclass_fields__)})")
    crf.add_argument("--crf-search", metavar="FILE", help="grid-search the CRF on --split (use val) and write the "
                     "best parameters to FILE instead of scoring")
    parser.add_argument("--debug", action="store_true", help="show the full traceback of a user error")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    args.checkpoint = papers.resolve_checkpoint(args.checkpoint)
    if args.crf_search:
        model, config = load_checkpoint(args.checkpoint)
        dataset, data_dir = data_of(config, args.dataset, args.data_dir)
        found = search_crf_params(model, dataset, args.split, data_dir, args.limit, tiles=trained_on_crops(config),
                                  xla=args.xla, data_source=args.data_source)
        results.write_json(args.crf_search, found)
        print(f"best CRF parameters {found['best']} (mIoU {100 * found['best_miou']:.2f}) written to {args.crf_search}")
        return found
    crf = None
    if args.crf:
        crf = crf_params(run_config(args.checkpoint), args.crf_params, args.crf_preset, args.crf_param)
    return score_checkpoint(args.checkpoint, args.split, args.output, args.dataset, args.data_dir, crf,
                            args.batch_size, args.limit, args.save_overlays, args.num, args.xla,
                            overwrite=args.overwrite, symmetries=args.symmetries, data_source=args.data_source)


if __name__ == "__main__":
    cli.run(main)
